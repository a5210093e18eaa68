#include "workload/step_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "workload/figures.h"
#include "workload/flops.h"
#include "workload/models.h"
#include "workload/step_passes.h"

namespace tokenmeter::workload {

namespace {

// A set of parameters whose gradients are synchronised and updated together.
struct ParamGroup {
  std::string name;
  int layer = -1;
  double params = 0;  // local to this rank
  CommGroup group = CommGroup::kData;
  int group_size = 1;
  double depth_scale = 1;
};

// A forward op and the bytes of its backward pass (elementwise ops only;
// GEMMs and collectives derive theirs in Backward).
struct ForwardOp {
  ForwardOp(PlannedOp forward, int64_t backward) : op(std::move(forward)), backward_bytes(backward) {}
  PlannedOp op;
  int64_t backward_bytes = 0;
  PassMath backward_math = PassMath::kMemory;
  NewTensors backward_new;
};
using Forward = std::vector<ForwardOp>;

// Builds the plan; assumes the step is valid (PlanTrainStep checks first).
class Planner {
 public:
  Planner(const v1::TrainStep& step, int ranks)
      : step_(step),
        m_(step.model()),
        par_(ResolveParallelism(step, ranks)),
        depth_(PlanDepth(step)),
        ranks_(ranks),
        t_(par_.tensor),
        tokens_(step.micro_batch() * step.model().seq_len()),
        ab_(ActivationBytes(step.dtype())),
        heads_local_(step.model().heads() / par_.tensor),
        dims_(AttentionHeadDims(step.model())),
        mats_(step.model().gated_ffn() ? 3 : 2),
        profile_(step.profile()),
        eager_(step.profile() == v1::FRAMEWORK_PROFILE_EAGER) {}

  std::vector<PlannedOp> Build();
  MemoryEstimate Memory();

 private:
  // Forward ops of one layer (attention, then dense or MoE FFN).
  Forward LayerForward(int layer, bool moe, double scale) const;
  void Attention(int layer, double scale, Forward* ops) const;
  void AttentionCore(int layer, double scale, int64_t q_width, int64_t k_width,
                     int64_t v_width, int64_t rotary_q, int64_t rotary_k, Forward* ops) const;
  void DenseFfn(int layer, double scale, Forward* ops) const;
  void MoeFfn(int layer, double scale, Forward* ops) const;
  // An FFN of `width` (local) on `rows` tokens, `count` times: gate and up
  // (separate under eager, one GEMM under fused), activation, down.
  void Ffn(int layer, double scale, const std::string& what, int64_t rows, int64_t width,
           int64_t count, Forward* ops) const;
  std::vector<ParamGroup> ParamGroups() const;

  PlannedOp Gemm(PlannedOp::Kind kind, std::string name, int layer, double scale, int64_t m,
                 int64_t n, int64_t k, int64_t count) const;
  // y[rows × out] = x·Wᵀ for a weight stored [out, in], `count` times.
  ForwardOp Linear(std::string name, int layer, double scale, int64_t rows, int64_t out,
                   int64_t in, int64_t count = 1) const;
  PlannedOp Elementwise(std::string name, int layer, double scale, int64_t bytes) const;
  // A forward pass with its backward; none when both are 0 (the profile has no such op).
  void Pass(std::string name, int layer, double scale, PassBytes bytes, Forward* ops,
            const char* phase = "elementwise") const;
  PlannedOp Collective(std::string name, int layer, double scale, v1::CollectiveOp op,
                       CommGroup group, int group_size, int64_t bytes, bool overlappable) const;
  void TensorAllReduce(std::string name, int layer, double scale, Forward* ops) const;
  static std::vector<PlannedOp> Backward(const Forward& forward);
  void GradSync(const ParamGroup& g, std::vector<PlannedOp>* ops) const;

  const v1::TrainStep& step_;
  const v1::ModelShape& m_;
  const ResolvedParallelism par_;
  const DepthPlan depth_;
  const int ranks_;
  const int64_t t_;
  const int64_t tokens_;  // tokens on this rank: micro_batch × seq_len
  const int64_t ab_;      // activation/weight/gradient element bytes
  const int64_t heads_local_;
  const HeadDims dims_;
  const int64_t mats_;    // FFN matrices: 3 gated, 2 not
  const v1::FrameworkProfile profile_;
  const bool eager_;
};

PlannedOp Planner::Gemm(PlannedOp::Kind kind, std::string name, int layer, double scale,
                        int64_t m, int64_t n, int64_t k, int64_t count) const {
  PlannedOp op;
  op.kind = kind;
  op.name = std::move(name);
  op.layer = layer;
  op.m = m;
  op.n = n;
  op.k = k;
  op.count = count;
  op.flops = GemmFlops(m, n, k) * static_cast<double>(count);
  op.phase = kind == PlannedOp::kAttention ? "attention" : "gemm";
  op.depth_scale = scale;
  return op;
}

ForwardOp Planner::Linear(std::string name, int layer, double scale, int64_t rows, int64_t out,
                          int64_t in, int64_t count) const {
  PlannedOp op = Gemm(PlannedOp::kGemm, std::move(name), layer, scale, rows, out, in, count);
  op.transpose_b = true;
  return {std::move(op), 0};
}

PlannedOp Planner::Elementwise(std::string name, int layer, double scale, int64_t bytes) const {
  PlannedOp op;
  op.kind = PlannedOp::kElementwise;
  op.name = std::move(name);
  op.layer = layer;
  op.bytes = bytes;
  op.phase = "elementwise";
  op.depth_scale = scale;
  return op;
}

void Planner::Pass(std::string name, int layer, double scale, PassBytes bytes, Forward* ops,
                   const char* phase) const {
  if (bytes.forward == 0 && bytes.backward == 0) return;
  PlannedOp op = Elementwise(std::move(name), layer, scale, bytes.forward);
  op.phase = phase;
  op.math = bytes.forward_math;
  op.new_tensors = bytes.forward_new;
  op.in_place = bytes.in_place;
  ForwardOp pass(std::move(op), bytes.backward);
  pass.backward_math = bytes.backward_math;
  pass.backward_new = bytes.backward_new;
  ops->push_back(std::move(pass));
}

PlannedOp Planner::Collective(std::string name, int layer, double scale, v1::CollectiveOp cop,
                              CommGroup group, int group_size, int64_t bytes,
                              bool overlappable) const {
  PlannedOp op;
  op.kind = PlannedOp::kCollective;
  op.name = std::move(name);
  op.layer = layer;
  op.op = cop;
  op.group = group;
  op.group_size = group_size;
  // Whole elements per rank, so reduce-scatter and all-gather split evenly.
  const int64_t quantum = ab_ * group_size;
  op.bytes = (bytes + quantum - 1) / quantum * quantum;
  op.phase = "communication";
  op.overlappable = overlappable;
  op.depth_scale = scale;
  return op;
}

void Planner::TensorAllReduce(std::string name, int layer, double scale, Forward* ops) const {
  if (t_ == 1) return;
  ops->push_back({Collective(std::move(name), layer, scale, v1::ALL_REDUCE, CommGroup::kTensor,
                             static_cast<int>(t_), tokens_ * m_.hidden_size() * ab_, false),
                  0});
}

std::string LayerName(int layer, const char* what) {
  return absl::StrCat("layer", layer, ".", what, ".fwd");
}

void Planner::Attention(int layer, double scale, Forward* ops) const {
  const int64_t h = m_.hidden_size();
  const int64_t T = tokens_;
  const int64_t heads = m_.heads();
  Pass(LayerName(layer, "attn.norm"), layer, scale, NormPass(profile_, T * h, ab_), ops);
  if (m_.has_mla()) {
    const auto& a = m_.mla();
    // Every projection is split over the tensor group along its output (or,
    // for o_proj, input) dimension, the latent down-projections included, so
    // the group executes each weight once: executed FLOPs = model FLOPs. The
    // latents are normed before their up-projections (DeepSeek's q_a and
    // kv_a norms); only the rope part of the queries and keys is rotated.
    if (a.q_lora_rank() > 0) {
      ops->push_back(Linear(LayerName(layer, "attn.q_down"), layer, scale, T, a.q_lora_rank() / t_, h));
      Pass(LayerName(layer, "attn.q_norm"), layer, scale,
           NormPass(profile_, T * a.q_lora_rank() / t_, ab_), ops);
      ops->push_back(Linear(LayerName(layer, "attn.q_up"), layer, scale, T, heads * dims_.qk / t_,
                            a.q_lora_rank()));
    } else {
      ops->push_back(Linear(LayerName(layer, "attn.q_proj"), layer, scale, T, heads * dims_.qk / t_, h));
    }
    ops->push_back(Linear(LayerName(layer, "attn.kv_down"), layer, scale, T,
                          (a.kv_lora_rank() + a.qk_rope_head_dim()) / t_, h));
    Pass(LayerName(layer, "attn.kv_norm"), layer, scale,
         NormPass(profile_, T * a.kv_lora_rank() / t_, ab_), ops);
    ops->push_back(Linear(LayerName(layer, "attn.kv_up"), layer, scale, T,
                          heads * (a.qk_nope_head_dim() + a.v_head_dim()) / t_, a.kv_lora_rank()));
    AttentionCore(layer, scale, heads_local_ * dims_.qk, heads_local_ * dims_.qk,
                  heads_local_ * dims_.v, heads_local_ * a.qk_rope_head_dim(),
                  a.qk_rope_head_dim() / t_, ops);
  } else {
    const int64_t q = heads * dims_.qk / t_, kv = KvHeads(m_) * dims_.qk / t_;
    if (eager_) {
      ops->push_back(Linear(LayerName(layer, "attn.q_proj"), layer, scale, T, q, h));
      ops->push_back(Linear(LayerName(layer, "attn.k_proj"), layer, scale, T, kv, h));
      ops->push_back(Linear(LayerName(layer, "attn.v_proj"), layer, scale, T, kv, h));
    } else {
      // Q, K and V in one GEMM, as Megatron and torchtitan's fused variants do.
      ops->push_back(Linear(LayerName(layer, "attn.qkv_proj"), layer, scale, T, q + 2 * kv, h));
    }
    AttentionCore(layer, scale, q, kv, kv, q, kv, ops);
  }
  ops->push_back(Linear(LayerName(layer, "attn.o_proj"), layer, scale, T, h, heads * dims_.v / t_));
  TensorAllReduce(LayerName(layer, "attn.allreduce"), layer, scale, ops);
  Pass(LayerName(layer, "attn.residual"), layer, scale, ResidualPass(profile_, T * h, ab_), ops);
}

// Widths are per token on this rank: q_width queries, k_width and v_width
// keys and values as projected (before GQA's repetition); rotary_q and
// rotary_k the rotated part of the queries and keys.
void Planner::AttentionCore(int layer, double scale, int64_t q_width, int64_t k_width,
                            int64_t v_width, int64_t rotary_q, int64_t rotary_k,
                            Forward* ops) const {
  const int64_t T = tokens_;
  const int64_t s = m_.seq_len();
  const int64_t batch = step_.micro_batch() * heads_local_;
  const int64_t group = m_.has_mla() ? 1 : m_.heads() / KvHeads(m_);
  Pass(LayerName(layer, "attn.rotary"), layer, scale, RotaryPass(profile_, T * rotary_q, T * rotary_k, ab_),
       ops);
  Pass(LayerName(layer, "attn.layout"), layer, scale,
       AttentionLayoutPass(profile_, T * q_width, T * k_width, T * v_width, group,
                           T * heads_local_ * dims_.v, ab_),
       ops);
  PlannedOp scores = Gemm(PlannedOp::kAttention, LayerName(layer, "attn.scores"), layer, scale, s, s,
                          dims_.qk, batch);
  scores.transpose_b = true;  // Q·Kᵀ, K stored [s, d]
  ops->push_back({std::move(scores), 0});
  const ScoresPasses passes = ScoresPass(profile_, batch * s * s, ab_);
  Pass(LayerName(layer, "attn.scale"), layer, scale, passes.scale, ops);
  Pass(LayerName(layer, "attn.mask"), layer, scale, passes.mask, ops);
  Pass(LayerName(layer, "attn.softmax"), layer, scale, passes.softmax, ops);
  ops->push_back({Gemm(PlannedOp::kAttention, LayerName(layer, "attn.values"), layer, scale, s, dims_.v,
                       s, batch),
                  0});
}

void Planner::Ffn(int layer, double scale, const std::string& what, int64_t rows, int64_t width,
                  int64_t count, Forward* ops) const {
  const int64_t h = m_.hidden_size();
  auto name = [&](const char* part) { return LayerName(layer, absl::StrCat(what, ".", part).c_str()); };
  if (mats_ == 3 && eager_) {
    ops->push_back(Linear(name("gate"), layer, scale, rows, width, h, count));
    ops->push_back(Linear(name("up"), layer, scale, rows, width, h, count));
  } else {
    ops->push_back(Linear(name(mats_ == 3 ? "gate_up" : "up"), layer, scale, rows, (mats_ - 1) * width, h,
                          count));
  }
  Pass(name("act"), layer, scale, ActivationPass(profile_, mats_ == 3, rows * count * width, ab_), ops);
  ops->push_back(Linear(name("down"), layer, scale, rows, h, width, count));
}

void Planner::DenseFfn(int layer, double scale, Forward* ops) const {
  Ffn(layer, scale, "ffn", tokens_, m_.ffn_hidden_size() / t_, 1, ops);
  TensorAllReduce(LayerName(layer, "ffn.allreduce"), layer, scale, ops);
}

void Planner::MoeFfn(int layer, double scale, Forward* ops) const {
  const auto& e = m_.moe();
  const int64_t h = m_.hidden_size();
  const int64_t T = tokens_;
  ops->push_back(Linear(LayerName(layer, "moe.router"), layer, scale, T, e.routed_experts() / t_, h));
  // Each token goes to top-k experts: T·k (token, expert) pairs leave this
  // rank and, at average load, T·k arrive, spread evenly over the local
  // experts. nccl-tests counts the whole send buffer.
  const int64_t pairs = T * e.experts_per_token();
  const int64_t a2a_bytes = pairs * h * ab_;
  Pass(LayerName(layer, "moe.permute"), layer, scale, PermutePass(T * h, pairs * h, ab_), ops);
  if (par_.expert > 1) {
    ops->push_back({Collective(LayerName(layer, "moe.dispatch"), layer, scale, v1::ALL_TO_ALL,
                               CommGroup::kExpert, par_.expert, a2a_bytes, false),
                    0});
  }
  const int64_t local_experts = e.routed_experts() / par_.expert;
  int64_t rows = pairs, count = 1;
  if (pairs % local_experts == 0) {
    rows = pairs / local_experts;
    count = local_experts;
  }  // else: one grouped GEMM over all pairs, the same FLOPs.
  Ffn(layer, scale, "moe.experts", rows, e.expert_ffn_hidden_size() / t_, count, ops);
  if (par_.expert > 1) {
    ops->push_back({Collective(LayerName(layer, "moe.combine"), layer, scale, v1::ALL_TO_ALL,
                               CommGroup::kExpert, par_.expert, a2a_bytes, false),
                    0});
  }
  Pass(LayerName(layer, "moe.unpermute"), layer, scale, PermutePass(T * h, pairs * h, ab_), ops);
  if (e.shared_experts() > 0) {
    Ffn(layer, scale, "moe.shared", T, e.shared_experts() * e.expert_ffn_hidden_size() / t_, 1, ops);
  }
  TensorAllReduce(LayerName(layer, "moe.allreduce"), layer, scale, ops);
}

Forward Planner::LayerForward(int layer, bool moe, double scale) const {
  Forward ops;
  const int64_t h = m_.hidden_size();
  Attention(layer, scale, &ops);
  Pass(LayerName(layer, "ffn.norm"), layer, scale, NormPass(profile_, tokens_ * h, ab_), &ops);
  if (moe) {
    MoeFfn(layer, scale, &ops);
  } else {
    DenseFfn(layer, scale, &ops);
  }
  Pass(LayerName(layer, "ffn.residual"), layer, scale, ResidualPass(profile_, tokens_ * h, ab_), &ops);
  // Eager mixed precision: autocast casts the layer's matmul weights to 16
  // bits before they are used (and their gradients back after).
  double weights = 0;
  for (const ForwardOp& f : ops) {
    if (f.op.kind == PlannedOp::kGemm) weights += static_cast<double>(f.op.n * f.op.k * f.op.count);
  }
  Forward out;
  Pass(LayerName(layer, "weight_cast"), layer, scale, WeightCastPass(profile_, weights, ab_), &out);
  out.insert(out.end(), ops.begin(), ops.end());
  return out;
}

// Backward of a forward sequence, in reverse. A GEMM C = op(A)·op(B) gives
// the gradients of both operands, each with the forward's FLOPs, stored as
// the operands are: for C = A·Bᵀ (a linear layer, the scores), dA = dC·B and
// dB = dCᵀ·A; for C = A·B (the values), dA = dC·Bᵀ and dB = Aᵀ·dC. An
// elementwise pass runs its own backward; collectives repeat at the same
// size (Megatron's conjugate all-reduce; all-to-all combine ↔ dispatch).
std::vector<PlannedOp> Planner::Backward(const Forward& forward) {
  std::vector<PlannedOp> ops;
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    const PlannedOp& f = it->op;
    std::string base = f.name.substr(0, f.name.size() - 4);  // drop ".fwd"
    if (f.kind == PlannedOp::kGemm || f.kind == PlannedOp::kAttention) {
      PlannedOp dx = f;
      dx.new_tensors = {};
      dx.name = base + ".bwd_input";
      dx.n = f.k;
      dx.k = f.n;
      dx.transpose_a = false;
      dx.transpose_b = !f.transpose_b;
      PlannedOp dw = f;
      dw.new_tensors = {};
      dw.name = base + ".bwd_weight";
      dw.m = f.transpose_b ? f.n : f.k;
      dw.n = f.transpose_b ? f.k : f.n;
      dw.k = f.m;
      dw.transpose_a = true;
      dw.transpose_b = false;
      ops.push_back(std::move(dx));
      ops.push_back(std::move(dw));
    } else if (f.kind == PlannedOp::kCollective) {
      PlannedOp op = f;
      op.name = base + ".bwd";
      ops.push_back(std::move(op));
    } else if (it->backward_bytes > 0) {
      PlannedOp op = f;
      op.name = base + ".bwd";
      op.bytes = it->backward_bytes;
      op.math = it->backward_math;
      op.new_tensors = it->backward_new;
      ops.push_back(std::move(op));
    }
  }
  return ops;
}
std::vector<ParamGroup> Planner::ParamGroups() const {
  const LayerMatmulParams p = CountLayerMatmulParams(m_);
  const double t = static_cast<double>(t_);
  const double h = static_cast<double>(m_.hidden_size());
  double norms = 2 * h;  // replicated over the tensor group
  if (m_.has_mla()) norms += static_cast<double>(m_.mla().q_lora_rank() + m_.mla().kv_lora_rank());
  std::vector<ParamGroup> groups;
  int layer = 0;
  for (int64_t i = 0; i < depth_.dense_run; ++i, ++layer) {
    groups.push_back({absl::StrCat("layer", layer), layer, (p.attention + p.dense_ffn) / t + norms,
                      CommGroup::kData, par_.data, depth_.dense_scale});
  }
  for (int64_t i = 0; i < depth_.moe_run; ++i, ++layer) {
    groups.push_back({absl::StrCat("layer", layer), layer,
                      (p.attention + p.router + p.shared_experts) / t + norms, CommGroup::kData,
                      par_.data, depth_.moe_scale});
    const double local_experts =
        static_cast<double>(m_.moe().routed_experts() / par_.expert);
    groups.push_back({absl::StrCat("layer", layer, ".experts"), layer,
                      local_experts * p.routed_expert / t, CommGroup::kExpertData,
                      par_.data / par_.expert, depth_.moe_scale});
  }
  // Embedding, head and final norm, replicated over the tensor group; the
  // head's gradient is partial per tensor rank (split by tokens), so they sync
  // over every rank.
  const double vocab = static_cast<double>(m_.vocab_size());
  groups.push_back({"embedding_head", -1, vocab * h * (m_.tied_embeddings() ? 1 : 2) + h,
                    CommGroup::kWorld, ranks_, 1});
  return groups;
}

void Planner::GradSync(const ParamGroup& g, std::vector<PlannedOp>* ops) const {
  if (g.group_size <= 1) return;
  const int64_t bytes = static_cast<int64_t>(g.params) * ab_;
  ops->push_back(Collective(absl::StrCat(g.name, ".grad_sync"), g.layer, g.depth_scale,
                            par_.sharded ? v1::REDUCE_SCATTER : v1::ALL_REDUCE, g.group,
                            g.group_size, bytes, step_.overlap_grad_sync()));
  ops->back().grad_sync = true;
}

std::vector<PlannedOp> Planner::Build() {
  const int64_t h = m_.hidden_size();
  auto flatten = [](const Forward& forward, std::vector<PlannedOp>* plan) {
    for (const ForwardOp& f : forward) plan->push_back(f.op);
  };
  std::vector<PlannedOp> plan;
  const PassBytes embedding = EmbeddingPass(tokens_, h, m_.vocab_size(), m_.tied_embeddings(), ab_);
  plan.push_back(Elementwise("embedding.lookup.fwd", -1, 1, embedding.forward));
  plan.back().new_tensors = embedding.forward_new;

  std::vector<Forward> layers;
  int layer = 0;
  for (int64_t i = 0; i < depth_.dense_run; ++i) {
    layers.push_back(LayerForward(layer++, false, depth_.dense_scale));
  }
  for (int64_t i = 0; i < depth_.moe_run; ++i) {
    layers.push_back(LayerForward(layer++, true, depth_.moe_scale));
  }
  for (const Forward& ops : layers) flatten(ops, &plan);

  // The final norm, then the output head, split over the tensor group by
  // tokens (any vocabulary size splits evenly this way); the loss runs in
  // fp32 over the logits.
  const int64_t head_rows = tokens_ / t_;
  Forward head;
  Pass("final_norm.fwd", -1, 1, NormPass(profile_, tokens_ * h, ab_), &head);
  head.push_back(Linear("head.logits.fwd", -1, 1, head_rows, m_.vocab_size(), h));
  // The logits are the one matmul output a CPU allocator maps fresh in the
  // presets' shapes (docs/workloads.md); the plan lists it for that.
  head.back().op.new_tensors = {head_rows * m_.vocab_size() * ab_, 1};
  Pass("head.loss.fwd", -1, 1, LossPass(profile_, head_rows * m_.vocab_size()), &head, "loss");
  flatten(head, &plan);
  std::vector<PlannedOp> head_bwd = Backward(head);
  if (t_ > 1) {
    // Before the final norm's backward: the head's input gradient of every
    // tensor rank's tokens.
    auto norm_bwd = std::find_if(head_bwd.begin(), head_bwd.end(),
                                 [](const PlannedOp& op) { return op.name == "final_norm.bwd"; });
    head_bwd.insert(norm_bwd, Collective("head.grad_allgather.bwd", -1, 1, v1::ALL_GATHER,
                                         CommGroup::kTensor, static_cast<int>(t_), tokens_ * h * ab_,
                                         false));
  }
  plan.insert(plan.end(), head_bwd.begin(), head_bwd.end());

  const std::vector<ParamGroup> groups = ParamGroups();
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    std::vector<PlannedOp> bwd = Backward(*it);
    plan.insert(plan.end(), bwd.begin(), bwd.end());
    const int l = it->front().op.layer;
    for (const ParamGroup& g : groups) {
      if (g.layer == l) GradSync(g, &plan);
    }
  }
  plan.push_back(Elementwise("embedding.lookup.bwd", -1, 1, embedding.backward));
  plan.back().new_tensors = embedding.backward_new;
  GradSync(groups.back(), &plan);

  // The optimizer update over the local shard (step_passes.h).
  for (const ParamGroup& g : groups) {
    const double shard = par_.sharded ? g.params / g.group_size : g.params;
    PlannedOp op = Elementwise(absl::StrCat(g.name, ".adam"), g.layer, g.depth_scale,
                               OptimizerBytes(profile_, shard));
    op.kind = PlannedOp::kOptimizer;
    op.phase = "optimizer";
    op.in_place = true;
    plan.push_back(std::move(op));
  }
  if (par_.sharded) {
    for (const ParamGroup& g : groups) {
      if (g.group_size <= 1) continue;
      plan.push_back(Collective(absl::StrCat(g.name, ".param_allgather"), g.layer, g.depth_scale,
                                v1::ALL_GATHER, g.group, g.group_size,
                                static_cast<int64_t>(g.params) * ab_, step_.overlap_grad_sync()));
      plan.back().grad_sync = true;
    }
  }
  return plan;
}

MemoryEstimate Planner::Memory() {
  MemoryEstimate mem;
  const double ab = static_cast<double>(ab_);
  const double state = ab_ == 4 ? 8 : 12;
  for (const ParamGroup& g : ParamGroups()) {
    const double params = g.params * g.depth_scale;
    const double shard = par_.sharded ? params / g.group_size : params;
    mem.weights += params * ab;
    mem.gradients += shard * ab;
    mem.optimizer_state += shard * state;
  }
  // Activations kept for backward: the inputs of every forward matmul of the
  // layers run (once for GEMMs reading the same tensor one after another: Q,
  // K and V; gate and up), attention's Q, K and V, under eager every layer's
  // attention probabilities (fused attention keeps none: it recomputes them
  // in backward), and the fp32 logits (eager also their log-softmax).
  const PlannedOp* previous = nullptr;  // the op before, in forward order
  for (const PlannedOp& op : Build()) {
    if (op.name.size() < 4 || op.name.compare(op.name.size() - 4, 4, ".fwd") != 0) continue;
    const double count = static_cast<double>(op.count);
    if (op.layer >= 0 && op.kind == PlannedOp::kGemm) {
      const bool same_input = previous != nullptr && previous->kind == PlannedOp::kGemm &&
                              previous->m == op.m && previous->k == op.k && previous->count == op.count;
      if (!same_input) mem.activations += static_cast<double>(op.m * op.k) * count * ab;
    } else if (op.kind == PlannedOp::kAttention) {
      const bool values = op.name.find("values") != std::string::npos;
      const double saved = values ? static_cast<double>(op.k * op.n)
                                  : static_cast<double>(op.m * op.k + op.n * op.k);
      mem.activations += saved * count * ab;
      if (eager_ && !values) mem.activations += static_cast<double>(op.m * op.n) * count * ab;
    } else if (op.name == "head.logits.fwd") {
      mem.activations += static_cast<double>(op.m * op.n) * 4 * (eager_ ? 2 : 1);
    }
    previous = &op;
  }
  return mem;
}

}  // namespace

int64_t ActivationBytes(v1::DType dtype) {
  return dtype == v1::DTYPE_FP8_E4M3 ? 2 : DTypeBytes(dtype);
}

absl::StatusOr<std::vector<PlannedOp>> PlanTrainStep(const v1::TrainStep& step, int ranks) {
  absl::Status st = ValidateTrainStep(step, ranks, 0);
  if (!st.ok()) return st;
  return Planner(step, ranks).Build();
}

double PlanModelFlops(const std::vector<PlannedOp>& plan) {
  double flops = 0;
  for (const PlannedOp& op : plan) flops += op.flops * op.depth_scale;
  return flops;
}

MemoryEstimate EstimateTrainStepMemory(const v1::TrainStep& step, int ranks) {
  return Planner(step, ranks).Memory();
}

std::vector<int> GroupRanks(const v1::TrainStep& step, int ranks, int rank, CommGroup group) {
  const ResolvedParallelism p = ResolveParallelism(step, ranks);
  const int ti = rank % p.tensor;
  const int di = rank / p.tensor;
  std::vector<int> out;
  auto at = [&](int d, int t) { out.push_back(d * p.tensor + t); };
  switch (group) {
    case CommGroup::kNone: out.push_back(rank); break;
    case CommGroup::kTensor:
      for (int t = 0; t < p.tensor; ++t) at(di, t);
      break;
    case CommGroup::kData:
      for (int d = 0; d < p.data; ++d) at(d, ti);
      break;
    case CommGroup::kExpert:
      for (int d = di / p.expert * p.expert; d < (di / p.expert + 1) * p.expert; ++d) at(d, ti);
      break;
    case CommGroup::kExpertData:
      for (int d = di % p.expert; d < p.data; d += p.expert) at(d, ti);
      break;
    case CommGroup::kWorld:
      for (int r = 0; r < ranks; ++r) out.push_back(r);
      break;
  }
  return out;
}

std::string_view CommGroupName(CommGroup group) {
  switch (group) {
    case CommGroup::kNone: return "none";
    case CommGroup::kTensor: return "tensor";
    case CommGroup::kData: return "data";
    case CommGroup::kExpert: return "expert";
    case CommGroup::kExpertData: return "expert_data";
    case CommGroup::kWorld: return "world";
  }
  return "none";
}

}  // namespace tokenmeter::workload
