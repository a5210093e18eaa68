// Where stored results come from for the read-only subcommands (results,
// compare, report, claim): a store file opened directly, or a coordinator.
#ifndef TOKENMETER_CLI_RESULTS_SOURCE_H_
#define TOKENMETER_CLI_RESULTS_SOURCE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "tokenmeter/v1/result.pb.h"

namespace tokenmeter::cli {

// --store FILE.db and --coordinator HOST:PORT.
void DeclareResultsSourceFlags(FlagSet& flags);

// Results matching the filters, newest first; `workload` is matched by its
// canonical name ("train-step/tiny" finds "train-step/tiny/eager":
// workload::CanonicalWorkloadName). InvalidArgument unless exactly
// one source is given; NotFound for a store file that does not exist (it is
// never created by a reader).
absl::StatusOr<std::vector<v1::JobResult>> LoadResults(const FlagSet& flags, const std::string& workload,
                                                       const std::string& setup, int limit);

// Whether a source was given at all (claim works without one).
bool HasResultsSource(const FlagSet& flags);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_RESULTS_SOURCE_H_
