// tokenmeter compare: one workload across setups, side by side (each setup's
// newest result, or --all of them), each figure with its ratio to a baseline
// setup and the fastest and cheapest marked; or --scaling, one setup's
// figure across rank counts with its scaling efficiency. Only results of the
// same measurement compare (cli/comparison.h); a setup whose results are all
// of another is left out, and said so.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/common_flags.h"
#include "cli/comparison.h"
#include "cli/json_line.h"
#include "cli/results_source.h"
#include "common/log.h"

namespace tokenmeter::cli {
namespace {

std::string Marks(const ComparedResult& row) {
  if (row.fastest && row.cheapest) return "fastest, cheapest";
  if (row.fastest) return "fastest";
  if (row.cheapest) return "cheapest";
  return "";
}

// The table shows the speed figure's and the cost's ratios; JSON and CSV
// every figure's.
bool RatioInTable(const Comparison& c, const std::string& figure) {
  return figure == SpeedFigure(*c.baseline_result) || figure == kCostFigure;
}

void PrintTable(const Comparison& c, bool every_result) {
  std::cout << absl::StrFormat("# %s (%s): %s; ratios against %s\n", c.workload, c.identity,
                               every_result ? "every result" : "newest result per setup", c.baseline);
  std::string header = absl::StrFormat("# %-24s %-28s %5s %-20s", "setup", "device", "ranks", "finished");
  for (const auto& f : c.rows.front().figures) {
    absl::StrAppend(&header, absl::StrFormat(" %15s", f.label));
    if (RatioInTable(c, f.name)) absl::StrAppend(&header, absl::StrFormat(" %7s", "ratio"));
  }
  std::cout << "# ratio: the figure / the baseline's; mark: the highest speed figure (fastest), the lowest $ (cheapest)\n";
  std::cout << header << "  mark\n";
  for (const auto& row : c.rows) {
    const auto& r = *row.result;
    std::string line = absl::StrFormat("  %-24s %-28s %5d %-20s", r.setup(), r.device_model().substr(0, 28),
                                       r.world_size(), IsoTime(r.finished_at()));
    for (size_t i = 0; i < row.figures.size(); ++i) {
      absl::StrAppend(&line, absl::StrFormat(" %15.6g", row.figures[i].value));
      if (RatioInTable(c, row.figures[i].name)) {
        absl::StrAppend(&line, absl::StrFormat(" %7s", row.ratios[i] ? absl::StrFormat("%.3f", *row.ratios[i]) : "-"));
      }
    }
    std::cout << line << "  " << Marks(row) << "\n";
  }
}

void PrintJson(const Comparison& c) {
  for (const auto& row : c.rows) {
    const auto& r = *row.result;
    JsonLine line;
    line.Add("workload", c.workload)
        .Add("setup", r.setup())
        .Add("baseline", c.baseline)
        .Add("device_model", r.device_model())
        .Add("job_id", r.job_id())
        .Add("ranks", r.world_size());
    for (size_t i = 0; i < row.figures.size(); ++i) {
      line.Add(row.figures[i].name, row.figures[i].value);
      if (row.ratios[i]) line.Add(row.figures[i].name + "_ratio", *row.ratios[i]);
    }
    line.Add("finished_at", IsoTime(r.finished_at())).Add("fastest", row.fastest).Add("cheapest", row.cheapest);
    line.WriteTo(std::cout);
  }
}

void PrintCsv(const Comparison& c) {
  std::cout << "setup,device_model,ranks,job_id,finished_at";
  for (const auto& f : c.rows.front().figures) std::cout << "," << f.name << "," << f.name << "_ratio";
  std::cout << ",fastest,cheapest\n";
  for (const auto& row : c.rows) {
    const auto& r = *row.result;
    std::cout << r.setup() << "," << r.device_model() << "," << r.world_size() << "," << r.job_id() << ","
              << IsoTime(r.finished_at());
    for (size_t i = 0; i < row.figures.size(); ++i) {
      std::cout << absl::StrFormat(",%.9g,%s", row.figures[i].value,
                                   row.ratios[i] ? absl::StrFormat("%.6g", *row.ratios[i]) : "");
    }
    std::cout << "," << (row.fastest ? "true" : "false") << "," << (row.cheapest ? "true" : "false") << "\n";
  }
}

void PrintScaling(const std::vector<ScalingSeries>& all, const std::string& workload, const std::string& identity,
                  Format format) {
  if (format == Format::kCsv) std::cout << "setup,ranks,job_id,figure,value,per_rank,efficiency\n";
  for (const auto& s : all) {
    if (format == Format::kTable) {
      std::cout << absl::StrFormat("# %s (%s) on %s: %s by rank count; efficiency = per rank / per rank at %d ranks\n",
                                   workload, identity, s.setup, s.figure, s.points.front().ranks);
      std::cout << absl::StrFormat("# %5s %-28s %16s %16s %10s\n", "ranks", "job", s.figure.substr(0, 16), "per rank",
                                   "efficiency");
    }
    for (const auto& p : s.points) {
      if (format == Format::kJson) {
        JsonLine line;
        line.Add("workload", workload)
            .Add("setup", s.setup)
            .Add("kind", "scaling")
            .Add("ranks", p.ranks)
            .Add("job_id", p.result->job_id())
            .Add("figure", s.figure)
            .Add(s.figure, p.speed)
            .Add("per_rank", p.per_rank)
            .Add("efficiency", p.efficiency);
        line.WriteTo(std::cout);
      } else if (format == Format::kCsv) {
        std::cout << absl::StrFormat("%s,%d,%s,%s,%.9g,%.9g,%.6g\n", s.setup, p.ranks, p.result->job_id(), s.figure,
                                     p.speed, p.per_rank, p.efficiency);
      } else {
        std::cout << absl::StrFormat("  %5d %-28s %16.6g %16.6g %10.3f\n", p.ranks, p.result->job_id(), p.speed,
                                     p.per_rank, p.efficiency);
      }
    }
  }
}

}  // namespace

int CompareCommand(const Args& args) {
  FlagSet flags("compare", "--workload NAME [--baseline SETUP] [--all | --scaling [--setup NAME]] "
                           "(--store FILE.db | --coordinator HOST:PORT) [flags]");
  flags.Value("workload", "NAME", "the workload to compare setups on (required)");
  flags.Value("baseline", "SETUP", "the setup ratios are taken against (its newest result)",
              "the first setup in name order");
  flags.Switch("latest", "each setup's newest result (the default)");
  flags.Switch("all", "every result of every setup, oldest first per setup");
  flags.Switch("scaling", "each setup's newest result per rank count, with scaling efficiency against the fewest ranks");
  flags.Value("setup", "NAME", "with --scaling: only this setup");
  DeclareResultsSourceFlags(flags);
  DeclareClientTlsFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/true);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto workload = flags.Require("workload");
  if (!workload.ok()) return Fail("compare", workload.status(), kExitUsage);
  const bool all = flags.GetSwitch("all"), scaling = flags.GetSwitch("scaling");
  if (static_cast<int>(all) + scaling + flags.GetSwitch("latest") > 1) {
    return Fail("compare", absl::InvalidArgumentError("give at most one of --latest, --all and --scaling"), kExitUsage);
  }
  if (flags.Has("setup") && !scaling) {
    return Fail("compare", absl::InvalidArgumentError("--setup goes with --scaling (compare is across setups)"),
                kExitUsage);
  }
  auto results = LoadResults(flags, *workload, "", 0);
  if (!results.ok()) {
    return Fail("compare", results.status(),
                results.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailed);
  }
  if (results->empty()) {
    return Fail("compare", absl::NotFoundError(absl::StrCat("no stored result of workload '", *workload, "'")));
  }
  auto c = Compare(*results, flags.Has("baseline") ? *flags.Get("baseline") : "", all);
  if (!c.ok()) return Fail("compare", c.status(), kExitUsage);
  for (const auto& [setup, identity] : c->left_out) {
    Log("compare", "left out setup ", setup, ": its ", c->workload, " results are ", identity, ", the baseline's ",
        c->identity, " (not the same measurement)");
  }
  const Format format = OutputFormat(flags);
  if (scaling) {
    const std::string setup = flags.Get("setup").value_or("");
    auto series = Scaling(*results, c->identity, setup);
    if (series.empty()) {
      return Fail("compare", absl::NotFoundError(absl::StrCat(
                                 "--scaling: no setup", setup.empty() ? "" : " '" + setup + "'", " has ", c->workload,
                                 " results (", c->identity, ") at two or more rank counts")));
    }
    PrintScaling(series, c->workload, c->identity, format);
    return kExitOk;
  }
  if (format == Format::kJson) {
    PrintJson(*c);
  } else if (format == Format::kCsv) {
    PrintCsv(*c);
  } else {
    PrintTable(*c, all);
  }
  return kExitOk;
}

}  // namespace tokenmeter::cli
