#include "worker/train_step_runner.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "worker/inventory.h"
#include "workload/figures.h"
#include "workload/models.h"
#include "workload/step_plan.h"
#include "workload/sweep.h"

namespace tokenmeter::worker {
namespace {

// The calibration GEMM a CPU's peak is measured with: large enough to reach
// the BLAS's steady state, small enough to take well under a second.
constexpr int64_t kCalibrationSize = 1024;

// Gradients and activations travel in the activation dtype (fp8 runs keep
// bf16 activations; tf32 is fp32).
v1::DType CollectiveDType(v1::DType matmul) {
  return workload::ActivationBytes(matmul) == 2 ? v1::DTYPE_BF16 : v1::DTYPE_FP32;
}

double Median(std::vector<double> v) {
  return workload::Summarize({v.data(), v.size()}).median_seconds();
}

}  // namespace

absl::Status RunTrainStep(kernels::Backend& backend, const v1::WorkloadSpec& spec, const std::atomic<bool>* abort,
                          v1::TrainStepMeasurement* out) {
  const v1::TrainStep& step = spec.train_step();
  const int world = backend.world_size();
  auto plan = workload::PlanTrainStep(step, world);
  if (!plan.ok()) return plan.status();

  kernels::StepProgram program;
  auto dtype = ToKernels(step.dtype());
  if (!dtype.ok()) return dtype.status();
  program.dtype = *dtype;
  const v1::DType collective_dtype = CollectiveDType(step.dtype());
  program.collective_dtype = *ToKernels(collective_dtype);
  const int64_t element = workload::DTypeBytes(collective_dtype);
  std::map<std::vector<int>, int> group_index;
  for (const auto& op : *plan) {
    kernels::StepOp k;
    switch (op.kind) {
      case workload::PlannedOp::kGemm:
      case workload::PlannedOp::kAttention:
        k.kind = kernels::StepOp::Kind::kGemm;
        k.m = op.m;
        k.n = op.n;
        k.k = op.k;
        k.count = op.count;
        break;
      case workload::PlannedOp::kElementwise:
      case workload::PlannedOp::kOptimizer:
        k.kind = kernels::StepOp::Kind::kElementwise;
        k.bytes = op.bytes;
        break;
      case workload::PlannedOp::kCollective: {
        k.kind = kernels::StepOp::Kind::kCollective;
        auto kop = ToKernels(op.op);
        if (!kop.ok()) return kop.status();
        k.op = *kop;
        std::vector<int> members = workload::GroupRanks(step, world, backend.rank(), op.group);
        // The plan counts bytes in the activation dtype; the op moves elements,
        // a whole number per member for the ops that split their buffer.
        const int64_t granule = workload::SplitsAmongRanks(op.op) ? static_cast<int64_t>(members.size()) : 1;
        k.count = std::max<int64_t>(granule, op.bytes / element / granule * granule);
        auto [it, inserted] = group_index.try_emplace(members, static_cast<int>(program.groups.size()));
        if (inserted) program.groups.push_back(members);
        k.group = it->second;
        break;
      }
    }
    program.ops.push_back(k);
  }

  if (backend.kind() == "cpu") {
    // A CPU has no datasheet peak here: measure one, and say it is measured.
    auto calibration =
        backend.RunGemm({kCalibrationSize, kCalibrationSize, kCalibrationSize, *dtype}, kernels::IterationPlan{1, 3});
    if (!calibration.ok()) return calibration.status();
    const double seconds = Median(calibration->iteration_seconds);
    out->set_calibration_flops_per_second(
        seconds > 0 ? workload::GemmFlops(kCalibrationSize, kCalibrationSize, kCalibrationSize) / seconds : 0);
  }
  if (abort != nullptr && abort->load()) return absl::AbortedError("the job was stopped by the coordinator");

  auto run = backend.RunStep(program, {spec.warmup_iterations(), spec.timed_iterations()});
  if (!run.ok()) return run.status();

  // Each op stands for depth_scale of itself at full depth.
  std::map<std::string, std::vector<double>> phase_iterations;
  double executed_total = 0, full_total = 0;
  for (size_t i = 0; i < run->op_seconds.size(); ++i) {
    const auto& ops = run->op_seconds[i];
    if (ops.size() != plan->size()) {
      return absl::InternalError(absl::StrCat("backend timed ", ops.size(), " ops of a ", plan->size(), "-op step"));
    }
    double full = 0;
    std::map<std::string, double> phases;
    for (size_t j = 0; j < ops.size(); ++j) {
      const double t = ops[j] * (*plan)[j].depth_scale;
      full += t;
      phases[(*plan)[j].phase] += t;
    }
    out->add_iteration_seconds(full);
    for (const auto& [phase, t] : phases) phase_iterations[phase].push_back(t);
    full_total += full;
    executed_total += i < run->step_seconds.size() ? run->step_seconds[i] : 0;
  }
  *out->mutable_timing() = workload::Summarize({out->iteration_seconds().data(),
                                                static_cast<size_t>(out->iteration_seconds().size())});
  for (const auto& [phase, times] : phase_iterations) (*out->mutable_phase_seconds())[phase] = Median(times);
  // Ops run one after another; overlap of gradient sync is not implemented.
  out->set_grad_sync_overlapped(false);
  out->set_depth_scale(workload::PlanDepth(step).depth_scale);
  out->set_executed_flops(workload::PlanModelFlops(*plan));
  out->set_collective_dtype(std::string(workload::DTypeName(collective_dtype)));
  if (run->timed_energy_joules >= 0 && executed_total > 0) {
    out->set_energy_joules(run->timed_energy_joules * full_total / executed_total);
  }
  if (backend.rank() == 0) {
    Log("worker", spec.name(), ": ", plan->size(), " ops per step, median ", out->timing().median_seconds(),
        " s at full depth");
  }
  return absl::OkStatus();
}

}  // namespace tokenmeter::worker
