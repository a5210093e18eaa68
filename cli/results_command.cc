// tokenmeter results: stored results, from a store file or a coordinator.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/coordinator_client.h"
#include "cli/results_source.h"

namespace tokenmeter::cli {

int ResultsCommand(const Args& args) {
  FlagSet flags("results",
                "(--store FILE.db | --coordinator HOST:PORT) [--workload NAME] [--setup NAME] [--device TEXT] "
                "[--since DATE] [--until DATE] [--job ID] [flags]");
  DeclareResultsSourceFlags(flags);
  DeclareResultFilterFlags(flags);
  flags.Value("limit", "N", "at most this many, newest first; 0 = all", "0");
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
  auto filter = ResultFilterFromFlags(flags);
  if (!filter.ok()) return Fail("results", filter.status(), kExitUsage);
  filter->limit = static_cast<int>(*limit);
  auto results = LoadResults(flags, *filter);
  if (!results.ok()) return Fail("results", results.status(), results.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailed);
  const Format format = OutputFormat(flags);
  if (flags.Has("job")) {
    // One job: its result in full (its tables), or its raw iterations.
    if (results->empty()) {
      return Fail("results", absl::NotFoundError(absl::StrCat("no stored result of job ", *flags.Get("job"),
                                                              " matches")));
    }
    if (iterations) {
      PrintIterations(results->front(), format, std::cout);
    } else {
      PrintJobResult(results->front(), format, std::cout);
    }
    return kExitOk;
  }
  if (flags.GetSwitch("detail")) {
    for (const auto& r : *results) PrintJobResult(r, format, std::cout);
  } else {
    PrintResultSummaries(*results, format, std::cout);
  }
  return kExitOk;
}

}  // namespace tokenmeter::cli
