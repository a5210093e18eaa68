// Which stored results the report shows, and how it names them: the order,
// the newest result of a workload on a setup, labels. Pointers returned
// point into the caller's vector, which must outlive them.
#ifndef TOKENMETER_CLI_REPORT_RESULT_SELECTION_H_
#define TOKENMETER_CLI_REPORT_RESULT_SELECTION_H_

#include <string>
#include <vector>

#include "tokenmeter/v1/result.pb.h"

namespace tokenmeter::cli::report {

using ResultList = std::vector<const v1::JobResult*>;

// Every result, newest first: by finished_at, then by job id (stable for
// results finished in the same instant).
ResultList NewestFirst(const std::vector<v1::JobResult>& results);

// The workload as the report names it: its name and version
// ("train-step/tiny/eager v2"); results of one label are one measurement.
std::string WorkloadLabel(const v1::JobResult& result);

// The newest result of each workload label × setup, ordered by label, then
// setup. REQUIRES: `newest_first` is ordered as NewestFirst orders.
ResultList NewestPerWorkloadAndSetup(const ResultList& newest_first);

// finished_at as "2025-01-31 12:34:56 UTC".
std::string FinishedAt(const v1::JobResult& result);

// The job-level collective row of `op` with the largest size, or null when
// the result has none of that op.
const v1::CollectiveMeasurement* LargestCollective(const v1::JobResult& result, v1::CollectiveOp op);

// The collective ops a result has rows of, in the enum's order.
std::vector<v1::CollectiveOp> CollectiveOps(const v1::JobResult& result);

}  // namespace tokenmeter::cli::report

#endif  // TOKENMETER_CLI_REPORT_RESULT_SELECTION_H_
