// tokenmeter workloads: the standard workloads and the model presets, with
// each preset's parameter counts and model FLOPs per token; with --plan, the
// step plan of one train-step workload, op by op, and its totals per phase.
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/common_flags.h"
#include "cli/json_line.h"
#include "workload/figures.h"
#include "workload/flops.h"
#include "workload/models.h"
#include "workload/spec.h"
#include "workload/step_plan.h"

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

const char* KindName(workload::PlannedOp::Kind kind) {
  switch (kind) {
    case workload::PlannedOp::kGemm: return "gemm";
    case workload::PlannedOp::kAttention: return "attention";
    case workload::PlannedOp::kElementwise: return "elementwise";
    case workload::PlannedOp::kCollective: return "collective";
    case workload::PlannedOp::kOptimizer: return "optimizer";
  }
  return "?";
}

// The plan of `spec` on one rank of `ranks`: what the worker runs.
int PrintPlan(const v1::WorkloadSpec& spec, int ranks, bool json) {
  if (!spec.has_train_step()) {
    return Fail("workloads", absl::InvalidArgumentError(absl::StrCat("--plan: ", spec.name(),
                                                                     " is not a train-step workload")),
                kExitUsage);
  }
  auto plan = workload::PlanTrainStep(spec.train_step(), ranks);
  if (!plan.ok()) return Fail("workloads", plan.status(), kExitUsage);
  struct Total {
    double bytes = 0, flops = 0;
    int ops = 0;
  };
  std::map<std::string, Total> phases;
  if (!json) {
    std::cout << absl::StrFormat("# %s v%d, profile %s, one rank of %d: %d ops\n", spec.name(), spec.version(),
                                 workload::FrameworkProfileName(spec.train_step().profile()), ranks, plan->size());
    std::cout << absl::StrFormat("# %-36s %-11s %-13s %8s %8s %8s %6s %5s %14s %12s %6s\n", "op", "kind", "phase", "m",
                                 "n", "k", "count", "trans", "bytes", "FLOPs", "scale");
  }
  for (const auto& op : *plan) {
    Total& t = phases[op.phase];
    t.bytes += static_cast<double>(op.bytes) * op.depth_scale;
    t.flops += op.flops * op.depth_scale;
    ++t.ops;
    const std::string trans = absl::StrCat(op.transpose_a ? "T" : "N", op.transpose_b ? "T" : "N");
    if (json) {
      JsonLine row;
      row.Add("op", op.name)
          .Add("kind", std::string(KindName(op.kind)))
          .Add("phase", op.phase)
          .Add("layer", static_cast<double>(op.layer))
          .Add("m", static_cast<double>(op.m))
          .Add("n", static_cast<double>(op.n))
          .Add("k", static_cast<double>(op.k))
          .Add("count", static_cast<double>(op.count))
          .Add("transpose_a", op.transpose_a)
          .Add("transpose_b", op.transpose_b)
          .Add("bytes", static_cast<double>(op.bytes))
          .Add("flops", op.flops)
          .Add("depth_scale", op.depth_scale);
      row.WriteTo(std::cout);
      continue;
    }
    const bool matmul = op.kind == workload::PlannedOp::kGemm || op.kind == workload::PlannedOp::kAttention;
    std::cout << absl::StrFormat("  %-36s %-11s %-13s %8s %8s %8s %6d %5s %14d %12.4g %6.3g\n", op.name,
                                 KindName(op.kind), op.phase, matmul ? absl::StrCat(op.m) : "",
                                 matmul ? absl::StrCat(op.n) : "", matmul ? absl::StrCat(op.k) : "", op.count,
                                 matmul ? trans : "", op.bytes, op.flops, op.depth_scale);
  }
  if (!json) {
    std::cout << "# per phase at full depth:\n";
    for (const auto& [phase, t] : phases) {
      std::cout << absl::StrFormat("#   %-13s %4d ops %14.4g bytes %14.4g FLOPs\n", phase, t.ops, t.bytes, t.flops);
    }
  }
  return kExitOk;
}

}  // namespace

int WorkloadsCommand(const Args& args) {
  FlagSet flags("workloads", "[--json|--csv] [--plan (NAME | --spec FILE) [--ranks N]]");
  DeclareFormatFlags(flags, /*csv=*/true);
  flags.Value("plan", "NAME", "print the step plan of this train-step workload (or of --spec FILE with --plan spec)");
  flags.Value("spec", "FILE", "--plan spec: the workload spec file to plan");
  flags.Value("ranks", "N", "--plan: the ranks the step is planned for", "1");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  const bool json = flags.GetSwitch("json");
  const bool csv = OutputFormat(flags) == Format::kCsv;
  if (flags.Has("plan")) {
    if (csv) return Fail("workloads", absl::InvalidArgumentError("--plan prints a table or --json, not --csv"), kExitUsage);
    const std::string name = *flags.Get("plan");
    absl::StatusOr<v1::WorkloadSpec> spec =
        name == "spec" ? (flags.Has("spec") ? workload::LoadSpecFile(*flags.Get("spec"))
                                            : absl::InvalidArgumentError("--plan spec needs --spec FILE"))
                       : workload::ResolveWorkload(name);
    if (!spec.ok()) return Fail("workloads", spec.status(), kExitUsage);
    int ranks = 1;
    if (flags.Has("ranks") && (!absl::SimpleAtoi(*flags.Get("ranks"), &ranks) || ranks < 1 ||
                               ranks > workload::kMaxRanks)) {
      return Fail("workloads",
                  absl::InvalidArgumentError(absl::StrCat("--ranks must be an integer in [1, ", workload::kMaxRanks,
                                                          "], got '", *flags.Get("ranks"), "'")),
                  kExitUsage);
    }
    return PrintPlan(*spec, ranks, json);
  }
  if (csv) {
    std::cout << "workload,version,kind,params_total,params_active,flops_per_token,"
                 "tokens_per_step_per_data_parallel_rank,what\n";
  } else if (!json) {
    std::cout << absl::StrFormat("# %-30s %3s %-10s %14s %14s %16s %14s %s\n", "workload", "v", "kind", "params total",
                                 "params active", "FLOPs/token", "tokens/step", "what it runs");
    std::cout << absl::StrFormat("# %-30s %3s %-10s %14s %14s %16s %14s %s\n", "", "", "", "", "(N, matmuls)", "(6N+attention)",
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
    if (csv) {
      const bool step = spec->has_train_step();
      // 15 digits: the integer counts exactly, as the JSON has them.
      auto number = [step](double v) { return step ? absl::StrFormat("%.15g", v) : std::string(); };
      std::cout << absl::StrJoin({CsvQuote(name), absl::StrCat(spec->version()), std::string(Kind(*spec)), number(total),
                                  number(active), number(flops), number(static_cast<double>(tokens)), CsvQuote(what)},
                                 ",")
                << "\n";
    } else if (json) {
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
      std::cout << absl::StrFormat("  %-30s %3d %-10s %13.4gB %13.4gB %16.4g %14d %s\n", name, spec->version(),
                                   Kind(*spec), total / 1e9, active / 1e9, flops, tokens, what);
    } else {
      std::cout << absl::StrFormat("  %-30s %3d %-10s %14s %14s %16s %14s %s\n", name, spec->version(), Kind(*spec), "",
                                   "", "", "", what);
    }
  }
  return kExitOk;
}

}  // namespace tokenmeter::cli
