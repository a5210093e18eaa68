// tokenmeter results: stored results, from a store file or a coordinator.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/coordinator_client.h"
#include "cli/results_source.h"

namespace tokenmeter::cli {

int ResultsCommand(const Args& args) {
  FlagSet flags("results", "(--store FILE.db | --coordinator HOST:PORT) [--workload NAME] [--setup NAME] [flags]");
  DeclareResultsSourceFlags(flags);
  flags.Value("workload", "NAME", "only results of this workload");
  flags.Value("setup", "NAME", "only results of this setup");
  flags.Value("limit", "N", "at most this many, newest first; 0 = all", "0");
  flags.Value("job", "JOB_ID", "print one result in full (its tables)");
  flags.Switch("detail", "print every result in full, not one line each");
  flags.Switch("iterations", "with --job: every timed iteration of every rank, one row each (the raw times behind the medians)");
  DeclareClientTlsFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/true);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto limit = flags.GetInt("limit", 0, 1000000);
  if (!limit.ok()) return Fail("results", limit.status(), kExitUsage);
  const bool iterations = flags.GetSwitch("iterations");
  if (iterations && !flags.Has("job")) {
    return Fail("results", absl::InvalidArgumentError("--iterations needs --job JOB_ID (one result's raw times)"),
                kExitUsage);
  }
  auto results = LoadResults(flags, flags.Get("workload").value_or(""), flags.Get("setup").value_or(""),
                             static_cast<int>(*limit));
  if (!results.ok()) return Fail("results", results.status(), results.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailed);
  const Format format = OutputFormat(flags);
  if (flags.Has("job")) {
    const std::string id = *flags.Get("job");
    for (const auto& r : *results) {
      if (r.job_id() == id) {
        if (iterations) {
          PrintIterations(r, format, std::cout);
        } else {
          PrintJobResult(r, format, std::cout);
        }
        return kExitOk;
      }
    }
    return Fail("results", absl::NotFoundError(absl::StrCat("no stored result of job ", id)));
  }
  if (flags.GetSwitch("detail")) {
    for (const auto& r : *results) PrintJobResult(r, format, std::cout);
  } else {
    PrintResultSummaries(*results, format, std::cout);
  }
  return kExitOk;
}

}  // namespace tokenmeter::cli
