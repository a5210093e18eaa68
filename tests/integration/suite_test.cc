// suite --local as a new user runs it on this machine: every standard
// workload that fits, one store, a headline table, and a report that opens in
// headless Chromium with a mark per data point.
#include <cstdlib>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/chromium.h"
#include "tests/support/report_page.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

TEST(Suite, LocalQuickRunsEveryWorkloadThatFitsAndEndsInAReport) {
  TempDir dir;
  const std::string store = dir.File("suite.db"), page = dir.File("suite.html");
  auto r = RunTokenmeter({"suite", "--local", "--quick", "--workers", "2", "--store", store, "--out", page},
                         dir.path(), std::chrono::seconds(300));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The headline table: one row per workload, on stdout.
  for (const char* row : {"gemm ", "collective/all-reduce ", "collective/all-gather ", "collective/reduce-scatter ",
                          "collective/all-to-all ", "collective/broadcast ", "collective/reduce ",
                          "train-step/tiny/eager ", "train-step/tiny-moe/eager "}) {
    EXPECT_THAT(r.out, HasSubstr(std::string("  ") + row)) << row;
  }
  EXPECT_THAT(r.out, HasSubstr("MAMF TFLOP/s"));
  EXPECT_THAT(r.out, HasSubstr("busbw GB/s @max"));
  EXPECT_THAT(r.out, HasSubstr("tokens/s"));
  EXPECT_THAT(r.out, HasSubstr(page));
  // The fleet check ran first, and found the two local workers healthy.
  EXPECT_THAT(r.out, HasSubstr("  fleet-check "));
  EXPECT_THAT(r.out, HasSubstr("HEALTHY: 2 of 2 workers and 1 of 1 links healthy"));
  // Presets too big for this host are left out, and said so.
  EXPECT_THAT(r.err, HasSubstr("leaving out train-step/llama3-8b"));
  // One store holds them all.
  int jobs = 0;
  for (const auto& row : ParseJsonLines(RunTokenmeter({"results", "--store", store, "--json"}, dir.path()).out)) {
    jobs += Str(row, "kind") == "job";
  }
  // The 9 workloads, the fleet check's verdict and its 3 check jobs (a GEMM
  // per worker, the one pair).
  EXPECT_EQ(jobs, 13);
  // The report: what the page holds, the browser draws.
  const std::string html = ReadFile(page);
  const auto marks = MarksByChart(html);
  EXPECT_GT(marks.count("busbw") ? marks.at("busbw") : 0, 0);
  EXPECT_GT(marks.count("gemm-tflops") ? marks.at("gemm-tflops") : 0, 0);
  EXPECT_THAT(html, HasSubstr("<section id=\"health\">"));
  if (ChromiumPath().empty()) {
    if (std::getenv("CI") != nullptr) FAIL() << kInstallHint;
    GTEST_SKIP() << "the report was written; not opened: " << kInstallHint;
  }
  const ChromiumPage loaded = LoadInChromium(page, dir, "suite");
  ASSERT_TRUE(loaded.error.empty()) << loaded.error;
  EXPECT_EQ(MarksByChart(loaded.dom), marks);
  EXPECT_TRUE(loaded.console.empty()) << loaded.console.front();
  EXPECT_TRUE(loaded.page_requests.empty()) << *loaded.page_requests.begin();
}

}  // namespace
}  // namespace tokenmeter::testing
