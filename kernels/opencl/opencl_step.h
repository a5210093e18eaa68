// The opencl backend's training step (Backend::RunStep; opencl_backend.h):
//   kGemm        `count` CLBlast SGEMMs in fp32, operands stored as StepOp
//                says (row-major; transposes as CLBlast's), one after
//                another on the same A, B and C; timed on the device from a
//                marker before the first to one after the last;
//   kElementwise y = a·x + y (or exp(a·x) + y for ElementwiseMath::kExp) in
//                one OpenCL kernel over bytes / 12 fp32 elements (read x,
//                read y, write y), device-timed the same way; new tensors
//                are not allocated (a device framework's caching allocator
//                reuses its memory);
//   kCollective  Gloo among program.groups[op.group], staged through host
//                memory as the backend's collectives are (read the input
//                from the device, the Gloo call, write the output back), all
//                inside its time, host-timed; each group's context connected
//                before the first iteration and kept for the backend's life.
// Every op runs in line (overlappable ones too: nothing overlaps here, and
// StepRun::exposed_seconds stays empty). The first warm-up iteration checks
// every collective's output, read back from the device, element by element;
// at least one warm-up iteration always runs, since the first call of each
// GEMM shape compiles CLBlast's kernels. Operands are random and allocated
// once per Run, sized to the largest op. fp32 only: another dtype is
// Unimplemented. Energy: none.
#ifndef TOKENMETER_KERNELS_OPENCL_OPENCL_STEP_H_
#define TOKENMETER_KERNELS_OPENCL_OPENCL_STEP_H_

#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cpu/gloo_collectives.h"
#include "kernels/opencl/cl_util.h"
#include "kernels/step.h"

namespace tokenmeter::kernels::opencl {

class OpenclStepRunner {
 public:
  // Not owned; all outlive the runner.
  OpenclStepRunner(cl_context context, cl_device_id device, cl_command_queue queue, int64_t device_memory,
                   cpu::GlooCommunicator* world);
  ~OpenclStepRunner();

  absl::StatusOr<StepRun> Run(const StepProgram& program, const IterationPlan& plan);

 private:
  absl::Status BuildKernels();

  cl_context context_;
  cl_device_id device_;
  cl_command_queue queue_;
  int64_t device_memory_;
  cpu::GlooCommunicator* world_;
  Program program_;
  Kernel axpy_, exp_axpy_;
  // Contexts of the groups other than the world, by rank list.
  std::map<std::vector<int>, std::shared_ptr<gloo::Context>> groups_;
};

}  // namespace tokenmeter::kernels::opencl

#endif  // TOKENMETER_KERNELS_OPENCL_OPENCL_STEP_H_
