#include "workload/spec.h"


#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "workload/strict_json.h"
#include "workload/figures.h"
#include "workload/models.h"
#include "workload/sweep.h"

namespace tokenmeter::workload {
namespace {

v1::GemmShape Shape(std::string name, int64_t m, int64_t n, int64_t k) {
  v1::GemmShape s;
  s.set_name(std::move(name));
  s.set_m(m);
  s.set_n(n);
  s.set_k(k);
  return s;
}

// `gemm` v1: squares and the three aspect ratios of a transformer's linear
// layers (projection, FFN up, FFN down) at a CPU-friendly size, fp32.
v1::WorkloadSpec GemmSmall() {
  v1::WorkloadSpec spec;
  spec.set_name("gemm");
  spec.set_version(1);
  spec.set_warmup_iterations(3);
  spec.set_timed_iterations(10);
  auto* g = spec.mutable_gemm();
  for (int64_t n : {256, 512, 1024, 2048}) *g->add_shapes() = Shape(absl::StrCat("square-", n), n, n, n);
  *g->add_shapes() = Shape("proj-2048x1024x1024", 2048, 1024, 1024);
  *g->add_shapes() = Shape("ffn-up-2048x4096x1024", 2048, 4096, 1024);
  *g->add_shapes() = Shape("ffn-down-2048x1024x4096", 2048, 1024, 4096);
  g->add_dtypes(v1::DTYPE_FP32);
  return spec;
}

// `gemm/large` v1: accelerator-sized squares and the linear layers of Llama 3
// 8B and 70B for 8192 tokens, in every tensor-core dtype.
v1::WorkloadSpec GemmLarge() {
  v1::WorkloadSpec spec;
  spec.set_name("gemm/large");
  spec.set_version(1);
  spec.set_warmup_iterations(10);
  spec.set_timed_iterations(30);
  auto* g = spec.mutable_gemm();
  for (int64_t n : {1024, 2048, 4096, 8192, 16384}) *g->add_shapes() = Shape(absl::StrCat("square-", n), n, n, n);
  *g->add_shapes() = Shape("llama3-8b/qkv", 8192, 6144, 4096);
  *g->add_shapes() = Shape("llama3-8b/ffn-up", 8192, 28672, 4096);
  *g->add_shapes() = Shape("llama3-8b/ffn-down", 8192, 4096, 14336);
  *g->add_shapes() = Shape("llama3-70b/ffn-up", 8192, 57344, 8192);
  *g->add_shapes() = Shape("llama3-70b/ffn-down", 8192, 8192, 28672);
  for (auto d : {v1::DTYPE_BF16, v1::DTYPE_FP16, v1::DTYPE_FP8_E4M3, v1::DTYPE_TF32, v1::DTYPE_FP32}) g->add_dtypes(d);
  return spec;
}

// `collective` v1: 8 B to 64 MiB, doubling, as nccl-tests -b 8 -e 64M -f 2.
v1::WorkloadSpec Collective(std::string name, std::vector<v1::CollectiveOp> ops) {
  v1::WorkloadSpec spec;
  spec.set_name(std::move(name));
  spec.set_version(1);
  spec.set_warmup_iterations(5);
  spec.set_timed_iterations(20);
  auto* c = spec.mutable_collective();
  for (auto op : ops) c->add_ops(op);
  c->set_min_bytes(8);
  c->set_max_bytes(64LL << 20);
  c->set_step_factor(2);
  c->set_dtype(v1::DTYPE_FP32);
  return spec;
}

struct CollectiveName {
  const char* name;
  v1::CollectiveOp op;
};
constexpr CollectiveName kCollectiveNames[] = {
    {"all-reduce", v1::ALL_REDUCE},       {"all-gather", v1::ALL_GATHER}, {"reduce-scatter", v1::REDUCE_SCATTER},
    {"all-to-all", v1::ALL_TO_ALL},       {"broadcast", v1::BROADCAST},   {"reduce", v1::REDUCE},
};

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", message));
}

absl::Status CheckRange(absl::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return Invalid(field, absl::StrCat("must be in [", min, ", ", max, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckFits(absl::string_view what, double bytes, const Placement& placement) {
  if (placement.device_memory_bytes > 0 && bytes > static_cast<double>(placement.device_memory_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " needs ", absl::StrFormat("%.3g", bytes / (1 << 30)), " GiB per device, more than the ",
        absl::StrFormat("%.3g", static_cast<double>(placement.device_memory_bytes) / (1 << 30)),
        " GiB the device has"));
  }
  return absl::OkStatus();
}

absl::Status ValidateGemm(const v1::GemmSweep& g, const Placement& placement) {
  if (g.shapes().empty()) return Invalid("gemm.shapes", "must list at least one shape");
  if (g.dtypes().empty()) return Invalid("gemm.dtypes", "must list at least one dtype");
  int64_t widest = 0;
  for (int i = 0; i < g.dtypes_size(); ++i) {
    const auto d = static_cast<v1::DType>(g.dtypes(i));
    if (DTypeBytes(d) == 0) return Invalid(absl::StrCat("gemm.dtypes[", i, "]"), "must be a known dtype");
    widest = std::max(widest, DTypeBytes(d));
  }
  for (int i = 0; i < g.shapes_size(); ++i) {
    const auto& s = g.shapes(i);
    const std::string at = absl::StrCat("gemm.shapes[", i, "]");
    if (auto st = CheckRange(at + ".m", s.m(), 1, kMaxGemmDim); !st.ok()) return st;
    if (auto st = CheckRange(at + ".n", s.n(), 1, kMaxGemmDim); !st.ok()) return st;
    if (auto st = CheckRange(at + ".k", s.k(), 1, kMaxGemmDim); !st.ok()) return st;
    // A, B, C and a reference of C, at the widest dtype's element size.
    const double bytes = (static_cast<double>(s.m()) * s.k() + static_cast<double>(s.k()) * s.n() +
                          2.0 * static_cast<double>(s.m()) * s.n()) * static_cast<double>(widest);
    if (auto st = CheckFits(absl::StrCat(at, " (", s.m(), "x", s.n(), "x", s.k(), ")"), bytes, placement); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCollective(const v1::CollectiveSweep& c, const Placement& placement) {
  if (c.ops().empty()) return Invalid("collective.ops", "must list at least one collective");
  for (int i = 0; i < c.ops_size(); ++i) {
    if (c.ops(i) == v1::COLLECTIVE_OP_UNSPECIFIED || !v1::CollectiveOp_IsValid(c.ops(i))) {
      return Invalid(absl::StrCat("collective.ops[", i, "]"), "must be a known collective");
    }
  }
  const int64_t element = DTypeBytes(c.dtype());
  if (element == 0) return Invalid("collective.dtype", "must be a known dtype");
  if (auto st = CheckRange("collective.min_bytes", c.min_bytes(), 1, int64_t{1} << 40); !st.ok()) return st;
  if (auto st = CheckRange("collective.max_bytes", c.max_bytes(), c.min_bytes(), int64_t{1} << 40); !st.ok()) {
    return st;
  }
  if (c.min_bytes() != c.max_bytes()) {
    if (auto st = CheckRange("collective.step_factor", c.step_factor(), 2, 1024); !st.ok()) return st;
  }
  for (int i = 0; i < c.ops_size(); ++i) {
    const auto op = static_cast<v1::CollectiveOp>(c.ops(i));
    if (CollectiveSizes(c, op, placement.ranks).empty()) {
      const int64_t granule = element * (SplitsAmongRanks(op) ? placement.ranks : 1);
      return Invalid("collective.max_bytes",
                     absl::StrCat("(", c.max_bytes(), ") leaves no size for ", CollectiveOpName(op), ": it needs at least ",
                                  granule, " bytes (", DTypeName(c.dtype()), " elements",
                                  SplitsAmongRanks(op) ? absl::StrCat(" x ", placement.ranks, " ranks") : "", ")"));
    }
  }
  // Send buffer, receive buffer and a host copy for checking.
  return CheckFits(absl::StrCat("collective.max_bytes (", c.max_bytes(), ")"), 3.0 * static_cast<double>(c.max_bytes()),
                   placement);
}

}  // namespace

std::vector<std::string> StandardWorkloadNames() {
  std::vector<std::string> names = {"gemm", "gemm/large", "collective"};
  for (const auto& c : kCollectiveNames) names.push_back(absl::StrCat("collective/", c.name));
  for (const auto& m : TrainStepPresetNames()) {
    for (auto p : {v1::FRAMEWORK_PROFILE_EAGER, v1::FRAMEWORK_PROFILE_FUSED}) {
      names.push_back(absl::StrCat("train-step/", m, "/", FrameworkProfileName(p)));
    }
  }
  return names;
}

namespace {

// "train-step/<model>[/<profile>]": the preset, with the profile named or the
// preset's own, under its canonical name "train-step/<model>/<profile>".
absl::StatusOr<v1::WorkloadSpec> ResolveTrainStep(absl::string_view name) {
  absl::string_view model = name.substr(absl::string_view("train-step/").size());
  absl::string_view profile_name;
  if (const size_t slash = model.find('/'); slash != absl::string_view::npos) {
    profile_name = model.substr(slash + 1);
    model = model.substr(0, slash);
  }
  auto step = TrainStepPreset(std::string_view(model.data(), model.size()));
  if (!step.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown workload '", name, "': ", step.status().message()));
  }
  if (!profile_name.empty()) {
    const v1::FrameworkProfile profile = ParseFrameworkProfile(profile_name);
    if (profile == v1::FRAMEWORK_PROFILE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("unknown workload '", name, "': profile '", profile_name,
                                                     "' is not one of eager, fused"));
    }
    step->set_profile(profile);
  }
  v1::WorkloadSpec spec;
  spec.set_name(absl::StrCat("train-step/", model, "/", FrameworkProfileName(step->profile())));
  spec.set_version(kTrainStepVersion);
  spec.set_warmup_iterations(2);
  spec.set_timed_iterations(10);
  *spec.mutable_train_step() = *std::move(step);
  return spec;
}

}  // namespace

absl::StatusOr<v1::WorkloadSpec> ResolveWorkload(absl::string_view name) {
  if (name == "gemm") return GemmSmall();
  if (name == "gemm/large") return GemmLarge();
  if (name == "collective") {
    return Collective("collective", {v1::ALL_REDUCE, v1::ALL_GATHER, v1::REDUCE_SCATTER, v1::ALL_TO_ALL, v1::BROADCAST});
  }
  for (const auto& c : kCollectiveNames) {
    if (name == absl::StrCat("collective/", c.name)) return Collective(std::string(name), {c.op});
  }
  if (absl::StartsWith(name, "train-step/")) return ResolveTrainStep(name);
  return absl::InvalidArgumentError(absl::StrCat("unknown workload '", name, "' (known: ",
                                                 absl::StrJoin(StandardWorkloadNames(), ", "), ")"));
}

std::string CanonicalWorkloadName(absl::string_view name) {
  auto spec = ResolveWorkload(name);
  return spec.ok() ? spec->name() : std::string(name);
}

absl::StatusOr<v1::WorkloadSpec> ParseSpecJson(absl::string_view json) {
  v1::WorkloadSpec spec;
  if (auto s = ParseStrictJson(json, "workload spec", &spec); !s.ok()) return s;
  return spec;
}

absl::StatusOr<v1::WorkloadSpec> LoadSpecFile(const std::string& path) {
  v1::WorkloadSpec spec;
  if (auto s = ReadStrictJsonFile(path, "workload spec", &spec); !s.ok()) return s;
  return spec;
}

absl::Status ValidateSpec(const v1::WorkloadSpec& spec, const Placement& placement) {
  if (spec.name().empty()) return Invalid("name", "must be set");
  if (spec.version() < 1) return Invalid("version", absl::StrCat("must be >= 1, got ", spec.version()));
  if (auto st = CheckRange("ranks", placement.ranks, 1, kMaxRanks); !st.ok()) return st;
  if (auto st = CheckRange("warmup_iterations", spec.warmup_iterations(), 0, kMaxIterations); !st.ok()) return st;
  if (auto st = CheckRange("timed_iterations", spec.timed_iterations(), 1, kMaxIterations); !st.ok()) return st;
  switch (spec.kind_case()) {
    case v1::WorkloadSpec::kGemm: return ValidateGemm(spec.gemm(), placement);
    case v1::WorkloadSpec::kCollective: return ValidateCollective(spec.collective(), placement);
    case v1::WorkloadSpec::kTrainStep:
      return ValidateTrainStep(spec.train_step(), placement.ranks, placement.device_memory_bytes);
    case v1::WorkloadSpec::KIND_NOT_SET: break;
  }
  return Invalid("kind", "must be one of gemm, collective, train_step");
}

}  // namespace tokenmeter::workload
