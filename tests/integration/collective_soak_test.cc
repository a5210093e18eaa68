// The collective soak: every collective over the whole default size sweep
// (8 B to 64 MiB, doubling), at 2, 3 and 4 ranks on separate worker
// processes (`run --local`), every element of every call's output checked by
// the workers. It exists because a reduce-scatter that corrupted 2-rank
// results (Gloo's ReduceScatterHalvingDoubling) passed the suite for months:
// the shorter tests ran sizes where it happened to be right, and only the last
// call of each size was checked.
//
// How often it catches that defect: with the old algorithm put back, the
// 2-rank reduce-scatter sweep alone failed 6 runs out of 6 (every run with 4
// to 6 sizes wrong: 131072 B, 524288 B, 2 MiB, 8 MiB, 32 MiB, 64 MiB, up to
// millions of elements), and the 4-rank sweep failed too. So one run per
// world size catches it; 2 ranks, the case that was wrong, runs twice.
//
// It takes about 40 s per world size on an idle 2-core VM (the 64 MiB sizes
// dominate): the sweep is not shortened, since the defect showed at sizes a
// shorter one would skip.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"
#include "workload/figures.h"
#include "workload/spec.h"
#include "workload/sweep.h"

namespace tokenmeter::testing {
namespace {

constexpr v1::CollectiveOp kEveryOp[] = {v1::ALL_REDUCE, v1::ALL_GATHER, v1::REDUCE_SCATTER,
                                         v1::ALL_TO_ALL, v1::BROADCAST,  v1::REDUCE};

struct SoakCase {
  int workers;
  int round;  // repeats of one world size
};

class CollectiveSoak : public ::testing::TestWithParam<SoakCase> {};

TEST_P(CollectiveSoak, EverySizeOfEveryCollectiveIsRightOnEveryCall) {
  const int n = GetParam().workers;
  TempDir dir;
  // `collective` runs five; reduce is its own workload.
  auto r = RunTokenmeter({"run", "--local", "--workers", std::to_string(n), "--workload", "collective",
                          "--workload", "collective/reduce", "--json"},
                         dir.path(), std::chrono::seconds(400));
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;

  std::map<std::string, std::set<int64_t>> sizes_seen;  // collective -> sizes
  int jobs = 0;
  for (const auto& row : ParseJsonLines(r.out)) {
    const std::string kind = Str(row, "kind");
    if (kind == "job") {
      ++jobs;
      EXPECT_TRUE(row.fields().at("passed").bool_value()) << Str(row, "workload");
      continue;
    }
    if (kind != "collective") continue;
    const std::string op = Str(row, "collective");
    const int64_t size = static_cast<int64_t>(Num(row, "size_bytes"));
    EXPECT_EQ(Num(row, "ranks"), n);
    EXPECT_EQ(Num(row, "wrong_elements"), 0) << op << " at " << size << " B on " << n << " ranks";
    EXPECT_TRUE(sizes_seen[op].insert(size).second) << op << " at " << size << " B twice";
  }
  EXPECT_EQ(jobs, 2);

  // No size dropped: exactly the sweep's sizes, per collective.
  auto spec = workload::ResolveWorkload("collective");
  ASSERT_TRUE(spec.ok()) << spec.status();
  for (v1::CollectiveOp op : kEveryOp) {
    std::set<int64_t> expected;
    for (const auto& size : workload::CollectiveSizes(spec->collective(), op, n)) expected.insert(size.size_bytes);
    const std::string name(workload::CollectiveOpName(op));
    EXPECT_EQ(sizes_seen[name], expected) << name << " on " << n << " ranks";
  }
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, CollectiveSoak,
                         ::testing::Values(SoakCase{2, 0}, SoakCase{2, 1}, SoakCase{3, 0}, SoakCase{4, 0}),
                         [](const ::testing::TestParamInfo<SoakCase>& info) {
                           return std::to_string(info.param.workers) + "ranks_run" +
                                  std::to_string(info.param.round);
                         });

}  // namespace
}  // namespace tokenmeter::testing
