// tokenmeter workloads: the standard workloads and the model presets, with
// each preset's parameter counts and model FLOPs per token.
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "cli/common_flags.h"
#include "cli/json_line.h"
#include "workload/figures.h"
#include "workload/flops.h"
#include "workload/models.h"
#include "workload/spec.h"

namespace tokenmeter::cli {
namespace {

std::string Kind(const v1::WorkloadSpec& spec) {
  switch (spec.kind_case()) {
    case v1::WorkloadSpec::kGemm: return "gemm";
    case v1::WorkloadSpec::kCollective: return "collective";
    case v1::WorkloadSpec::kTrainStep: return "train-step";
    default: return "?";
  }
}

std::string Describe(const v1::WorkloadSpec& spec) {
  if (spec.has_gemm()) {
    return absl::StrFormat("%d shapes x %d dtypes", spec.gemm().shapes_size(), spec.gemm().dtypes_size());
  }
  if (spec.has_collective()) {
    return absl::StrFormat("%d collectives, %d B to %d B x%d", spec.collective().ops_size(),
                           spec.collective().min_bytes(), spec.collective().max_bytes(), spec.collective().step_factor());
  }
  return "";
}

}  // namespace

int WorkloadsCommand(const Args& args) {
  FlagSet flags("workloads", "[--json]");
  DeclareFormatFlags(flags, /*csv=*/false);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  const bool json = flags.GetSwitch("json");
  if (!json) {
    std::cout << absl::StrFormat("# %-26s %3s %-10s %14s %14s %16s %14s %s\n", "workload", "v", "kind", "params total",
                                 "params active", "FLOPs/token", "tokens/step", "what it runs");
    std::cout << absl::StrFormat("# %-26s %3s %-10s %14s %14s %16s %14s %s\n", "", "", "", "", "(N, matmuls)", "(6N+attention)",
                                 "(per DP rank)", "");
  }
  for (const auto& name : workload::StandardWorkloadNames()) {
    auto spec = workload::ResolveWorkload(name);
    if (!spec.ok()) return Fail("workloads", spec.status());
    double total = 0, active = 0, flops = 0;
    int64_t tokens = 0;
    std::string what = Describe(*spec);
    if (spec->has_train_step()) {
      const auto& step = spec->train_step();
      const auto params = workload::CountParams(step.model());
      total = params.total;
      active = params.active;
      flops = workload::ModelFlopsPerToken(step.model());
      tokens = step.micro_batch() * step.model().seq_len();
      const auto depth = workload::PlanDepth(step);
      what = absl::StrFormat("%d layers%s, seq %d, micro-batch %d, %s", step.model().layers(),
                             depth.depth_scale > 1 ? absl::StrFormat(" (runs %d, scales x%.3g)",
                                                                     depth.dense_run + depth.moe_run, depth.depth_scale)
                                                   : "",
                             step.model().seq_len(), step.micro_batch(),
                             std::string(workload::DTypeName(step.dtype())));
    }
    if (json) {
      JsonLine row;
      row.Add("workload", name).Add("version", spec->version()).Add("kind", std::string(Kind(*spec)));
      if (spec->has_train_step()) {
        row.Add("params_total", total)
            .Add("params_active", active)
            .Add("flops_per_token", flops)
            .Add("tokens_per_step_per_data_parallel_rank", static_cast<double>(tokens));
      }
      row.WriteTo(std::cout);
    } else if (spec->has_train_step()) {
      std::cout << absl::StrFormat("  %-26s %3d %-10s %13.4gB %13.4gB %16.4g %14d %s\n", name, spec->version(),
                                   Kind(*spec), total / 1e9, active / 1e9, flops, tokens, what);
    } else {
      std::cout << absl::StrFormat("  %-26s %3d %-10s %14s %14s %16s %14s %s\n", name, spec->version(), Kind(*spec), "",
                                   "", "", "", what);
    }
  }
  return kExitOk;
}

}  // namespace tokenmeter::cli
