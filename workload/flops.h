// Parameter and FLOPs counts of a transformer shape (docs/cost-model.md,
// "Definitions"). Pure functions of the shape; thread-safe.
//
// REQUIRES for every function here: the shape passed the shape checks of
// ValidateTrainStep (models.h). Counts are doubles: DeepSeek-V3's totals pass
// 2^53 only in FLOPs per step, where a relative error of 1e-16 is harmless.
#ifndef TOKENMETER_WORKLOAD_FLOPS_H_
#define TOKENMETER_WORKLOAD_FLOPS_H_

#include <cstdint>

#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// Per-head widths of the attention matmuls. For plain (grouped-query)
// attention both are the head dim; for MLA d_qk = qk_nope + qk_rope and
// d_v = v_head_dim.
struct HeadDims {
  int64_t qk = 0;
  int64_t v = 0;
};
HeadDims AttentionHeadDims(const v1::ModelShape& model);

// kv_heads with 0 read as "= heads" (multi-head attention).
int64_t KvHeads(const v1::ModelShape& model);

// Parameters of the model.
//   total:  every weight stored, embeddings and norms included (for an untied
//           model the input embedding and the output head both count).
//   active: the weights one token is multiplied by: N of the FLOPs formula
//           (MatmulParamsPerToken), one concept with one definition. The
//           embedding table is not in it (a token reads one row of it), nor
//           are the routed experts a token is not sent to. DeepSeek counts
//           the same way: its weight documentation gives V3 36.7B activated
//           (the headline's "37B"); this is 36.62B. docs/workloads.md.
// Biases and learned position embeddings are not modelled (GPT-3's add
// 0.04%); DeepSeek-V3's multi-token-prediction module is not part of the
// shape (its public 671B excludes it too).
struct ParamCounts {
  double total = 0;
  double active = 0;
};
ParamCounts CountParams(const v1::ModelShape& model);

// Weight counts of one layer's matmuls, as the FLOPs model and the step plan
// see them (no norms, no embedding).
struct LayerMatmulParams {
  double attention = 0;       // q (or q_a + q_b), k/v (or kv_a + kv_b), o
  double dense_ffn = 0;       // the dense FFN (layers without experts)
  double router = 0;          // MoE gate: hidden × routed experts
  double shared_experts = 0;  // all shared experts together
  double routed_expert = 0;   // ONE routed expert
};
LayerMatmulParams CountLayerMatmulParams(const v1::ModelShape& model);

// Layers with a dense FFN and layers with experts (first dense_layers dense).
int64_t DenseLayerCount(const v1::ModelShape& model);
int64_t MoeLayerCount(const v1::ModelShape& model);

// N of the FLOPs formula: the weights of every matmul a token passes through
// — all linear layers and the output head, not the embedding lookup, not the
// norms; for MoE layers the router, the shared experts and top-k routed
// experts only.
double MatmulParamsPerToken(const v1::ModelShape& model);

// Attention-matmul FLOPs per token, forward + backward: 6·L·H·(d_qk + d_v)·s
// (not halved for causal masking).
double AttentionFlopsPerToken(const v1::ModelShape& model);

// Model FLOPs per token = 6·N + 6·L·H·(d_qk + d_v)·s (PaLM, appendix B).
double ModelFlopsPerToken(const v1::ModelShape& model);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_FLOPS_H_
