// Stragglers: the slowest rank by its own time, and what it cost the job.
#include "workload/straggler.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tokenmeter::workload {
namespace {

v1::RankResult StepRank(int rank, double step, double exposed_sync) {
  v1::RankResult r;
  r.set_rank(rank);
  r.set_worker_id(absl::StrCat("w", rank));
  r.mutable_train_step()->mutable_timing()->set_median_seconds(step);
  r.mutable_train_step()->set_grad_sync_exposed_seconds(exposed_sync);
  return r;
}

// Three ranks of a synchronous step: the slow one computes 1.5 s, the others
// 1.0 s and wait 0.5 s for it in the gradient sync; every step takes 1.6 s.
TEST(Straggler, TheRankTheOthersWaitedForIsNamedWithItsCost) {
  v1::JobResult result;
  *result.add_ranks() = StepRank(0, 1.6, 0.6);
  *result.add_ranks() = StepRank(1, 1.6, 0.1);
  *result.add_ranks() = StepRank(2, 1.6, 0.6);
  const auto s = FindStraggler(result);
  ASSERT_TRUE(s.applies);
  EXPECT_EQ(s.rank, 1);
  EXPECT_EQ(s.worker_id, "w1");
  EXPECT_DOUBLE_EQ(s.rank_seconds, 1.5);
  EXPECT_DOUBLE_EQ(s.median_rank_seconds, 1.0);
  EXPECT_DOUBLE_EQ(s.excess, 0.5);
  EXPECT_DOUBLE_EQ(s.job_seconds, 1.6);
  EXPECT_DOUBLE_EQ(s.job_seconds_at_median, 1.1);
  EXPECT_GT(s.excess, kStragglerBound);
  EXPECT_DOUBLE_EQ(s.excess_standard_error, 0);  // no iteration times: no noise to weigh
  EXPECT_TRUE(StandsOut(s));
}

TEST(Straggler, GemmRanksAreTimedByTheirShapesMedians) {
  v1::JobResult result;
  for (int rank = 0; rank < 4; ++rank) {
    auto* r = result.add_ranks();
    r->set_rank(rank);
    r->set_worker_id(absl::StrCat("w", rank));
    for (double seconds : {0.1, 0.2}) r->add_gemm()->mutable_timing()->set_median_seconds(seconds * (rank == 3 ? 2 : 1));
  }
  const auto s = FindStraggler(result);
  EXPECT_EQ(s.rank, 3);
  EXPECT_NEAR(s.excess, 1.0, 1e-12);
  EXPECT_NEAR(s.job_seconds, 0.6, 1e-12);
  EXPECT_NEAR(s.job_seconds_at_median, 0.3, 1e-12);
}

// Ranks of a GEMM job, one shape each, timed `iterations` times around their
// medians: ±spread alternately (CV ≈ spread).
v1::JobResult GemmJob(const std::vector<double>& medians, double spread, int iterations) {
  v1::JobResult result;
  for (size_t rank = 0; rank < medians.size(); ++rank) {
    auto* r = result.add_ranks();
    r->set_rank(static_cast<int>(rank));
    r->set_worker_id(absl::StrCat("w", rank));
    auto* g = r->add_gemm();
    g->mutable_timing()->set_median_seconds(medians[rank]);
    for (int i = 0; i < iterations; ++i) g->add_iteration_seconds(medians[rank] * (1 + (i % 2 ? spread : -spread)));
  }
  return result;
}

TEST(Straggler, AnExcessInsideTheIterationsNoiseIsNotNamed) {
  // 12% above the median, beyond the 10% bound, but the iterations swing by
  // 30%: 20 of them put the medians' standard errors near 8% each.
  const auto noisy = FindStraggler(GemmJob({1.0, 1.0, 1.12}, 0.30, 20));
  ASSERT_TRUE(noisy.applies);
  EXPECT_EQ(noisy.rank, 2);
  EXPECT_NEAR(noisy.excess, 0.12, 1e-12);
  // 1.2533 × CV / √20 per median, CV of ±30% alternating = 0.30 × √(20/19).
  const double rse = 1.2533 * 0.30 * std::sqrt(20.0 / 19) / std::sqrt(20.0);
  EXPECT_NEAR(noisy.excess_standard_error, 1.12 * std::sqrt(2) * rse, 1e-3);
  EXPECT_FALSE(StandsOut(noisy));

  // The same excess over steady iterations is a straggler.
  const auto steady = FindStraggler(GemmJob({1.0, 1.0, 1.12}, 0.01, 20));
  EXPECT_LT(steady.excess_standard_error, 0.01);
  EXPECT_TRUE(StandsOut(steady));
  // Within the bound it is not, however steady.
  EXPECT_FALSE(StandsOut(FindStraggler(GemmJob({1.0, 1.0, 1.08}, 0.001, 20))));
}

TEST(Straggler, OneRankOrNoTimesIsNoAnalysis) {
  v1::JobResult result;
  EXPECT_FALSE(FindStraggler(result).applies);
  *result.add_ranks() = StepRank(0, 1.0, 0);
  EXPECT_FALSE(FindStraggler(result).applies);
  result.add_ranks()->set_rank(1);  // reported nothing timed
  EXPECT_FALSE(FindStraggler(result).applies);
}

}  // namespace
}  // namespace tokenmeter::workload
