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
  const std::string workload = workload_name.empty() ? "" : workload::CanonicalWorkloadName(workload_name);
  if (flags.Has("store") == flags.Has("coordinator")) {
    return absl::InvalidArgumentError("give exactly one of --store FILE.db and --coordinator HOST:PORT");
  }
  if (flags.Has("store")) {
    const std::string path = *flags.Get("store");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return absl::NotFoundError(absl::StrCat("--store: no results store at '", path, "'"));
    }
    auto store = coordinator::ResultsStore::Open(path);
    if (!store.ok()) return store.status();
    return (*store)->ListResults({workload, setup, limit});
  }
  auto client = CoordinatorClient::Connect(ClientChannelOptions(flags, *flags.Get("coordinator")), absl::Seconds(5));
  if (!client.ok()) return client.status();
  return (*client)->ListResults(workload, setup, limit);
}

}  // namespace tokenmeter::cli
