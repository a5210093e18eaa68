#include "workload/estimate.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "workload/flops.h"
#include "workload/models.h"
#include "workload/sweep.h"

namespace tokenmeter::workload {

LeastTime LeastJobTime(const v1::WorkloadSpec& spec, int ranks, const BestRates& rates) {
  const double calls = static_cast<double>(spec.warmup_iterations()) + spec.timed_iterations();
  double flops = 0;  // per device
  double bytes = 0;  // per device
  if (spec.has_gemm()) {
    const double dtypes = std::max(1, spec.gemm().dtypes_size());
    for (const auto& s : spec.gemm().shapes()) {
      flops += 2.0 * static_cast<double>(s.m()) * static_cast<double>(s.n()) * static_cast<double>(s.k()) * dtypes;
    }
    flops *= calls;
  }
  if (spec.has_collective()) {
    for (int op = 0; op < spec.collective().ops_size(); ++op) {
      for (const auto& size : CollectiveSizes(spec.collective(), spec.collective().ops(op), ranks)) {
        bytes += static_cast<double>(size.size_bytes) * calls;
      }
    }
  }
  if (spec.has_train_step()) {
    const auto& step = spec.train_step();
    const double per_step = ModelFlopsPerToken(step.model()) * static_cast<double>(TokensPerStep(step, ranks)) /
                            PlanDepth(step).depth_scale / std::max(1, ranks);
    flops += per_step * calls;
  }
  LeastTime least;
  least.seconds = flops / rates.flops_per_second + bytes / rates.link_bytes_per_second;
  least.work = absl::StrFormat("%.3g FLOPs and %.3g collective bytes per device at %.3g FLOP/s and %.3g B/s", flops,
                               bytes, rates.flops_per_second, rates.link_bytes_per_second);
  return least;
}

}  // namespace tokenmeter::workload
