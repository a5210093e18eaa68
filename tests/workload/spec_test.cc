// Workload names, spec files and bounds: every refusal names its field.
#include "workload/spec.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenmeter::workload {
namespace {

using ::testing::HasSubstr;

TEST(Spec, StandardNamesResolveAndValidate) {
  for (const auto& name : StandardWorkloadNames()) {
    auto spec = ResolveWorkload(name);
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    EXPECT_EQ(spec->name(), name);
    EXPECT_GE(spec->version(), 1);
    EXPECT_TRUE(ValidateSpec(*spec, {2, 0}).ok()) << name << ": " << ValidateSpec(*spec, {2, 0});
  }
}

TEST(Spec, UnknownNameListsTheKnownOnes) {
  auto spec = ResolveWorkload("gemmm");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("unknown workload 'gemmm'"));
  EXPECT_THAT(spec.status().message(), HasSubstr("collective/all-reduce"));
  EXPECT_FALSE(ResolveWorkload("train-step/no-such-model").ok());
}

TEST(Spec, JsonUnknownFieldIsAnError) {
  auto spec = ParseSpecJson(R"({"name": "gemm", "version": 1, "timedIterations": 3, "gemm": {"shapez": []}})");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("shapez"));
}

TEST(Spec, JsonSpecParses) {
  auto spec = ParseSpecJson(R"({"name": "my-gemm", "version": 2, "warmup_iterations": 1, "timed_iterations": 3,
      "gemm": {"shapes": [{"name": "s", "m": 64, "n": 32, "k": 16}], "dtypes": ["DTYPE_FP32"]}})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->gemm().shapes(0).n(), 32);
  EXPECT_TRUE(ValidateSpec(*spec, {1, 0}).ok());
}

TEST(Spec, LoadSpecFileNamesTheFile) {
  EXPECT_THAT(LoadSpecFile("/nonexistent/spec.json").status().message(), HasSubstr("/nonexistent/spec.json"));
}

v1::WorkloadSpec Gemm(int64_t m, int64_t n, int64_t k) {
  v1::WorkloadSpec spec = *ResolveWorkload("gemm");
  spec.mutable_gemm()->clear_shapes();
  auto* s = spec.mutable_gemm()->add_shapes();
  s->set_m(m);
  s->set_n(n);
  s->set_k(k);
  return spec;
}

TEST(Spec, NonPositiveSizesAreRefusedNamingTheField) {
  auto s = ValidateSpec(Gemm(-5, 64, 64), {1, 0});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("gemm.shapes[0].m"));
  EXPECT_THAT(ValidateSpec(Gemm(64, 0, 64), {1, 0}).message(), HasSubstr("gemm.shapes[0].n"));
}

TEST(Spec, SizeOverDeviceMemoryIsRefusedSayingHowMuch) {
  // 65536² fp32 × 4 matrices = 64 GiB > 16 GiB.
  auto s = ValidateSpec(Gemm(65536, 65536, 65536), {1, int64_t{16} << 30});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("gemm.shapes[0]"));
  EXPECT_THAT(s.message(), HasSubstr("64 GiB"));
  EXPECT_TRUE(ValidateSpec(Gemm(65536, 65536, 65536), {1, 0}).ok());  // unknown memory: not checked
}

TEST(Spec, IterationAndRankBounds) {
  auto spec = *ResolveWorkload("gemm");
  EXPECT_THAT(ValidateSpec(spec, {0, 0}).message(), HasSubstr("ranks"));
  spec.set_timed_iterations(0);
  EXPECT_THAT(ValidateSpec(spec, {1, 0}).message(), HasSubstr("timed_iterations"));
  spec.set_timed_iterations(3);
  spec.set_warmup_iterations(-1);
  EXPECT_THAT(ValidateSpec(spec, {1, 0}).message(), HasSubstr("warmup_iterations"));
}

TEST(Spec, CollectiveBounds) {
  auto spec = *ResolveWorkload("collective/all-gather");
  spec.mutable_collective()->set_max_bytes(4);
  spec.mutable_collective()->set_min_bytes(4);
  // One fp32 element cannot be split among 3 ranks.
  auto s = ValidateSpec(spec, {3, 0});
  EXPECT_THAT(s.message(), HasSubstr("collective.max_bytes"));
  EXPECT_THAT(s.message(), HasSubstr("all_gather"));
  spec = *ResolveWorkload("collective");
  spec.mutable_collective()->set_min_bytes(0);
  EXPECT_THAT(ValidateSpec(spec, {2, 0}).message(), HasSubstr("collective.min_bytes"));
  spec = *ResolveWorkload("collective");
  spec.mutable_collective()->set_max_bytes(int64_t{1} << 36);
  EXPECT_THAT(ValidateSpec(spec, {2, int64_t{8} << 30}).message(), HasSubstr("collective.max_bytes"));
}

}  // namespace
}  // namespace tokenmeter::workload
