// tokenmeter compare: one workload across setups, side by side — each setup's
// newest result, its headline figures, and each figure as a ratio of the
// baseline setup's. Only results of the same measurement compare: the
// baseline's workload version and (for a train step) framework profile; a
// setup whose results are all of another is left out, and said so.
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/common_flags.h"
#include "cli/results_source.h"
#include "cli/json_line.h"
#include "common/log.h"
#include "workload/figures.h"

namespace tokenmeter::cli {
namespace {

// The figures a setup is compared on; which ones depend on the workload.
struct Headline {
  std::string setup, device_model, job_id;
  int ranks = 0;
  std::vector<std::pair<std::string, double>> figures;  // name (JSON key), value
};

Headline HeadlineOf(const v1::JobResult& r) {
  Headline h{r.setup(), r.device_model(), r.job_id(), r.world_size(), {}};
  if (r.has_train_step()) {
    const auto& t = r.train_step();
    h.figures = {{"tokens_per_second", t.tokens_per_second()},
                 {"step_seconds_median", t.step().median_seconds()},
                 {"mfu", t.mfu()},
                 {"cost_per_million_tokens_dollars", t.cost_per_million_tokens_dollars()},
                 {"energy_per_token_joules", t.energy_per_token_joules()}};
  } else if (r.gemm_size() > 0) {
    h.figures = {{"mamf_tflops", r.mamf_tflops()}};
  } else if (r.collective_size() > 0) {
    double best = 0;
    for (const auto& c : r.collective()) best = std::max(best, c.busbw_gbps());
    // The largest size of the sweep: where bandwidth, not latency, decides.
    h.figures = {{"busbw_gbps_max", best}, {"busbw_gbps_largest", r.collective(r.collective_size() - 1).busbw_gbps()}};
  }
  return h;
}

// What makes two results of one workload name the same measurement.
std::string IdentityOf(const v1::JobResult& r) {
  std::string id = absl::StrCat("version ", r.spec().version());
  if (r.spec().has_train_step()) {
    absl::StrAppend(&id, ", profile ", workload::FrameworkProfileName(r.spec().train_step().profile()));
  }
  return id;
}

}  // namespace

int CompareCommand(const Args& args) {
  FlagSet flags("compare", "--workload NAME [--baseline SETUP] (--store FILE.db | --coordinator HOST:PORT) [flags]");
  flags.Value("workload", "NAME", "the workload to compare setups on (required)");
  flags.Value("baseline", "SETUP", "the setup ratios are taken against", "the first setup in name order");
  DeclareResultsSourceFlags(flags);
  DeclareClientTlsFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/true);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto workload = flags.Require("workload");
  if (!workload.ok()) return Fail("compare", workload.status(), kExitUsage);
  auto results = LoadResults(flags, *workload, "", 0);
  if (!results.ok()) {
    return Fail("compare", results.status(),
                results.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailed);
  }
  if (results->empty()) {
    return Fail("compare", absl::NotFoundError(absl::StrCat("no stored result of workload '", *workload, "'")));
  }
  // Newest first: the first result seen per setup is its newest.
  std::map<std::string, const v1::JobResult*> newest;
  for (const auto& r : *results) newest.try_emplace(r.setup(), &r);
  std::string baseline = flags.Has("baseline") ? *flags.Get("baseline") : newest.begin()->first;
  if (!newest.count(baseline)) {
    return Fail("compare", absl::NotFoundError(absl::StrCat("--baseline: no stored ", *workload, " result of setup '",
                                                            baseline, "'")),
                kExitUsage);
  }
  const std::string identity = IdentityOf(*newest.at(baseline));
  std::map<std::string, Headline> by_setup;
  for (const auto& r : *results) {
    if (IdentityOf(r) == identity) by_setup.try_emplace(r.setup(), HeadlineOf(r));
  }
  for (const auto& [setup, r] : newest) {
    if (by_setup.count(setup) == 0) {
      Log("compare", "left out setup ", setup, ": its ", r->spec().name(), " results are ", IdentityOf(*r),
          ", the baseline's ", identity, " (not the same measurement)");
    }
  }
  const Headline& base = by_setup.at(baseline);
  const Format format = OutputFormat(flags);

  if (format == Format::kTable) {
    std::cout << absl::StrFormat("# %s (%s): newest result per setup; ratios against %s\n",
                                 newest.at(baseline)->spec().name(), identity, baseline);
    std::string header = absl::StrFormat("# %-24s %-30s %5s", "setup", "device", "ranks");
    for (const auto& [name, v] : base.figures) absl::StrAppend(&header, absl::StrFormat(" %22s %7s", name, "ratio"));
    std::cout << header << "\n";
  } else if (format == Format::kCsv) {
    std::cout << "setup,device_model,ranks,job_id";
    for (const auto& [name, v] : base.figures) std::cout << "," << name << "," << name << "_ratio";
    std::cout << "\n";
  }
  for (const auto& [setup, h] : by_setup) {
    if (format == Format::kJson) {
      JsonLine row;
      row.Add("workload", newest.at(baseline)->spec().name())
          .Add("setup", setup)
          .Add("baseline", baseline)
          .Add("device_model", h.device_model)
          .Add("job_id", h.job_id)
          .Add("ranks", static_cast<double>(h.ranks));
      for (size_t i = 0; i < h.figures.size(); ++i) {
        row.Add(h.figures[i].first, h.figures[i].second);
        if (i < base.figures.size() && base.figures[i].second > 0) {
          row.Add(h.figures[i].first + "_ratio", h.figures[i].second / base.figures[i].second);
        }
      }
      row.WriteTo(std::cout);
      continue;
    }
    std::string line = format == Format::kCsv
                           ? absl::StrCat(setup, ",", h.device_model, ",", h.ranks, ",", h.job_id)
                           : absl::StrFormat("  %-24s %-30s %5d", setup, h.device_model.substr(0, 30), h.ranks);
    for (size_t i = 0; i < h.figures.size(); ++i) {
      const double v = h.figures[i].second;
      const double b = i < base.figures.size() ? base.figures[i].second : 0;
      if (format == Format::kCsv) {
        absl::StrAppend(&line, absl::StrFormat(",%.9g,%s", v, b > 0 ? absl::StrFormat("%.6g", v / b) : ""));
      } else {
        absl::StrAppend(&line, absl::StrFormat(" %22.6g %7s", v, b > 0 ? absl::StrFormat("%.3f", v / b) : "-"));
      }
    }
    std::cout << line << "\n";
  }
  return kExitOk;
}

}  // namespace tokenmeter::cli
