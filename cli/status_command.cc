// tokenmeter status: the coordinator's workers and jobs.
#include "cli/common_flags.h"
#include "cli/coordinator_client.h"

namespace tokenmeter::cli {

int StatusCommand(const Args& args) {
  FlagSet flags("status", "--coordinator HOST:PORT [--json]");
  flags.Value("coordinator", "HOST:PORT", "the coordinator to ask (required)");
  flags.Value("jobs", "N", "show at most this many jobs, newest first", "20");
  flags.Switch("all", "include lost and departed workers");
  DeclareClientTlsFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/true);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto address = flags.Require("coordinator");
  if (!address.ok()) return Fail("status", address.status(), kExitUsage);
  auto limit = flags.GetInt("jobs", 0, 1000000);
  if (!limit.ok()) return Fail("status", limit.status(), kExitUsage);
  auto client = CoordinatorClient::Connect(ClientChannelOptions(flags, *address), absl::Seconds(5));
  if (!client.ok()) return Fail("status", client.status());
  auto workers = (*client)->ListWorkers(flags.GetSwitch("all"));
  if (!workers.ok()) return Fail("status", workers.status());
  auto jobs = (*client)->ListJobs(static_cast<int>(*limit));
  if (!jobs.ok()) return Fail("status", jobs.status());
  PrintStatus(*workers, *jobs, OutputFormat(flags), std::cout);
  return kExitOk;
}

}  // namespace tokenmeter::cli
