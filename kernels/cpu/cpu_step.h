// Backend::RunStep for the "cpu" backend: a training step's flat program
// (kernels/step.h) run on the host — GEMMs through OpenBLAS, the elementwise
// ops as eager CPU kernels (eager_pass.h), collectives through Gloo among
// rank groups.
//
// Ops.
//   kGemm        `count` cblas_sgemm calls of m×n×k, fp32 only, each operand
//                stored as StepOp says (row-major; transpose_a / transpose_b
//                become CblasTrans, with the stored row's length as the
//                leading dimension: lda = transpose_a ? m : k, ldb =
//                transpose_b ? k : n, ldc = n). One function makes the call
//                (StepGemm, cpu_gemm.h), after touching a fresh output
//                tensor as kElementwise does when the op lists one (the
//                logits). GEMM results are not checked.
//   kElementwise one out-of-place pass z = a·x + y, or exp(a·x) + y for
//                ElementwiseMath::kExp (in place, y = …, for an op in_place),
//                on the rank's main thread (vectorised,
//                RunEagerPass) over bytes / 12 fp32 elements (read x, read y,
//                write z: 3 accesses of 4 bytes each; at least one element),
//                after mapping and touching its new tensors when they are
//                above the system allocator's threshold (TouchFreshTensors).
//                Elementwise results are not checked.
//   kCollective  `op` on `count` fp32 elements counted as nccl-tests counts S
//                (as RunCollective), among program.groups[op.group], with the
//                same Gloo algorithms as RunCollective (gloo_collectives.h).
//
// Groups. A list equal to every rank [0, world) runs on the backend's world
// contexts (shared with RunCollective). Any other list gets contexts of its
// own — this rank is its index in the list, the size is the list's — made on
// first use and kept for the backend's life, rendezvousing under
// `<store_prefix>/group-<r0>-<r1>-...`. Contexts are connected
// before the first iteration, in the order of each group's first use in the
// program, so connecting is never part of a timed iteration and follows the
// program's own collective order (deadlock-free whenever the program is). A
// group of one rank is skipped: its collectives do nothing and are timed 0.
//
// Overlap. Collectives marked `overlappable` (gradient synchronisation, in a
// group of more than one rank) run on a communication thread of the Run's
// own, as DDP hands its buckets to the process group's thread: the main
// thread hands each over in program order and goes on with the ops after it;
// the communication thread runs them one at a time in that order (the same
// on every rank, as Gloo needs). Before an op marked `waits_for_overlapped`
// (the optimizer update), and at the end of every iteration, the main thread
// waits until every op handed over has completed. The overlapped ops never
// share a Gloo context or a buffer with the ops in line — a tensor-parallel
// all-reduce or an expert all-to-all may run at the same time in the same
// rank list — so every list they use gets a second set of contexts, connected
// before the first iteration like the others under
// `<store_prefix>/overlap-group-<r0>-<r1>-...` (also for the whole world), and
// buffers of its own. A failure on the communication thread skips the ops
// queued behind it and fails the run when the main thread next waits.
//
// Buffers are allocated once per Run, before the first iteration: GEMM A, B,
// C sized to the largest m·k, k·n and m·n (random in [-1, 1)); x and y of the
// largest elementwise op (random); per distinct group list an input, an
// output sized to the largest collective of that
// group, holding the collective input pattern (gloo_collectives.h). Their
// total (plus the reduce-scatters' partial sums) is checked against the host's
// available memory before anything is allocated or connected.
//
// Checking. The collectives' outputs are compared with their closed-form
// values once: in the first warm-up iteration, or when plan.warmup is 0 in a
// pass of the program's collectives (only) before the timed loop. Inputs are
// refreshed and outputs set to NaN before each checked op, so every op is
// checked on its own. A wrong element fails the run with Internal naming the
// op, its group and the count — after the run completes, so the peers are not
// left waiting. In-place ops (all-reduce) would then reduce their own result
// again every iteration: the inputs are zeroed after the checked pass.
#ifndef TOKENMETER_KERNELS_CPU_CPU_STEP_H_
#define TOKENMETER_KERNELS_CPU_CPU_STEP_H_

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/step.h"
#include "kernels/types.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace tokenmeter::kernels::cpu {

class GlooCommunicator;
class RaplEnergy;

// Runs step programs for one rank. Used by one thread at a time (the
// backend's). After a collective fails, the world communicator is marked
// broken and every later Run (and RunCollective) returns Unavailable.
class CpuStepRunner {
 public:
  // `world` is the backend's communicator; not owned, must outlive the
  // runner. `threads` is the rank's BLAS thread count (see cpu_gemm.h on its
  // process-wide effect).
  CpuStepRunner(GlooCommunicator* world, int threads);
  ~CpuStepRunner();

  CpuStepRunner(const CpuStepRunner&) = delete;
  CpuStepRunner& operator=(const CpuStepRunner&) = delete;

  // Backend::RunStep's contract. `energy` may be null (energy not reported).
  // InvalidArgument for a negative plan, a malformed group (empty, not
  // strictly ascending, outside the world, without this rank), an op's group
  // index out of range, non-positive sizes, or a count the op cannot split
  // among its group; Unimplemented for a GEMM dtype or collective dtype other
  // than fp32 ("backend cpu does not support GEMM in bf16");
  // ResourceExhausted when the buffers exceed available host memory;
  // DeadlineExceeded / Unavailable when a peer is lost, naming the op index,
  // op and group; Internal when a checked collective output is wrong.
  // REQUIRES: every rank of the world calls Run with the same op sequence
  // (each with its own group lists, equal among the members of a group) and
  // plan — the barriers are world-wide.
  absl::StatusOr<StepRun> Run(const StepProgram& program, const IterationPlan& plan,
                              RaplEnergy* energy);

 private:
  GlooCommunicator* world_;
  int threads_;
  // By rank list, and whether the communication thread's (overlapped ops).
  std::map<std::pair<std::vector<int>, bool>, std::shared_ptr<gloo::Context>> groups_;  // connected on first use
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_CPU_STEP_H_
