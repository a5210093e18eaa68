// `tokenmeter report` as a command: stdout is the path written and nothing
// else, the page replaces --out whole (no temporary file left beside it), a
// path that cannot be written is refused naming --out, an empty store or an
// empty selection writes no file, and a coordinator serves the same page as
// its store file.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/report_page.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// A store holding one small GEMM sweep.
class ReportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.File("S.db");
    const std::string spec = dir_.File("gemm-small.json");
    WriteFile(spec, R"({"name": "gemm-small", "version": 1, "warmup_iterations": 1, "timed_iterations": 2,
        "gemm": {"shapes": [{"name": "sq-64", "m": 64, "n": 64, "k": 64}], "dtypes": ["DTYPE_FP32"]}})");
    auto r = RunTokenmeter({"run", "--local", "--workers", "1", "--spec", spec, "--store", store_}, dir_.path());
    ASSERT_TRUE(r.ok()) << r.err;
  }
  TempDir dir_;
  std::string store_;
};

TEST_F(ReportCommand, PrintsOnlyThePathAndReplacesTheFileWhole) {
  const std::string out_dir = dir_.File("out");
  std::filesystem::create_directory(out_dir);
  const std::string page = out_dir + "/report.html";
  WriteFile(page, "an older page");
  auto r = RunTokenmeter({"report", "--store", store_, "--out", page}, dir_.path());
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out, page + "\n");
  EXPECT_THAT(r.err, HasSubstr("report: wrote 1 result"));
  EXPECT_THAT(ReadFile(page), StartsWith("<!DOCTYPE html>"));
  EXPECT_EQ(FilesIn(out_dir), std::vector<std::string>{"report.html"});  // no temporary file left
  EXPECT_EQ(MarksByChart(ReadFile(page))["gemm-tflops|gemm-small v1 fp32"], 1);
  EXPECT_EQ(std::filesystem::status(page).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);  // readable as any file the user makes (umask 022 here)
}

TEST_F(ReportCommand, RefusesAPathItCannotWriteNamingOut) {
  auto missing = RunTokenmeter({"report", "--store", store_}, dir_.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--out is required"));

  const std::string nowhere = dir_.File("no-such-dir/report.html");
  auto r = RunTokenmeter({"report", "--store", store_, "--out", nowhere}, dir_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--out: cannot write '" + nowhere + "'"));
  EXPECT_EQ(r.out, "");

  auto directory = RunTokenmeter({"report", "--store", store_, "--out", dir_.path()}, dir_.path());
  EXPECT_EQ(directory.exit_code, 1);
  EXPECT_THAT(directory.err, HasSubstr("--out: cannot write a file over directory"));
}

TEST_F(ReportCommand, NoResultsWriteNoFile) {
  const std::string page = dir_.File("none.html");
  auto filtered = RunTokenmeter({"report", "--store", store_, "--out", page, "--setup", "no-such-setup"}, dir_.path());
  EXPECT_EQ(filtered.exit_code, 1);
  EXPECT_THAT(filtered.err, HasSubstr("no stored results of setup 'no-such-setup'"));
  EXPECT_FALSE(std::filesystem::exists(page));

  // A store with no result at all: the one a coordinator makes on start.
  const std::string empty = dir_.File("empty.db");
  {
    CoordinatorProcess coordinator(dir_.path(), empty, {}, "empty-coordinator");
    ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  }
  auto r = RunTokenmeter({"report", "--store", empty, "--out", page}, dir_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no stored results in store " + empty + ": nothing to report"));
  EXPECT_FALSE(std::filesystem::exists(page));
  EXPECT_EQ(r.out, "");
}

TEST_F(ReportCommand, ACoordinatorServesTheSamePageAsItsStore) {
  const std::string from_store = dir_.File("from-store.html"), from_coordinator = dir_.File("from-coordinator.html");
  ASSERT_TRUE(RunTokenmeter({"report", "--store", store_, "--out", from_store}, dir_.path()).ok());
  CoordinatorProcess coordinator(dir_.path(), store_);
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  auto r = RunTokenmeter({"report", "--coordinator", coordinator.address(), "--out", from_coordinator}, dir_.path());
  ASSERT_TRUE(r.ok()) << r.err;
  // The same charts and marks; only the header (source, time) differs.
  const std::string a = ReadFile(from_store), b = ReadFile(from_coordinator);
  EXPECT_EQ(MarksByChart(a), MarksByChart(b));
  EXPECT_EQ(a.substr(a.find("<nav>")), b.substr(b.find("<nav>")));
  EXPECT_THAT(b, HasSubstr("from coordinator " + coordinator.address()));
}

}  // namespace
}  // namespace tokenmeter::testing
