// README's main job, small: `run --local` starts a coordinator and 2 worker
// processes, runs a GEMM sweep and an all-reduce sweep across 2 ranks, prints
// them, stores them, and stops everything.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

TEST(LocalRun, GemmAndAllReduceAcrossTwoWorkerProcessesAreStored) {
  TempDir dir;
  const std::string store = dir.File("results.db");
  auto r = RunTokenmeter({"run", "--local", "--workers", "2", "--workload", "gemm", "--workload",
                          "collective/all-reduce", "--iterations", "3", "--warmup", "1", "--max-bytes", "1M",
                          "--store", store, "--json"},
                         dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = ParseJsonLines(r.out);
  int gemm = 0, collective = 0, jobs = 0;
  for (const auto& row : rows) {
    EXPECT_EQ(Num(row, "schema"), 1);
    EXPECT_EQ(Num(row, "ranks"), 2);
    const std::string kind = Str(row, "kind");
    if (kind == "gemm") {
      ++gemm;
      EXPECT_GT(Num(row, "tflops"), 0);
      EXPECT_TRUE(row.fields().at("verified").bool_value()) << Str(row, "shape");
      // TFLOP/s follows the definition from the reported median.
      const double flops = 2 * Num(row, "m") * Num(row, "n") * Num(row, "k");
      EXPECT_NEAR(Num(row, "tflops"), flops / Num(row, "step_seconds_median") / 1e12, 1e-9 * Num(row, "tflops"));
    } else if (kind == "collective") {
      ++collective;
      EXPECT_EQ(Str(row, "collective"), "all_reduce");
      EXPECT_EQ(Num(row, "wrong_elements"), 0);
      const double algbw = Num(row, "size_bytes") / Num(row, "time_seconds_median") / 1e9;
      EXPECT_NEAR(Num(row, "algbw_gbps"), algbw, 1e-9 * algbw);
      EXPECT_NEAR(Num(row, "busbw_gbps"), algbw * 2 * (2 - 1) / 2.0, 1e-9 * algbw);
    } else if (kind == "job") {
      ++jobs;
      EXPECT_TRUE(row.fields().at("passed").bool_value());
    }
  }
  EXPECT_EQ(gemm, 7);           // the gemm workload's 7 shapes in fp32
  EXPECT_EQ(collective, 18);    // 8 B .. 1 MiB, doubling
  EXPECT_EQ(jobs, 2);
  EXPECT_THAT(r.err, HasSubstr("local coordinator on 127.0.0.1:"));

  // The results outlive the run, readable straight from the store file.
  auto stored = RunTokenmeter({"results", "--store", store, "--json"}, dir.path());
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  auto summaries = ParseJsonLines(stored.out);
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_EQ(Str(summaries[0], "workload"), "collective/all-reduce");
  EXPECT_EQ(Str(summaries[1], "workload"), "gemm");
  EXPECT_GT(Num(summaries[1], "mamf_tflops"), 0);
}

TEST(LocalRun, TablesFollowNcclTestsLayout) {
  TempDir dir;
  auto r = RunTokenmeter({"run", "--local", "--workers", "2", "--workload", "collective/all-reduce", "--iterations",
                          "2", "--warmup", "1", "--max-bytes", "64K"},
                         dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("algbw"));
  EXPECT_THAT(r.out, HasSubstr("busbw"));
  EXPECT_THAT(r.out, HasSubstr("#wrong"));
  EXPECT_THAT(r.out, HasSubstr("# Avg bus bandwidth"));
  EXPECT_THAT(r.out, HasSubstr("# Out of bounds values : 0 OK"));
  EXPECT_THAT(r.out, HasSubstr("flat fabric"));
}

}  // namespace
}  // namespace tokenmeter::testing
