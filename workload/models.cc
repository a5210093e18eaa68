#include "workload/models.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "workload/strict_json.h"
#include "workload/flops.h"
#include "workload/step_plan.h"

namespace tokenmeter::workload {

namespace {

// The presets, as data: JSON in the TrainStep schema, parsed by protobuf's JSON
// reader with unknown fields refused (a typo here fails every preset test).
// Shapes from the public configs: Llama 3 (meta-llama/Meta-Llama-3-*/
// config.json), GPT-3 (Brown et al. 2020, table 2.1), DeepSeek-V3
// (deepseek-ai/DeepSeek-V3 config.json and the technical report).
// Big models default to sharded data parallel (their Adam state does not fit
// replicated) and run a few layers scaled to the whole depth.
struct PresetText {
  const char* name;
  const char* json;
};
constexpr PresetText kPresets[] = {
    {"tiny", R"json({
      "model": {"name": "tiny", "layers": 2, "hidden_size": 256, "heads": 4,
                "kv_heads": 2, "ffn_hidden_size": 768, "gated_ffn": true,
                "vocab_size": 8192, "seq_len": 128},
      "micro_batch": 2, "dtype": "DTYPE_FP32", "profile": "FRAMEWORK_PROFILE_EAGER"})json"},
    {"tiny-moe", R"json({
      "model": {"name": "tiny-moe", "layers": 2, "hidden_size": 256, "heads": 4,
                "ffn_hidden_size": 768, "gated_ffn": true, "vocab_size": 8192,
                "seq_len": 128,
                "mla": {"q_lora_rank": 128, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
                        "qk_rope_head_dim": 16, "v_head_dim": 32},
                "moe": {"routed_experts": 8, "shared_experts": 1, "experts_per_token": 2,
                        "expert_ffn_hidden_size": 128, "dense_layers": 1}},
      "micro_batch": 2, "dtype": "DTYPE_FP32", "profile": "FRAMEWORK_PROFILE_EAGER"})json"},
    {"llama3-8b", R"json({
      "model": {"name": "llama3-8b", "layers": 32, "hidden_size": 4096, "heads": 32,
                "kv_heads": 8, "ffn_hidden_size": 14336, "gated_ffn": true,
                "vocab_size": 128256, "seq_len": 8192},
      "micro_batch": 1, "dtype": "DTYPE_BF16", "parallel": {"sharded": true},
      "layers_to_run": 4, "profile": "FRAMEWORK_PROFILE_FUSED"})json"},
    {"llama3-70b", R"json({
      "model": {"name": "llama3-70b", "layers": 80, "hidden_size": 8192, "heads": 64,
                "kv_heads": 8, "ffn_hidden_size": 28672, "gated_ffn": true,
                "vocab_size": 128256, "seq_len": 8192},
      "micro_batch": 1, "dtype": "DTYPE_BF16", "parallel": {"sharded": true},
      "layers_to_run": 2, "profile": "FRAMEWORK_PROFILE_FUSED"})json"},
    {"gpt3-175b", R"json({
      "model": {"name": "gpt3-175b", "layers": 96, "hidden_size": 12288, "heads": 96,
                "kv_heads": 96, "ffn_hidden_size": 49152, "gated_ffn": false,
                "vocab_size": 50257, "seq_len": 2048, "tied_embeddings": true},
      "micro_batch": 1, "dtype": "DTYPE_BF16", "parallel": {"sharded": true},
      "layers_to_run": 2, "profile": "FRAMEWORK_PROFILE_FUSED"})json"},
    {"deepseek-v3", R"json({
      "model": {"name": "deepseek-v3", "layers": 61, "hidden_size": 7168, "heads": 128,
                "kv_heads": 128, "ffn_hidden_size": 18432, "gated_ffn": true,
                "vocab_size": 129280, "seq_len": 4096,
                "mla": {"q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
                        "qk_rope_head_dim": 64, "v_head_dim": 128},
                "moe": {"routed_experts": 256, "shared_experts": 1, "experts_per_token": 8,
                        "expert_ffn_hidden_size": 2048, "dense_layers": 3}},
      "micro_batch": 1, "dtype": "DTYPE_BF16", "parallel": {"sharded": true},
      "layers_to_run": 4, "profile": "FRAMEWORK_PROFILE_FUSED"})json"},
};

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

// "train_step.<field> (<v>) must be positive"
absl::Status Positive(const std::string& field, int64_t v) {
  if (v > 0) return absl::OkStatus();
  return Invalid(absl::StrCat("train_step.", field, " (", v, ") must be positive"));
}

absl::Status NonNegative(const std::string& field, int64_t v) {
  if (v >= 0) return absl::OkStatus();
  return Invalid(absl::StrCat("train_step.", field, " (", v, ") must not be negative"));
}

// "train_step.<a> (<av>) must divide train_step.<b> (<bv>)"; `a` may carry
// its own note, e.g. "parallel.tensor".
absl::Status Divides(const std::string& a, int64_t av, const std::string& b, int64_t bv) {
  if (av > 0 && bv % av == 0) return absl::OkStatus();
  return Invalid(absl::StrCat("train_step.", a, " (", av, ") must divide train_step.", b, " (",
                              bv, ")"));
}

#define TM_RETURN_IF_ERROR(expr)            \
  do {                                      \
    absl::Status _st = (expr);              \
    if (!_st.ok()) return _st;              \
  } while (0)

absl::Status ValidateShape(const v1::ModelShape& m) {
  TM_RETURN_IF_ERROR(Positive("model.layers", m.layers()));
  TM_RETURN_IF_ERROR(Positive("model.hidden_size", m.hidden_size()));
  TM_RETURN_IF_ERROR(Positive("model.heads", m.heads()));
  TM_RETURN_IF_ERROR(Positive("model.vocab_size", m.vocab_size()));
  TM_RETURN_IF_ERROR(Positive("model.seq_len", m.seq_len()));
  TM_RETURN_IF_ERROR(NonNegative("model.kv_heads", m.kv_heads()));
  TM_RETURN_IF_ERROR(NonNegative("model.head_dim", m.head_dim()));
  TM_RETURN_IF_ERROR(NonNegative("model.ffn_hidden_size", m.ffn_hidden_size()));
  if (m.has_mla()) {
    const auto& a = m.mla();
    TM_RETURN_IF_ERROR(NonNegative("model.mla.q_lora_rank", a.q_lora_rank()));
    TM_RETURN_IF_ERROR(Positive("model.mla.kv_lora_rank", a.kv_lora_rank()));
    TM_RETURN_IF_ERROR(Positive("model.mla.qk_nope_head_dim", a.qk_nope_head_dim()));
    TM_RETURN_IF_ERROR(NonNegative("model.mla.qk_rope_head_dim", a.qk_rope_head_dim()));
    TM_RETURN_IF_ERROR(Positive("model.mla.v_head_dim", a.v_head_dim()));
  } else {
    // Only plain attention splits the hidden size into heads.
    if (m.head_dim() == 0) {
      TM_RETURN_IF_ERROR(Divides("model.heads", m.heads(), "model.hidden_size", m.hidden_size()));
    }
    TM_RETURN_IF_ERROR(Divides("model.kv_heads", KvHeads(m), "model.heads", m.heads()));
  }
  if (m.has_moe()) {
    const auto& e = m.moe();
    TM_RETURN_IF_ERROR(Positive("model.moe.routed_experts", e.routed_experts()));
    TM_RETURN_IF_ERROR(NonNegative("model.moe.shared_experts", e.shared_experts()));
    TM_RETURN_IF_ERROR(Positive("model.moe.experts_per_token", e.experts_per_token()));
    TM_RETURN_IF_ERROR(Positive("model.moe.expert_ffn_hidden_size", e.expert_ffn_hidden_size()));
    TM_RETURN_IF_ERROR(NonNegative("model.moe.dense_layers", e.dense_layers()));
    if (e.experts_per_token() > e.routed_experts()) {
      return Invalid(absl::StrCat("train_step.model.moe.experts_per_token (",
                                  e.experts_per_token(), ") must not exceed ",
                                  "train_step.model.moe.routed_experts (", e.routed_experts(),
                                  ")"));
    }
    if (e.dense_layers() > m.layers()) {
      return Invalid(absl::StrCat("train_step.model.moe.dense_layers (", e.dense_layers(),
                                  ") must not exceed train_step.model.layers (", m.layers(), ")"));
    }
  }
  if (DenseLayerCount(m) > 0) {
    TM_RETURN_IF_ERROR(Positive("model.ffn_hidden_size", m.ffn_hidden_size()));
  }
  return absl::OkStatus();
}

// The step plan counts elements and bytes in int64 (step_plan.h). A shape
// whose counts could not be held is refused before any is computed: each
// size at most 2^40, and the largest products (in double here) at most 2^56,
// which leaves room for the ~100 bytes per element the plan's traffic counts
// and for the sums over ops. Real models are many orders of magnitude below.
absl::Status CheckCountsFit(const v1::TrainStep& step) {
  constexpr double kFieldLimit = 0x1p40, kCountLimit = 0x1p56;
  const v1::ModelShape& m = step.model();
  const std::pair<const char*, int64_t> fields[] = {
      {"model.layers", m.layers()},
      {"model.hidden_size", m.hidden_size()},
      {"model.heads", m.heads()},
      {"model.kv_heads", m.kv_heads()},
      {"model.head_dim", m.head_dim()},
      {"model.ffn_hidden_size", m.ffn_hidden_size()},
      {"model.vocab_size", m.vocab_size()},
      {"model.seq_len", m.seq_len()},
      {"model.mla.q_lora_rank", m.mla().q_lora_rank()},
      {"model.mla.kv_lora_rank", m.mla().kv_lora_rank()},
      {"model.mla.qk_nope_head_dim", m.mla().qk_nope_head_dim()},
      {"model.mla.qk_rope_head_dim", m.mla().qk_rope_head_dim()},
      {"model.mla.v_head_dim", m.mla().v_head_dim()},
      {"model.moe.routed_experts", m.moe().routed_experts()},
      {"model.moe.shared_experts", m.moe().shared_experts()},
      {"model.moe.experts_per_token", m.moe().experts_per_token()},
      {"model.moe.expert_ffn_hidden_size", m.moe().expert_ffn_hidden_size()},
      {"micro_batch", step.micro_batch()},
  };
  for (const auto& [name, value] : fields) {
    if (static_cast<double>(value) > kFieldLimit) {
      return Invalid(absl::StrCat("train_step.", name, " must be at most 2^40 (", kFieldLimit, "), got ", value));
    }
  }
  const double tokens = static_cast<double>(step.micro_batch()) * static_cast<double>(m.seq_len());
  const HeadDims dims = AttentionHeadDims(m);
  const double head_width = static_cast<double>(m.heads()) * static_cast<double>(std::max(dims.qk, dims.v));
  const double widest = std::max({static_cast<double>(m.hidden_size()), static_cast<double>(m.ffn_hidden_size()),
                                  static_cast<double>(m.vocab_size()), head_width,
                                  static_cast<double>(m.moe().experts_per_token()) *
                                      static_cast<double>(std::max(m.hidden_size(), m.moe().expert_ffn_hidden_size()))});
  const std::pair<const char*, double> counts[] = {
      {"tokens per step (micro_batch x seq_len) x the widest activation", tokens * widest},
      {"attention scores (micro_batch x heads x seq_len^2)",
       static_cast<double>(step.micro_batch()) * static_cast<double>(m.heads()) * static_cast<double>(m.seq_len()) *
           static_cast<double>(m.seq_len())},
      {"parameters", CountParams(m).total},
  };
  for (const auto& [what, value] : counts) {
    if (!(value <= kCountLimit)) {
      return Invalid(absl::StrCat("train_step: ", what, " is ", value, ", more than the 2^56 (", kCountLimit,
                                  ") the step plan can count"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateParallelism(const v1::TrainStep& step, int ranks) {
  const v1::ModelShape& m = step.model();
  const v1::Parallelism& p = step.parallel();
  if (ranks <= 0) return Invalid(absl::StrCat("ranks (", ranks, ") must be positive"));
  TM_RETURN_IF_ERROR(NonNegative("parallel.data", p.data()));
  TM_RETURN_IF_ERROR(NonNegative("parallel.tensor", p.tensor()));
  TM_RETURN_IF_ERROR(NonNegative("parallel.expert", p.expert()));
  const int tensor = std::max(1, p.tensor());
  if (ranks % tensor != 0) {
    return Invalid(absl::StrCat("train_step.parallel.tensor (", tensor, ") must divide the ranks (",
                                ranks, ")"));
  }
  const ResolvedParallelism r = ResolveParallelism(step, ranks);
  if (static_cast<int64_t>(r.data) * r.tensor != ranks) {
    return Invalid(absl::StrCat("train_step.parallel.data (", r.data, ") × train_step.parallel.tensor (",
                                r.tensor, ") must equal the ranks (", ranks, ")"));
  }
  if (!m.has_moe() && p.expert() > 1) {
    return Invalid(absl::StrCat("train_step.parallel.expert (", p.expert(),
                                ") needs a mixture-of-experts model (train_step.model.moe unset)"));
  }
  if (m.has_moe()) {
    const std::string expert = p.expert() > 0 ? "parallel.expert" : "parallel.expert (0 = data)";
    TM_RETURN_IF_ERROR(Divides(expert, r.expert, "parallel.data", r.data));
    TM_RETURN_IF_ERROR(
        Divides(expert, r.expert, "model.moe.routed_experts", m.moe().routed_experts()));
  }
  if (r.tensor == 1) return absl::OkStatus();
  // Every weight matrix is split over the tensor group along one dimension.
  const int64_t t = r.tensor;
  TM_RETURN_IF_ERROR(Divides("parallel.tensor", t, "model.heads", m.heads()));
  if (m.has_mla()) {
    const auto& a = m.mla();
    if (a.q_lora_rank() > 0) {
      TM_RETURN_IF_ERROR(Divides("parallel.tensor", t, "model.mla.q_lora_rank", a.q_lora_rank()));
    }
    TM_RETURN_IF_ERROR(Divides("parallel.tensor", t,
                               "model.mla.kv_lora_rank + train_step.model.mla.qk_rope_head_dim",
                               a.kv_lora_rank() + a.qk_rope_head_dim()));
  } else {
    TM_RETURN_IF_ERROR(Divides("parallel.tensor", t, "model.kv_heads", KvHeads(m)));
  }
  if (DenseLayerCount(m) > 0) {
    TM_RETURN_IF_ERROR(Divides("parallel.tensor", t, "model.ffn_hidden_size", m.ffn_hidden_size()));
  }
  if (m.has_moe()) {
    TM_RETURN_IF_ERROR(Divides("parallel.tensor", t, "model.moe.expert_ffn_hidden_size",
                               m.moe().expert_ffn_hidden_size()));
    TM_RETURN_IF_ERROR(
        Divides("parallel.tensor", t, "model.moe.routed_experts", m.moe().routed_experts()));
  }
  TM_RETURN_IF_ERROR(Divides("parallel.tensor", t, "micro_batch × train_step.model.seq_len",
                             step.micro_batch() * m.seq_len()));
  return absl::OkStatus();
}

std::string GiB(double bytes) { return absl::StrFormat("%.1f GiB", bytes / (1024.0 * 1024 * 1024)); }

}  // namespace

absl::StatusOr<v1::TrainStep> TrainStepPreset(std::string_view model) {
  for (const PresetText& p : kPresets) {
    if (model != p.name) continue;
    v1::TrainStep step;
    if (auto st = ParseStrictJson(p.json, absl::StrCat("preset ", p.name), &step); !st.ok()) {
      // A broken preset is a bug in this file, reported rather than crashed on.
      return absl::InternalError(absl::StrCat(st.message(), " (the preset does not parse)"));
    }
    return step;
  }
  return absl::NotFoundError(absl::StrCat("unknown train-step preset \"", std::string(model),
                                          "\"; known: ", absl::StrJoin(TrainStepPresetNames(), ", ")));
}

std::vector<std::string> TrainStepPresetNames() {
  std::vector<std::string> names;
  for (const PresetText& p : kPresets) names.emplace_back(p.name);
  return names;
}

ResolvedParallelism ResolveParallelism(const v1::TrainStep& step, int ranks) {
  const v1::Parallelism& p = step.parallel();
  ResolvedParallelism r;
  r.tensor = std::max(1, p.tensor());
  r.data = p.data() > 0 ? p.data() : std::max(1, ranks / r.tensor);
  r.expert = step.model().has_moe() ? (p.expert() > 0 ? p.expert() : r.data) : 1;
  r.sharded = p.sharded();
  return r;
}

int64_t TokensPerStep(const v1::TrainStep& step, int ranks) {
  return step.micro_batch() * ResolveParallelism(step, ranks).data * step.model().seq_len();
}

DepthPlan PlanDepth(const v1::TrainStep& step) {
  const v1::ModelShape& m = step.model();
  const int64_t dense = DenseLayerCount(m);
  const int64_t moe = MoeLayerCount(m);
  const int64_t run =
      step.layers_to_run() > 0 ? std::min(step.layers_to_run(), m.layers()) : m.layers();
  DepthPlan d;
  if (moe == 0) {
    d.dense_run = run;
  } else if (dense == 0) {
    d.moe_run = run;
  } else {
    const int64_t share = std::llround(static_cast<double>(run) * dense / m.layers());
    d.dense_run = std::clamp<int64_t>(share, 1, std::min(dense, run - 1));
    d.moe_run = run - d.dense_run;
  }
  d.dense_scale = d.dense_run > 0 ? static_cast<double>(dense) / d.dense_run : 1;
  d.moe_scale = d.moe_run > 0 ? static_cast<double>(moe) / d.moe_run : 1;
  d.depth_scale = static_cast<double>(m.layers()) / run;
  return d;
}

absl::Status ValidateTrainStep(const v1::TrainStep& step, int ranks, int64_t device_memory_bytes) {
  if (!step.has_model()) return Invalid("train_step.model is not set");
  TM_RETURN_IF_ERROR(ValidateShape(step.model()));
  TM_RETURN_IF_ERROR(Positive("micro_batch", step.micro_batch()));
  TM_RETURN_IF_ERROR(CheckCountsFit(step));
  if (step.dtype() == v1::DTYPE_UNSPECIFIED) {
    return Invalid("train_step.dtype is not set (fp32, tf32, fp16, bf16 or fp8_e4m3)");
  }
  if (step.profile() == v1::FRAMEWORK_PROFILE_UNSPECIFIED || !v1::FrameworkProfile_IsValid(step.profile())) {
    return Invalid("train_step.profile is not set (FRAMEWORK_PROFILE_EAGER or FRAMEWORK_PROFILE_FUSED)");
  }
  TM_RETURN_IF_ERROR(NonNegative("layers_to_run", step.layers_to_run()));
  const v1::ModelShape& m = step.model();
  if (step.layers_to_run() > m.layers()) {
    return Invalid(absl::StrCat("train_step.layers_to_run (", step.layers_to_run(),
                                ") must not exceed train_step.model.layers (", m.layers(), ")"));
  }
  if (step.layers_to_run() == 1 && DenseLayerCount(m) > 0 && MoeLayerCount(m) > 0) {
    return Invalid(absl::StrCat("train_step.layers_to_run (1) must be at least 2 for a model with ",
                                "both dense and MoE layers (one of each kind runs)"));
  }
  TM_RETURN_IF_ERROR(ValidateParallelism(step, ranks));
  if (device_memory_bytes > 0) {
    const MemoryEstimate mem = EstimateTrainStepMemory(step, ranks);
    if (mem.total() > static_cast<double>(device_memory_bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train_step: needs ", GiB(mem.total()), " per device, device has ",
          GiB(static_cast<double>(device_memory_bytes)), " (weights ", GiB(mem.weights),
          ", gradients ", GiB(mem.gradients), ", optimizer state ", GiB(mem.optimizer_state),
          ", activations ", GiB(mem.activations),
          "); raise train_step.parallel.tensor or data, or set train_step.parallel.sharded"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tokenmeter::workload
