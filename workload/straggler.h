// Stragglers: in a job on several ranks, the rank that kept the others
// waiting, and what it cost (docs/fleet-health.md, "Stragglers"). A
// synchronous job runs at its slowest rank's pace; the others wait inside
// the collectives, so a rank's own time is what it spent outside that wait.
#ifndef TOKENMETER_WORKLOAD_STRAGGLER_H_
#define TOKENMETER_WORKLOAD_STRAGGLER_H_

#include <string>

#include "tokenmeter/v1/result.pb.h"

namespace tokenmeter::workload {

// Printed under a job's table when its slowest rank is this much above the
// ranks' median (10%: two ranks of one job on a shared 2-core VM differ by
// a few percent) and the excess is also this many standard errors of the
// medians compared (as diagnose's min_standard_errors: an excess inside the
// iterations' own noise is no evidence of a slow rank).
inline constexpr double kStragglerBound = 0.10;
inline constexpr double kStragglerStandardErrors = 3;

struct Straggler {
  bool applies = false;           // two ranks or more, each with a time
  int rank = 0;                   // the slowest
  std::string worker_id;
  double rank_seconds = 0;        // its own time
  double median_rank_seconds = 0; // the ranks' median of the same
  double excess = 0;              // rank_seconds / median_rank_seconds - 1
  // The standard error of `excess` from the iterations' spread: the slowest
  // rank's and a typical (the median) rank's relative standard errors,
  // combined. 0 where ranks reported no iteration times.
  double excess_standard_error = 0;
  double job_seconds = 0;         // what the job took (per step for a train step)
  double job_seconds_at_median = 0;  // had the slowest rank taken the median's time
};

// A rank's own time: a train step's median step less the gradient sync it
// waited for (grad_sync_exposed_seconds, where the fast ranks' wait for the
// slow one shows); a GEMM job's sum of per-shape medians; a collective job's
// sum of per-size medians (where every rank waits for every other, so these
// differ little). The job's time is the slowest rank's whole time; at the
// median it would have been that less the slowest rank's excess.
Straggler FindStraggler(const v1::JobResult& result);

// Whether the straggler is worth a line: it applies, and its excess is above
// kStragglerBound and above kStragglerStandardErrors standard errors.
bool StandsOut(const Straggler& straggler);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_STRAGGLER_H_
