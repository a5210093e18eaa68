#include "workload/straggler.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "workload/figures.h"
#include "workload/fleet_health.h"

namespace tokenmeter::workload {
namespace {

struct RankTime {
  const v1::RankResult* rank;
  double own = 0, whole = 0;
  double relative_standard_error = 0;  // of `own`
};

// The rank's own and whole time, or false where it reported none. A sum of
// medians has the root of its terms' squared standard errors.
bool TimeOf(const v1::RankResult& r, RankTime* t) {
  t->rank = &r;
  if (r.has_train_step()) {
    t->whole = r.train_step().timing().median_seconds();
    t->own = t->whole - r.train_step().grad_sync_exposed_seconds();
    // Only whole steps are timed per iteration. A fast rank's step swings
    // with the slow one it waits for, so its whole step's spread in seconds,
    // set against its short own time, would overstate its noise: the whole
    // step's relative error stands for the own time's.
    t->relative_standard_error =
        RelativeStandardError({r.train_step().iteration_seconds().begin(), r.train_step().iteration_seconds().end()});
    return t->whole > 0;
  }
  double variance = 0;
  auto add = [&](const auto& measured) {
    const double median = measured.timing().median_seconds();
    const double se =
        RelativeStandardError({measured.iteration_seconds().begin(), measured.iteration_seconds().end()}) * median;
    t->whole += median;
    variance += se * se;
  };
  for (const auto& g : r.gemm()) add(g);
  for (const auto& c : r.collective()) add(c);
  t->own = t->whole;
  t->relative_standard_error = t->whole > 0 ? std::sqrt(variance) / t->whole : 0;
  return t->whole > 0;
}

}  // namespace

Straggler FindStraggler(const v1::JobResult& result) {
  Straggler s;
  std::vector<RankTime> times;
  for (const auto& r : result.ranks()) {
    RankTime t;
    if (TimeOf(r, &t)) times.push_back(t);
  }
  if (times.size() < 2) return s;
  std::vector<double> own, errors;
  for (const auto& t : times) {
    own.push_back(t.own);
    errors.push_back(t.relative_standard_error);
  }
  const auto slowest = std::max_element(times.begin(), times.end(),
                                        [](const RankTime& a, const RankTime& b) { return a.own < b.own; });
  s.applies = true;
  s.rank = slowest->rank->rank();
  s.worker_id = slowest->rank->worker_id();
  s.rank_seconds = slowest->own;
  s.median_rank_seconds = MedianOf(own);
  s.excess = s.median_rank_seconds > 0 ? s.rank_seconds / s.median_rank_seconds - 1 : 0;
  // (1 + excess) is a ratio of two medians: its relative error is theirs
  // combined; the median rank's is taken as the ranks' typical one.
  const double typical = MedianOf(errors);
  s.excess_standard_error =
      (1 + s.excess) * std::sqrt(slowest->relative_standard_error * slowest->relative_standard_error + typical * typical);
  for (const auto& t : times) s.job_seconds = std::max(s.job_seconds, t.whole);
  s.job_seconds_at_median = s.job_seconds - (s.rank_seconds - s.median_rank_seconds);
  return s;
}

bool StandsOut(const Straggler& s) {
  return s.applies && s.excess > kStragglerBound && s.excess > kStragglerStandardErrors * s.excess_standard_error;
}

}  // namespace tokenmeter::workload
