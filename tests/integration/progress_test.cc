// run's progress line, seen as a user sees it: under a terminal (util-linux
// `script` gives the run a pseudo-terminal) one line redrawn in place on
// stderr; through a pipe plain timestamped log lines, no control characters;
// and on stdout nothing but the results either way.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Long enough for several beats: 7 shapes of 12 iterations each.
const std::vector<std::string> kRun = {"run", "--local", "--workers", "1", "--workload", "gemm",
                                       "--iterations", "10", "--warmup", "2"};

TEST(Progress, RedrawnInPlaceOnATerminal) {
  TempDir dir;
  std::string command = TOKENMETER_BINARY;
  for (const auto& a : kRun) absl::StrAppend(&command, " ", a);
  // stdout to a file, stderr to the pseudo-terminal script records.
  const std::string typescript = dir.File("typescript");
  auto r = RunCommand({"script", "-qec", command + " > " + dir.File("stdout"), typescript}, dir.path(),
                      std::chrono::seconds(180));
  if (r.exit_code == 127) GTEST_SKIP() << "util-linux script(1) is not installed";
  ASSERT_EQ(r.exit_code, 0) << r.err << ReadFile(typescript);
  const std::string tty = ReadFile(typescript);
  EXPECT_THAT(tty, HasSubstr("\r\033[Kjob job-"));  // carriage return, erase line, the line
  EXPECT_THAT(tty, HasSubstr(": entry "));
  EXPECT_THAT(tty, HasSubstr(", iteration "));
  EXPECT_THAT(tty, HasSubstr(" elapsed"));
  const std::string out = ReadFile(dir.File("stdout"));
  EXPECT_THAT(out, HasSubstr("TFLOP/s"));
  EXPECT_THAT(out, Not(HasSubstr(": entry ")));
}

TEST(Progress, PlainLogLinesThroughAPipe) {
  TempDir dir;
  auto r = RunTokenmeter(kRun, dir.path(), std::chrono::seconds(180));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("\r")));
  EXPECT_THAT(r.err, Not(HasSubstr("\033[")));
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
    if (line.find(": entry ") == absl::string_view::npos) continue;
    ++lines;
    // "22:07:29.792 run: job job-…: gemm …: entry 5/7, …"
    EXPECT_THAT(std::string(line), ::testing::MatchesRegex("[0-9:.]+ run: job job-.*: gemm .*: entry [0-9]/7, .*"));
  }
  EXPECT_GE(lines, 1) << r.err;
  EXPECT_LE(lines, 7 + 1) << r.err;  // one per entry (and one per 30 s): not one per poll
  EXPECT_THAT(r.out, Not(HasSubstr(": entry ")));
}

}  // namespace
}  // namespace tokenmeter::testing
