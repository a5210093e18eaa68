// The report page from results built here: one mark per data point in each
// chart (counted against the results' rows), escaping of what users type,
// nothing that loads from elsewhere, and a bounded page for 500 results.
#include "cli/report/report_builder.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/report_page.h"

namespace tokenmeter::cli::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---- Results, built by hand ----

v1::TimingSummary Timing(const std::vector<double>& seconds) {
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  v1::TimingSummary t;
  t.set_min_seconds(sorted.front());
  t.set_max_seconds(sorted.back());
  t.set_median_seconds(sorted[sorted.size() / 2]);
  t.set_p10_seconds(sorted[sorted.size() / 10]);
  t.set_p90_seconds(sorted[sorted.size() * 9 / 10]);
  t.set_iterations(static_cast<int>(seconds.size()));
  return t;
}

// `n` iteration times around `base`, a little spread.
std::vector<double> Times(int n, double base) {
  std::vector<double> s;
  for (int i = 0; i < n; ++i) s.push_back(base * (1 + 0.01 * (i % 7)));
  return s;
}

v1::JobResult Base(const std::string& job, const std::string& setup, int ranks, int64_t finished) {
  v1::JobResult r;
  r.set_job_id(job);
  r.set_setup(setup);
  r.set_device_model("Test CPU");
  r.set_world_size(ranks);
  r.mutable_finished_at()->set_seconds(finished);
  auto* inv = r.add_inventory();
  inv->set_hostname(absl::StrCat("host-of-", setup));
  inv->set_backend("cpu");
  inv->set_setup(setup);
  inv->set_price_per_device_hour(1.5);
  (*inv->mutable_software_versions())["tokenmeter"] = "0.1.0";
  for (int d = 0; d < ranks; ++d) {
    auto* dev = inv->add_devices();
    dev->set_index(d);
    dev->set_model("Test CPU");
  }
  return r;
}

v1::JobResult TrainStep(const std::string& job, const std::string& setup, int ranks, int64_t finished, double tps,
                        double mfu, double cost, int iterations = 10) {
  v1::JobResult r = Base(job, setup, ranks, finished);
  r.mutable_spec()->set_name("train-step/tiny/eager");
  r.mutable_spec()->set_version(2);
  r.mutable_spec()->mutable_train_step()->mutable_model()->set_name("tiny");
  auto* t = r.mutable_train_step();
  t->set_tokens_per_second(tps);
  t->set_mfu(mfu);
  t->set_cost_per_million_tokens_dollars(cost);
  t->set_price_per_device_hour(cost > 0 ? 1.5 : 0);
  for (int i = 0; i < ranks; ++i) {
    auto* rank = r.add_ranks();
    rank->set_rank(i);
    rank->set_worker_id(absl::StrCat("w", i));
    auto seconds = Times(iterations, 0.1 * (1 + i));
    for (double s : seconds) rank->mutable_train_step()->add_iteration_seconds(s);
    *rank->mutable_train_step()->mutable_timing() = Timing(seconds);
  }
  return r;
}

struct GemmRow {
  std::string shape;
  v1::DType dtype;
  double tflops;
};

v1::JobResult Gemm(const std::string& job, const std::string& setup, int ranks, int64_t finished,
                   const std::vector<GemmRow>& rows) {
  v1::JobResult r = Base(job, setup, ranks, finished);
  r.mutable_spec()->set_name("gemm");
  r.mutable_spec()->set_version(1);
  double mamf = 0;
  auto fill = [&](v1::GemmMeasurement* g, const GemmRow& row, double base) {
    g->mutable_shape()->set_name(row.shape);
    g->mutable_shape()->set_m(256);
    g->mutable_shape()->set_n(256);
    g->mutable_shape()->set_k(256);
    g->set_dtype(row.dtype);
    g->set_tflops(row.tflops);
    g->set_verified(true);
    auto seconds = Times(5, base);
    for (double s : seconds) g->add_iteration_seconds(s);
    *g->mutable_timing() = Timing(seconds);
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    fill(r.add_gemm(), rows[i], 0.001 * (i + 1));
    mamf = std::max(mamf, rows[i].tflops);
  }
  r.set_mamf_tflops(mamf);
  for (int k = 0; k < ranks; ++k) {
    auto* rank = r.add_ranks();
    rank->set_rank(k);
    for (size_t i = 0; i < rows.size(); ++i) fill(rank->add_gemm(), rows[i], 0.001 * (i + 1));
  }
  return r;
}

// Sizes 8 B to 512 KiB, times 4: 9 sizes per op.
std::vector<int64_t> Sizes() {
  std::vector<int64_t> sizes;
  for (int64_t s = 8; s <= (1 << 20); s *= 4) sizes.push_back(s);
  return sizes;
}

v1::JobResult Collective(const std::string& job, const std::string& setup, int ranks, int64_t finished,
                         const std::vector<v1::CollectiveOp>& ops, int iterations = 4) {
  v1::JobResult r = Base(job, setup, ranks, finished);
  r.mutable_spec()->set_name("collective");
  r.mutable_spec()->set_version(1);
  auto fill = [&](v1::CollectiveMeasurement* c, v1::CollectiveOp op, int64_t size) {
    c->set_op(op);
    c->set_size_bytes(size);
    c->set_dtype(v1::DTYPE_FP32);
    c->set_busbw_gbps(static_cast<double>(size) / (1 << 20) * ranks);
    c->set_algbw_gbps(static_cast<double>(size) / (1 << 20));
    auto seconds = Times(iterations, 1e-6 * static_cast<double>(size));
    for (double s : seconds) c->add_iteration_seconds(s);
    *c->mutable_timing() = Timing(seconds);
  };
  for (auto op : ops) {
    for (int64_t size : Sizes()) fill(r.add_collective(), op, size);
  }
  for (int k = 0; k < ranks; ++k) {
    auto* rank = r.add_ranks();
    rank->set_rank(k);
    for (auto op : ops) {
      for (int64_t size : Sizes()) fill(rank->add_collective(), op, size);
    }
  }
  return r;
}

// ---- Reading the page back ----

using Chart = testing::ReportChart;
using testing::MarksByChart;

std::vector<Chart> Charts(const std::string& html) { return testing::ReportCharts(html); }
int Count(const std::string& text, const std::string& what) { return testing::CountOf(text, what); }
int Marks(const Chart& c) { return testing::MarksOf(c); }

// The page; with TOKENMETER_REPORT_TEST_DUMP=DIR set, also kept as
// DIR/<test name>.html for a look in a browser.
std::string Build(const std::vector<v1::JobResult>& results, const ReportLimits& limits = {}) {
  ReportOptions options;
  options.source = "store test.db";
  options.generated_at = "2025-01-01 00:00:00 UTC";
  options.tokenmeter_version = "test";
  options.limits = limits;
  std::string html = BuildReport(results, options);
  if (const char* dir = std::getenv("TOKENMETER_REPORT_TEST_DUMP")) {
    std::ofstream(absl::StrCat(dir, "/", ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".html"))
        << html;
  }
  return html;
}

// Results of every kind: train steps on three setups (one with no price and
// no known peak) and at three rank counts on one of them, GEMM sweeps in two
// dtypes, collective sweeps of two ops at two rank counts.
std::vector<v1::JobResult> Mixed() {
  return {
      TrainStep("ts-a2", "setup-a", 2, 100, 1000, 0.40, 0.50),
      TrainStep("ts-a4", "setup-a", 4, 101, 1900, 0.38, 0.52),
      TrainStep("ts-a8", "setup-a", 8, 102, 3600, 0.36, 0.55),  // newest of setup-a
      TrainStep("ts-b2", "setup-b", 2, 103, 1200, 0.45, 0.45),
      TrainStep("ts-c2", "setup-c", 2, 104, 800, 0, 0),  // no price, unknown device
      Gemm("gemm-a", "setup-a", 2, 105,
           {{"s-256", v1::DTYPE_FP32, 1.0}, {"s-512", v1::DTYPE_FP32, 1.5}, {"s-1024", v1::DTYPE_FP32, 1.7},
            {"s-256", v1::DTYPE_BF16, 2.0}, {"s-512", v1::DTYPE_BF16, 3.0}, {"s-1024", v1::DTYPE_BF16, 3.5}}),
      Gemm("gemm-b", "setup-b", 1, 106,
           {{"s-256", v1::DTYPE_FP32, 0.9}, {"s-512", v1::DTYPE_FP32, 1.2}, {"s-2048", v1::DTYPE_FP32, 1.4}}),
      Collective("coll-a2", "setup-a", 2, 107, {v1::ALL_REDUCE, v1::ALL_GATHER}),
      Collective("coll-a4", "setup-a", 4, 108, {v1::ALL_REDUCE, v1::ALL_GATHER}),
      Collective("coll-b2", "setup-b", 2, 109, {v1::ALL_REDUCE}),
  };
}

TEST(ReportBuilder, EveryChartHasOneMarkPerDataPoint) {
  const auto results = Mixed();
  const std::string html = Build(results);
  const auto marks = MarksByChart(html);
  const int sizes = static_cast<int>(Sizes().size());
  // Newest train step per setup: a8, b2, c2; c2 has no cost and no MFU.
  EXPECT_EQ(marks.at("cost-per-million-tokens"), 2);
  EXPECT_EQ(marks.at("tokens-per-second"), 3);
  EXPECT_EQ(marks.at("mfu"), 2);
  // A line per setup and rank count, a mark per size.
  EXPECT_EQ(marks.at("busbw|all_reduce"), 3 * sizes);
  EXPECT_EQ(marks.at("busbw|all_gather"), 2 * sizes);
  // A point per shape of each setup's rows in the dtype.
  EXPECT_EQ(marks.at("gemm-tflops|gemm v1 fp32"), 3 + 3);
  EXPECT_EQ(marks.at("gemm-tflops|gemm v1 bf16"), 3);
  // Train steps of setup-a at 2, 4, 8 ranks; its collectives at 2 and 4 (one
  // series: busbw at the largest size, as compare --scaling reads it).
  EXPECT_EQ(marks.at("scaling|train-step/tiny/eager v2 \u00b7 setup-a"), 3);
  EXPECT_EQ(marks.at("scaling|collective v1 \u00b7 setup-a"), 2);
  EXPECT_EQ(marks.count("scaling|gemm v1 \u00b7 setup-a"), 0u);  // one rank count only
  // Every result's ranks, every iteration (all under the caps).
  int timing_marks = 0;
  for (const auto& r : results) {
    const int per_rank = r.has_train_step() ? 10 : r.gemm_size() ? 5 : 4;
    timing_marks += r.world_size() * per_rank;
    EXPECT_EQ(marks.count("rank-timings|" + r.job_id()), 1u) << r.job_id();
  }
  EXPECT_EQ(marks.at("rank-timings"), timing_marks);
}

TEST(ReportBuilder, ScalingLabelsCarryTheEfficiencyAgainstTheSmallestRankCount) {
  const std::string html = Build(Mixed());
  for (const auto& c : Charts(html)) {
    if (c.name != "scaling" || !absl::StrContains(c.key, "train-step")) continue;
    // tokens/s 1000 at 2 ranks, 1900 at 4, 3600 at 8: per rank 500, 475, 450.
    EXPECT_THAT(c.svg, HasSubstr("1000, eff 100%"));
    EXPECT_THAT(c.svg, HasSubstr("1900, eff 95%"));
    EXPECT_THAT(c.svg, HasSubstr("3600, eff 90%"));
    return;
  }
  FAIL() << "no train-step scaling chart";
}

TEST(ReportBuilder, ACollectiveFromOneRankHasNoScalingEfficiency) {
  auto one = Collective("coll-1", "solo", 1, 1, {v1::ALL_REDUCE});
  for (auto& c : *one.mutable_collective()) c.set_busbw_gbps(0);  // nothing crosses a bus
  const std::string html = Build({one, Collective("coll-2", "solo", 2, 2, {v1::ALL_REDUCE})});
  const auto charts = Charts(html);
  auto scaling = std::find_if(charts.begin(), charts.end(), [](const Chart& c) { return c.name == "scaling"; });
  ASSERT_NE(scaling, charts.end());
  EXPECT_EQ(Marks(*scaling), 2);
  EXPECT_THAT(scaling->svg, HasSubstr("0, eff \u2013"));
  EXPECT_THAT(scaling->svg, HasSubstr("1, eff \u2013"));  // 512 KiB at 2 ranks: 0.5 × 2 GB/s
}

TEST(ReportBuilder, MamfIsALineInTheChartOfItsDtype) {
  const std::string html = Build(Mixed());
  for (const auto& c : Charts(html)) {
    if (c.key == "gemm v1 bf16") {
      EXPECT_THAT(c.svg, HasSubstr("MAMF setup-a: 3.5 TFLOP/s"));
    }
    if (c.key == "gemm v1 fp32") {
      EXPECT_THAT(c.svg, HasSubstr("MAMF setup-b: 1.4 TFLOP/s"));
      EXPECT_THAT(c.svg, Not(HasSubstr("MAMF setup-a")));
    }
  }
}

TEST(ReportBuilder, HeadlineRowsAreTheNewestPerWorkloadAndSetupWithStoredFigures) {
  const std::string html = Build(Mixed());
  const size_t table = html.find("<table class=\"headline\">");
  ASSERT_NE(table, std::string::npos);
  const std::string headline = html.substr(table, html.find("</table>", table) - table);
  // train-step × 3 setups, gemm × 2, collective × 2.
  EXPECT_EQ(Count(headline, "<tr>") - 1, 7);
  EXPECT_THAT(headline, HasSubstr("<td>ts-a8</td>"));
  EXPECT_THAT(headline, Not(HasSubstr("<td>ts-a2</td>")));
  EXPECT_THAT(headline, HasSubstr("<td>3600</td><td>36.00%</td><td>$0.55</td>"));
  EXPECT_THAT(headline, HasSubstr("<td>3.5</td>"));  // gemm-a's stored MAMF
  // coll-a4 at its largest size, 512 KiB: busbw as stored (0.5 × 4 ranks).
  EXPECT_THAT(headline, HasSubstr("all_reduce @ 512K: 2 GB/s; all_gather @ 512K: 2 GB/s"));
}

// A stored diagnosis gets the Fleet health section: its verdict and a row
// per finding, escaped; without one the page has no such section.
TEST(ReportBuilder, AStoredDiagnosisHasItsFleetHealthSection) {
  EXPECT_THAT(Build(Mixed()), Not(HasSubstr("id=\"health\"")));
  auto results = Mixed();
  v1::JobResult check = Base("fc-1", "setup-a", 3, 9000);
  check.mutable_spec()->set_name("fleet-check");
  check.mutable_spec()->set_version(1);
  auto* h = check.mutable_health();
  h->set_workers(3);
  h->set_links(3);
  h->set_defective_workers(1);
  h->mutable_baseline()->set_gemm_tflops(0.1);
  auto* f = h->add_findings();
  f->set_subject("device 0 of node w-<b>");
  f->set_metric("gemm_tflops");
  f->set_value(0.04);
  f->set_baseline(0.1);
  f->set_deviation(-0.6);
  f->set_rule("gemm_max_deficit 0.05");
  results.push_back(check);
  const std::string html = Build(results);
  const size_t section = html.find("<section id=\"health\">");
  ASSERT_NE(section, std::string::npos);
  const std::string health = html.substr(section, html.find("</section>", section) - section);
  EXPECT_THAT(health, HasSubstr("DEFECTIVE: 2 of 3 workers and 3 of 3 links healthy (fc-1"));
  EXPECT_THAT(health, HasSubstr("device 0 of node w-&lt;b&gt;"));
  EXPECT_THAT(health, HasSubstr("-60.0%"));
  EXPECT_THAT(html, HasSubstr("<a href=\"#health\">Fleet health</a>"));
}

TEST(ReportBuilder, TextFromUsersIsEscaped) {
  const std::string evil = "<script>alert(1)</script>";
  auto results = Mixed();
  for (auto& r : results) {
    if (r.setup() == "setup-b") {
      r.set_setup(evil);
      r.mutable_inventory(0)->set_hostname("host\" onmouseover=\"x&y");
    }
  }
  const std::string html = Build(results);
  EXPECT_THAT(absl::AsciiStrToLower(html), Not(HasSubstr("<script")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("host&quot; onmouseover=&quot;x&amp;y"));
  EXPECT_THAT(html, Not(HasSubstr("onmouseover=\"")));
}

TEST(ReportBuilder, NothingLoadsFromElsewhere) {
  const std::string html = Build(Mixed());
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(absl::AsciiStrToLower(html), Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr(" src=")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  // Links only within the page, or the empty data: icon.
  static const std::regex kHref(R"re(href="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), kHref); it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    EXPECT_TRUE(target.rfind("#", 0) == 0 || target == "data:,") << target;
  }
  EXPECT_THAT(html, HasSubstr("Content-Security-Policy\" content=\"default-src 'none'"));
}

// Every <svg> and <section> closed, every mark with its hover text.
void ExpectWellFormed(const std::string& html) {
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(absl::EndsWith(html, "</html>\n"));
  EXPECT_EQ(Count(html, "<svg "), Count(html, "</svg>"));
  EXPECT_EQ(Count(html, "<section "), Count(html, "</section>"));
  static const std::regex kTitledMark(R"re(class="mark"[^>]*><title>[^<]+</title>)re");
  for (const auto& c : Charts(html)) {
    const auto titled = std::distance(std::sregex_iterator(c.svg.begin(), c.svg.end(), kTitledMark),
                                      std::sregex_iterator());
    EXPECT_EQ(titled, Marks(c)) << c.name << " " << c.key;
  }
}

TEST(ReportBuilder, OneResultMakesAValidPage) {
  const std::string html = Build({TrainStep("only", "solo", 1, 1, 500, 0.5, 1.0)});
  ExpectWellFormed(html);
  const auto marks = MarksByChart(html);
  EXPECT_EQ(marks.at("cost-per-million-tokens"), 1);
  EXPECT_EQ(marks.at("rank-timings"), 10);
  EXPECT_EQ(marks.count("busbw"), 0u);    // no data, no chart
  EXPECT_EQ(marks.count("scaling"), 0u);
  EXPECT_THAT(html, Not(HasSubstr("id=\"busbw\"")));
}

TEST(ReportBuilder, NoResultsMakeAPageThatSaysSo) {
  const std::string html = Build({});
  ExpectWellFormed(html);
  EXPECT_THAT(html, HasSubstr("No results."));
}

TEST(ReportBuilder, BigJobsAreCappedAndTheCaptionSaysWhat) {
  // 100 ranks of 100 iterations; rank 57 is the slow one.
  auto r = TrainStep("big", "setup-a", 100, 1, 1000, 0.4, 0.5, /*iterations=*/100);
  auto* slow = r.mutable_ranks(57)->mutable_train_step();
  slow->clear_iteration_seconds();
  for (double s : Times(100, 1000.0)) slow->add_iteration_seconds(s);
  *slow->mutable_timing() = Timing(Times(100, 1000.0));
  const ReportLimits limits;
  const std::string html = Build({r}, limits);
  const auto marks = MarksByChart(html);
  EXPECT_EQ(marks.at("rank-timings"), limits.max_ranks_per_timing_chart * limits.max_points_per_rank);
  EXPECT_THAT(html, HasSubstr("Showing 32 of 100 ranks: the slowest and the fastest by median."));
  EXPECT_THAT(html, HasSubstr("Drawn: 960 of these ranks&#39; 3200 iterations"));
  EXPECT_THAT(html, HasSubstr("rank 57 (worker w57): median 1030 s"));
}

// 500 results of every kind on 10 setups at 1 to 64 ranks, of 50
// iterations each (so the rank-timings caps are reached): the page stays
// under kMaxBytes (docs/report.md quotes it).
TEST(ReportBuilder, FiveHundredResultsMakeABoundedPage) {
  constexpr size_t kMaxBytes = 3 << 20;
  std::vector<v1::JobResult> results;
  for (int i = 0; i < 500; ++i) {
    const std::string setup = absl::StrCat("setup-", i % 10);
    const int ranks = 1 << (i / 10 % 7);
    const std::string job = absl::StrCat("job-", i);
    switch (i % 3) {
      case 0: results.push_back(TrainStep(job, setup, ranks, i, 100.0 * ranks, 0.4, 0.5, 50)); break;
      case 1:
        results.push_back(Gemm(job, setup, ranks, i, {{"s-256", v1::DTYPE_FP32, 1}, {"s-512", v1::DTYPE_FP32, 2}}));
        break;
      default: results.push_back(Collective(job, setup, ranks, i, {v1::ALL_REDUCE, v1::ALL_GATHER}, 50)); break;
    }
  }
  const ReportLimits limits;
  const std::string html = Build(results, limits);
  ExpectWellFormed(html);
  EXPECT_LT(html.size(), kMaxBytes);
  std::cout << "500 results: " << html.size() / 1024 << " KiB\n";
  const auto marks = MarksByChart(html);
  int timing_charts = 0;
  for (const auto& c : Charts(html)) timing_charts += c.name == "rank-timings";
  EXPECT_EQ(timing_charts, limits.max_timing_charts);
  EXPECT_THAT(html, HasSubstr("Drawn for the newest 20 of 500 results"));
  EXPECT_LE(marks.at("busbw|all_reduce"), limits.max_lines_per_chart * static_cast<int>(Sizes().size()));
}

TEST(ReportBuilder, ResultsInAnyOrderMakeTheSamePage) {
  auto results = Mixed();
  const std::string forward = Build(results);
  std::reverse(results.begin(), results.end());
  EXPECT_EQ(Build(results), forward);
}

}  // namespace
}  // namespace tokenmeter::cli::report
