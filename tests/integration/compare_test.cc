// compare on a store of real runs: two setups (two prices), one of them at
// two rank counts. Every printed figure is checked against the stored
// per-iteration timings and docs/cost-model.md's formulas, and the ratios,
// the fastest and cheapest marks and the scaling efficiency against their
// definitions.
#include <algorithm>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"
#include "workload/figures.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kWorkload[] = "train-step/tiny";

struct StoredRun {
  std::string setup;
  int ranks;
  double price;
};

class CompareTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    store_ = dir_->File("results.db");
    // pod-a at 1 then 2 ranks ($2 per device-hour), pod-b at 1 rank ($0.5).
    for (const StoredRun& run : {StoredRun{"pod-a", 1, 2.0}, StoredRun{"pod-a", 2, 2.0}, StoredRun{"pod-b", 1, 0.5}}) {
      auto r = RunTokenmeter({"run", "--local", "--workers", std::to_string(run.ranks), "--ranks",
                              std::to_string(run.ranks), "--workload", kWorkload, "--iterations", "3", "--warmup",
                              "1", "--setup", run.setup, "--price-per-device-hour", std::to_string(run.price),
                              "--store", store_},
                             dir_->path());
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  static void TearDownTestSuite() { delete dir_; }

  std::vector<google::protobuf::Struct> Compare(std::vector<std::string> more) {
    std::vector<std::string> args = {"compare", "--workload", kWorkload, "--store", store_, "--json"};
    args.insert(args.end(), more.begin(), more.end());
    auto r = RunTokenmeter(args, dir_->path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ParseJsonLines(r.out);
  }

  // The job's summary line from `results --json`.
  google::protobuf::Struct Summary(const std::string& job) {
    for (auto& row : ParseJsonLines(RunTokenmeter({"results", "--store", store_, "--json"}, dir_->path()).out)) {
      if (Str(row, "job_id") == job) return row;
    }
    ADD_FAILURE() << "no summary of " << job;
    return {};
  }

  // The step's timing from the raw iterations: per iteration the slowest rank.
  v1::TimingSummary StepFromIterations(const std::string& job) {
    auto raw = RunTokenmeter({"results", "--store", store_, "--job", job, "--iterations", "--json"}, dir_->path());
    std::map<int, double> slowest;
    for (const auto& row : ParseJsonLines(raw.out)) {
      if (Str(row, "kind") != "train_step") continue;
      double& s = slowest[static_cast<int>(Num(row, "iteration"))];
      s = std::max(s, Num(row, "seconds"));
    }
    std::vector<double> seconds;
    for (const auto& [i, s] : slowest) seconds.push_back(s);
    EXPECT_EQ(seconds.size(), 3u) << raw.out;
    return workload::Summarize(seconds);
  }

  static TempDir* dir_;
  static std::string store_;
};
TempDir* CompareTest::dir_ = nullptr;
std::string CompareTest::store_;

void ExpectRel(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, std::abs(want) * 1e-9 + 1e-15) << what;
}

TEST_F(CompareTest, NewestPerSetupWithEveryFigureFromTheStoredTimings) {
  auto rows = Compare({"--baseline", "pod-b"});
  ASSERT_EQ(rows.size(), 2u);
  std::map<std::string, google::protobuf::Struct> by_setup;
  for (const auto& row : rows) by_setup[Str(row, "setup")] = row;
  ASSERT_TRUE(by_setup.count("pod-a") && by_setup.count("pod-b"));
  EXPECT_EQ(Num(by_setup["pod-a"], "ranks"), 2);  // pod-a's newest is its 2-rank run
  const std::map<std::string, double> price = {{"pod-a", 2.0}, {"pod-b", 0.5}};
  for (const auto& [setup, row] : by_setup) {
    const std::string job = Str(row, "job_id");
    const auto summary = Summary(job);
    const auto step = StepFromIterations(job);
    ExpectRel(Num(row, "step_seconds_median"), step.median_seconds(), setup + " median");
    ExpectRel(Num(row, "step_seconds_p10"), step.p10_seconds(), setup + " p10");
    ExpectRel(Num(row, "step_seconds_p90"), step.p90_seconds(), setup + " p90");
    const double tps = Num(summary, "tokens_per_step") / step.median_seconds();
    ExpectRel(Num(row, "tokens_per_second"), tps, setup + " tokens/s");
    const double ranks = Num(row, "ranks");
    ExpectRel(Num(row, "cost_per_million_tokens_dollars"), price.at(setup) * ranks / (tps * 3600) * 1e6,
              setup + " $/1M");
    ExpectRel(Num(row, "mfu"), Num(summary, "mfu"), setup + " mfu");
    EXPECT_GT(Num(row, "mfu"), 0);
    ExpectRel(Num(row, "energy_per_million_tokens_joules"), Num(summary, "energy_per_token_joules") * 1e6,
              setup + " J/1M");
    EXPECT_EQ(Str(row, "baseline"), "pod-b");
  }
  const auto& a = by_setup["pod-a"];
  const auto& b = by_setup["pod-b"];
  for (const char* f : {"tokens_per_second", "mfu", "cost_per_million_tokens_dollars", "step_seconds_median"}) {
    ExpectRel(Num(a, std::string(f) + "_ratio"), Num(a, f) / Num(b, f), f);
    ExpectRel(Num(b, std::string(f) + "_ratio"), 1.0, f);
  }
  // No energy on this VM: no ratio to a missing figure.
  EXPECT_FALSE(b.fields().count("energy_per_million_tokens_joules_ratio"));
  const bool a_faster = Num(a, "tokens_per_second") > Num(b, "tokens_per_second");
  EXPECT_EQ(a.fields().at("fastest").bool_value(), a_faster);
  EXPECT_EQ(b.fields().at("fastest").bool_value(), !a_faster);
  const bool a_cheaper = Num(a, "cost_per_million_tokens_dollars") < Num(b, "cost_per_million_tokens_dollars");
  EXPECT_EQ(a.fields().at("cheapest").bool_value(), a_cheaper);
  EXPECT_EQ(b.fields().at("cheapest").bool_value(), !a_cheaper);
}

TEST_F(CompareTest, EveryResultOldestFirstPerSetupAgainstTheBaselinesNewest) {
  auto rows = Compare({"--all", "--baseline", "pod-a"});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(Str(rows[0], "setup"), "pod-a");
  EXPECT_EQ(Num(rows[0], "ranks"), 1);
  EXPECT_EQ(Str(rows[1], "setup"), "pod-a");
  EXPECT_EQ(Num(rows[1], "ranks"), 2);
  EXPECT_EQ(Str(rows[2], "setup"), "pod-b");
  for (const auto& row : rows) {
    ExpectRel(Num(row, "tokens_per_second_ratio"), Num(row, "tokens_per_second") / Num(rows[1], "tokens_per_second"),
              Str(row, "job_id"));
  }
  int fastest = 0, cheapest = 0;
  double best = 0, lowest = 1e300;
  for (const auto& row : rows) {
    best = std::max(best, Num(row, "tokens_per_second"));
    lowest = std::min(lowest, Num(row, "cost_per_million_tokens_dollars"));
  }
  for (const auto& row : rows) {
    fastest += row.fields().at("fastest").bool_value();
    cheapest += row.fields().at("cheapest").bool_value();
    EXPECT_EQ(row.fields().at("fastest").bool_value(), Num(row, "tokens_per_second") == best);
    EXPECT_EQ(row.fields().at("cheapest").bool_value(), Num(row, "cost_per_million_tokens_dollars") == lowest);
  }
  EXPECT_EQ(fastest, 1);
  EXPECT_EQ(cheapest, 1);
}

TEST_F(CompareTest, ScalingEfficiencyAgainstTheFewestRanks) {
  auto rows = Compare({"--scaling"});
  ASSERT_EQ(rows.size(), 2u);  // pod-b has one rank count only
  EXPECT_EQ(Str(rows[0], "setup"), "pod-a");
  EXPECT_EQ(Num(rows[0], "ranks"), 1);
  EXPECT_EQ(Num(rows[1], "ranks"), 2);
  const double one = Num(Summary(Str(rows[0], "job_id")), "tokens_per_second");
  const double two = Num(Summary(Str(rows[1], "job_id")), "tokens_per_second");
  ExpectRel(Num(rows[1], "tokens_per_second"), two, "tokens/s at 2");
  ExpectRel(Num(rows[1], "per_rank"), two / 2, "per rank");
  ExpectRel(Num(rows[0], "efficiency"), 1.0, "efficiency at 1");
  ExpectRel(Num(rows[1], "efficiency"), (two / 2) / one, "efficiency at 2");

  auto table = RunTokenmeter({"compare", "--workload", kWorkload, "--store", store_, "--scaling"}, dir_->path());
  EXPECT_THAT(table.out, HasSubstr("on pod-a: tokens_per_second by rank count"));
  auto none = RunTokenmeter({"compare", "--workload", kWorkload, "--store", store_, "--scaling", "--setup", "pod-b"},
                            dir_->path());
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("--scaling: no setup 'pod-b' has"));
}

TEST_F(CompareTest, TheTableMarksTheFastestAndTheCheapest) {
  auto r = RunTokenmeter({"compare", "--workload", kWorkload, "--store", store_}, dir_->path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("fastest"));
  EXPECT_THAT(r.out, HasSubstr("cheapest"));
  EXPECT_THAT(r.out, HasSubstr("$ / 1M tokens"));
  auto both = RunTokenmeter({"compare", "--workload", kWorkload, "--store", store_, "--all", "--scaling"}, dir_->path());
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("at most one of --latest, --all and --scaling"));
}

}  // namespace
}  // namespace tokenmeter::testing
