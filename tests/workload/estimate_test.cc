// The least time a spec asks for, worked out by hand for each kind of work.
#include "workload/estimate.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "workload/flops.h"
#include "workload/models.h"
#include "workload/result_assembly.h"
#include "workload/spec.h"
#include "workload/sweep.h"

namespace tokenmeter::workload {
namespace {

using ::testing::HasSubstr;

TEST(LeastJobTime, GemmCountsEveryCallOfEveryShapeInEveryDtype) {
  v1::WorkloadSpec spec;
  spec.set_warmup_iterations(2);
  spec.set_timed_iterations(8);
  auto* a = spec.mutable_gemm()->add_shapes();
  a->set_m(1000), a->set_n(2000), a->set_k(3000);
  auto* b = spec.mutable_gemm()->add_shapes();
  b->set_m(10), b->set_n(10), b->set_k(10);
  spec.mutable_gemm()->add_dtypes(v1::DTYPE_FP32);
  spec.mutable_gemm()->add_dtypes(v1::DTYPE_BF16);
  // (2·1000·2000·3000 + 2·10³) FLOPs × 2 dtypes × 10 calls, at 1e12 FLOP/s.
  const double flops = (2.0 * 1000 * 2000 * 3000 + 2.0 * 1000) * 2 * 10;
  EXPECT_DOUBLE_EQ(LeastJobTime(spec, 1, {1e12, 1e9}).seconds, flops / 1e12);
  EXPECT_THAT(LeastJobTime(spec, 1, {1e12, 1e9}).work, HasSubstr("2.4e+11 FLOPs"));
}

TEST(LeastJobTime, CollectivesCountTheirBytesPerCall) {
  v1::WorkloadSpec spec = *ResolveWorkload("collective/all-reduce");
  spec.set_warmup_iterations(1);
  spec.set_timed_iterations(3);
  double bytes = 0;
  for (const auto& s : CollectiveSizes(spec.collective(), v1::ALL_REDUCE, 4)) bytes += s.size_bytes;
  EXPECT_DOUBLE_EQ(LeastJobTime(spec, 4, {1e12, 1e9}).seconds, bytes * 4 / 1e9);
}

TEST(LeastJobTime, ATrainStepCountsTheModelsFlopsOverTheRanksAtTheDepthItRuns) {
  v1::WorkloadSpec spec = *ResolveWorkload("train-step/tiny");
  const auto& step = spec.train_step();
  const double per_step =
      ModelFlopsPerToken(step.model()) * TokensPerStep(step, 2) / PlanDepth(step).depth_scale / 2;
  const double calls = spec.warmup_iterations() + spec.timed_iterations();
  EXPECT_DOUBLE_EQ(LeastJobTime(spec, 2, {1e12, 1e9}).seconds, per_step * calls / 1e12);
}

TEST(CheckReportShape, BoundsRowsAndIterationsByTheSpec) {
  v1::WorkloadSpec spec = *ResolveWorkload("gemm");
  spec.set_timed_iterations(3);
  v1::RankResult report;
  report.set_rank(1);
  const int rows = spec.gemm().shapes_size() * spec.gemm().dtypes_size();
  for (int i = 0; i < rows; ++i) report.add_gemm()->add_iteration_seconds(0.1);
  EXPECT_TRUE(CheckReportShape(spec, 1, report).ok());
  for (int i = 0; i < 3; ++i) report.mutable_gemm(0)->add_iteration_seconds(0.1);
  auto too_long = CheckReportShape(spec, 1, report);
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_long.message(), HasSubstr("the report of rank 1: gemm[0].iteration_seconds has 4; the spec asks for at most 3"));
  report.mutable_gemm(0)->mutable_iteration_seconds()->Truncate(1);
  report.add_gemm();
  EXPECT_THAT(CheckReportShape(spec, 1, report).message(), HasSubstr("shapes x dtypes"));
  v1::RankResult steps;
  steps.mutable_train_step()->add_iteration_seconds(1);
  EXPECT_THAT(CheckReportShape(spec, 1, steps).message(), HasSubstr("train_step.iteration_seconds has 1"));
}

}  // namespace
}  // namespace tokenmeter::workload
