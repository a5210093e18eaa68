// tokenmeter diagnose: which devices, hosts and links of a setup fall short
// of the rest (docs/fleet-health.md). The checks run as jobs pinned to their
// workers (cli/diagnosis.h); the verdict is stored with the coordinator as a
// `fleet-check` result, which also publishes it as health gauges.
#include <atomic>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/coordinator_client.h"
#include "cli/diagnosis.h"
#include "cli/json_line.h"
#include "cli/signals.h"
#include "common/log.h"
#include "google/protobuf/util/time_util.h"
#include "workload/fleet_health.h"

namespace tokenmeter::cli {
namespace {
constexpr const char* kCommand = "diagnose";
}  // namespace

int DiagnoseCommand(const Args& args) {
  FlagSet flags(kCommand, "--coordinator HOST:PORT [--setup NAME] [--rules FILE] [--baseline FILE] [--json]");
  flags.Value("coordinator", "HOST:PORT", "the coordinator whose idle workers to check (required)");
  flags.Value("setup", "NAME", "check the idle workers of this setup (default: the one setup idle workers are in)");
  flags.Value("rules", "FILE", "HealthRules as JSON (docs/fleet-health.md); defaults for fields left out");
  flags.Value("baseline", "FILE", "HealthBaseline as JSON: judge against these figures, not the fleet's centre");
  flags.Value("write-baseline", "FILE", "write the baseline judged against, as a --baseline file");
  flags.Value("iterations", "N", "timed iterations of every check", "20");
  flags.Value("job-timeout", "SECONDS", "the longest one check may take", "600");
  flags.Value("confirmations", "N", "times the checks of implicated workers run again before a finding stands", "2");
  DeclareClientTlsFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/false);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto address = flags.Require("coordinator");
  if (!address.ok()) return Fail(kCommand, address.status(), kExitUsage);
  auto iterations = flags.GetInt("iterations", 5, 10000);
  if (!iterations.ok()) return Fail(kCommand, iterations.status(), kExitUsage);
  auto confirmations = flags.GetInt("confirmations", 0, 10);
  if (!confirmations.ok()) return Fail(kCommand, confirmations.status(), kExitUsage);
  auto job_timeout = GetSeconds(flags, "job-timeout", 1, 86400);
  if (!job_timeout.ok()) return Fail(kCommand, job_timeout.status(), kExitUsage);
  absl::StatusOr<v1::HealthRules> rules =
      flags.Has("rules") ? workload::LoadHealthRules(*flags.Get("rules")) : workload::ResolveHealthRules({});
  if (!rules.ok()) return Fail(kCommand, rules.status(), kExitUsage);
  v1::HealthBaseline given;
  if (flags.Has("baseline")) {
    auto b = workload::LoadHealthBaseline(*flags.Get("baseline"));
    if (!b.ok()) return Fail(kCommand, b.status(), kExitUsage);
    given = *b;
  }

  DiagnosisOptions options;
  options.setup = flags.Get("setup").value_or("");
  options.rules = *rules;
  options.baseline = given;
  options.iterations = static_cast<int>(*iterations);
  options.confirmations = static_cast<int>(*confirmations);
  options.job_timeout = *job_timeout;

  std::atomic<bool> interrupted{false};
  HandleShutdownSignals([&](int) {
    interrupted = true;
    Log(kCommand, "interrupted: cancelling the running checks");
  });
  auto client = CoordinatorClient::Connect(ClientChannelOptions(flags, *address), absl::Seconds(5));
  if (!client.ok()) return Fail(kCommand, client.status());
  const auto started = google::protobuf::util::TimeUtil::GetCurrentTime();
  auto report = RunDiagnosis(**client, options, &interrupted);
  if (!report.ok()) return Fail(kCommand, report.status());
  auto stored = (*client)->RecordHealth(options.setup, *report, started);
  if (!stored.ok()) return Fail(kCommand, stored.status());
  Log(kCommand, "stored as ", *stored, " (tokenmeter results --workload ", workload::kFleetCheckWorkload, ")");
  if (flags.Has("write-baseline")) {
    std::ofstream out(*flags.Get("write-baseline"));
    out << CanonicalJson(report->baseline()) << "\n";
    if (!out) {
      return Fail(kCommand, absl::UnavailableError(absl::StrCat("cannot write --write-baseline file '",
                                                                 *flags.Get("write-baseline"), "'")));
    }
  }
  PrintHealthReport(*report, options.setup, OutputFormat(flags), std::cout);
  return report->healthy() ? kExitOk : kExitFailed;
}

}  // namespace tokenmeter::cli
