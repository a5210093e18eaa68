// The least time a job could take: its work at rates no device reaches
// today. The coordinator refuses, at submit, a spec whose least time passes
// its --max-job-seconds (docs/operations.md, "Limits"): a bound against
// absurd asks (a 1M³ GEMM a hundred thousand times), not a prediction.
#ifndef TOKENMETER_WORKLOAD_ESTIMATE_H_
#define TOKENMETER_WORKLOAD_ESTIMATE_H_

#include <string>

#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// Rates per device above every device's datasheet: 10 PFLOP/s of dense math
// in any dtype and 10 TB/s of collective bandwidth.
struct BestRates {
  double flops_per_second = 1e16;
  double link_bytes_per_second = 1e13;
};

struct LeastTime {
  double seconds = 0;
  std::string work;  // what it is, e.g. "3.2e+21 FLOPs per device"
};

// REQUIRES: ValidateSpec(spec, {ranks, ...}) is OK. Warm-up and timed
// iterations both count: GEMMs as 2·m·n·k per call per dtype, collectives as
// their size in bytes per call (one pass over the buffer), a training step as
// the model's FLOPs per token × tokens per step over the ranks, at the depth
// the step runs.
LeastTime LeastJobTime(const v1::WorkloadSpec& spec, int ranks, const BestRates& rates = {});

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_ESTIMATE_H_
