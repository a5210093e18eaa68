// `tokenmeter diagnose` against real processes: a coordinator and three CPU
// workers on loopback. A healthy fleet has no findings; a worker whose CPU
// is really capped (a cgroup quota, tests/support/cpu_quota.h) is named, and
// only it, and a job it takes part in names it as the straggler; bad rules
// are refused naming the file and the field.
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/metrics/metrics_test_support.h"
#include "tests/support/cpu_quota.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

class DiagnoseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_port_ = FreePort();
    coordinator_ = std::make_unique<CoordinatorProcess>(
        dir_.path(), dir_.File("store.db"),
        std::vector<std::string>{"--metrics", absl::StrCat("127.0.0.1:", metrics_port_)});
    ASSERT_GT(coordinator_->port(), 0) << coordinator_->process().err();
    for (int i = 0; i < 3; ++i) {
      workers_.push_back(std::make_unique<Process>(
          TOKENMETER_BINARY,
          std::vector<std::string>{"worker", "--coordinator", coordinator_->address(), "--cpu-threads", "1",
                                   "--setup", "diagnose-test"},
          dir_.path(), absl::StrCat("w", i)));
    }
    ASSERT_TRUE(Eventually([&] { return WorkerIds().size() == 3; }, std::chrono::seconds(30)));
  }

  // Worker ids by pid.
  std::map<int, std::string> WorkerIds() {
    std::map<int, std::string> ids;
    auto r = RunTokenmeter({"status", "--coordinator", coordinator_->address(), "--json"}, dir_.path(),
                           std::chrono::seconds(20));
    for (const auto& row : ParseJsonLines(r.out)) {
      if (Str(row, "kind") == "worker" && Str(row, "state") == "WORKER_IDLE") {
        ids[static_cast<int>(Num(row, "pid"))] = Str(row, "worker_id");
      }
    }
    return ids;
  }

  Result Diagnose(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"diagnose", "--coordinator", coordinator_->address(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunTokenmeter(args, dir_.path(), std::chrono::seconds(240));
  }

  TempDir dir_;
  int metrics_port_ = 0;
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
};

TEST_F(DiagnoseTest, AHealthyFleetHasNoFindings) {
  // Twice: a verdict that holds on a noisy VM (bench/diagnose_repeat.sh runs
  // it ten times and with a slowed worker).
  for (int run = 0; run < 2; ++run) {
    auto r = Diagnose();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    int gemm = 0, pairs = 0, verdicts = 0;
    for (const auto& row : ParseJsonLines(r.out)) {
      const std::string kind = Str(row, "kind");
      EXPECT_NE(kind, "finding") << r.out;
      if (kind == "check") {
        gemm += Str(row, "metric") == "gemm_tflops";
        pairs += Str(row, "metric") == "pair_busbw_gbps";
        EXPECT_GT(Num(row, "value"), 0);
      }
      if (kind == "diagnosis") {
        ++verdicts;
        EXPECT_TRUE(row.fields().at("healthy").bool_value());
        EXPECT_EQ(Num(row, "workers"), 3);
        EXPECT_EQ(Num(row, "links"), 3);
        EXPECT_GT(Num(row, "baseline_gemm_tflops"), 0);
      }
    }
    EXPECT_EQ(gemm, 3);
    EXPECT_EQ(pairs, 3);  // every pair of three workers
    EXPECT_EQ(verdicts, 1);
    // Each record's keys in their fixed order (docs/architecture.md, "JSON Lines records").
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      const auto keys = TopLevelKeys(std::string(line));
      if (absl::StrContains(line, "\"kind\":\"check\"")) {
        EXPECT_THAT(keys, ElementsAreArray({"schema", "kind", "worker_ids", "device", "metric", "value",
                                            "median_seconds", "cv"}));
      } else {
        EXPECT_THAT(keys, ElementsAreArray({"schema", "kind", "setup", "healthy", "workers", "links",
                                            "defective_workers", "defective_links", "baseline_gemm_tflops",
                                            "baseline_pair_busbw_gbps", "baseline_intra_node_busbw_gbps"}));
      }
    }
  }
  // Every check was a job like any other: its result is stored.
  auto stored = RunTokenmeter({"results", "--store", dir_.File("store.db"), "--workload", "fleet-check/gemm", "--json"},
                              dir_.path(), std::chrono::seconds(20));
  EXPECT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_GE(ParseJsonLines(stored.out).size(), 6u) << stored.out;
}

TEST_F(DiagnoseTest, AWorkerWhoseCpuIsCappedIsNamedAndOnlyIt) {
  const auto ids = WorkerIds();
  const int victim_pid = workers_[1]->pid();
  ASSERT_TRUE(ids.count(victim_pid));
  const std::string victim = ids.at(victim_pid);
  CpuQuota quota(victim_pid, 0.4);  // 40% of one core
  if (!quota.ok()) GTEST_SKIP() << "no writable cgroup cpu controller here: " << quota.error();

  auto r = Diagnose();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  bool gemm_finding = false;
  for (const auto& row : ParseJsonLines(r.out)) {
    if (Str(row, "kind") == "diagnosis") {
      EXPECT_EQ(Num(row, "defective_workers"), 1) << r.out;
    }
    if (Str(row, "kind") != "finding") continue;
    EXPECT_EQ(Str(row, "worker_ids"), victim) << r.out;  // nobody else implicated
    EXPECT_THAT(Str(row, "subject"), HasSubstr(victim));
    if (Str(row, "metric") == "gemm_tflops") {
      gemm_finding = true;
      EXPECT_LT(Num(row, "deviation"), -0.3) << r.out;  // 40% of a core: well below the others
      EXPECT_EQ(Str(row, "rule"), "gemm_max_deficit 0.05");
    }
  }
  EXPECT_TRUE(gemm_finding) << r.out;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, "\"kind\":\"finding\"")) continue;
    EXPECT_THAT(TopLevelKeys(std::string(line)),
                ElementsAreArray({"schema", "kind", "subject", "worker_ids", "metric", "value", "baseline",
                                  "deviation", "rule"}));
  }

  // Stored as a fleet-check result, and published as health gauges: 0 for
  // the victim, 1 for the two others.
  auto stored = RunTokenmeter({"results", "--store", dir_.File("store.db"), "--workload", "fleet-check"},
                              dir_.path(), std::chrono::seconds(20));
  EXPECT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_THAT(stored.out, HasSubstr("DEFECTIVE: 2 of 3 workers"));
  const std::string metrics = metrics_test::HttpGet(metrics_port_, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("tokenmeter_node_health{Hostname=")));
  int healthy = 0, unhealthy = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, "tokenmeter_node_health{")) continue;
    const bool is_victim = absl::StrContains(line, absl::StrCat("worker=\"", victim, "\""));
    if (absl::EndsWith(line, " 0")) {
      ++unhealthy;
      EXPECT_TRUE(is_victim) << line;
    } else {
      ++healthy;
      EXPECT_TRUE(absl::EndsWith(line, " 1")) << line;
    }
  }
  EXPECT_EQ(unhealthy, 1) << metrics;
  EXPECT_EQ(healthy, 2) << metrics;
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("tokenmeter_health_deviation_ratio{metric=\"gemm_tflops\",peer_worker=\"\",setup=\"diagnose-test\",worker=\"", victim, "\"}")));

  // The stored record prints the table a person reads.
  const size_t at = r.err.find("stored as ");
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::string record = r.err.substr(at + 10, r.err.find(' ', at + 10) - at - 10);
  auto table = RunTokenmeter({"results", "--store", dir_.File("store.db"), "--job", record}, dir_.path(),
                             std::chrono::seconds(20));
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr(absl::StrCat("device 0 of node ", victim)));
  EXPECT_THAT(table.out, HasSubstr("gemm_max_deficit 0.05"));
  EXPECT_THAT(table.out, HasSubstr("# DEFECTIVE: 2 of 3 workers"));
}

TEST_F(DiagnoseTest, AJobWithASlowedRankPrintsTheStragglerLine) {
  const auto ids = WorkerIds();
  const int victim_pid = workers_[2]->pid();
  ASSERT_TRUE(ids.count(victim_pid));
  CpuQuota quota(victim_pid, 0.4);
  if (!quota.ok()) GTEST_SKIP() << "no writable cgroup cpu controller here: " << quota.error();
  auto r = RunTokenmeter({"run", "--coordinator", coordinator_->address(), "--workload", "train-step/tiny",
                          "--iterations", "10", "--warmup", "1", "--ranks", "3"},
                         dir_.path(), std::chrono::seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("(worker ", ids.at(victim_pid), ") took")));
  EXPECT_THAT(r.out, HasSubstr("# straggler: rank "));
  // The stored result says the same in JSON Lines.
  const size_t at = r.out.find(", job job-");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string job = r.out.substr(at + 6, r.out.find('\n', at) - at - 6);
  auto json = RunTokenmeter({"results", "--store", dir_.File("store.db"), "--job", job, "--json"}, dir_.path(),
                            std::chrono::seconds(20));
  int stragglers = 0;
  for (absl::string_view line : absl::StrSplit(json.out, '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, "\"kind\":\"straggler\"")) continue;
    ++stragglers;
    EXPECT_THAT(TopLevelKeys(std::string(line)),
                ElementsAreArray({"schema", "kind", "job_id", "rank", "worker_id", "rank_seconds",
                                  "median_rank_seconds", "excess", "excess_standard_error", "job_seconds", "job_seconds_at_median"}));
    EXPECT_THAT(std::string(line), HasSubstr(absl::StrCat("\"worker_id\":\"", ids.at(victim_pid), "\"")));
  }
  EXPECT_EQ(stragglers, 1) << json.out << json.err;
}

TEST_F(DiagnoseTest, BadRulesAndAnEmptySetupAreRefused) {
  std::ofstream(dir_.File("rules.json")) << R"({"gemm_max_deficit": 0.05, "max_cvv": 0.3})";
  auto typo = Diagnose({"--rules", dir_.File("rules.json")});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err, HasSubstr(dir_.File("rules.json")));
  EXPECT_THAT(typo.err, HasSubstr("max_cvv"));
  std::ofstream(dir_.File("bound.json")) << R"({"bandwidth_max_deficit": 2})";
  auto bound = Diagnose({"--rules", dir_.File("bound.json")});
  EXPECT_EQ(bound.exit_code, 2);
  EXPECT_THAT(bound.err, HasSubstr("bandwidth_max_deficit must be in (0, 1), got 2"));
  auto none = Diagnose({"--setup", "nowhere"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("no idle worker in setup 'nowhere'"));
  auto iterations = Diagnose({"--iterations", "2"});
  EXPECT_EQ(iterations.exit_code, 2);
  EXPECT_THAT(iterations.err, HasSubstr("--iterations"));
}

}  // namespace
}  // namespace tokenmeter::testing
