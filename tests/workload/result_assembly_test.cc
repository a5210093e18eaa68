// A job is as fast as its slowest rank; checks add up over ranks.
#include "workload/result_assembly.h"

#include "gtest/gtest.h"
#include "workload/figures.h"
#include "workload/models.h"
#include "workload/spec.h"

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

// One rank of a train step: `seconds` per timed step, `joules` over them,
// on the device `uuid`.
v1::RankResult StepRank(int rank, const std::string& uuid, double seconds, double joules, int steps) {
  v1::RankResult r;
  r.set_rank(rank);
  r.mutable_device()->set_model("Test CPU");
  r.mutable_device()->set_uuid(uuid);
  auto* m = r.mutable_train_step();
  for (int i = 0; i < steps; ++i) m->add_iteration_seconds(seconds);
  *m->mutable_timing() = Summarize({m->iteration_seconds().data(), static_cast<size_t>(steps)});
  m->set_depth_scale(1);
  m->set_energy_joules(joules);
  return r;
}

// Energy per token = device energy over the timed steps / tokens in them,
// each device counted once: two CPU ranks on one host read the same RAPL
// counters (the host's), so their readings are one device's, not two.
TEST(ResultAssembly, EnergyCountsOncePerDevice) {
  auto spec = ResolveWorkload("train-step/tiny");
  ASSERT_TRUE(spec.ok()) << spec.status();
  v1::WorkerInventory a, b;
  const int steps = 4;
  const double tokens = static_cast<double>(TokensPerStep(spec->train_step(), 2)) * steps;

  // Same host (same device UUID): the larger reading, once.
  auto shared = AssembleJobResult("j", *spec, {a, b},
                                  {StepRank(0, "host-cpu", 0.5, 100, steps), StepRank(1, "host-cpu", 0.5, 104, steps)});
  EXPECT_DOUBLE_EQ(shared.train_step().energy_per_token_joules(), 104 / tokens);

  // Two devices: their energies add.
  auto two = AssembleJobResult("j", *spec, {a, b},
                               {StepRank(0, "gpu-0", 0.5, 100, steps), StepRank(1, "gpu-1", 0.5, 104, steps)});
  EXPECT_DOUBLE_EQ(two.train_step().energy_per_token_joules(), 204 / tokens);

  // One rank without energy: the job's is unknown, not a partial sum.
  auto partial = AssembleJobResult("j", *spec, {a, b},
                                   {StepRank(0, "gpu-0", 0.5, 100, steps), StepRank(1, "gpu-1", 0.5, 0, steps)});
  EXPECT_EQ(partial.train_step().energy_per_token_joules(), 0);
}

}  // namespace
}  // namespace tokenmeter::workload
