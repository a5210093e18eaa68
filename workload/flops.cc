#include "workload/flops.h"

namespace tokenmeter::workload {

namespace {

double D(int64_t v) { return static_cast<double>(v); }

int64_t HeadDim(const v1::ModelShape& m) {
  return m.head_dim() > 0 ? m.head_dim() : m.hidden_size() / m.heads();
}

int64_t FfnMatrices(const v1::ModelShape& m) { return m.gated_ffn() ? 3 : 2; }

}  // namespace

int64_t KvHeads(const v1::ModelShape& model) {
  return model.kv_heads() > 0 ? model.kv_heads() : model.heads();
}

HeadDims AttentionHeadDims(const v1::ModelShape& model) {
  if (model.has_mla()) {
    const auto& a = model.mla();
    return {a.qk_nope_head_dim() + a.qk_rope_head_dim(), a.v_head_dim()};
  }
  const int64_t hd = HeadDim(model);
  return {hd, hd};
}

int64_t DenseLayerCount(const v1::ModelShape& model) {
  return model.has_moe() ? model.moe().dense_layers() : model.layers();
}

int64_t MoeLayerCount(const v1::ModelShape& model) {
  return model.layers() - DenseLayerCount(model);
}

LayerMatmulParams CountLayerMatmulParams(const v1::ModelShape& model) {
  LayerMatmulParams p;
  const double h = D(model.hidden_size());
  const double heads = D(model.heads());
  if (model.has_mla()) {
    const auto& a = model.mla();
    const double qk = D(a.qk_nope_head_dim() + a.qk_rope_head_dim());
    // Queries: through a low-rank bottleneck (q_a, q_b) or projected directly.
    const double q = a.q_lora_rank() > 0
                         ? h * D(a.q_lora_rank()) + D(a.q_lora_rank()) * heads * qk
                         : h * heads * qk;
    // Keys/values: compressed latent plus the shared rope key (kv_a), then
    // expanded per head to the no-rope key and the value (kv_b).
    const double kv = h * D(a.kv_lora_rank() + a.qk_rope_head_dim()) +
                      D(a.kv_lora_rank()) * heads * D(a.qk_nope_head_dim() + a.v_head_dim());
    const double o = heads * D(a.v_head_dim()) * h;
    p.attention = q + kv + o;
  } else {
    const double hd = D(HeadDim(model));
    p.attention = h * heads * hd                   // q
                  + 2 * h * D(KvHeads(model)) * hd  // k, v
                  + heads * hd * h;                // o
  }
  const double mats = D(FfnMatrices(model));
  p.dense_ffn = mats * h * D(model.ffn_hidden_size());
  if (model.has_moe()) {
    const auto& e = model.moe();
    p.router = h * D(e.routed_experts());
    p.routed_expert = mats * h * D(e.expert_ffn_hidden_size());
    p.shared_experts = D(e.shared_experts()) * p.routed_expert;
  }
  return p;
}

ParamCounts CountParams(const v1::ModelShape& model) {
  const LayerMatmulParams p = CountLayerMatmulParams(model);
  const double h = D(model.hidden_size());
  // Two RMS/layer norms per layer; MLA adds norms on the two latents.
  double norms = 2 * h;
  if (model.has_mla()) norms += D(model.mla().q_lora_rank() + model.mla().kv_lora_rank());
  const double dense_layer = p.attention + p.dense_ffn + norms;
  const double moe_common = p.attention + p.router + p.shared_experts + norms;
  const double embedding = D(model.vocab_size()) * h;
  const double outside = embedding * (model.tied_embeddings() ? 1 : 2) + h /* final norm */;

  ParamCounts c;
  const double dense = D(DenseLayerCount(model)) * dense_layer;
  const double moe_layers = D(MoeLayerCount(model));
  c.total = dense + outside;
  if (model.has_moe()) {
    c.total += moe_layers * (moe_common + D(model.moe().routed_experts()) * p.routed_expert);
  }
  c.active = MatmulParamsPerToken(model);
  return c;
}

double MatmulParamsPerToken(const v1::ModelShape& model) {
  const LayerMatmulParams p = CountLayerMatmulParams(model);
  double n = D(DenseLayerCount(model)) * (p.attention + p.dense_ffn);
  if (model.has_moe()) {
    n += D(MoeLayerCount(model)) *
         (p.attention + p.router + p.shared_experts +
          D(model.moe().experts_per_token()) * p.routed_expert);
  }
  // The output head is a matmul even when its weights are the embedding's.
  return n + D(model.vocab_size()) * D(model.hidden_size());
}

double AttentionFlopsPerToken(const v1::ModelShape& model) {
  const HeadDims d = AttentionHeadDims(model);
  return 6 * D(model.layers()) * D(model.heads()) * D(d.qk + d.v) * D(model.seq_len());
}

double ModelFlopsPerToken(const v1::ModelShape& model) {
  return 6 * MatmulParamsPerToken(model) + AttentionFlopsPerToken(model);
}

}  // namespace tokenmeter::workload
