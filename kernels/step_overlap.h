// Interval arithmetic the backends share to account for overlapped ops of a
// training step (kernels/step.h): which part of an overlapped op the step
// waited for (exposed), and whether it ran at the same time as compute.
// Header-only (the CUDA plugin uses it without linking more of kernels/).
// Pure functions; thread-safe.
#ifndef TOKENMETER_KERNELS_STEP_OVERLAP_H_
#define TOKENMETER_KERNELS_STEP_OVERLAP_H_

#include <algorithm>
#include <vector>

namespace tokenmeter::kernels {

// [start, end) in seconds from an origin common to every interval compared.
struct StepInterval {
  double start = 0;
  double end = 0;
};

// Seconds of `a` covered by `sorted`: intervals ascending by start and not
// overlapping one another (one thread's or one stream's ops in issue order).
// 0 for an empty `a`.
inline double CoveredSeconds(StepInterval a, const std::vector<StepInterval>& sorted) {
  if (!(a.end > a.start)) return 0;
  // The first interval that ends after a starts.
  auto it = std::lower_bound(sorted.begin(), sorted.end(), a.start,
                             [](const StepInterval& s, double t) { return s.end <= t; });
  double covered = 0;
  for (; it != sorted.end() && it->start < a.end; ++it) {
    const double lo = std::max(a.start, it->start), hi = std::min(a.end, it->end);
    if (hi > lo) covered += hi - lo;
  }
  return std::min(covered, a.end - a.start);
}

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_STEP_OVERLAP_H_
