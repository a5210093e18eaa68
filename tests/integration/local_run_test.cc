// README's main job, small: `run --local` starts a coordinator and 2 worker
// processes, runs a GEMM sweep and an all-reduce sweep across 2 ranks, prints
// them, stores them, and stops everything.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/fake_powercap.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

// The whitespace-separated cells of the table's data rows (those starting
// with two spaces; '#' rows are headers and summaries).
std::vector<std::vector<std::string>> DataRows(const std::string& table) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  ", 0) != 0) continue;
    std::istringstream cells(line);
    std::vector<std::string> row;
    for (std::string cell; cells >> cell;) row.push_back(cell);
    rows.push_back(row);
  }
  return rows;
}

// The number after `label` on its line ("# Avg bus bandwidth    : 1.234 GB/s").
double NumberAfter(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no '" << label << "' in\n" << text;
    return -1;
  }
  size_t i = at + label.size();
  while (i < text.size() && (text[i] == ' ' || text[i] == ':' || text[i] == '$')) ++i;
  return std::strtod(text.c_str() + i, nullptr);
}

TEST(LocalRun, GemmAndAllReduceAcrossTwoWorkerProcessesAreStored) {
  TempDir dir;
  const std::string store = dir.File("results.db");
  auto r = RunTokenmeter({"run", "--local", "--workers", "2", "--workload", "gemm", "--workload",
                          "collective/all-reduce", "--iterations", "3", "--warmup", "1", "--max-bytes", "1M",
                          "--store", store, "--json"},
                         dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Each line's keys in the order docs/architecture.md lists for its record
  // type ("JSON Lines records"), schema first.
  const std::vector<std::string> job = {"schema", "job_id", "workload", "workload_version", "setup",
                                        "device_model", "ranks", "finished_at", "kind"};
  auto then = [&](std::vector<std::string> more) {
    std::vector<std::string> keys = job;
    keys.insert(keys.end(), more.begin(), more.end());
    return keys;
  };
  const std::map<std::string, std::vector<std::string>> order = {
      {"gemm", then({"shape", "m", "n", "k", "dtype", "iterations", "step_seconds_median", "step_seconds_p10",
                     "step_seconds_p90", "tflops", "verified", "wrong_elements"})},
      {"collective", then({"collective", "size_bytes", "count", "dtype", "iterations", "time_seconds_median",
                           "time_seconds_p10", "time_seconds_p90", "algbw_gbps", "busbw_gbps", "wrong_elements"})},
      {"job", then({"passed", "mamf_tflops"})},  // the gemm job; the collective one below
  };
  // Two ranks sharing this machine's cores may differ by more than the
  // straggler bound; then a straggler record follows the job's
  // (docs/fleet-health.md), in its own key order.
  const std::vector<std::string> straggler = {"schema", "kind", "job_id", "rank", "worker_id", "rank_seconds",
                                              "median_rank_seconds", "excess", "excess_standard_error", "job_seconds",
                                              "job_seconds_at_median"};
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto parsed = ParseJsonLines(line);
    ASSERT_EQ(parsed.size(), 1u) << line;
    const std::string kind = Str(parsed[0], "kind");
    if (kind == "straggler") {
      EXPECT_EQ(TopLevelKeys(line), straggler) << line;
      continue;
    }
    ASSERT_EQ(order.count(kind), 1u) << line;
    const bool collective_job = kind == "job" && Str(parsed[0], "workload").rfind("collective", 0) == 0;
    EXPECT_EQ(TopLevelKeys(line), collective_job ? then({"passed", "busbw_gbps_max"}) : order.at(kind)) << line;
  }
  auto rows = ParseJsonLines(r.out);
  int gemm = 0, collective = 0, jobs = 0;
  for (const auto& row : rows) {
    EXPECT_EQ(Num(row, "schema"), 1);
    if (Str(row, "kind") == "straggler") continue;
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

  // Every timed iteration of every rank is kept, and the figures are
  // summaries of them: per size, the slowest rank's median.
  const std::string job_id = Str(summaries[0], "job_id");
  auto raw = RunTokenmeter({"results", "--store", store, "--job", job_id, "--iterations", "--json"}, dir.path());
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  std::map<std::string, std::map<int, std::vector<double>>> times;  // item -> rank -> seconds
  for (const auto& row : ParseJsonLines(raw.out)) {
    EXPECT_EQ(Str(row, "job_id"), job_id);
    EXPECT_EQ(Str(row, "kind"), "collective");
    auto& seconds = times[Str(row, "item")][static_cast<int>(Num(row, "rank"))];
    EXPECT_EQ(Num(row, "iteration"), seconds.size());  // in the order measured
    seconds.push_back(Num(row, "seconds"));
  }
  ASSERT_EQ(times.size(), 18u);
  for (const auto& row : rows) {
    if (Str(row, "kind") != "collective") continue;
    const std::string item = "all_reduce " + std::to_string(static_cast<int64_t>(Num(row, "size_bytes"))) + " B fp32";
    ASSERT_EQ(times[item].size(), 2u) << item;
    double slowest = 0;
    for (auto& [rank, seconds] : times[item]) {
      ASSERT_EQ(seconds.size(), 3u) << item << " rank " << rank;
      std::sort(seconds.begin(), seconds.end());
      slowest = std::max(slowest, seconds[1]);  // the median of 3
    }
    EXPECT_DOUBLE_EQ(Num(row, "time_seconds_median"), slowest) << item;
  }
  auto table = RunTokenmeter({"results", "--store", store, "--job", job_id, "--iterations"}, dir.path());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("# every timed iteration of job " + job_id));
  EXPECT_THAT(table.out, HasSubstr("all_reduce 1048576 B fp32"));
}

TEST(LocalRun, TablesFollowNcclTestsLayout) {
  TempDir dir;
  // Three ranks: at two, all-reduce's busbw factor 2(n−1)/n is 1 and a
  // table swapping algbw and busbw would read right.
  auto r = RunTokenmeter({"run", "--local", "--workers", "3", "--workload", "collective/all-reduce", "--iterations",
                          "2", "--warmup", "1", "--max-bytes", "64K"},
                         dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("algbw"));
  EXPECT_THAT(r.out, HasSubstr("busbw"));
  EXPECT_THAT(r.out, HasSubstr("#wrong"));
  EXPECT_THAT(r.out, HasSubstr("flat fabric"));
  // Each row by value: size count type time p10 p90 algbw busbw #wrong, with
  // algbw = size / time (GB/s of 1e9 B) and busbw = algbw × 2(n−1)/n for n 3,
  // as far as the printed digits allow (time to 0.1 us, bandwidths to 0.001).
  const auto rows = DataRows(r.out);
  ASSERT_EQ(rows.size(), 14u) << r.out;  // 8 B .. 64 KiB, doubling
  double busbw_sum = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), 9u) << absl::StrJoin(row, " ");
    const double size = std::stod(row[0]), us = std::stod(row[3]), algbw = std::stod(row[6]),
                 busbw = std::stod(row[7]);
    EXPECT_EQ(size, 8 << i);
    EXPECT_EQ(std::stod(row[1]), size / 4);  // fp32 elements
    EXPECT_EQ(row[2], "fp32");
    EXPECT_LE(std::stod(row[4]), us);
    EXPECT_GE(std::stod(row[5]), us);
    const double want = size / (us * 1e-6) / 1e9;
    // Half a printed digit each way, carried through the formula.
    EXPECT_NEAR(algbw, want, 0.0005 + want * 0.05 / us + 1e-12) << size << " B in " << us << " us";
    constexpr double kFactor = 2 * (3 - 1) / 3.0;
    EXPECT_NEAR(busbw, algbw * kFactor, 0.0005 * (1 + kFactor) + 1e-12) << size << " B";
    EXPECT_EQ(row[8], "0");
    busbw_sum += busbw;
  }
  EXPECT_NEAR(NumberAfter(r.out, "# Avg bus bandwidth"), busbw_sum / rows.size(), 0.001 + 1e-12);
  EXPECT_THAT(r.out, HasSubstr("# Out of bounds values : 0 OK"));
}

TEST(LocalRun, TrainStepOfTinyGivesTheCostFiguresAndStoresThem) {
  TempDir dir;
  const std::string store = dir.File("results.db");
  // `--sysfs-root DIR` reaches the workers, whose CPU backend reads RAPL
  // under DIR/class/powercap: here a FAKE counter (TEST DATA,
  // tests/support/fake_powercap.h) advancing at a constant 50 W.
  FakePowercap powercap(dir.File("sysfs"));
  powercap.AddZone("intel-rapl:0", "package-0", 0);
  constexpr double kWatts = 50;
  powercap.StartPower("intel-rapl:0", kWatts, std::chrono::milliseconds(5));
  // A GEMM sweep first, so the step's MFU is also quoted against the
  // setup's measured best GEMM (MAMF). Two timed iterations: their median is
  // their mean, the average the energy window covers.
  auto r = RunTokenmeter({"run", "--local", "--workers", "2", "--workload", "gemm", "--workload", "train-step/tiny",
                          "--iterations", "2", "--warmup", "1", "--price-per-device-hour", "0.5", "--store", store,
                          "--sysfs-root", dir.File("sysfs"), "--json"},
                         dir.path());
  powercap.StopPower();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const google::protobuf::Struct* job = nullptr;
  auto rows = ParseJsonLines(r.out);
  for (const auto& row : rows) {
    if (Str(row, "kind") == "job" && Str(row, "workload") == "train-step/tiny/eager") job = &row;
  }
  ASSERT_NE(job, nullptr) << r.out;
  // Tokens per step = micro-batch × data-parallel degree × sequence length.
  EXPECT_EQ(Num(*job, "tokens_per_step"), 2 * 2 * 128);
  const double tokens_per_second = Num(*job, "tokens_per_second");
  EXPECT_NEAR(tokens_per_second, Num(*job, "tokens_per_step") / Num(*job, "step_seconds_median"),
              1e-9 * tokens_per_second);
  // Cost per million tokens = price × devices / (tokens/s × 3600) × 1e6.
  EXPECT_NEAR(Num(*job, "cost_per_million_tokens_dollars"), 0.5 * 2 / (tokens_per_second * 3600) * 1e6,
              1e-9 * Num(*job, "cost_per_million_tokens_dollars"));
  EXPECT_GT(Num(*job, "mfu"), 0);
  EXPECT_LT(Num(*job, "mfu"), 1.5);  // against a measured calibration GEMM: near, not far past, 1
  EXPECT_GT(Num(*job, "mfu_mamf"), 0);
  EXPECT_GT(Num(*job, "flops_per_token"), 0);
  // Energy per token = 50 W × the longest rank's timed steps / their tokens,
  // the two workers sharing the host's counter (counted once, as the longer
  // window); tests/metrics/metrics_prometheus_test.cc explains the expected
  // figure and its allowance: 5% for the loop around the timed steps, plus
  // the counter's lag at each end of the window — the fake writer's longest
  // measured gap between updates, and the reader's delay allowed as the same
  // and at least 10 ms — over the two timed steps' tokens.
  auto iterations = RunTokenmeter({"results", "--store", store, "--job", Str(*job, "job_id"), "--iterations",
                                   "--json"},
                                  dir.path());
  ASSERT_EQ(iterations.exit_code, 0) << iterations.err;
  const double longest_rank_seconds = LongestRankTrainStepSeconds(iterations.out);
  ASSERT_GT(longest_rank_seconds, 0) << iterations.out;
  const double gap = std::chrono::duration<double>(powercap.MaxWriteGap()).count();
  const double lag = 2 * FakePowercap::WindowEndLagSeconds(powercap.MaxWriteGap());
  const double timed_tokens = 2 * Num(*job, "tokens_per_step");
  const double energy_expected = kWatts * longest_rank_seconds / timed_tokens;
  EXPECT_NEAR(Num(*job, "energy_per_token_joules"), energy_expected,
              0.05 * energy_expected + kWatts * lag / timed_tokens)
      << "writer's longest gap " << gap * 1e3 << " ms; longest rank's timed steps " << longest_rank_seconds << " s";

  auto table = RunTokenmeter({"results", "--store", store, "--workload", "train-step/tiny", "--detail"}, dir.path());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  // The stored result's table shows the figures the run printed, to the
  // digits it prints (%.6g, MFU as a percentage to 0.01).
  auto close = [](double got, double want) { EXPECT_NEAR(got, want, 5e-6 * std::abs(want)) << want; };
  EXPECT_EQ(NumberAfter(table.out, "\n  tokens per step"), Num(*job, "tokens_per_step"));
  close(NumberAfter(table.out, "\n  step time (median)"), Num(*job, "step_seconds_median"));
  close(NumberAfter(table.out, "\n  tokens/s"), tokens_per_second);
  close(NumberAfter(table.out, "\n  model FLOPs per token"), Num(*job, "flops_per_token"));
  EXPECT_NEAR(NumberAfter(table.out, "\n  MFU vs peak"), 100 * Num(*job, "mfu"), 0.005);
  EXPECT_THAT(table.out, HasSubstr("measured)"));  // the CPU's peak is its calibration GEMM
  EXPECT_NEAR(NumberAfter(table.out, "\n  MFU vs measured max matmul"), 100 * Num(*job, "mfu_mamf"), 0.005);
  close(NumberAfter(table.out, "\n  cost per million tokens"), Num(*job, "cost_per_million_tokens_dollars"));
  EXPECT_THAT(table.out, HasSubstr("(at $0.5 per device-hour)"));
  close(NumberAfter(table.out, "\n  energy per token"), Num(*job, "energy_per_token_joules"));
  EXPECT_THAT(table.out, HasSubstr("time breakdown"));
  EXPECT_THAT(table.out, HasSubstr("communication"));
}

TEST(LocalRun, CompareLinesUpSetupsAgainstABaseline) {
  TempDir dir;
  const std::string store = dir.File("results.db");
  for (const char* setup : {"alpha", "beta"}) {
    auto r = RunTokenmeter({"run", "--local", "--workers", "1", "--workload", "gemm", "--iterations", "2", "--warmup",
                            "0", "--setup", setup, "--store", store},
                           dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto c = RunTokenmeter({"compare", "--workload", "gemm", "--baseline", "beta", "--store", store, "--json"},
                         dir.path());
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto rows = ParseJsonLines(c.out);
  ASSERT_EQ(rows.size(), 2u);
  std::map<std::string, double> mamf;
  for (const auto& row : rows) mamf[Str(row, "setup")] = Num(row, "mamf_tflops");
  for (const auto& row : rows) {
    EXPECT_EQ(Str(row, "baseline"), "beta");
    EXPECT_NEAR(Num(row, "mamf_tflops_ratio"), mamf[Str(row, "setup")] / mamf["beta"], 1e-9);
  }
  auto missing = RunTokenmeter({"compare", "--workload", "gemm", "--baseline", "gamma", "--store", store}, dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("gamma"));
}

// Two configurations of one machine, told apart by the name given to the
// local workers' setup: the workers carry it, and so does the stored result.
TEST(LocalRun, SetupNamesTheLocalWorkersAndTheirResults) {
  TempDir dir;
  const std::string store = dir.File("results.db");
  auto r = RunTokenmeter({"run", "--local", "--workers", "1", "--workload", "gemm", "--iterations", "1", "--warmup",
                          "0", "--setup", "one-thread-lab", "--store", store, "--json"},
                         dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = ParseJsonLines(r.out);
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) EXPECT_EQ(Str(row, "setup"), "one-thread-lab");
  auto stored = RunTokenmeter({"results", "--store", store, "--setup", "one-thread-lab", "--json"}, dir.path());
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  auto summaries = ParseJsonLines(stored.out);
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(Str(summaries[0], "setup"), "one-thread-lab");
  // Not under the default name.
  auto other = RunTokenmeter({"results", "--store", store, "--setup", "local-cpu", "--json"}, dir.path());
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_TRUE(ParseJsonLines(other.out).empty());
}

TEST(LocalRun, EveryCollectiveAcrossThreeWorkerProcessesIsVerified) {
  TempDir dir;
  auto r = RunTokenmeter({"run", "--local", "--workers", "3", "--workload", "collective", "--iterations", "2",
                          "--warmup", "1", "--max-bytes", "256K", "--json"},
                         dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> sizes;
  for (const auto& row : ParseJsonLines(r.out)) {
    if (Str(row, "kind") != "collective") continue;
    EXPECT_EQ(Num(row, "ranks"), 3);
    EXPECT_EQ(Num(row, "wrong_elements"), 0) << Str(row, "collective") << " " << Num(row, "size_bytes");
    const std::string op = Str(row, "collective");
    if (op == "all_gather" || op == "reduce_scatter" || op == "all_to_all") {
      EXPECT_EQ(static_cast<int64_t>(Num(row, "count")) % 3, 0) << op;
    }
    ++sizes[op];
  }
  for (const char* op : {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"}) {
    EXPECT_GT(sizes[op], 10) << op;
  }
}

TEST(LocalRun, ADtypeTheBackendLacksIsRefusedNamingIt) {
  TempDir dir;
  const std::string spec = dir.File("bf16.json");
  std::ofstream(spec) << R"({"name": "gemm-bf16", "version": 1, "timed_iterations": 1,
      "gemm": {"shapes": [{"name": "s", "m": 64, "n": 64, "k": 64}], "dtypes": ["DTYPE_BF16"]}})";
  auto r = RunTokenmeter({"run", "--local", "--workers", "1", "--spec", spec}, dir.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("GEMM in bf16"));
  EXPECT_THAT(r.err, HasSubstr("backend cpu"));
  EXPECT_LT(r.seconds, 20);
}

}  // namespace
}  // namespace tokenmeter::testing
