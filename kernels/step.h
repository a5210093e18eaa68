// A training step as the kernels see it: a flat program of GEMMs, memory
// passes and collectives, with the rank groups the collectives run in. The
// worker builds it from the step plan (workload/step_plan.h); a backend runs
// it and times every op of every iteration.
#ifndef TOKENMETER_KERNELS_STEP_H_
#define TOKENMETER_KERNELS_STEP_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/types.h"

namespace tokenmeter::kernels {

enum class ElementwiseMath { kMemory, kExp };

struct StepOp {
  enum class Kind {
    kGemm,         // `count` GEMMs C[m×n] = op(A)·op(B) in the program's dtype, one after another
    kElementwise,  // one pass reading and writing `bytes` of memory (z = a·x + y)
    kCollective,   // `op` over `count` elements (nccl-tests' S) among `group`
  };
  Kind kind = Kind::kGemm;
  int64_t m = 0, n = 0, k = 0;
  int64_t count = 1;
  // kGemm only: how the operands are stored (row-major). op(A) = A, stored
  // m×k, or with transpose_a Aᵀ of A stored k×m; op(B) = B, stored k×n, or
  // with transpose_b Bᵀ of B stored n×k. A framework stores a linear layer's
  // weight [out, in], so its forward is x·Wᵀ (transpose_b) and its weight
  // gradient dYᵀ·X (transpose_a); the FLOPs are the same, the speed is not.
  bool transpose_a = false;
  bool transpose_b = false;
  int64_t bytes = 0;
  // kElementwise only: what the operator computes per element besides moving
  // `bytes` (kExp: an exponential per element, as softmax, log-softmax and
  // SiLU compute). kElementwise and kGemm: the output tensors it allocates
  // anew each run, each of new_tensor_bytes. A GPU backend's pass is bandwidth-bound either way and
  // its framework's caching allocator reuses memory: it may ignore both. The
  // cpu backend computes the exponentials and maps the tensors a system
  // allocator would map fresh (kernels/cpu/eager_pass.h).
  ElementwiseMath math = ElementwiseMath::kMemory;
  int64_t new_tensor_bytes = 0;
  int new_tensors = 0;
  // kElementwise only: the operator updates its operand in place (y = a·x +
  // y) rather than writing an output of its own (z = a·x + y): on a CPU an
  // output of its own costs a read of each line before it is written.
  bool in_place = false;
  CollectiveOp op = CollectiveOp::kAllReduce;
  int group = -1;  // index into StepProgram::groups
  // kCollective only: may run concurrently with the ops after it (gradient
  // synchronisation, as DDP's and FSDP's buckets). A backend that overlaps
  // runs such ops on a communication stream of its own, one after another in
  // program order (the same order on every rank), starting each only after
  // every op before it in the program has been issued; one that does not
  // runs them in line. Either way the result is the same collective.
  bool overlappable = false;
  // Before this op starts, every overlappable op before it has completed (the
  // optimizer update waits for the gradients). Every iteration also ends
  // only when its overlappable ops have completed.
  bool waits_for_overlapped = false;
};

struct StepProgram {
  DType dtype = DType::kFp32;             // GEMM dtype
  DType collective_dtype = DType::kFp32;  // element type of collectives
  // Rank lists (ascending world ranks, each containing this rank) that the
  // collectives run among. A list equal to every rank is the world. The
  // backend makes one communicator per distinct list, on first use, through
  // its store under a key derived from the list.
  std::vector<std::vector<int>> groups;
  std::vector<StepOp> ops;
};

struct StepRun {
  // op_seconds[i][j]: time of op j in timed iteration i, timed on the device.
  // For an op run overlapped: its time on the communication stream, from
  // when it started there to when it completed.
  std::vector<std::vector<double>> op_seconds;
  // exposed_seconds[i][j]: the part of op_seconds[i][j] the step spent on op
  // j, not hiding it behind other work: all of it for an op run in line; for
  // an op run overlapped, the part of its run during which the step's main
  // stream (thread) was waiting for it. Never more than op_seconds[i][j].
  // Empty when the backend ran every op in line (then it equals op_seconds).
  std::vector<std::vector<double>> exposed_seconds;
  // Wall time of each timed iteration as executed (device-timed), overlapped
  // ops included.
  std::vector<double> step_seconds;
  // True when, in some timed iteration, an overlappable op ran at the same
  // time as a GEMM or elementwise op of the step (their timed intervals
  // intersect) — not merely because ops were marked overlappable.
  bool overlapped = false;
  // Device energy over the timed iterations; < 0 when not reported.
  double timed_energy_joules = -1;
};

// The one structural rule every backend applies before running a program:
// InvalidArgument for no ops; a group that is empty, not strictly
// ascending, outside [0, world_size) or without `rank`; an op with a
// non-positive size or count; a collective whose group index is out of
// range. Field names in the message ("groups[1]", "ops[7].group"). What a
// backend supports (dtypes, index widths) it checks itself, after this.
absl::Status ValidateStepProgram(const StepProgram& program, int rank, int world_size);

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_STEP_H_
