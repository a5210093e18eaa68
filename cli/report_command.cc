// tokenmeter report: stored results as one self-contained HTML page
// (cli/report/report_builder.h; docs/report.md). The page replaces --out
// atomically: it is written to a temporary file beside it and renamed, so a
// reader (a browser reloading, a CI artefact upload) never sees half a page
// and a failed run leaves the previous page in place. stdout carries only
// the path written.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/common_flags.h"
#include "cli/report/report_builder.h"
#include "cli/results_source.h"
#include "common/log.h"

namespace tokenmeter::cli {
namespace {

absl::Status OutError(const std::string& path, absl::string_view what, int error) {
  return absl::PermissionDeniedError(absl::StrCat("--out: cannot ", what, " '", path, "': ", std::strerror(error)));
}

// A temporary file beside the destination (same directory, so the rename is
// atomic), removed unless committed. Not thread-safe.
class PendingFile {
 public:
  static absl::StatusOr<std::unique_ptr<PendingFile>> Create(const std::string& destination) {
    std::error_code ec;
    if (std::filesystem::is_directory(destination, ec)) {
      return OutError(destination, "write a file over directory", EISDIR);
    }
    std::string temp = absl::StrCat(destination, ".tmp-XXXXXX");
    const int fd = mkstemp(temp.data());
    if (fd < 0) return OutError(destination, "write", errno);
    return std::unique_ptr<PendingFile>(new PendingFile(destination, std::move(temp), fd));
  }
  ~PendingFile() {
    if (fd_ >= 0) close(fd_);
    if (!committed_) unlink(temp_.c_str());
  }
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  // Writes `contents`, makes it durable and renames it over the destination.
  absl::Status Commit(const std::string& contents) {
    for (size_t done = 0; done < contents.size();) {
      const ssize_t n = write(fd_, contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return OutError(destination_, "write", errno);
      done += static_cast<size_t>(n);
    }
    // mkstemp makes the file private (0600); a report is meant to be read
    // like any file the user creates.
    const mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd_, 0666 & ~mask) != 0 || fsync(fd_) != 0) return OutError(destination_, "write", errno);
    const int closed = close(fd_);
    fd_ = -1;
    if (closed != 0) return OutError(destination_, "write", errno);
    if (rename(temp_.c_str(), destination_.c_str()) != 0) return OutError(destination_, "replace", errno);
    committed_ = true;
    return absl::OkStatus();
  }

 private:
  PendingFile(std::string destination, std::string temp, int fd)
      : destination_(std::move(destination)), temp_(std::move(temp)), fd_(fd) {}
  std::string destination_, temp_;
  int fd_;
  bool committed_ = false;
};

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
  auto pending = PendingFile::Create(*out);
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
  report::ReportOptions options;
  options.source = SourceName(flags);
  options.generated_at = absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::Now(), absl::UTCTimeZone());
  options.tokenmeter_version = TOKENMETER_VERSION;
  const std::string html = report::BuildReport(*results, options);
  if (auto s = (*pending)->Commit(html); !s.ok()) return Fail("report", s);
  Log("report", "wrote ", results->size(), results->size() == 1 ? " result" : " results", " (", html.size() / 1024,
      " KiB) to ", *out);
  std::cout << *out << "\n";
  return kExitOk;
}

}  // namespace tokenmeter::cli
