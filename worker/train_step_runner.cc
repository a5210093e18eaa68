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
// Timed calibration calls before the step and again after it. A peak is the
// best the hardware does, so the figure is the fastest call of either
// batch: a shared host's noise slows calls down, never speeds them up, and a
// median taken in a noisy moment would put MFU above 100%.
constexpr int kCalibrationCalls = 5;

// Gradients and activations travel in the activation dtype (fp8 runs keep
// bf16 activations; tf32 is fp32).
v1::DType CollectiveDType(v1::DType matmul) {
  return workload::ActivationBytes(matmul) == 2 ? v1::DTYPE_BF16 : v1::DTYPE_FP32;
}

}  // namespace

absl::StatusOr<kernels::StepProgram> BuildStepProgram(const v1::TrainStep& step,
                                                      const std::vector<workload::PlannedOp>& plan,
                                                      int world, int rank) {
  kernels::StepProgram program;
  auto dtype = ToKernels(step.dtype());
  if (!dtype.ok()) return dtype.status();
  program.dtype = *dtype;
  const v1::DType collective_dtype = CollectiveDType(step.dtype());
  program.collective_dtype = *ToKernels(collective_dtype);
  const int64_t element = workload::DTypeBytes(collective_dtype);
  std::map<std::vector<int>, int> group_index;
  bool optimizer_seen = false;
  for (const auto& op : plan) {
    kernels::StepOp k;
    // The optimizer update needs the synchronised gradients: the first one
    // waits for every overlapped gradient sync before it (DDP's
    // finalize_backward before optimizer.step()).
    if (op.kind == workload::PlannedOp::kOptimizer && !optimizer_seen) {
      optimizer_seen = true;
      k.waits_for_overlapped = true;
    }
    switch (op.kind) {
      case workload::PlannedOp::kGemm:
      case workload::PlannedOp::kAttention:
        k.kind = kernels::StepOp::Kind::kGemm;
        k.m = op.m;
        k.n = op.n;
        k.k = op.k;
        k.count = op.count;
        k.transpose_a = op.transpose_a;
        k.transpose_b = op.transpose_b;
        k.new_tensor_bytes = op.new_tensors.bytes;
        k.new_tensors = op.new_tensors.count;
        break;
      case workload::PlannedOp::kElementwise:
      case workload::PlannedOp::kOptimizer:
        k.kind = kernels::StepOp::Kind::kElementwise;
        k.bytes = op.bytes;
        k.math = op.math == workload::PassMath::kExp ? kernels::ElementwiseMath::kExp
                                                     : kernels::ElementwiseMath::kMemory;
        k.new_tensor_bytes = op.new_tensors.bytes;
        k.new_tensors = op.new_tensors.count;
        k.in_place = op.in_place;
        break;
      case workload::PlannedOp::kCollective: {
        k.kind = kernels::StepOp::Kind::kCollective;
        auto kop = ToKernels(op.op);
        if (!kop.ok()) return kop.status();
        k.op = *kop;
        std::vector<int> members = workload::GroupRanks(step, world, rank, op.group);
        // The plan counts bytes in the activation dtype; the op moves elements,
        // a whole number per member for the ops that split their buffer.
        const int64_t granule = workload::SplitsAmongRanks(op.op) ? static_cast<int64_t>(members.size()) : 1;
        k.count = std::max<int64_t>(granule, op.bytes / element / granule * granule);
        auto [it, inserted] = group_index.try_emplace(members, static_cast<int>(program.groups.size()));
        if (inserted) program.groups.push_back(members);
        k.group = it->second;
        k.overlappable = op.overlappable;
        break;
      }
    }
    program.ops.push_back(k);
  }

  return program;
}

absl::Status RunTrainStep(kernels::Backend& backend, const v1::WorkloadSpec& spec, const std::atomic<bool>* abort,
                          TaskProgress* progress, v1::TrainStepMeasurement* out) {
  const v1::TrainStep& step = spec.train_step();
  const int world = backend.world_size();
  auto plan = workload::PlanTrainStep(step, world);
  if (!plan.ok()) return plan.status();

  auto built = BuildStepProgram(step, *plan, world, backend.rank());
  if (!built.ok()) return built.status();
  const kernels::StepProgram& program = *built;
  auto dtype = ToKernels(step.dtype());
  if (!dtype.ok()) return dtype.status();

  // A CPU has no datasheet peak here: measure one, and say it is measured.
  const bool calibrate = backend.kind() == "cpu";
  double fastest_calibration = 0;
  auto calibrate_once = [&]() -> absl::Status {
    auto calibration = backend.RunGemm({kCalibrationSize, kCalibrationSize, kCalibrationSize, *dtype},
                                       kernels::IterationPlan{1, kCalibrationCalls});
    if (!calibration.ok()) return calibration.status();
    for (double t : calibration->iteration_seconds) {
      if (t > 0 && (fastest_calibration == 0 || t < fastest_calibration)) fastest_calibration = t;
    }
    return absl::OkStatus();
  };
  if (calibrate) {
    if (auto s = calibrate_once(); !s.ok()) return s;
  }
  if (abort != nullptr && abort->load()) return absl::AbortedError("the job was stopped by the coordinator");

  // After the first calibration, whose GEMM calls the backend counts too.
  if (progress != nullptr) {
    progress->BeginEntry(1, 1, absl::StrCat("train step ", spec.name()),
                         spec.warmup_iterations() + spec.timed_iterations());
  }
  auto run = backend.RunStep(program, {spec.warmup_iterations(), spec.timed_iterations()});
  if (!run.ok()) return run.status();

  if (calibrate) {
    if (auto s = calibrate_once(); !s.ok()) return s;
    out->set_calibration_flops_per_second(
        fastest_calibration > 0
            ? workload::GemmFlops(kCalibrationSize, kCalibrationSize, kCalibrationSize) / fastest_calibration
            : 0);
  }

  // Each op stands for depth_scale of itself at full depth. Iteration i
  // took step_seconds[i] on the device; the layers that did not run would add
  // (depth_scale - 1) times what each op of theirs added to it: the whole op
  // for one run in line, the exposed part for one that overlapped compute.
  // Phases sum the ops' own times (overlapped gradient sync in full); the
  // gradient sync figures are its own time and the part of it exposed.
  std::map<std::string, std::vector<double>> phase_iterations;
  std::vector<double> grad_sync_iterations, exposed_iterations;
  double executed_total = 0, full_total = 0;
  for (size_t i = 0; i < run->op_seconds.size(); ++i) {
    const auto& ops = run->op_seconds[i];
    const auto& exposed = i < run->exposed_seconds.size() ? run->exposed_seconds[i] : ops;
    if (ops.size() != plan->size() || exposed.size() != plan->size()) {
      return absl::InternalError(absl::StrCat("backend timed ", ops.size(), " ops (", exposed.size(),
                                              " exposed) of a ", plan->size(), "-op step"));
    }
    double in_line = 0, extra = 0, grad_sync = 0, grad_sync_exposed = 0;
    std::map<std::string, double> phases;
    for (size_t j = 0; j < ops.size(); ++j) {
      const workload::PlannedOp& op = (*plan)[j];
      in_line += exposed[j];
      extra += (op.depth_scale - 1) * exposed[j];
      phases[op.phase] += ops[j] * op.depth_scale;
      if (op.grad_sync) {
        grad_sync += ops[j] * op.depth_scale;
        grad_sync_exposed += exposed[j] * op.depth_scale;
      }
    }
    const double executed = i < run->step_seconds.size() ? run->step_seconds[i] : in_line;
    const double full = executed + extra;
    out->add_iteration_seconds(full);
    for (const auto& [phase, t] : phases) phase_iterations[phase].push_back(t);
    grad_sync_iterations.push_back(grad_sync);
    exposed_iterations.push_back(grad_sync_exposed);
    full_total += full;
    executed_total += executed;
  }
  *out->mutable_timing() = workload::Summarize({out->iteration_seconds().data(),
                                                static_cast<size_t>(out->iteration_seconds().size())});
  for (const auto& [phase, times] : phase_iterations) (*out->mutable_phase_seconds())[phase] = workload::MedianOf(times);
  out->set_grad_sync_seconds(workload::MedianOf(grad_sync_iterations));
  out->set_grad_sync_exposed_seconds(workload::MedianOf(exposed_iterations));
  // The backend's own observation: an overlappable op ran during compute.
  out->set_grad_sync_overlapped(run->overlapped);
  out->set_depth_scale(workload::PlanDepth(step).depth_scale);
  out->set_executed_flops(workload::PlanModelFlops(*plan));
  out->set_collective_dtype(std::string(workload::DTypeName(CollectiveDType(step.dtype()))));
  if (run->timed_energy_joules >= 0 && executed_total > 0) {
    out->set_energy_joules(run->timed_energy_joules * full_total / executed_total);
  }
  if (backend.rank() == 0) {
    Log("worker", spec.name(), ": ", plan->size(), " ops per step, median ", out->timing().median_seconds(),
        " s at full depth; gradient sync ", out->grad_sync_seconds(), " s",
        out->grad_sync_overlapped() ? absl::StrCat(", overlapped, ", out->grad_sync_exposed_seconds(), " s exposed")
                                    : std::string(", in line"));
  }
  if (progress != nullptr) progress->EndEntry(out->timing().median_seconds());
  return absl::OkStatus();
}

}  // namespace tokenmeter::worker
