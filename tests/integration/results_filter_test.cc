// results' filters on a real store, read directly and through a coordinator
// serving it: device model, finish time, job; CSV and JSON on the listing.
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

TEST(ResultsFilter, DeviceTimeAndJobFromTheStoreAndFromACoordinator) {
  TempDir dir;
  const std::string store = dir.File("results.db");
  for (const char* setup : {"alpha", "beta"}) {
    auto r = RunTokenmeter({"run", "--local", "--workers", "1", "--workload", "gemm", "--iterations", "2", "--warmup",
                            "0", "--setup", setup, "--store", store},
                           dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto list = [&](std::vector<std::string> source, std::vector<std::string> more) {
    std::vector<std::string> args = {"results", "--json"};
    args.insert(args.end(), source.begin(), source.end());
    args.insert(args.end(), more.begin(), more.end());
    auto r = RunTokenmeter(args, dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ParseJsonLines(r.out);
  };
  auto all = list({"--store", store}, {});
  ASSERT_EQ(all.size(), 2u);
  const std::string model = Str(all[0], "device_model");
  const std::string job = Str(all[1], "job_id");
  // A part of the model, in another case, finds both; another device none.
  const std::string part = absl::AsciiStrToUpper(model.substr(0, 5));
  const std::string tomorrow = absl::FormatTime("%Y-%m-%d", absl::Now() + absl::Hours(24), absl::UTCTimeZone());
  const std::string today = absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone());

  CoordinatorProcess coordinator(dir.path(), store);
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  for (const auto& source : std::vector<std::vector<std::string>>{{"--store", store},
                                                                  {"--coordinator", coordinator.address()}}) {
    EXPECT_EQ(list(source, {"--device", part}).size(), 2u) << source[0];
    EXPECT_TRUE(list(source, {"--device", "no such accelerator"}).empty()) << source[0];
    EXPECT_TRUE(list(source, {"--since", tomorrow}).empty()) << source[0];
    EXPECT_EQ(list(source, {"--since", today, "--until", today}).size(), 2u) << source[0];  // the whole day
    EXPECT_TRUE(list(source, {"--until", "2020-01-01T00:00:00Z"}).empty()) << source[0];
    auto one = list(source, {"--job", job});
    ASSERT_FALSE(one.empty()) << source[0];
    for (const auto& row : one) EXPECT_EQ(Str(row, "job_id"), job);
    EXPECT_EQ(list(source, {"--setup", "beta", "--device", part}).size(), 1u) << source[0];
  }

  auto csv = RunTokenmeter({"results", "--store", store, "--csv", "--setup", "alpha"}, dir.path());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const std::vector<std::string> lines = absl::StrSplit(csv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << csv.out;  // header and one row
  EXPECT_THAT(lines[0], HasSubstr("job_id"));

  auto bad = RunTokenmeter({"results", "--store", store, "--since", "yesterday"}, dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--since must be a date (2026-12-04) or an RFC 3339 time"));
  auto backwards = RunTokenmeter({"results", "--store", store, "--since", today, "--until", "2020-01-01"}, dir.path());
  EXPECT_EQ(backwards.exit_code, 2);
  EXPECT_THAT(backwards.err, HasSubstr("--since must be before --until"));
}

}  // namespace
}  // namespace tokenmeter::testing
