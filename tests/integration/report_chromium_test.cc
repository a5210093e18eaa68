// `tokenmeter report` in a real browser: a store made by real `run --local`
// jobs (a small GEMM sweep, an all-reduce sweep, train-step/tiny at 1 rank
// and at 2), its page written by the real binary and loaded in headless
// Chromium, which must (a) render one SVG mark per data point of the store's
// results, (b) log no console message, (c) make no request for the page, and
// (d) take a screenshot, kept as a test artefact. A negative control proves
// (b) and (c) can fail: a page with a script error and an outside image is
// caught by both.
//
// Chromium is Debian's `chromium` package (scripts/install-deps.sh installs
// it). Without it the test fails where CI is set, and is skipped elsewhere.
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/chromium.h"
#include "tests/support/report_page.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::IsEmpty;

// The marks the page should have, from the store as `results` prints it.
struct Expected {
  std::map<std::string, int> marks;  // as MarksByChart keys them
  std::vector<std::string> job_ids;
};

Expected FromStore(const std::string& store, const std::string& dir) {
  Expected e;
  auto summaries = RunTokenmeter({"results", "--store", store, "--json"}, dir);
  auto detail = RunTokenmeter({"results", "--store", store, "--detail", "--json"}, dir);
  EXPECT_TRUE(summaries.ok() && detail.ok()) << summaries.err << detail.err;
  // Newest first, as `results` lists them: the first of a workload × setup is
  // its newest, and the first with an op's rows on a setup × rank count
  // draws that busbw line.
  std::set<std::string> seen_workload_setup;
  std::map<std::string, std::string> busbw_line_job;  // op|setup|ranks -> job
  std::map<std::string, std::set<double>> train_step_ranks;  // workload · setup -> rank counts
  const auto rows = ParseJsonLines(detail.out);
  for (const auto& s : ParseJsonLines(summaries.out)) {
    const std::string job = Str(s, "job_id"), workload = Str(s, "workload"), setup = Str(s, "setup");
    const std::string label = absl::StrCat(workload, " v", Num(s, "workload_version"));
    e.job_ids.push_back(job);
    const bool newest = seen_workload_setup.insert(label + "|" + setup).second;
    if (absl::StartsWith(workload, "train-step/")) {
      train_step_ranks[absl::StrCat(label, " \u00b7 ", setup)].insert(Num(s, "ranks"));
      for (const auto& row : rows) {
        if (Str(row, "job_id") != job || Str(row, "kind") != "job" || !newest) continue;
        e.marks["tokens-per-second"] += Num(row, "tokens_per_second") > 0;
        e.marks["mfu"] += Num(row, "mfu") > 0;
        e.marks["cost-per-million-tokens"] += Num(row, "cost_per_million_tokens_dollars") > 0;
      }
    }
    for (const auto& row : rows) {
      if (Str(row, "job_id") != job) continue;
      if (Str(row, "kind") == "gemm" && newest) {
        ++e.marks[absl::StrCat("gemm-tflops|", label, " ", Str(row, "dtype"))];
      }
      if (Str(row, "kind") != "collective") continue;
      const std::string op = Str(row, "collective");
      if (busbw_line_job.try_emplace(absl::StrCat(op, "|", setup, "|", Num(s, "ranks")), job).first->second == job) {
        ++e.marks["busbw|" + op];
      }
    }
    // Every rank's every iteration of the item drawn; each item has as many.
    auto raw = RunTokenmeter({"results", "--store", store, "--job", job, "--iterations", "--json"}, dir);
    std::set<std::string> items;
    int iterations = 0;
    for (const auto& row : ParseJsonLines(raw.out)) {
      items.insert(Str(row, "item"));
      ++iterations;
    }
    if (!items.empty()) e.marks["rank-timings|" + job] = iterations / static_cast<int>(items.size());
  }
  for (const auto& [key, ranks] : train_step_ranks) {
    if (ranks.size() > 1) e.marks["scaling|" + key] = static_cast<int>(ranks.size());
  }
  return e;
}

// The store and its page, made once for every test of the suite.
struct Fixture {
  TempDir dir;
  std::string store, page, error;
  Expected expected;
};

const Fixture& Made() {
  static const std::unique_ptr<Fixture> made = [] {
    auto f = std::make_unique<Fixture>();
    f->store = f->dir.File("S.db");
    const std::string gemm_spec = f->dir.File("gemm-small.json");
    WriteFile(gemm_spec, R"({"name": "gemm-small", "version": 1, "warmup_iterations": 1, "timed_iterations": 3,
        "gemm": {"shapes": [{"name": "sq-64", "m": 64, "n": 64, "k": 64},
                            {"name": "sq-128", "m": 128, "n": 128, "k": 128},
                            {"name": "tall-256x64x128", "m": 256, "n": 64, "k": 128}],
                 "dtypes": ["DTYPE_FP32"]}})");
    const std::vector<std::vector<std::string>> runs = {
        {"--spec", gemm_spec},
        {"--workload", "collective/all-reduce", "--max-bytes", "64K", "--iterations", "2", "--warmup", "1"},
        {"--workload", "train-step/tiny", "--iterations", "2", "--warmup", "1", "--ranks", "1"},
        {"--workload", "train-step/tiny", "--iterations", "2", "--warmup", "1"},
    };
    for (const auto& run : runs) {
      std::vector<std::string> args = {"run", "--local", "--workers", "2", "--price-per-device-hour", "1.5",
                                       "--store", f->store};
      args.insert(args.end(), run.begin(), run.end());
      auto r = RunTokenmeter(args, f->dir.path());
      if (!r.ok()) {
        f->error = absl::StrCat("run ", absl::StrJoin(run, " "), " exited ", r.exit_code, ":\n", Tail(r.err));
        return f;
      }
    }
    f->page = f->dir.File("r.html");
    auto report = RunTokenmeter({"report", "--store", f->store, "--out", f->page}, f->dir.path());
    if (!report.ok() || report.out != f->page + "\n") {
      f->error = absl::StrCat("report exited ", report.exit_code, ", stdout '", report.out, "':\n", Tail(report.err));
      return f;
    }
    f->expected = FromStore(f->store, f->dir.path());
    return f;
  }();
  return *made;
}

const ChromiumPage& LoadedReport() {
  static const ChromiumPage* loaded = new ChromiumPage(LoadInChromium(Made().page, Made().dir, "report"));
  return *loaded;
}

class ReportInChromium : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ChromiumPath().empty()) return;
    const char* ci = std::getenv("CI");
    if (ci != nullptr && *ci != '\0') FAIL() << kInstallHint;
    GTEST_SKIP() << "skipped: " << kInstallHint;
  }
};

TEST_F(ReportInChromium, RendersOneMarkPerDataPointOfTheStore) {
  ASSERT_THAT(Made().error, IsEmpty());
  const ChromiumPage& loaded = LoadedReport();
  ASSERT_THAT(loaded.error, IsEmpty());
  const auto rendered = MarksByChart(loaded.dom);
  const auto& expected = Made().expected;
  // Every result of the store has its timing chart, and each kind of chart
  // the results call for is there.
  ASSERT_EQ(expected.job_ids.size(), 4u);
  for (const char* kind : {"cost-per-million-tokens", "tokens-per-second", "mfu", "busbw", "gemm-tflops", "scaling",
                           "rank-timings"}) {
    EXPECT_GT(rendered.count(kind), 0u) << kind;
  }
  for (const auto& [chart, marks] : expected.marks) {
    auto it = rendered.find(chart);
    EXPECT_EQ(it == rendered.end() ? 0 : it->second, marks) << chart;
    std::cout << "  " << chart << ": " << marks << " marks\n";
  }
  // Nothing drawn that the store does not call for.
  for (const auto& [chart, marks] : rendered) {
    if (chart.find('|') == std::string::npos) continue;
    if (expected.marks.count(chart)) continue;
    const std::string kind = chart.substr(0, chart.find('|'));
    // The bar charts have no key: their "kind|" entries are their totals.
    if (chart == kind + "|") {
      EXPECT_EQ(marks, expected.marks.count(kind) ? expected.marks.at(kind) : 0) << chart;
    } else {
      ADD_FAILURE() << "unexpected chart " << chart << " with " << marks << " marks";
    }
  }
}

TEST_F(ReportInChromium, LogsNoConsoleMessage) {
  ASSERT_THAT(Made().error, IsEmpty());
  const ChromiumPage& loaded = LoadedReport();
  ASSERT_THAT(loaded.error, IsEmpty());
  EXPECT_THAT(loaded.console, IsEmpty());
}

TEST_F(ReportInChromium, RequestsNothingBeyondTheFile) {
  ASSERT_THAT(Made().error, IsEmpty());
  const ChromiumPage& loaded = LoadedReport();
  ASSERT_THAT(loaded.error, IsEmpty());
  for (const auto& url : loaded.page_requests) {
    EXPECT_EQ(url, "file://" + Made().page) << "the page requested " << url;
  }
  std::set<std::string> browser;
  for (const auto& url : loaded.browser_requests) browser.insert(WithoutQuery(url));
  std::cout << "  requests for the page: " << loaded.page_requests.size() << "; the browser's own (not the page's): "
            << (browser.empty() ? "none" : absl::StrJoin(browser, ", ")) << "\n";
}

TEST_F(ReportInChromium, TheChecksCatchAPageThatFailsAndLoadsFromElsewhere) {
  TempDir dir;
  const std::string page = dir.File("bad.html");
  WriteFile(page, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>bad</title></head><body>"
                  "<img src=\"http://127.0.0.1:9/outside.png\"><script>not_defined();</script></body></html>");
  const ChromiumPage loaded = LoadInChromium(page, dir, "bad");
  ASSERT_THAT(loaded.error, IsEmpty());
  EXPECT_EQ(loaded.console.size(), 1u) << absl::StrJoin(loaded.console, "\n");
  EXPECT_EQ(loaded.page_requests, std::set<std::string>{"http://127.0.0.1:9/outside.png"});
}

TEST_F(ReportInChromium, ScreenshotIsKeptAsAnArtefact) {
  ASSERT_THAT(Made().error, IsEmpty());
  const std::string shot = Made().dir.File("report.png");
  auto argv = ChromiumArgs(Made().dir.File("screenshot-profile"));
  argv.insert(argv.end(), {absl::StrCat("--screenshot=", shot), "--window-size=1280,2400", "--hide-scrollbars",
                           absl::StrCat("file://", Made().page)});
  auto r = RunCommand(argv, Made().dir.path(), std::chrono::seconds(60));
  ASSERT_TRUE(r.ok()) << r.exit_code << "\n" << Tail(r.err);
  std::ifstream png(shot, std::ios::binary);
  char magic[8] = {};
  png.read(magic, sizeof(magic));
  ASSERT_EQ(std::string(magic, 8), "\x89PNG\r\n\x1a\n") << shot;
  std::error_code ec;
  std::filesystem::create_directories(TOKENMETER_ARTIFACT_DIR, ec);
  const std::string kept = absl::StrCat(TOKENMETER_ARTIFACT_DIR, "/report.png");
  std::filesystem::copy_file(shot, kept, std::filesystem::copy_options::overwrite_existing, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::filesystem::copy_file(Made().page, absl::StrCat(TOKENMETER_ARTIFACT_DIR, "/report.html"),
                             std::filesystem::copy_options::overwrite_existing, ec);
  std::cout << "screenshot: " << kept << " (" << std::filesystem::file_size(kept) << " bytes)\n";
}

}  // namespace
}  // namespace tokenmeter::testing
