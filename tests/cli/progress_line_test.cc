// The progress line's text: entry and iteration counts, the previous entry's
// median, and an ETA from the fraction done.
#include "cli/progress_line.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenmeter::cli {
namespace {

TEST(ProgressLine, DescribesEntryIterationMedianAndEta) {
  v1::JobProgress p;
  p.set_entry("gemm square-2048 fp32");
  p.set_entry_index(3);
  p.set_entries(4);
  p.set_iterations(10);
  p.set_iterations_begun(5);
  p.set_last_median_seconds(0.0333);
  p.set_elapsed_seconds(25);
  // Done: 2 entries and half of the third = 2.5 / 4; ETA 25 × 1.5 / 2.5 = 15 s.
  EXPECT_EQ(DescribeProgress(p),
            "gemm square-2048 fp32: entry 3/4, iteration 5/10, previous entry's median 33.3 ms, 25s elapsed, ETA ~15s");
  p.set_iterations_begun(0);  // a backend that does not count: no iteration, ETA from entries
  EXPECT_EQ(DescribeProgress(p), "gemm square-2048 fp32: entry 3/4, previous entry's median 33.3 ms, 25s elapsed, ETA ~25s");
  p.set_entry_index(1);
  p.clear_last_median_seconds();
  EXPECT_EQ(DescribeProgress(p), "gemm square-2048 fp32: entry 1/4, 25s elapsed");  // nothing done: no ETA
}

TEST(ProgressLine, HumanSeconds) {
  EXPECT_EQ(HumanSeconds(2.5), "2.5 s");
  EXPECT_EQ(HumanSeconds(0.00123), "1.23 ms");
  EXPECT_EQ(HumanSeconds(0.000456), "456 us");
}

}  // namespace
}  // namespace tokenmeter::cli
