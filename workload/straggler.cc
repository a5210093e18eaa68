#include "workload/straggler.h"

#include <algorithm>
#include <vector>

#include "workload/figures.h"

namespace tokenmeter::workload {
namespace {

struct RankTime {
  const v1::RankResult* rank;
  double own = 0, whole = 0;
};

// The rank's own and whole time, or false where it reported none.
bool TimeOf(const v1::RankResult& r, RankTime* t) {
  t->rank = &r;
  if (r.has_train_step()) {
    t->whole = r.train_step().timing().median_seconds();
    t->own = t->whole - r.train_step().grad_sync_exposed_seconds();
    return t->whole > 0;
  }
  for (const auto& g : r.gemm()) t->whole += g.timing().median_seconds();
  for (const auto& c : r.collective()) t->whole += c.timing().median_seconds();
  t->own = t->whole;
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
  std::vector<double> own;
  for (const auto& t : times) own.push_back(t.own);
  const auto slowest = std::max_element(times.begin(), times.end(),
                                        [](const RankTime& a, const RankTime& b) { return a.own < b.own; });
  s.applies = true;
  s.rank = slowest->rank->rank();
  s.worker_id = slowest->rank->worker_id();
  s.rank_seconds = slowest->own;
  s.median_rank_seconds = MedianOf(own);
  s.excess = s.median_rank_seconds > 0 ? s.rank_seconds / s.median_rank_seconds - 1 : 0;
  for (const auto& t : times) s.job_seconds = std::max(s.job_seconds, t.whole);
  s.job_seconds_at_median = s.job_seconds - (s.rank_seconds - s.median_rank_seconds);
  return s;
}

}  // namespace tokenmeter::workload
