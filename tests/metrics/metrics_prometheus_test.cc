// Metrics with a real Prometheus in the loop: a coordinator and two workers
// (real tokenmeter processes on loopback, each serving /metrics), Debian's
// prometheus server scraping them every second with the repository's rules
// loaded, and a small gemm, all-reduce and train-step benchmark run through
// them. The workers read RAPL energy under --sysfs-root from a FAKE powercap
// tree (TEST DATA: tests/support/fake_powercap.h) whose counter a test thread
// advances at a known constant 50 W, so the energy figures are checked
// against a known answer. Then:
//   - `promtool check metrics` accepts every process's /metrics as scraped;
//   - every query of every panel of every dashboard in dashboards/, with its
//     variables resolved as "All", returns data from that Prometheus — a
//     panel whose metrics need a result the run did not produce would be
//     listed by name (never dropped silently);
//   - and so does every dashboard variable's label_values() query;
//   - the energy per token, in `tokenmeter run --json` and in Prometheus, is
//     the fake counter's 50 W × the timed steps' time / their tokens;
//   - each worker's live power gauge, sampled with or without a job, is the
//     fake counter's 50 W.
// Skips when prometheus or promtool is missing. No process outlives the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/json_lines.h"
#include "tests/metrics/metrics_test_support.h"
#include "tests/support/fake_powercap.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::metrics_test {
namespace {

using ::tokenmeter::testing::CoordinatorProcess;
using ::tokenmeter::testing::Eventually;
using ::tokenmeter::testing::FakePowercap;
using ::tokenmeter::testing::FindExecutable;
using ::tokenmeter::testing::FreePort;
using ::tokenmeter::testing::LongestRankTrainStepSeconds;
using ::tokenmeter::testing::Process;
using ::tokenmeter::testing::ProcessOptions;
using ::tokenmeter::testing::Result;
using ::tokenmeter::testing::RunCommand;
using ::tokenmeter::testing::RunTokenmeter;
using ::tokenmeter::testing::Tail;
using ::tokenmeter::testing::TempDir;
using ::tokenmeter::testing::WriteFile;

const std::string kSource = TOKENMETER_SOURCE_DIR;
const std::string kSetup = "metrics-test";

// TEST DATA: the constant power of the fake RAPL package counter both workers
// read (they run on this one host, so they share it, as real RAPL is shared
// by every rank of a host), and how often the fake counter is rewritten.
constexpr double kFakeWatts = 50.0;
constexpr auto kFakePeriod = std::chrono::milliseconds(5);
// The train step's timed iterations. Two, so the median step time the run
// reports is exactly the mean of the two (Summarize interpolates), the same
// average the energy window covers.
constexpr int kTrainStepIterations = 2;

// Metrics that only get values from results this test may not be able to
// produce, and why. A panel whose query uses one of them is checked only when
// the requirement is met; otherwise it is named in the test's skip message.
struct Requirement {
  std::string id;
  std::string why;
  std::vector<std::string> metrics;
};

const std::vector<Requirement>& Requirements() {
  static const auto* r = new std::vector<Requirement>{
      {"train-step", "requires train-step result",
       {"tokenmeter_tokens_per_second", "tokenmeter_mfu_ratio", "tokenmeter_cost_per_million_tokens_dollars",
        "tokenmeter_step_duration_seconds"}},
      {"energy",
       "requires train-step result with device energy readings (NVML on GPUs, RAPL on CPUs)",
       {"tokenmeter_energy_per_token_joules"}},
      {"power", "requires a device that reports power (NVML on GPUs, RAPL on CPUs)",
       {"tokenmeter_device_power_watts"}},
  };
  return *r;
}

// The requirement a query depends on ("" if none); a later requirement of
// Requirements() wins (energy over train-step, being the stricter).
std::string RequirementOf(const std::string& expr) {
  std::string found;
  for (const auto& r : Requirements()) {
    for (const auto& m : r.metrics) {
      if (expr.find(m) != std::string::npos) found = r.id;
    }
  }
  return found;
}

// Everything the tests share: one cluster, one Prometheus, one benchmark run.
struct Cluster {
  TempDir dir;
  // TEST DATA, see kFakeWatts. After dir, so its writer thread stops before
  // the directory goes.
  std::unique_ptr<FakePowercap> powercap;
  std::string skip_reason;  // non-empty: every test skips with this
  std::string setup_error;  // non-empty: every test fails with this
  int coordinator_metrics_port = 0;
  std::vector<int> worker_metrics_ports;
  int prometheus_port = 0;
  std::unique_ptr<CoordinatorProcess> coordinator;
  std::vector<std::unique_ptr<Process>> workers;
  std::unique_ptr<Process> prometheus;
  std::string promtool;
  std::set<std::string> met;          // requirement ids met by the run
  std::map<std::string, std::string> unmet;  // requirement id -> why not
  // The train-step job's summary row of `tokenmeter run --json`.
  std::optional<google::protobuf::Value> train_step_row;
  std::string train_step_iterations;  // its `results --iterations --json`
  std::chrono::microseconds train_step_write_gap{0};  // the fake writer's longest, during that run

  std::string Logs() {
    std::string s;
    if (coordinator) s += "\n--- coordinator:\n" + Tail(Output(coordinator->process()));
    for (size_t i = 0; i < workers.size(); ++i) s += "\n--- worker " + std::to_string(i) + ":\n" + Tail(Output(*workers[i]));
    if (prometheus) s += "\n--- prometheus:\n" + Tail(Output(*prometheus));
    return s;
  }

  // What a process or command wrote, stdout then stderr.
  static std::string Output(const Process& p) { return p.out() + p.err(); }
  static std::string Output(const Result& r) { return (r.timed_out ? "timed out\n" : "") + r.out + r.err; }
};

Cluster* cluster = nullptr;

// The result of one instant query: series count and how many have a finite
// value; error is set when Prometheus refused the query.
struct QueryResult {
  int series = 0;
  int finite = 0;
  std::string error;
};

QueryResult Query(const std::string& promql) {
  QueryResult q;
  auto r = HttpGet(cluster->prometheus_port, "/api/v1/query?query=" + UrlEncode(promql));
  auto json = ParseJson(r.body);
  if (r.status == 0 || !json) {
    q.error = "no answer from Prometheus (HTTP " + std::to_string(r.status) + ")";
    return q;
  }
  if (StringField(*json, "status") != "success") {
    q.error = StringField(*json, "errorType") + ": " + StringField(*json, "error");
    return q;
  }
  const auto* data = Field(*json, "data");
  const auto* result = data ? Field(*data, "result") : nullptr;
  if (result == nullptr) return q;
  if (StringField(*data, "resultType") == "scalar") {
    q.series = 1;
    const auto& v = result->list_value().values();
    q.finite = v.size() == 2 && std::isfinite(std::strtod(v[1].string_value().c_str(), nullptr)) ? 1 : 0;
    return q;
  }
  for (const auto& s : result->list_value().values()) {
    ++q.series;
    const auto* value = Field(s, "value");
    if (value != nullptr && value->list_value().values_size() == 2) {
      const double x = std::strtod(value->list_value().values(1).string_value().c_str(), nullptr);
      if (std::isfinite(x)) ++q.finite;
    }
  }
  return q;
}

// The values of an instant query's series; empty on an error or no data.
std::vector<double> QueryValues(const std::string& promql) {
  std::vector<double> values;
  auto json = ParseJson(HttpGet(cluster->prometheus_port, "/api/v1/query?query=" + UrlEncode(promql)).body);
  const auto* data = json ? Field(*json, "data") : nullptr;
  const auto* result = data ? Field(*data, "result") : nullptr;
  if (result == nullptr || result->kind_case() != google::protobuf::Value::kListValue) return values;
  for (const auto& series : result->list_value().values()) {
    const auto* value = Field(series, "value");
    if (value != nullptr && value->list_value().values_size() == 2) {
      values.push_back(std::strtod(value->list_value().values(1).string_value().c_str(), nullptr));
    }
  }
  return values;
}

double NumberField(const google::protobuf::Value& v, const std::string& key) {
  const auto* f = Field(v, key);
  return f != nullptr && f->kind_case() == google::protobuf::Value::kNumberValue ? f->number_value() : std::nan("");
}

std::string Describe(const QueryResult& r) {
  if (!r.error.empty()) return "query error: " + r.error;
  if (r.series == 0) return "no data";
  return std::to_string(r.series) + " series, none with a finite value";
}

bool HasData(const QueryResult& r) { return r.error.empty() && r.finite > 0; }

void WritePrometheusConfig(const std::string& path) {
  std::string targets;
  for (int p : cluster->worker_metrics_ports) targets += "\"127.0.0.1:" + std::to_string(p) + "\", ";
  // Job names as in deploy/prometheus/prometheus.yml; the rules are the
  // repository's own, evaluated every second.
  WriteFile(path, "global:\n"
                  "  scrape_interval: 1s\n"
                  "  scrape_timeout: 1s\n"
                  "  evaluation_interval: 1s\n"
                  "rule_files:\n"
                  "  - \"" + kSource + "/deploy/prometheus/tokenmeter.rules.yml\"\n"
                  "scrape_configs:\n"
                  "  - job_name: tokenmeter-coordinator\n"
                  "    static_configs:\n"
                  "      - targets: [\"127.0.0.1:" + std::to_string(cluster->coordinator_metrics_port) + "\"]\n"
                  "  - job_name: tokenmeter-worker\n"
                  "    static_configs:\n"
                  "      - targets: [" + targets.substr(0, targets.size() - 2) + "]\n");
}

// Starts everything and runs the benchmarks; on trouble sets skip_reason or
// setup_error (the tests report it) instead of asserting here.
void StartCluster() {
  Cluster& c = *cluster;
  const std::string prometheus = FindExecutable("prometheus");
  c.promtool = FindExecutable("promtool");
  if (prometheus.empty() || c.promtool.empty()) {
    c.skip_reason = "the prometheus server and promtool are needed (Debian: apt-get install prometheus)";
    return;
  }
  c.coordinator_metrics_port = FreePort();
  c.coordinator = std::make_unique<CoordinatorProcess>(
      c.dir.path(), c.dir.File("results.db"),
      std::vector<std::string>{"--metrics", "127.0.0.1:" + std::to_string(c.coordinator_metrics_port)});
  if (c.coordinator->port() == 0) {
    c.setup_error = "the coordinator did not start" + c.Logs();
    return;
  }
  const std::string address = c.coordinator->address();
  // TEST DATA: a fake powercap tree under the test's directory, one package
  // zone (and a sub-zone, which must not be added) advancing at kFakeWatts.
  const std::string sysfs = c.dir.File("sysfs");
  c.powercap = std::make_unique<FakePowercap>(sysfs);
  c.powercap->AddZone("intel-rapl:0", "package-0", 0);
  c.powercap->AddZone("intel-rapl:0:0", "core", 0);
  c.powercap->StartPower("intel-rapl:0", kFakeWatts, kFakePeriod);
  for (int i = 0; i < 2; ++i) {
    const int metrics_port = FreePort();
    c.worker_metrics_ports.push_back(metrics_port);
    c.workers.push_back(std::make_unique<Process>(
        TOKENMETER_BINARY,
        std::vector<std::string>{"worker", "--coordinator", address, "--metrics",
                                 "127.0.0.1:" + std::to_string(metrics_port), "--setup", kSetup, "--cpu-threads", "1",
                                 "--price-per-device-hour", "1.5", "--sysfs-root", sysfs},
        c.dir.path(), "worker-" + std::to_string(i)));
  }
  // Both workers registered and serving /metrics.
  if (!Eventually(
          [&] {
            return HttpGet(c.coordinator_metrics_port, "/metrics").body.find("tokenmeter_workers{state=\"idle\"} 2") !=
                   std::string::npos;
          },
          seconds(20))) {
    c.setup_error = "the workers did not register" + c.Logs();
    return;
  }

  c.prometheus_port = FreePort();
  const std::string config = c.dir.File("prometheus.yml");
  WritePrometheusConfig(config);
  c.prometheus = std::make_unique<Process>(
      prometheus,
      std::vector<std::string>{"--config.file=" + config, "--storage.tsdb.path=" + c.dir.File("prometheus-data"),
                               "--web.listen-address=127.0.0.1:" + std::to_string(c.prometheus_port),
                               "--log.level=warn"},
      c.dir.path(), "prometheus");
  // Every target scraped at least once before the benchmarks, so counters
  // are seen before they move and rates have a baseline.
  if (!Eventually([&] { return Query("sum(up{job=~\"tokenmeter-.*\"})").finite > 0 &&
                               Query("sum(up{job=~\"tokenmeter-.*\"}) == 3").series == 1; },
                  seconds(30))) {
    c.setup_error = "Prometheus did not scrape the three targets" + c.Logs();
    return;
  }

  Result r = RunTokenmeter({"run", "--coordinator", address, "--workload", "gemm", "--iterations", "2", "--warmup",
                            "1"},
                           c.dir.path(), seconds(60));
  if (!r.ok()) {
    c.setup_error = "tokenmeter run --workload gemm failed:\n" + Tail(Cluster::Output(r)) + c.Logs();
    return;
  }
  r = RunTokenmeter({"run", "--coordinator", address, "--workload", "collective/all-reduce", "--max-bytes", "64K",
                     "--iterations", "3", "--warmup", "1"},
                    c.dir.path(), seconds(60));
  if (!r.ok()) {
    c.setup_error = "tokenmeter run --workload collective/all-reduce failed:\n" + Tail(Cluster::Output(r)) + c.Logs();
    return;
  }
  // Train-step figures (tokens/s, MFU, cost) once train-step runs end to
  // end; until then the panels needing them are listed as skipped.
  c.powercap->ResetMaxWriteGap();
  r = RunTokenmeter({"run", "--coordinator", address, "--workload", "train-step/tiny", "--iterations",
                     std::to_string(kTrainStepIterations), "--warmup", "1", "--json"},
                    c.dir.path(), seconds(60));
  c.train_step_write_gap = c.powercap->MaxWriteGap();
  if (r.ok()) {
    c.met.insert("train-step");
    for (size_t begin = 0, end; begin < r.out.size(); begin = end + 1) {
      end = r.out.find('\n', begin);
      if (end == std::string::npos) end = r.out.size();
      auto row = ParseJson(r.out.substr(begin, end - begin));
      if (row && StringField(*row, "kind") == "job") c.train_step_row = *row;
    }
    if (c.train_step_row) {
      Result it = RunTokenmeter({"results", "--coordinator", address, "--job",
                                 StringField(*c.train_step_row, "job_id"), "--iterations", "--json"},
                                c.dir.path(), seconds(30));
      c.train_step_iterations = it.out;
    }
  } else {
    c.unmet["train-step"] = "`tokenmeter run --workload train-step/tiny` failed: " + Tail(Cluster::Output(r), 1);
  }
  // Power needs no job: the workers sample the fake counter from their start.
  if (HttpGet(c.worker_metrics_ports[0], "/metrics").body.find("\ntokenmeter_device_power_watts{") !=
      std::string::npos) {
    c.met.insert("power");
  } else {
    c.unmet["power"] = "worker 0 serves no tokenmeter_device_power_watts: did it read the fake RAPL counter?";
  }
  const std::string figures = HttpGet(c.coordinator_metrics_port, "/metrics").body;
  if (figures.find("\ntokenmeter_energy_per_token_joules{") != std::string::npos) {
    c.met.insert("energy");
  } else {
    c.unmet["energy"] = "no result carries device energy: did the workers read the fake RAPL counter?";
  }
}

class PrometheusLoopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster = new Cluster();
    StartCluster();
  }
  static void TearDownTestSuite() {
    delete cluster;  // stops every process (RAII), removes the directory
    cluster = nullptr;
  }
  void SetUp() override {
    if (!cluster->skip_reason.empty()) GTEST_SKIP() << cluster->skip_reason;
    ASSERT_TRUE(cluster->setup_error.empty()) << cluster->setup_error;
  }

  // Every query of every panel (variables resolved), split by requirement.
  struct Checked {
    std::vector<std::string> failures;                 // checkable, but no data
    std::map<std::string, std::vector<std::string>> skipped;  // requirement id -> panels
  };
  Checked CheckPanels(const std::set<std::string>& only_requirements) {
    std::vector<std::string> errors;
    auto dashboards = LoadDashboards(kSource + "/dashboards", &errors);
    EXPECT_TRUE(errors.empty());
    EXPECT_FALSE(dashboards.empty());
    struct Pending {
      PanelQuery q;
      std::string expr;
    };
    std::vector<Pending> pending;
    Checked checked;
    for (const auto& d : dashboards) {
      auto queries = PanelQueries(d);
      // Each variable's label_values() as the PromQL Grafana would run.
      for (const auto* v : Variables(d)) {
        if (StringField(*v, "type") != "query") continue;
        auto promql = LabelValuesAsQuery(StringField(*v, "query"));
        EXPECT_TRUE(promql.has_value()) << d.file << " $" << StringField(*v, "name");
        if (promql) queries.push_back({d.file, "$" + StringField(*v, "name"), "variable", *promql});
      }
      for (const auto& q : queries) {
        const std::string req = RequirementOf(q.expr);
        if (!only_requirements.count(req)) continue;
        if (!req.empty() && !cluster->met.count(req)) {
          checked.skipped[req].push_back(q.Name());
          continue;
        }
        std::string unresolved;
        pending.push_back({q, Substitute(d, q.expr, &unresolved)});
        EXPECT_TRUE(unresolved.empty()) << q.Name() << ": unresolved " << unresolved;
      }
    }
    // Scrapes and rule evaluations land within a few seconds of the run;
    // poll (bounded) until every query answers, then report the rest.
    std::map<std::string, std::string> last;
    Eventually(
        [&] {
          last.clear();
          for (const auto& p : pending) {
            auto r = Query(p.expr);
            if (!HasData(r)) last[p.q.Name()] = Describe(r) + "\n    " + p.expr;
          }
          return last.empty();
        },
        seconds(20));
    for (const auto& [name, why] : last) checked.failures.push_back(name + ": " + why);
    return checked;
  }

  static std::string SkipMessage(const std::map<std::string, std::vector<std::string>>& skipped) {
    std::string msg;
    for (const auto& r : Requirements()) {
      auto it = skipped.find(r.id);
      if (it == skipped.end()) continue;
      msg += "\n" + std::to_string(it->second.size()) + " panel queries skipped, " + r.why + " (" +
             cluster->unmet[r.id] + "):";
      for (const auto& name : it->second) msg += "\n  - " + name;
    }
    return msg;
  }
};

TEST_F(PrometheusLoopTest, PromtoolAcceptsEveryExposition) {
  std::vector<std::pair<std::string, int>> targets = {{"coordinator", cluster->coordinator_metrics_port}};
  for (size_t i = 0; i < cluster->worker_metrics_ports.size(); ++i) {
    targets.push_back({"worker-" + std::to_string(i), cluster->worker_metrics_ports[i]});
  }
  for (const auto& [name, port] : targets) {
    SCOPED_TRACE(name);
    auto r = HttpGet(port, "/metrics");
    ASSERT_EQ(r.status, 200);
    const std::string file = cluster->dir.File(name + ".metrics.txt");
    WriteFile(file, r.body);
    auto check = RunCommand({cluster->promtool, "check", "metrics"}, cluster->dir.path(), seconds(30),
                            ProcessOptions{.stdin_path = file});
    EXPECT_EQ(check.exit_code, 0) << Cluster::Output(check);
    EXPECT_EQ(Cluster::Output(check), "") << "promtool check metrics on " << name << "'s /metrics";
    EXPECT_NE(r.body.find("# TYPE tokenmeter_build_info gauge"), std::string::npos);
  }
  // The families DESIGN names, with their types, after a gemm and a
  // collective run.
  const std::string coordinator = HttpGet(cluster->coordinator_metrics_port, "/metrics").body;
  for (const char* line : {"# TYPE tokenmeter_workers gauge", "# TYPE tokenmeter_jobs_total counter",
                           "# TYPE tokenmeter_job_duration_seconds histogram",
                           "# TYPE tokenmeter_heartbeat_age_seconds gauge",
                           "# TYPE tokenmeter_result_gemm_flops_per_second gauge",
                           "# TYPE tokenmeter_result_collective_bus_bandwidth_bytes_per_second gauge"}) {
    EXPECT_NE(coordinator.find(line), std::string::npos) << line;
  }
  const std::string worker = HttpGet(cluster->worker_metrics_ports[0], "/metrics").body;
  for (const char* line : {"# TYPE tokenmeter_gemm_flops_per_second gauge",
                           "# TYPE tokenmeter_collective_bus_bandwidth_bytes_per_second gauge",
                           "# TYPE tokenmeter_device_power_watts gauge"}) {
    EXPECT_NE(worker.find(line), std::string::npos) << line;
  }
  // dcgm-exporter's label spelling on device series.
  EXPECT_NE(worker.find("Hostname=\""), std::string::npos);
  EXPECT_NE(worker.find("UUID=\""), std::string::npos);
  EXPECT_NE(worker.find("gpu=\"0\""), std::string::npos);
}

// Panels (and dashboard variables) on metrics every run produces: fleet,
// jobs, gemm, collectives.
TEST_F(PrometheusLoopTest, EveryPanelReturnsData) {
  auto checked = CheckPanels({""});
  for (const auto& f : checked.failures) ADD_FAILURE() << "panel without data: " << f;
}

// Panels on train-step figures: checked once a train-step result exists,
// else each is named in the skip message.
TEST_F(PrometheusLoopTest, TrainStepPanelsReturnData) {
  auto checked = CheckPanels({"train-step"});
  for (const auto& f : checked.failures) ADD_FAILURE() << "panel without data: " << f;
  if (!checked.skipped.empty()) GTEST_SKIP() << SkipMessage(checked.skipped);
}

// Panels on device energy and power: need a device that reports them. Here
// the workers read the fake RAPL counter, so none may be skipped.
TEST_F(PrometheusLoopTest, EnergyPanelsReturnData) {
  auto checked = CheckPanels({"energy", "power"});
  for (const auto& f : checked.failures) ADD_FAILURE() << "panel without data: " << f;
  EXPECT_TRUE(checked.skipped.empty()) << SkipMessage(checked.skipped);
}

// The energy figure against the fake counter's known power (TEST DATA). Each
// worker reads RAPL right before and right after its timed loop and scales
// it to full depth as its steps are, so a rank's energy is kFakeWatts × its
// own timed steps' time; the two workers share the host's counter, which
// counts once, as the longer of their windows. So per token
//   expected = kFakeWatts × (the longest rank's Σ timed steps) / timed tokens,
// each rank's steps from `results --iterations` (not the per-step slowest
// rank's time, which counts a one-rank stall twice: see
// LongestRankTrainStepSeconds). What may separate the measured figure from
// that, and the allowance for each:
//   - the fake counter lags the truth by its writer's longest gap between
//     updates during the run (measured: FakePowercap::MaxWriteGap), and the
//     reader may read as late again (at least 10 ms), at each end of the
//     window, spread over the timed tokens;
//   - the window also holds the clock reads and loop between the timed
//     steps, and the scaling to full depth divides by the executed time
//     measured around each step: 5%.
TEST_F(PrometheusLoopTest, EnergyPerTokenIsTheFakePowerOverTheTimedSteps) {
  ASSERT_TRUE(cluster->train_step_row.has_value()) << cluster->unmet["train-step"];
  const auto& row = *cluster->train_step_row;
  const double tokens_per_step = NumberField(row, "tokens_per_step");
  const double step_seconds = NumberField(row, "step_seconds_median");
  const double measured = NumberField(row, "energy_per_token_joules");
  const double longest_rank_seconds = LongestRankTrainStepSeconds(cluster->train_step_iterations);
  ASSERT_GT(tokens_per_step, 0);
  ASSERT_GT(step_seconds, 0);
  ASSERT_GT(longest_rank_seconds, 0) << "results --iterations --json printed:\n" << cluster->train_step_iterations;
  const double timed_tokens = tokens_per_step * kTrainStepIterations;
  const double expected = kFakeWatts * longest_rank_seconds / timed_tokens;
  const double gap = std::chrono::duration<double>(cluster->train_step_write_gap).count();
  const double lag = 2 * FakePowercap::WindowEndLagSeconds(cluster->train_step_write_gap);
  const double tolerance = 0.05 * expected + kFakeWatts * lag / timed_tokens;
  EXPECT_NEAR(measured, expected, tolerance)
      << "tokenmeter run --json: " << step_seconds << " s median step, " << tokens_per_step
      << " tokens per step; longest rank's timed steps " << longest_rank_seconds << " s; writer's longest gap "
      << gap * 1e3 << " ms";

  // The coordinator publishes the same figure; Prometheus has it.
  const std::string query =
      "tokenmeter_energy_per_token_joules{setup=\"" + kSetup + "\", workload=\"train-step/tiny/eager\"}";
  std::vector<double> values;
  Eventually([&] { return (values = QueryValues(query)).size() == 1; }, seconds(10));
  ASSERT_EQ(values.size(), 1u) << query;
  EXPECT_NEAR(values[0], measured, 1e-9 * measured);
}

// The live power gauge against the fake counter's known power (TEST DATA).
// Each worker samples its RAPL package power every second, job or not, as
// Δenergy / Δt of the shared fake counter, so each of the two series is
// kFakeWatts up to the lag of the readings at each end of the 1 s window:
// the fake writer's longest gap between updates so far (measured:
// FakePowercap::MaxWriteGap, which bounds how stale any reading was), and
// the sampler's own delay allowed as the same and at least 10 ms, at each
// end — as the energy check above, not a fixed lag a loaded machine
// exceeds (a stale first reading once made a window read 63.6 W).
TEST_F(PrometheusLoopTest, DevicePowerIsTheFakeCountersRate) {
  const std::string query = "tokenmeter_device_power_watts{setup=\"" + kSetup + "\", gpu=\"0\"}";
  std::vector<double> values;
  Eventually([&] { return (values = QueryValues(query)).size() == 2; }, seconds(10));
  ASSERT_EQ(values.size(), 2u) << query << cluster->Logs();
  const double gap = std::chrono::duration<double>(cluster->powercap->MaxWriteGap()).count();
  const double lag = FakePowercap::WindowEndLagSeconds(cluster->powercap->MaxWriteGap());
  constexpr double kWindowSeconds = 1.0;  // worker::kPowerSamplePeriod
  for (double watts : values) {
    EXPECT_NEAR(watts, kFakeWatts, kFakeWatts * 2 * lag / kWindowSeconds)
        << query << "; writer's longest gap " << gap * 1e3 << " ms";
  }
}

// Proves the check above can fail: a panel with a wrong metric name gets no
// data, and so would be reported.
TEST_F(PrometheusLoopTest, AWrongMetricNameHasNoData) {
  EXPECT_TRUE(HasData(Query("max by (setup, shape, dtype) (tokenmeter_result_gemm_flops_per_second)")));
  EXPECT_FALSE(HasData(Query("max by (setup, shape, dtype) (tokenmeter_result_gemm_flop_per_second)")));
  EXPECT_FALSE(HasData(Query("tokenmeter_workers{state=\"no-such-state\"}")));
}

// The recording rules run inside this Prometheus and produce series.
TEST_F(PrometheusLoopTest, RecordingRulesProduceSeries) {
  for (const char* rule : {"setup_collective_size_bytes:tokenmeter_collective_bus_bandwidth_bytes_per_second:median",
                           "gpu:tokenmeter_collective_bus_bandwidth_bytes_per_second:ratio_to_setup_median",
                           "setup_dtype:tokenmeter_gemm_flops_per_second:max", "outcome:tokenmeter_jobs_total:rate15m",
                           "fleet:tokenmeter_jobs_failed:ratio_rate15m", "fleet:tokenmeter_job_duration_seconds:p50_1h",
                           "fleet:tokenmeter_job_duration_seconds:p95_1h"}) {
    QueryResult r;
    Eventually([&] { return HasData(r = Query(rule)); }, seconds(10));
    EXPECT_TRUE(HasData(r)) << rule << ": " << Describe(r);
  }
  // Two healthy CPU workers are no alert.
  auto alerts = Query("ALERTS{alertname=~\"TokenmeterWorkerLost|TokenmeterBusBandwidthLow\"}");
  EXPECT_EQ(alerts.series, 0);
}

}  // namespace
}  // namespace tokenmeter::metrics_test
