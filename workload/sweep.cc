#include "workload/sweep.h"

#include "workload/figures.h"

namespace tokenmeter::workload {

bool SplitsAmongRanks(v1::CollectiveOp op) {
  return op == v1::ALL_GATHER || op == v1::REDUCE_SCATTER || op == v1::ALL_TO_ALL;
}

std::vector<CollectiveSize> CollectiveSizes(const v1::CollectiveSweep& sweep, v1::CollectiveOp op, int ranks) {
  std::vector<CollectiveSize> sizes;
  const int64_t element = DTypeBytes(sweep.dtype());
  if (element <= 0 || ranks < 1 || sweep.min_bytes() < 1) return sizes;
  const int64_t granule = SplitsAmongRanks(op) ? ranks : 1;
  const int64_t factor = sweep.step_factor() < 2 ? 2 : sweep.step_factor();
  for (int64_t bytes = sweep.min_bytes(); bytes <= sweep.max_bytes(); bytes *= factor) {
    const int64_t count = bytes / element / granule * granule;
    if (count > 0 && (sizes.empty() || sizes.back().count != count)) {
      sizes.push_back({count * element, count});
    }
    if (sweep.min_bytes() == sweep.max_bytes()) break;
  }
  return sizes;
}

}  // namespace tokenmeter::workload
