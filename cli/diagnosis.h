// Fleet health from the CLI: the checks of `tokenmeter diagnose` (and of the
// suite's fleet-check step) as jobs pinned to their workers, judged by
// workload/fleet_health.h into a HealthReport (docs/fleet-health.md).
#ifndef TOKENMETER_CLI_DIAGNOSIS_H_
#define TOKENMETER_CLI_DIAGNOSIS_H_

#include <atomic>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/coordinator_client.h"
#include "cli/output.h"
#include "tokenmeter/v1/health.pb.h"

namespace tokenmeter::cli {

struct DiagnosisOptions {
  std::string setup;               // "" = the one setup the idle workers are in
  v1::HealthRules rules;           // resolved (workload::ResolveHealthRules)
  v1::HealthBaseline baseline;     // figures given; 0 = the fleet's centre
  int iterations = 20;             // timed, per check
  int confirmations = 2;           // re-measurements of implicated workers' checks
  absl::Duration job_timeout = absl::Minutes(10);
};

// Runs every check on the idle workers of options.setup and judges them.
// `setup`, when empty, is set to the one setup checked. FailedPrecondition
// when that setup has no idle worker; InvalidArgument when idle workers are
// in several setups and none was given; Cancelled once *interrupted. A check
// that fails is a finding ("check_failed"), not an error.
absl::StatusOr<v1::HealthReport> RunDiagnosis(CoordinatorClient& client, DiagnosisOptions& options,
                                              const std::atomic<bool>* interrupted);

// "HEALTHY: 3 of 3 workers and 3 of 3 links healthy" (DEFECTIVE when not).
std::string HealthHeadline(const v1::HealthReport& report);

// The report as a table (findings with their evidence, then the healthy
// count) or JSON Lines (a `check` row per figure, a `finding` row per
// finding, one `diagnosis` row).
void PrintHealthReport(const v1::HealthReport& report, const std::string& setup, Format format, std::ostream& out);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_DIAGNOSIS_H_
