// The definitions of docs/cost-model.md, each checked against a formula written here.
#include "workload/figures.h"

#include <vector>

#include "gtest/gtest.h"
#include "workload/spec.h"
#include "workload/sweep.h"

namespace tokenmeter::workload {
namespace {

TEST(Figures, GemmFlopsIsTwoMnk) {
  EXPECT_DOUBLE_EQ(GemmFlops(2, 3, 4), 2.0 * 2 * 3 * 4);
  EXPECT_DOUBLE_EQ(GemmFlops(8192, 28672, 4096), 2.0 * 8192 * 28672 * 4096);
}

TEST(Figures, EveryStandardGemmShapeCountsTwoMnk) {
  for (const char* name : {"gemm", "gemm/large"}) {
    auto spec = ResolveWorkload(name);
    ASSERT_TRUE(spec.ok());
    for (const auto& s : spec->gemm().shapes()) {
      EXPECT_DOUBLE_EQ(GemmFlops(s.m(), s.n(), s.k()), 2.0 * double(s.m()) * double(s.n()) * double(s.k())) << s.name();
    }
  }
}

TEST(Figures, TflopsIsFlopsPerSecondOver1e12) {
  EXPECT_DOUBLE_EQ(Tflops(4e12, 2.0), 2.0);
  EXPECT_EQ(Tflops(1e12, 0), 0);
}

TEST(Figures, BusBandwidthFactorsFollowNcclTests) {
  for (int n : {1, 2, 3, 4, 8, 64}) {
    EXPECT_DOUBLE_EQ(BusBandwidthFactor(v1::ALL_REDUCE, n), 2.0 * (n - 1) / n) << n;
    EXPECT_DOUBLE_EQ(BusBandwidthFactor(v1::ALL_GATHER, n), double(n - 1) / n) << n;
    EXPECT_DOUBLE_EQ(BusBandwidthFactor(v1::REDUCE_SCATTER, n), double(n - 1) / n) << n;
    EXPECT_DOUBLE_EQ(BusBandwidthFactor(v1::ALL_TO_ALL, n), double(n - 1) / n) << n;
    EXPECT_DOUBLE_EQ(BusBandwidthFactor(v1::BROADCAST, n), 1.0) << n;
    EXPECT_DOUBLE_EQ(BusBandwidthFactor(v1::REDUCE, n), 1.0) << n;
  }
}

TEST(Figures, AlgbwIsBytesPerSecondInGBAndBusbwScalesIt) {
  // 1 GB in 0.5 s on 4 ranks: algbw 2 GB/s; all-reduce busbw 2 × 2·3/4 = 3 GB/s.
  Bandwidth bw = CollectiveBandwidth(v1::ALL_REDUCE, 4, 1'000'000'000, 0.5);
  EXPECT_DOUBLE_EQ(bw.algbw_gbps, 2.0);
  EXPECT_DOUBLE_EQ(bw.busbw_gbps, 3.0);
  bw = CollectiveBandwidth(v1::ALL_GATHER, 4, 1'000'000'000, 0.5);
  EXPECT_DOUBLE_EQ(bw.busbw_gbps, 2.0 * 3 / 4);
}

TEST(Figures, SummarizeGivesMedianAndPercentilesWithoutReordering) {
  std::vector<double> t = {5, 1, 4, 2, 3};
  v1::TimingSummary s = Summarize(t);
  EXPECT_DOUBLE_EQ(s.median_seconds(), 3);
  EXPECT_DOUBLE_EQ(s.min_seconds(), 1);
  EXPECT_DOUBLE_EQ(s.max_seconds(), 5);
  EXPECT_DOUBLE_EQ(s.p10_seconds(), 1 + 0.4);  // linear: position 0.4 between 1 and 2
  EXPECT_DOUBLE_EQ(s.p90_seconds(), 4 + 0.6);
  EXPECT_EQ(s.iterations(), 5);
  EXPECT_EQ(t[0], 5);  // input left as measured
  std::vector<double> even = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(Summarize(even).median_seconds(), 2.5);
  EXPECT_EQ(Summarize({}).iterations(), 0);
}

TEST(Sweep, DoublesFromMinToMaxLikeNcclTests) {
  v1::CollectiveSweep sweep;
  sweep.set_min_bytes(8);
  sweep.set_max_bytes(1024);
  sweep.set_step_factor(2);
  sweep.set_dtype(v1::DTYPE_FP32);
  auto sizes = CollectiveSizes(sweep, v1::ALL_REDUCE, 3);
  ASSERT_EQ(sizes.size(), 8u);  // 8, 16, ..., 1024
  EXPECT_EQ(sizes.front().size_bytes, 8);
  EXPECT_EQ(sizes.front().count, 2);
  EXPECT_EQ(sizes.back().size_bytes, 1024);
}

TEST(Sweep, SplittingOpsRoundDownToWholeElementsPerRank) {
  v1::CollectiveSweep sweep;
  sweep.set_min_bytes(8);
  sweep.set_max_bytes(64);
  sweep.set_step_factor(2);
  sweep.set_dtype(v1::DTYPE_FP32);
  // 3 ranks, 4-byte elements: granule 12 bytes. 8 → none, 16 → 12, 32 → 24, 64 → 60.
  auto sizes = CollectiveSizes(sweep, v1::ALL_GATHER, 3);
  ASSERT_EQ(sizes.size(), 3u);
  for (const auto& s : sizes) EXPECT_EQ(s.count % 3, 0);
  EXPECT_EQ(sizes[0].size_bytes, 12);
  EXPECT_EQ(sizes[2].size_bytes, 60);
}

// Collective times that include device-host copies are flagged when any
// worker of the result staged them.
TEST(FiguresTest, CollectivesAreHostStagedWhenAnyWorkerSaysSo) {
  v1::JobResult r;
  EXPECT_FALSE(CollectivesHostStaged(r));
  r.add_inventory()->set_backend("cuda");
  EXPECT_FALSE(CollectivesHostStaged(r));
  r.add_inventory()->set_collectives_host_staged(true);
  EXPECT_TRUE(CollectivesHostStaged(r));
}

}  // namespace
}  // namespace tokenmeter::workload
