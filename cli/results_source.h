// Where stored results come from for the read-only subcommands (results,
// compare, report, claim): a store file opened directly, or a coordinator.
#ifndef TOKENMETER_CLI_RESULTS_SOURCE_H_
#define TOKENMETER_CLI_RESULTS_SOURCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "coordinator/results_store.h"
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
// The same with every filter of a listing (coordinator/results_store.h).
absl::StatusOr<std::vector<v1::JobResult>> LoadResults(const FlagSet& flags, coordinator::ResultFilter filter);

// --workload, --setup, --device, --since, --until and --job, the filters of
// a listing, declared and read in one place. InvalidArgument naming the flag
// for a date that does not parse. --until of a date alone means the end of
// that day (UTC).
void DeclareResultFilterFlags(FlagSet& flags);
absl::StatusOr<coordinator::ResultFilter> ResultFilterFromFlags(const FlagSet& flags);

// "2026-12-04" (midnight UTC) or an RFC 3339 time ("2026-12-04T21:45:51Z",
// "...+01:00"); `day_end` moves a date alone to the next midnight.
absl::StatusOr<absl::Time> ParseDateFlag(const std::string& text, absl::string_view flag, bool day_end);

// The store at `path`, which must exist: NotFound naming --store otherwise
// (a reader never creates one).
absl::StatusOr<std::unique_ptr<coordinator::ResultsStore>> OpenExistingStore(const std::string& path);

// Whether a source was given at all (claim works without one).
bool HasResultsSource(const FlagSet& flags);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_RESULTS_SOURCE_H_
