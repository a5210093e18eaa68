// The opencl backend end to end, on whatever OpenCL device this host has
// (PoCL's CPU device in CI): `run --local --backend opencl` loads the plugin
// in its worker processes, runs the standard GEMM sweep checked against a
// reference, an all-reduce sweep across 2 ranks staged through host memory
// and checked element by element, and the tiny preset's training step. Without an OpenCL device the test
// fails where CI is set (install-deps.sh installs PoCL) and is skipped
// elsewhere.
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

// Skips (or, in CI, fails) when the opencl backend sees no device here.
bool NoDevice(const Result& r) {
  if (r.exit_code == 0 || r.err.find("no OpenCL device") == std::string::npos) return false;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && *ci != '\0') {
    ADD_FAILURE() << "CI is set but the opencl backend sees no device (install pocl-opencl-icd): " << r.err;
  }
  return true;
}

TEST(OpenclRun, TheGemmSweepRunsCheckedOnTheOpenclDevice) {
  TempDir dir;
  auto r = RunTokenmeter({"run", "--local", "--workers", "1", "--backend", "opencl", "--workload", "gemm",
                          "--iterations", "2", "--warmup", "1", "--store", dir.File("results.db"), "--json"},
                         dir.path());
  if (NoDevice(r)) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int gemm = 0;
  for (const auto& row : ParseJsonLines(r.out)) {
    if (Str(row, "kind") != "gemm") continue;
    ++gemm;
    EXPECT_TRUE(row.fields().at("verified").bool_value()) << Str(row, "shape");
    EXPECT_EQ(Num(row, "wrong_elements"), 0) << Str(row, "shape");
    EXPECT_GT(Num(row, "tflops"), 0) << Str(row, "shape");
  }
  EXPECT_EQ(gemm, 7) << r.out;  // every shape of `gemm` v1
}

TEST(OpenclRun, AnAllReduceAcrossTwoRanksIsHostStagedAndChecked) {
  TempDir dir;
  auto r = RunTokenmeter({"run", "--local", "--workers", "2", "--backend", "opencl", "--workload",
                          "collective/all-reduce", "--iterations", "3", "--warmup", "1", "--max-bytes", "1M",
                          "--store", dir.File("results.db")},
                         dir.path());
  if (NoDevice(r)) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("# all_reduce: collective/all-reduce"));
  EXPECT_THAT(r.out, HasSubstr("on 2 ranks"));
  EXPECT_THAT(r.out, HasSubstr("# host-staged: each time includes the copies device -> host -> device"));
  EXPECT_THAT(r.out, HasSubstr("# Out of bounds values : 0 OK"));
  EXPECT_THAT(r.out, HasSubstr("# OK: every result checked"));
}

// The tiny preset's eager step on 2 ranks: CLBlast GEMMs with the plan's
// transposes, the elementwise kernel, and the gradient syncs staged through
// host memory and checked.
TEST(OpenclRun, TheTinyTrainStepRunsOnTwoRanks) {
  TempDir dir;
  auto r = RunTokenmeter({"run", "--local", "--workers", "2", "--backend", "opencl", "--workload",
                          "train-step/tiny/eager", "--iterations", "2", "--warmup", "1", "--store",
                          dir.File("results.db")},
                         dir.path());
  if (NoDevice(r)) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("# train-step/tiny/eager v2 on 2 ranks"));
  EXPECT_THAT(r.out, HasSubstr("gradient sync"));
  EXPECT_THAT(r.out, HasSubstr("# OK: every result checked"));
}

}  // namespace
}  // namespace tokenmeter::testing
