// compare's rows, ratios, marks and scaling on results built in the test.
#include "cli/comparison.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenmeter::cli {
namespace {

v1::JobResult Step(const std::string& setup, int ranks, double tps, double cost, int version = 2) {
  v1::JobResult r;
  r.set_job_id(setup + "-" + std::to_string(ranks) + "-" + std::to_string(tps));
  r.set_setup(setup);
  r.set_world_size(ranks);
  r.mutable_spec()->set_name("train-step/tiny/eager");
  r.mutable_spec()->set_version(version);
  r.mutable_spec()->mutable_train_step()->set_profile(v1::FRAMEWORK_PROFILE_EAGER);
  r.mutable_train_step()->set_tokens_per_second(tps);
  r.mutable_train_step()->set_cost_per_million_tokens_dollars(cost);
  r.mutable_train_step()->set_energy_per_token_joules(0.5e-6);
  return r;
}

double Value(const ComparedResult& row, const std::string& name) {
  for (const auto& f : row.figures) {
    if (f.name == name) return f.value;
  }
  return -1;
}

TEST(Comparison, NewestPerSetupRatiosAndMarks) {
  // Newest first, as the store lists them.
  const std::vector<v1::JobResult> results = {Step("b", 1, 300, 4.0), Step("a", 1, 100, 2.0), Step("a", 1, 50, 9.0)};
  auto c = Compare(results, "a", /*every_result=*/false);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->rows.size(), 2u);
  EXPECT_EQ(c->rows[0].result->setup(), "a");
  EXPECT_DOUBLE_EQ(Value(c->rows[0], "tokens_per_second"), 100);  // a's newest
  EXPECT_DOUBLE_EQ(*c->rows[1].ratios[0], 3.0);                  // 300 / 100
  EXPECT_DOUBLE_EQ(Value(c->rows[1], "energy_per_million_tokens_joules"), 0.5);
  EXPECT_TRUE(c->rows[1].fastest);
  EXPECT_FALSE(c->rows[1].cheapest);
  EXPECT_TRUE(c->rows[0].cheapest);
  EXPECT_FALSE(c->rows[0].fastest);

  auto all = Compare(results, "", /*every_result=*/true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->rows.size(), 3u);
  EXPECT_EQ(all->baseline, "a");
  EXPECT_DOUBLE_EQ(Value(all->rows[0], "tokens_per_second"), 50);  // a, oldest first
  EXPECT_DOUBLE_EQ(*all->rows[0].ratios[0], 0.5);                  // against a's newest
  EXPECT_EQ(Compare(results, "c", false).status().code(), absl::StatusCode::kNotFound);
}

TEST(Comparison, OtherVersionsAreLeftOutAndMissingFiguresHaveNoRatio) {
  std::vector<v1::JobResult> results = {Step("old", 1, 500, 1.0, /*version=*/1), Step("a", 1, 100, 0)};
  auto c = Compare(results, "a", false);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->rows.size(), 1u);
  ASSERT_EQ(c->left_out.size(), 1u);
  EXPECT_EQ(c->left_out[0].first, "old");
  EXPECT_EQ(c->left_out[0].second, "version 1, profile eager");
  EXPECT_FALSE(c->rows[0].ratios[3].has_value());  // cost 0: no ratio, not cheapest
  EXPECT_FALSE(c->rows[0].cheapest);
}

TEST(Comparison, GemmAndCollectiveFigures) {
  v1::JobResult gemm;
  gemm.set_setup("a");
  gemm.add_gemm();
  gemm.set_mamf_tflops(12.5);
  EXPECT_EQ(SpeedFigure(gemm), "mamf_tflops");
  EXPECT_DOUBLE_EQ(ComparedFigures(gemm)[0].value, 12.5);
  v1::JobResult coll;
  for (auto [size, busbw] : {std::pair<int64_t, double>{1024, 9.0}, {1 << 20, 7.0}}) {
    auto* m = coll.add_collective();
    m->set_size_bytes(size);
    m->set_busbw_gbps(busbw);
  }
  auto f = ComparedFigures(coll);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].name, "busbw_gbps_largest");
  EXPECT_DOUBLE_EQ(f[0].value, 7.0);  // at 1 MiB, not the best
  EXPECT_DOUBLE_EQ(f[1].value, 9.0);
  EXPECT_DOUBLE_EQ(f[2].value, 1 << 20);
}

TEST(Comparison, ScalingEfficiencyPerRankAgainstTheFewest) {
  const std::vector<v1::JobResult> results = {Step("a", 4, 360, 1), Step("a", 2, 190, 1), Step("a", 1, 100, 1),
                                              Step("a", 1, 10, 1), Step("b", 1, 100, 1)};
  auto series = Scaling(results, "version 2, profile eager", "");
  ASSERT_EQ(series.size(), 1u);  // b has one rank count
  ASSERT_EQ(series[0].points.size(), 3u);
  EXPECT_EQ(series[0].points[0].ranks, 1);
  EXPECT_DOUBLE_EQ(series[0].points[0].speed, 100);  // the newest 1-rank result
  EXPECT_DOUBLE_EQ(series[0].points[1].efficiency, 0.95);
  EXPECT_DOUBLE_EQ(series[0].points[2].per_rank, 90);
  EXPECT_DOUBLE_EQ(series[0].points[2].efficiency, 0.9);
  EXPECT_TRUE(Scaling(results, "version 2, profile eager", "b").empty());
}

}  // namespace
}  // namespace tokenmeter::cli
