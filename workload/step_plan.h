// The step plan: the ordered operations of one `train-step/<model>` step on
// one rank, each with its shape, bytes and model FLOPs (docs/workloads.md).
// The worker executes the plan op by op; the coordinator sums it. Pure
// functions; thread-safe.
#ifndef TOKENMETER_WORKLOAD_STEP_PLAN_H_
#define TOKENMETER_WORKLOAD_STEP_PLAN_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "workload/step_passes.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// The ranks a collective runs among (layout in models.h: rank =
// data_index · tensor + tensor_index).
enum class CommGroup {
  kNone,        // not a collective
  kTensor,      // the `tensor` ranks sharing one data index
  kData,        // the `data` ranks sharing one tensor index
  kExpert,      // `expert` consecutive data indices at one tensor index
  kExpertData,  // data / expert ranks holding the same experts
  kWorld,       // every rank
};

// The phases a step's time is broken down into (PlannedOp.phase), in the
// order reports list them.
inline constexpr const char* kStepPhases[] = {"gemm",          "attention", "elementwise", "loss",
                                              "communication", "optimizer"};

// One operation of the step. Every rank's plan has the same ops and shapes.
struct PlannedOp {
  enum Kind { kGemm, kAttention, kElementwise, kCollective, kOptimizer };
  Kind kind = kGemm;
  std::string name;  // e.g. "layer3.ffn.up.fwd", "layer3.grad_sync"
  int layer = -1;    // index among the layers run; -1 outside the layers
  // kGemm, kAttention: C[m×n] = op(A)·op(B), `count` times (batched over
  // sequences × heads for attention, over local experts for MoE), with
  // operands stored as a framework stores them (kernels::StepOp's
  // transpose_a/transpose_b): a linear layer's weight is [out, in], so its
  // forward is x·Wᵀ, its input gradient dY·W and its weight gradient dYᵀ·X;
  // attention's scores are Q·Kᵀ.
  int64_t m = 0, n = 0, k = 0;
  int64_t count = 1;
  bool transpose_a = false;
  bool transpose_b = false;
  // kCollective: the op, its group and S in bytes as nccl-tests counts it
  // (all-reduce: the buffer; all-gather: the gathered output; reduce-scatter:
  // the whole input; all-to-all: the whole send buffer). kElementwise and
  // kOptimizer: the bytes of the tensors the op reads and writes
  // (step_passes.h).
  v1::CollectiveOp op = v1::COLLECTIVE_OP_UNSPECIFIED;
  CommGroup group = CommGroup::kNone;
  int group_size = 1;
  int64_t bytes = 0;
  // kElementwise: what it computes per element and the tensors it allocates
  // (step_passes.h); kOptimizer: memory only, nothing allocated. kGemm: only
  // `head.logits.fwd` lists its output (the logits) as a new tensor.
  PassMath math = PassMath::kMemory;
  NewTensors new_tensors;
  // kElementwise: the op updates its operand in place (eager's
  // masked_fill_); kOptimizer: always (AdamW's parameter and moment updates
  // are in place: mul_, add_, addcmul_, addcdiv_).
  bool in_place = false;
  // Model FLOPs of the op (2·m·n·k·count) for matmuls; 0 for everything
  // else, so a plan's FLOPs are exactly the model FLOPs (docs/workloads.md).
  double flops = 0;
  // "gemm", "attention", "elementwise", "loss", "communication" or
  // "optimizer" (TrainStepMeasurement.phase_seconds keys).
  std::string phase;
  // Gradient synchronisation: a `.grad_sync` (all-reduce, or reduce-scatter
  // when sharded) or a sharded `.param_allgather`.
  bool grad_sync = false;
  // May run concurrently with compute: the gradient sync ops when
  // TrainStep.overlap_grad_sync is set.
  bool overlappable = false;
  // How many times this op stands for at full depth: per-layer ops are
  // multiplied by DepthPlan's dense or MoE scale; ops outside the layers by 1.
  // Time and FLOPs at full depth = Σ op × depth_scale.
  double depth_scale = 1;
};

// The ops of one training step on one rank, in execution order, as the
// step's framework profile decomposes it (TrainStep.profile; the passes and
// their bytes in step_passes.h):
//   embedding lookup;
//   per layer run, forward: the attention norm; attention projections
//     (eager: Q, K and V separately; fused: one QKV GEMM; MLA: its down/up
//     projections and latent norms), rotary embedding, eager's layout copies,
//     scores QKᵀ per local head, eager's scale, mask and softmax over the
//     materialised scores, values PV, output projection, tensor all-reduce,
//     eager's residual add; the FFN norm; dense FFN (eager: gate and up
//     separately; fused: one GEMM; then activation and down) or MoE (router,
//     permutation, all-to-all dispatch, local experts at average load,
//     all-to-all combine, un-permutation, shared experts); tensor all-reduce;
//     eager's residual add; eager mixed precision's weight casts;
//   the final norm, the output head (split over the tensor group by tokens)
//     and the loss;
//   backward in reverse: for each matmul an input-gradient and a
//     weight-gradient matmul of the same FLOPs (attention likewise), each
//     pass's backward, the same collectives, each layer followed by its
//     gradient synchronisation;
//   embedding gradient and the embedding/head gradient synchronisation;
//   the optimizer update per parameter group over the local shard, and for
//     sharded data parallel the all-gather of the updated parameters.
// Gradient sync is an all-reduce, or a reduce-scatter (+ all-gather after the
// update) when sharded; a collective over one rank is left out.
// Errors: ValidateTrainStep(step, ranks, 0)'s.
absl::StatusOr<std::vector<PlannedOp>> PlanTrainStep(const v1::TrainStep& step, int ranks);

// Σ flops × depth_scale: model FLOPs of one step on one rank at full depth.
// Times the ranks, it is ModelFlopsPerToken × TokensPerStep.
double PlanModelFlops(const std::vector<PlannedOp>& plan);

// The ranks in `rank`'s `group` (ascending), for building communicators.
// REQUIRES: step valid on `ranks` ranks; 0 <= rank < ranks.
std::vector<int> GroupRanks(const v1::TrainStep& step, int ranks, int rank, CommGroup group);

std::string_view CommGroupName(CommGroup group);

// Bytes one rank needs to train the model at this parallelism: the whole
// model's weights, gradients and Adam state (fp32 master weights and two
// moments; fp32 runs keep no separate master copy), gradients and state
// divided over the data group when sharded; plus the activations the layers
// run keep for backward (eager also every layer's attention probabilities;
// fused, flash-style, none) and the logits.
struct MemoryEstimate {
  double weights = 0;
  double gradients = 0;
  double optimizer_state = 0;
  double activations = 0;
  double total() const { return weights + gradients + optimizer_state + activations; }
};
// REQUIRES: the shape and parallelism checks of ValidateTrainStep pass
// (ValidateTrainStep calls this for its memory check).
MemoryEstimate EstimateTrainStepMemory(const v1::TrainStep& step, int ranks);

// Bytes per element of activations and weights for a matmul dtype: fp8 runs
// keep bf16 activations and weights (fp8 is only the GEMM inputs); tf32 is fp32.
int64_t ActivationBytes(v1::DType dtype);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_STEP_PLAN_H_
