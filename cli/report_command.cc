// tokenmeter report: stored results as one self-contained HTML page
// (cli/report/report_builder.h; docs/report.md). The page replaces --out
// atomically: it is written to a temporary file beside it and renamed, so a
// reader (a browser reloading, a CI artefact upload) never sees half a page
// and a failed run leaves the previous page in place. stdout carries only
// the path written.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/pending_file.h"
#include "cli/report/report_builder.h"
#include "cli/results_source.h"
#include "common/log.h"

namespace tokenmeter::cli {
namespace {

std::string SourceName(const FlagSet& flags) {
  return flags.Has("store") ? absl::StrCat("store ", *flags.Get("store"))
                            : absl::StrCat("coordinator ", *flags.Get("coordinator"));
}

}  // namespace

int ReportCommand(const Args& args) {
  FlagSet flags("report",
                "--out FILE.html (--store FILE.db | --coordinator HOST:PORT) [--workload NAME] [--setup NAME] [flags]");
  flags.Value("out", "FILE.html", "write the page here (required); replaced atomically");
  DeclareResultsSourceFlags(flags);
  flags.Value("workload", "NAME", "only results of this workload");
  flags.Value("setup", "NAME", "only results of this setup");
  DeclareClientTlsFlags(flags);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto out = flags.Require("out");
  if (!out.ok()) return Fail("report", out.status(), kExitUsage);
  if (!HasResultsSource(flags)) {
    return Fail("report", absl::InvalidArgumentError("give exactly one of --store FILE.db and --coordinator HOST:PORT"),
                kExitUsage);
  }
  // Before the results are read: a page that cannot be written should not
  // cost a read of a large store first.
  auto pending = PendingFile::Create(*out, "--out");
  if (!pending.ok()) return Fail("report", pending.status());

  const std::string workload = flags.Get("workload").value_or("");
  const std::string setup = flags.Get("setup").value_or("");
  auto results = LoadResults(flags, workload, setup, /*limit=*/0);
  if (!results.ok()) {
    return Fail("report", results.status(),
                results.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailed);
  }
  if (results->empty()) {
    std::string filters;
    if (!workload.empty()) absl::StrAppend(&filters, " of workload '", workload, "'");
    if (!setup.empty()) absl::StrAppend(&filters, " of setup '", setup, "'");
    return Fail("report", absl::NotFoundError(absl::StrCat("no stored results", filters, " in ", SourceName(flags),
                                                           ": nothing to report, ", *out, " not written")));
  }
  const report::ReportOptions options = report::ReportOptionsNow(SourceName(flags));
  const std::string html = report::BuildReport(*results, options);
  if (auto s = (*pending)->Commit(html); !s.ok()) return Fail("report", s);
  Log("report", "wrote ", results->size(), results->size() == 1 ? " result" : " results", " (", html.size() / 1024,
      " KiB) to ", *out);
  std::cout << *out << "\n";
  return kExitOk;
}

}  // namespace tokenmeter::cli
