#include "cli/results_source.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/coordinator_client.h"
#include "coordinator/results_store.h"
#include "workload/spec.h"

namespace tokenmeter::cli {

void DeclareResultsSourceFlags(FlagSet& flags) {
  flags.Value("store", "FILE.db", "read results from this SQLite store");
  flags.Value("coordinator", "HOST:PORT", "read results from this coordinator");
}

bool HasResultsSource(const FlagSet& flags) { return flags.Has("store") || flags.Has("coordinator"); }

absl::StatusOr<std::vector<v1::JobResult>> LoadResults(const FlagSet& flags, const std::string& workload_name,
                                                       const std::string& setup, int limit) {
  coordinator::ResultFilter filter;
  filter.workload = workload_name;
  filter.setup = setup;
  filter.limit = limit;
  return LoadResults(flags, std::move(filter));
}

absl::StatusOr<std::vector<v1::JobResult>> LoadResults(const FlagSet& flags, coordinator::ResultFilter filter) {
  if (!filter.workload.empty()) filter.workload = workload::CanonicalWorkloadName(filter.workload);
  if (flags.Has("store") == flags.Has("coordinator")) {
    return absl::InvalidArgumentError("give exactly one of --store FILE.db and --coordinator HOST:PORT");
  }
  if (flags.Has("store")) {
    auto store = OpenExistingStore(*flags.Get("store"));
    if (!store.ok()) return store.status();
    return (*store)->ListResults(filter);
  }
  auto client = CoordinatorClient::Connect(ClientChannelOptions(flags, *flags.Get("coordinator")), absl::Seconds(5));
  if (!client.ok()) return client.status();
  return (*client)->ListResults(coordinator::RequestFromFilter(filter));
}

absl::StatusOr<std::unique_ptr<coordinator::ResultsStore>> OpenExistingStore(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("--store: no results store at '", path, "'"));
  }
  return coordinator::ResultsStore::Open(path);
}

void DeclareResultFilterFlags(FlagSet& flags) {
  flags.Value("workload", "NAME", "only results of this workload");
  flags.Value("setup", "NAME", "only results of this setup");
  flags.Value("device", "TEXT", "only results whose device model contains TEXT (case-insensitive)");
  flags.Value("since", "DATE", "only results finished at or after DATE (2026-12-04, or 2026-12-04T21:00:00Z)");
  flags.Value("until", "DATE", "only results finished before DATE (a date alone: before the end of that day, UTC)");
  flags.Value("job", "JOB_ID", "only this job's result");
}

absl::StatusOr<absl::Time> ParseDateFlag(const std::string& text, absl::string_view flag, bool day_end) {
  absl::Time t;
  std::string error;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &error)) {
    return day_end ? t + absl::Hours(24) : t;
  }
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return t;
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be a date (2026-12-04) or an RFC 3339 time ",
                                                 "(2026-12-04T21:00:00Z), got '", text, "'"));
}

absl::StatusOr<coordinator::ResultFilter> ResultFilterFromFlags(const FlagSet& flags) {
  coordinator::ResultFilter f;
  f.workload = flags.Get("workload").value_or("");
  f.setup = flags.Get("setup").value_or("");
  f.device_model = flags.Get("device").value_or("");
  f.job_id = flags.Get("job").value_or("");
  if (flags.Has("since")) {
    auto t = ParseDateFlag(*flags.Get("since"), "since", /*day_end=*/false);
    if (!t.ok()) return t.status();
    f.finished_after = *t;
  }
  if (flags.Has("until")) {
    auto t = ParseDateFlag(*flags.Get("until"), "until", /*day_end=*/true);
    if (!t.ok()) return t.status();
    f.finished_before = *t;
  }
  if (f.finished_after >= f.finished_before) {
    return absl::InvalidArgumentError("--since must be before --until");
  }
  return f;
}

}  // namespace tokenmeter::cli
