#include "worker/task_runner.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "kernels/backend.h"
#include "worker/inventory.h"
#include "worker/train_step_runner.h"
#include "workload/figures.h"
#include "workload/sweep.h"

namespace tokenmeter::worker {
namespace {

absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

absl::Status CheckAbort(const TaskEnvironment& env) {
  if (env.abort != nullptr && env.abort->load()) return absl::AbortedError("the job was stopped by the coordinator");
  return absl::OkStatus();
}

// The first rank's sweep tells `progress` (null for the others) each entry
// as it begins and ends.
void BeginEntry(TaskProgress* progress, int index, int count, std::string label, const kernels::IterationPlan& plan) {
  if (progress != nullptr) progress->BeginEntry(index, count, std::move(label), plan.warmup + plan.timed);
}
void EndEntry(TaskProgress* progress, double median_seconds) {
  if (progress != nullptr) progress->EndEntry(median_seconds);
}

absl::Status RunGemmSweep(kernels::Backend& backend, int device, const v1::WorkloadSpec& spec,
                          const TaskEnvironment& env, TaskProgress* progress, v1::RankResult* out) {
  const kernels::IterationPlan plan{spec.warmup_iterations(), spec.timed_iterations()};
  const int entries = spec.gemm().dtypes_size() * spec.gemm().shapes_size();
  int entry = 0;
  for (int d : spec.gemm().dtypes()) {
    const auto dtype = static_cast<v1::DType>(d);
    auto kd = ToKernels(dtype);
    if (!kd.ok()) return kd.status();
    for (const auto& shape : spec.gemm().shapes()) {
      if (auto s = CheckAbort(env); !s.ok()) return s;
      BeginEntry(progress, ++entry, entries, absl::StrCat("gemm ", shape.name(), " ", workload::DTypeName(dtype)), plan);
      auto run = backend.RunGemm({shape.m(), shape.n(), shape.k(), *kd}, plan);
      if (!run.ok()) {
        return Annotate(run.status(), absl::StrCat("gemm ", shape.name(), " in ", workload::DTypeName(dtype)));
      }
      v1::GemmMeasurement* m = out->add_gemm();
      *m->mutable_shape() = shape;
      m->set_dtype(dtype);
      for (double t : run->iteration_seconds) m->add_iteration_seconds(t);
      m->set_verified(run->verified);
      m->set_max_error(run->max_error);
      m->set_wrong_elements(run->wrong_elements);
      workload::CompleteGemmMeasurement(m);
      EndEntry(progress, m->timing().median_seconds());
      if (env.observer) env.observer->OnGemm(device, *m);
      if (backend.rank() == 0) {
        Log("worker", absl::StrFormat("gemm %-26s %-8s %9.3f TFLOP/s  %s", shape.name(), workload::DTypeName(dtype),
                                      m->tflops(), m->wrong_elements() == 0 ? "ok" : "WRONG"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RunCollectiveSweep(kernels::Backend& backend, int device, const v1::WorkloadSpec& spec,
                                const TaskEnvironment& env, TaskProgress* progress, v1::RankResult* out) {
  const kernels::IterationPlan plan{spec.warmup_iterations(), spec.timed_iterations()};
  const auto& sweep = spec.collective();
  auto kd = ToKernels(sweep.dtype());
  if (!kd.ok()) return kd.status();
  int entries = 0, entry = 0;
  for (int o : sweep.ops()) {
    entries += static_cast<int>(
        workload::CollectiveSizes(sweep, static_cast<v1::CollectiveOp>(o), backend.world_size()).size());
  }
  for (int o : sweep.ops()) {
    const auto op = static_cast<v1::CollectiveOp>(o);
    auto kop = ToKernels(op);
    if (!kop.ok()) return kop.status();
    for (const auto& size : workload::CollectiveSizes(sweep, op, backend.world_size())) {
      if (auto s = CheckAbort(env); !s.ok()) return s;
      BeginEntry(progress, ++entry, entries,
                 absl::StrCat(workload::CollectiveOpName(op), " ", size.size_bytes, " B"), plan);
      auto run = backend.RunCollective(*kop, size.count, *kd, plan);
      if (!run.ok()) {
        return Annotate(run.status(), absl::StrCat(workload::CollectiveOpName(op), " of ", size.size_bytes, " bytes"));
      }
      v1::CollectiveMeasurement* m = out->add_collective();
      m->set_op(op);
      m->set_size_bytes(size.size_bytes);
      m->set_count(size.count);
      m->set_dtype(sweep.dtype());
      for (double t : run->iteration_seconds) m->add_iteration_seconds(t);
      m->set_wrong_elements(run->wrong_elements);
      workload::CompleteCollectiveMeasurement(m, backend.world_size());
      EndEntry(progress, m->timing().median_seconds());
      if (env.observer) env.observer->OnCollective(device, *m);
    }
    if (backend.rank() == 0) Log("worker", workload::CollectiveOpName(op), " sweep done");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::RankResult> RunRank(const v1::Task& task, const v1::RankAssignment& assignment,
                                       const TaskEnvironment& env, TaskProgress* progress) {
  kernels::BackendOptions options;
  options.rank = assignment.rank();
  options.world_size = task.world_size();
  options.device_index = assignment.device_index();
  options.store = env.store;
  // A job placed again meets under fresh keys: a rank of an earlier attempt
  // that has not stopped yet cannot write into this one's rendezvous.
  options.store_prefix = absl::StrCat(task.job_id(), "/", std::max(1, task.attempt()), "/", env.backend);
  options.timeout = std::chrono::milliseconds(task.collective_timeout_ms() > 0 ? task.collective_timeout_ms() : 30000);
  options.cpu_threads = env.cpu_threads_per_rank;
  options.collective_host = env.collective_host;
  options.sysfs_root = env.sysfs_root;
  options.stop = env.abort;
  options.iterations_begun = progress != nullptr ? progress->iterations_begun() : nullptr;
  auto backend = kernels::Backend::Create(env.backend, options);
  if (!backend.ok()) return Annotate(backend.status(), "connecting the ranks");

  v1::RankResult result;
  result.set_rank(assignment.rank());
  result.set_worker_id(env.worker_id);
  if (env.inventory != nullptr) {
    for (const auto& d : env.inventory->devices()) {
      if (d.index() == assignment.device_index()) *result.mutable_device() = d;
    }
  }
  auto energy_before = (*backend)->EnergyJoules();
  absl::Status status;
  switch (task.spec().kind_case()) {
    case v1::WorkloadSpec::kGemm:
      status = RunGemmSweep(**backend, assignment.device_index(), task.spec(), env, progress, &result);
      break;
    case v1::WorkloadSpec::kCollective:
      status = RunCollectiveSweep(**backend, assignment.device_index(), task.spec(), env, progress, &result);
      break;
    case v1::WorkloadSpec::kTrainStep:
      status = RunTrainStep(**backend, task.spec(), env.abort, progress, result.mutable_train_step());
      if (status.ok() && env.observer) {
        for (double t : result.train_step().iteration_seconds()) env.observer->OnStep(assignment.device_index(), t);
      }
      break;
    case v1::WorkloadSpec::KIND_NOT_SET: status = absl::InvalidArgumentError("the task's spec has no workload"); break;
  }
  if (!status.ok()) return status;
  if (auto after = (*backend)->EnergyJoules(); energy_before.ok() && after.ok()) {
    result.set_energy_joules(*after - *energy_before);
  }
  return result;
}

}  // namespace

absl::StatusOr<std::vector<v1::RankResult>> RunTask(const v1::Task& task, const TaskEnvironment& env) {
  const int n = task.ranks_size();
  std::vector<absl::StatusOr<v1::RankResult>> results(n, absl::UnknownError("rank did not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    // The first rank speaks for the task's progress.
    threads.emplace_back([&, i] { results[i] = RunRank(task, task.ranks(i), env, i == 0 ? env.progress : nullptr); });
  }
  for (auto& t : threads) t.join();
  std::vector<v1::RankResult> out;
  for (int i = 0; i < n; ++i) {
    if (!results[i].ok()) return Annotate(results[i].status(), absl::StrCat("rank ", task.ranks(i).rank()));
    out.push_back(*std::move(results[i]));
  }
  return out;
}

}  // namespace tokenmeter::worker
