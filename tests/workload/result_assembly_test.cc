// A job is as fast as its slowest rank; checks add up over ranks.
#include "workload/result_assembly.h"

#include "gtest/gtest.h"
#include "workload/figures.h"

namespace tokenmeter::workload {
namespace {

v1::RankResult Rank(int rank, double gemm_seconds, double coll_seconds, int64_t wrong) {
  v1::RankResult r;
  r.set_rank(rank);
  r.mutable_device()->set_model("Test CPU");
  auto* g = r.add_gemm();
  g->mutable_shape()->set_name("sq");
  g->mutable_shape()->set_m(100);
  g->mutable_shape()->set_n(100);
  g->mutable_shape()->set_k(100);
  g->set_dtype(v1::DTYPE_FP32);
  g->add_iteration_seconds(gemm_seconds);
  g->set_verified(true);
  CompleteGemmMeasurement(g);
  auto* c = r.add_collective();
  c->set_op(v1::ALL_REDUCE);
  c->set_size_bytes(1'000'000);
  c->set_count(250'000);
  c->add_iteration_seconds(coll_seconds);
  c->set_wrong_elements(wrong);
  CompleteCollectiveMeasurement(c, 2);
  return r;
}

TEST(ResultAssembly, SlowestRankSetsTheJobFigures) {
  v1::WorkerInventory a, b;
  a.set_setup("s1");
  b.set_setup("s1");
  v1::WorkloadSpec spec;
  spec.set_name("gemm");
  auto result = AssembleJobResult("j", spec, {a, b}, {Rank(1, 0.002, 0.001, 0), Rank(0, 0.001, 0.004, 3)});
  EXPECT_EQ(result.setup(), "s1");
  EXPECT_EQ(result.world_size(), 2);
  EXPECT_EQ(result.ranks(0).rank(), 0);
  ASSERT_EQ(result.gemm_size(), 1);
  EXPECT_DOUBLE_EQ(result.gemm(0).timing().median_seconds(), 0.002);
  EXPECT_DOUBLE_EQ(result.gemm(0).tflops(), GemmFlops(100, 100, 100) / 0.002 / 1e12);
  EXPECT_DOUBLE_EQ(result.mamf_tflops(), result.gemm(0).tflops());
  ASSERT_EQ(result.collective_size(), 1);
  EXPECT_DOUBLE_EQ(result.collective(0).timing().median_seconds(), 0.004);
  EXPECT_DOUBLE_EQ(result.collective(0).algbw_gbps(), 1e6 / 0.004 / 1e9);
  EXPECT_DOUBLE_EQ(result.collective(0).busbw_gbps(), 1e6 / 0.004 / 1e9 * 2 * (2 - 1) / 2.0);
  EXPECT_EQ(result.collective(0).wrong_elements(), 3);
}

TEST(ResultAssembly, SetupsOfAMixedJobAreJoined) {
  v1::WorkerInventory a, b;
  a.set_setup("beta");
  b.set_setup("alpha");
  EXPECT_EQ(JobSetupName({a, b}), "alpha+beta");
}

}  // namespace
}  // namespace tokenmeter::workload
