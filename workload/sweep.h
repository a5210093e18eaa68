// Expanding a collective sweep into the sizes it runs, as nccl-tests does.
#ifndef TOKENMETER_WORKLOAD_SWEEP_H_
#define TOKENMETER_WORKLOAD_SWEEP_H_

#include <cstdint>
#include <vector>

#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

struct CollectiveSize {
  int64_t size_bytes = 0;  // S as nccl-tests counts it
  int64_t count = 0;       // elements of S
};

// Whether `op` splits its buffer among ranks (all-gather, reduce-scatter,
// all-to-all): its count must then divide by the rank count.
bool SplitsAmongRanks(v1::CollectiveOp op);

// Sizes from sweep.min_bytes to sweep.max_bytes, multiplying by
// sweep.step_factor. Each is rounded down to whole elements and, for ops that
// split among ranks, to a multiple of `ranks` elements (nccl-tests rounds the
// same way); sizes that round to zero elements or repeat are dropped.
// REQUIRES: the sweep passed ValidateSpec.
std::vector<CollectiveSize> CollectiveSizes(const v1::CollectiveSweep& sweep, v1::CollectiveOp op, int ranks);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_SWEEP_H_
