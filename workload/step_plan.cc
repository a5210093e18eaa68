#include "workload/step_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "workload/figures.h"
#include "workload/flops.h"
#include "workload/models.h"

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
        mats_(step.model().gated_ffn() ? 3 : 2) {}

  std::vector<PlannedOp> Build();
  MemoryEstimate Memory();

 private:
  // Forward ops of one layer (attention, then dense or MoE FFN).
  std::vector<PlannedOp> LayerForward(int layer, bool moe, double scale) const;
  void Attention(int layer, double scale, std::vector<PlannedOp>* ops) const;
  void DenseFfn(int layer, double scale, std::vector<PlannedOp>* ops) const;
  void MoeFfn(int layer, double scale, std::vector<PlannedOp>* ops) const;
  std::vector<ParamGroup> ParamGroups() const;

  PlannedOp Gemm(PlannedOp::Kind kind, std::string name, int layer, double scale, int64_t m,
                 int64_t n, int64_t k, int64_t count) const;
  PlannedOp Elementwise(std::string name, int layer, double scale, int64_t bytes) const;
  PlannedOp Collective(std::string name, int layer, double scale, v1::CollectiveOp op,
                       CommGroup group, int group_size, int64_t bytes, bool overlappable) const;
  void TensorAllReduce(std::string name, int layer, double scale,
                       std::vector<PlannedOp>* ops) const;
  static std::vector<PlannedOp> Backward(const std::vector<PlannedOp>& forward);
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

void Planner::TensorAllReduce(std::string name, int layer, double scale,
                              std::vector<PlannedOp>* ops) const {
  if (t_ == 1) return;
  ops->push_back(Collective(std::move(name), layer, scale, v1::ALL_REDUCE, CommGroup::kTensor,
                            static_cast<int>(t_), tokens_ * m_.hidden_size() * ab_, false));
}

std::string LayerName(int layer, const char* what) {
  return absl::StrCat("layer", layer, ".", what, ".fwd");
}

void Planner::Attention(int layer, double scale, std::vector<PlannedOp>* ops) const {
  const int64_t h = m_.hidden_size();
  const int64_t T = tokens_;
  const int64_t heads = m_.heads();
  if (m_.has_mla()) {
    const auto& a = m_.mla();
    // Every projection is split over the tensor group along its output (or,
    // for o_proj, input) dimension, the latent down-projections included, so
    // the group executes each weight once: executed FLOPs = model FLOPs.
    if (a.q_lora_rank() > 0) {
      ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "attn.q_down"), layer, scale, T,
                          a.q_lora_rank() / t_, h, 1));
      ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "attn.q_up"), layer, scale, T,
                          heads * dims_.qk / t_, a.q_lora_rank(), 1));
    } else {
      ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "attn.q_proj"), layer, scale, T,
                          heads * dims_.qk / t_, h, 1));
    }
    ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "attn.kv_down"), layer, scale, T,
                        (a.kv_lora_rank() + a.qk_rope_head_dim()) / t_, h, 1));
    ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "attn.kv_up"), layer, scale, T,
                        heads * (a.qk_nope_head_dim() + a.v_head_dim()) / t_, a.kv_lora_rank(),
                        1));
  } else {
    // Q, K and V fused into one GEMM, as Megatron and torchtitan's fused
    // variants do.
    ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "attn.qkv_proj"), layer, scale, T,
                        (heads + 2 * KvHeads(m_)) * dims_.qk / t_, h, 1));
  }
  const int64_t s = m_.seq_len();
  const int64_t batch = step_.micro_batch() * heads_local_;
  ops->push_back(
      Gemm(PlannedOp::kAttention, LayerName(layer, "attn.scores"), layer, scale, s, s, dims_.qk, batch));
  ops->push_back(Elementwise(LayerName(layer, "attn.softmax"), layer, scale, batch * s * s * ab_));
  ops->push_back(
      Gemm(PlannedOp::kAttention, LayerName(layer, "attn.values"), layer, scale, s, dims_.v, s, batch));
  ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "attn.o_proj"), layer, scale, T, h,
                      heads * dims_.v / t_, 1));
  TensorAllReduce(LayerName(layer, "attn.allreduce"), layer, scale, ops);
}

void Planner::DenseFfn(int layer, double scale, std::vector<PlannedOp>* ops) const {
  const int64_t h = m_.hidden_size();
  const int64_t f = m_.ffn_hidden_size() / t_;
  ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "ffn.up"), layer, scale, tokens_,
                      (mats_ - 1) * f, h, 1));
  ops->push_back(Elementwise(LayerName(layer, "ffn.act"), layer, scale,
                             tokens_ * (mats_ - 1) * f * ab_));
  ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "ffn.down"), layer, scale, tokens_, h, f, 1));
  TensorAllReduce(LayerName(layer, "ffn.allreduce"), layer, scale, ops);
}

void Planner::MoeFfn(int layer, double scale, std::vector<PlannedOp>* ops) const {
  const auto& e = m_.moe();
  const int64_t h = m_.hidden_size();
  const int64_t T = tokens_;
  ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "moe.router"), layer, scale, T,
                      e.routed_experts() / t_, h, 1));
  // Each token goes to top-k experts: T·k (token, expert) pairs leave this
  // rank and, at average load, T·k arrive, spread evenly over the local
  // experts. nccl-tests counts the whole send buffer.
  const int64_t pairs = T * e.experts_per_token();
  const int64_t a2a_bytes = pairs * h * ab_;
  if (par_.expert > 1) {
    ops->push_back(Collective(LayerName(layer, "moe.dispatch"), layer, scale, v1::ALL_TO_ALL,
                              CommGroup::kExpert, par_.expert, a2a_bytes, false));
  }
  const int64_t local_experts = e.routed_experts() / par_.expert;
  int64_t rows = pairs, count = 1;
  if (pairs % local_experts == 0) {
    rows = pairs / local_experts;
    count = local_experts;
  }  // else: one grouped GEMM over all pairs, the same FLOPs.
  const int64_t f = e.expert_ffn_hidden_size() / t_;
  ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "moe.experts.up"), layer, scale, rows,
                      (mats_ - 1) * f, h, count));
  ops->push_back(Elementwise(LayerName(layer, "moe.experts.act"), layer, scale,
                             pairs * (mats_ - 1) * f * ab_));
  ops->push_back(
      Gemm(PlannedOp::kGemm, LayerName(layer, "moe.experts.down"), layer, scale, rows, h, f, count));
  if (par_.expert > 1) {
    ops->push_back(Collective(LayerName(layer, "moe.combine"), layer, scale, v1::ALL_TO_ALL,
                              CommGroup::kExpert, par_.expert, a2a_bytes, false));
  }
  if (e.shared_experts() > 0) {
    const int64_t fs = e.shared_experts() * f;
    ops->push_back(Gemm(PlannedOp::kGemm, LayerName(layer, "moe.shared.up"), layer, scale, T,
                        (mats_ - 1) * fs, h, 1));
    ops->push_back(Elementwise(LayerName(layer, "moe.shared.act"), layer, scale,
                               T * (mats_ - 1) * fs * ab_));
    ops->push_back(
        Gemm(PlannedOp::kGemm, LayerName(layer, "moe.shared.down"), layer, scale, T, h, fs, 1));
  }
  TensorAllReduce(LayerName(layer, "moe.allreduce"), layer, scale, ops);
}

std::vector<PlannedOp> Planner::LayerForward(int layer, bool moe, double scale) const {
  std::vector<PlannedOp> ops;
  Attention(layer, scale, &ops);
  if (moe) {
    MoeFfn(layer, scale, &ops);
  } else {
    DenseFfn(layer, scale, &ops);
  }
  // Two norms and two residual adds over the hidden state.
  ops.push_back(Elementwise(LayerName(layer, "norm_residual"), layer, scale,
                            4 * tokens_ * m_.hidden_size() * ab_));
  return ops;
}

// Backward of a forward sequence, in reverse: C = A·B (m,n,k) gives
// dA = dC·Bᵀ (m,k,n) and dB = Aᵀ·dC (k,n,m), each with the forward's FLOPs;
// elementwise passes and collectives repeat at the same size (Megatron's
// conjugate all-reduce; all-to-all combine ↔ dispatch).
std::vector<PlannedOp> Planner::Backward(const std::vector<PlannedOp>& forward) {
  std::vector<PlannedOp> ops;
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    std::string base = it->name.substr(0, it->name.size() - 4);  // drop ".fwd"
    if (it->kind == PlannedOp::kGemm || it->kind == PlannedOp::kAttention) {
      PlannedOp dx = *it;
      dx.name = base + ".bwd_input";
      dx.n = it->k;
      dx.k = it->n;
      PlannedOp dw = *it;
      dw.name = base + ".bwd_weight";
      dw.m = it->k;
      dw.n = it->n;
      dw.k = it->m;
      ops.push_back(std::move(dx));
      ops.push_back(std::move(dw));
    } else {
      PlannedOp op = *it;
      op.name = base + ".bwd";
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
  std::vector<PlannedOp> plan;
  plan.push_back(Elementwise("embedding.lookup.fwd", -1, 1, tokens_ * h * ab_));

  std::vector<std::vector<PlannedOp>> layers;
  int layer = 0;
  for (int64_t i = 0; i < depth_.dense_run; ++i) {
    layers.push_back(LayerForward(layer++, false, depth_.dense_scale));
  }
  for (int64_t i = 0; i < depth_.moe_run; ++i) {
    layers.push_back(LayerForward(layer++, true, depth_.moe_scale));
  }
  for (const auto& ops : layers) plan.insert(plan.end(), ops.begin(), ops.end());

  // Output head, split over the tensor group by tokens (any vocabulary size
  // splits evenly this way); the loss runs in fp32 over the logits.
  const int64_t head_rows = tokens_ / t_;
  std::vector<PlannedOp> head;
  head.push_back(
      Gemm(PlannedOp::kGemm, "head.logits.fwd", -1, 1, head_rows, m_.vocab_size(), h, 1));
  head.push_back(Elementwise("head.loss.fwd", -1, 1, head_rows * m_.vocab_size() * 4));
  plan.insert(plan.end(), head.begin(), head.end());
  std::vector<PlannedOp> head_bwd = Backward(head);
  plan.insert(plan.end(), head_bwd.begin(), head_bwd.end());
  if (t_ > 1) {
    plan.push_back(Collective("head.grad_allgather.bwd", -1, 1, v1::ALL_GATHER, CommGroup::kTensor,
                              static_cast<int>(t_), tokens_ * h * ab_, false));
  }

  const std::vector<ParamGroup> groups = ParamGroups();
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    std::vector<PlannedOp> bwd = Backward(*it);
    plan.insert(plan.end(), bwd.begin(), bwd.end());
    const int l = it->front().layer;
    for (const ParamGroup& g : groups) {
      if (g.layer == l) GradSync(g, &plan);
    }
  }
  plan.push_back(Elementwise("embedding.lookup.bwd", -1, 1, tokens_ * h * ab_));
  GradSync(groups.back(), &plan);

  // Adam over the local shard: reads and writes weights, gradients, fp32
  // master weights and two moments (no master copy when weights are fp32).
  const int64_t state = ab_ == 4 ? 8 : 12;
  for (const ParamGroup& g : groups) {
    const double shard = par_.sharded ? g.params / g.group_size : g.params;
    PlannedOp op = Elementwise(absl::StrCat(g.name, ".adam"), g.layer, g.depth_scale,
                               static_cast<int64_t>(shard) * (2 * ab_ + state));
    op.kind = PlannedOp::kOptimizer;
    op.phase = "optimizer";
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
  // layers run (scores' Q and K, values' V), one layer's attention scores as
  // workspace (recomputed in backward, as flash attention does), the logits.
  double scores = 0;
  for (const PlannedOp& op : Build()) {
    if (op.name.size() < 4 || op.name.compare(op.name.size() - 4, 4, ".fwd") != 0) continue;
    const double count = static_cast<double>(op.count);
    if (op.layer >= 0 && op.kind == PlannedOp::kGemm) {
      mem.activations += static_cast<double>(op.m * op.k) * count * ab;
    } else if (op.kind == PlannedOp::kAttention) {
      const bool values = op.name.find("values") != std::string::npos;
      const double saved = values ? static_cast<double>(op.k * op.n)
                                  : static_cast<double>(op.m * op.k + op.n * op.k);
      mem.activations += saved * count * ab;
    } else if (op.kind == PlannedOp::kElementwise && op.name.find("softmax") != std::string::npos) {
      scores = std::max(scores, static_cast<double>(op.bytes));
    } else if (op.name == "head.loss.fwd") {
      mem.activations += static_cast<double>(op.bytes);
    }
  }
  mem.activations += scores;
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
