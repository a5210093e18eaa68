// Fleet health: the pairing pattern, the robust baseline, the rules and how
// findings are attributed to devices, nodes and links.
#include "workload/fleet_health.h"

#include <cmath>
#include <fstream>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::workload {
namespace {

using ::testing::HasSubstr;

// Every pair of a round is disjoint, no pair is measured twice.
void ExpectWellFormed(const std::vector<PairRound>& rounds, int n) {
  std::set<std::pair<int, int>> seen;
  for (const auto& round : rounds) {
    std::set<int> busy;
    for (const auto& [a, b] : round) {
      EXPECT_LT(a, b);
      EXPECT_GE(a, 0);
      EXPECT_LT(b, n);
      EXPECT_TRUE(busy.insert(a).second) << a << " twice in a round";
      EXPECT_TRUE(busy.insert(b).second) << b << " twice in a round";
      EXPECT_TRUE(seen.insert({a, b}).second) << a << "-" << b << " twice";
    }
  }
}

TEST(PairingRounds, SmallFleetsMeasureEveryPairOnce) {
  for (int n = 2; n <= 16; ++n) {
    const auto rounds = PairingRounds(n);
    ExpectWellFormed(rounds, n);
    int pairs = 0;
    for (const auto& r : rounds) pairs += static_cast<int>(r.size());
    EXPECT_EQ(pairs, n * (n - 1) / 2) << n;
    EXPECT_EQ(static_cast<int>(rounds.size()), n % 2 ? n : n - 1) << n;
  }
  EXPECT_TRUE(PairingRounds(1).empty());
  EXPECT_TRUE(PairingRounds(0).empty());
}

TEST(PairingRounds, LargeFleetsAreCoveredInLog2Rounds) {
  for (int n : {17, 32, 100, 1000, 16384}) {
    const auto rounds = PairingRounds(n);
    ExpectWellFormed(rounds, n);
    EXPECT_EQ(static_cast<int>(rounds.size()), static_cast<int>(std::ceil(std::log2(n)))) << n;
    std::vector<int> partners(n, 0);
    for (const auto& r : rounds) {
      for (const auto& [a, b] : r) {
        ++partners[a];
        ++partners[b];
      }
    }
    for (int i = 0; i < n; ++i) EXPECT_GE(partners[i], 1) << "worker " << i << " of " << n;
  }
  // A power of two: every worker in every round, log2 n partners each.
  for (const auto& r : PairingRounds(64)) EXPECT_EQ(r.size(), 32u);
}

TEST(RobustBaseline, IgnoresOutliersAndToleratesNoise) {
  EXPECT_DOUBLE_EQ(RobustBaseline({100, 100, 50}), 100);
  EXPECT_DOUBLE_EQ(RobustBaseline({100, 97, 103}), 100);
  EXPECT_DOUBLE_EQ(RobustBaseline({10, 11, 10.5, 10.2, 3, 40}), 10.35);
  EXPECT_DOUBLE_EQ(RobustBaseline({42}), 42);
  EXPECT_DOUBLE_EQ(RobustBaseline({}), 0);
}

TEST(Variability, CoefficientOfVariationAndSpikes) {
  EXPECT_DOUBLE_EQ(CoefficientOfVariation({2, 2, 2}), 0);
  EXPECT_NEAR(CoefficientOfVariation({1, 3}), std::sqrt(2.0) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(CoefficientOfVariation({5}), 0);
  EXPECT_DOUBLE_EQ(SpikeFraction({1, 1, 1, 2}, 1.5), 0.25);
  EXPECT_DOUBLE_EQ(SpikeFraction({1, 1, 1, 1.4}, 1.5), 0);
}

TEST(HealthRules, DefaultsAndBounds) {
  auto r = ResolveHealthRules({});
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->gemm_max_deficit(), 0.05);
  EXPECT_DOUBLE_EQ(r->bandwidth_max_deficit(), 0.10);
  EXPECT_DOUBLE_EQ(r->max_cv(), 0.25);
  EXPECT_DOUBLE_EQ(r->spike_factor(), 1.5);
  EXPECT_DOUBLE_EQ(r->max_spike_fraction(), 0.2);
  EXPECT_DOUBLE_EQ(r->min_standard_errors(), 3);
  v1::HealthRules bad;
  bad.set_gemm_max_deficit(1.5);
  EXPECT_THAT(ResolveHealthRules(bad).status().message(), HasSubstr("gemm_max_deficit must be in (0, 1), got 1.5"));
  bad.Clear();
  bad.set_spike_factor(0.5);
  EXPECT_THAT(ResolveHealthRules(bad).status().message(), HasSubstr("spike_factor must be in (1, 100]"));
}

TEST(HealthRules, FilesRefuseUnknownFieldsAndNameTheFile) {
  testing::TempDir dir;
  const std::string good = dir.File("rules.json"), typo = dir.File("typo.json"), base = dir.File("base.json");
  std::ofstream(good) << R"({"gemm_max_deficit": 0.08})";
  std::ofstream(typo) << R"({"gemm_max_defict": 0.08})";
  std::ofstream(base) << R"({"gemm_tflops": -1})";
  auto rules = LoadHealthRules(good);
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_DOUBLE_EQ(rules->gemm_max_deficit(), 0.08);
  EXPECT_DOUBLE_EQ(rules->max_cv(), 0.25);
  auto refused = LoadHealthRules(typo);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr(typo));
  EXPECT_THAT(refused.status().message(), HasSubstr("gemm_max_defict"));
  EXPECT_THAT(LoadHealthBaseline(base).status().message(), HasSubstr("gemm_tflops must be a finite number >= 0"));
  EXPECT_EQ(LoadHealthRules(dir.File("absent.json")).status().code(), absl::StatusCode::kNotFound);
}

std::vector<double> Steady(double seconds, int n = 20) { return std::vector<double>(n, seconds); }

v1::HealthRules Defaults() { return *ResolveHealthRules({}); }

// Three nodes, each with one device, all pairs measured.
struct Fleet {
  std::vector<std::string> names = {"a", "b", "c"};
  std::vector<DeviceFigure> devices = {{0, 0, 1.0, Steady(0.1)}, {1, 0, 1.0, Steady(0.1)}, {2, 0, 1.0, Steady(0.1)}};
  std::vector<LinkFigure> links = {{0, 1, 10, Steady(0.01)}, {0, 2, 10, Steady(0.01)}, {1, 2, 10, Steady(0.01)}};
  Diagnosis Run(const v1::HealthBaseline& given = {}) const { return Diagnose(names, devices, links, Defaults(), given); }
};

TEST(Diagnose, AHealthyFleetHasNoFindings) {
  Fleet fleet;
  fleet.devices[1].tflops = 0.97;  // noise inside the 5% rule
  fleet.links[2].busbw_gbps = 9.3;
  const auto d = fleet.Run();
  EXPECT_TRUE(d.findings.empty()) << d.findings[0].subject;
  EXPECT_EQ(d.nodes, 3);
  EXPECT_EQ(d.links, 3);
  EXPECT_EQ(d.defective_nodes, 0);
  EXPECT_DOUBLE_EQ(d.baseline.gemm_tflops(), 1.0);
  EXPECT_DOUBLE_EQ(d.baseline.pair_busbw_gbps(), 10);
}

TEST(Diagnose, ASlowDeviceIsNamedWithItsEvidence) {
  Fleet fleet;
  fleet.devices[2].tflops = 0.5;
  const auto d = fleet.Run();
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].subject, "device 0 of node c");
  EXPECT_EQ(d.findings[0].metric, "gemm_tflops");
  EXPECT_DOUBLE_EQ(d.findings[0].value, 0.5);
  EXPECT_DOUBLE_EQ(d.findings[0].baseline, 1.0);
  EXPECT_DOUBLE_EQ(d.findings[0].deviation, -0.5);
  EXPECT_EQ(d.findings[0].rule, "gemm_max_deficit 0.05");
  EXPECT_EQ(d.defective_nodes, 1);
}

// A slow host link slows every pair the host is in: the host's network is
// named, not its links, and not the other hosts.
TEST(Diagnose, ASlowHostLinkNamesThatHostsNetworkOnly) {
  Fleet fleet;
  fleet.links[1].busbw_gbps = 4;  // a - c
  fleet.links[2].busbw_gbps = 4;  // b - c
  const auto d = fleet.Run();
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].subject, "network of node c");
  EXPECT_EQ(d.findings[0].nodes, std::vector<int>{2});
  EXPECT_DOUBLE_EQ(d.findings[0].baseline, 10);
  EXPECT_EQ(d.defective_nodes, 1);
  EXPECT_EQ(d.defective_links, 0);
}

// One bad cable between hosts whose other links are fine: the link.
TEST(Diagnose, ASlowLinkBetweenHealthyNodesIsNamedAsTheLink) {
  Fleet fleet;
  fleet.names.push_back("d");
  fleet.devices.push_back({3, 0, 1.0, Steady(0.1)});
  fleet.links = {{0, 1, 10, Steady(0.01)}, {2, 3, 10, Steady(0.01)}, {0, 2, 10, Steady(0.01)},
                 {1, 3, 3, Steady(0.03)},  {0, 3, 10, Steady(0.01)}, {1, 2, 10, Steady(0.01)}};
  const auto d = fleet.Run();
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].subject, "link b - d");
  EXPECT_EQ(d.defective_links, 1);
  EXPECT_EQ(d.defective_nodes, 0);
}

// A gap inside the noise of the medians compared is no finding: a node is
// not sent for repair on a coin toss.
TEST(Diagnose, AGapInsideTheNoiseIsNoFinding) {
  std::vector<double> noisy;
  for (int i = 0; i < 20; ++i) noisy.push_back(i % 2 ? 0.013 : 0.009);  // CV ~0.2
  Fleet fleet;
  fleet.devices[2].tflops = 0.88;
  fleet.devices[2].iteration_seconds = noisy;
  fleet.devices[0].iteration_seconds = noisy;
  fleet.devices[1].iteration_seconds = noisy;
  auto rules = Defaults();
  rules.set_max_cv(1);  // judge the gap alone
  EXPECT_TRUE(Diagnose(fleet.names, fleet.devices, fleet.links, rules, {}).findings.empty());
  // The same 12% gap measured steadily is one.
  for (auto& f : fleet.devices) f.iteration_seconds = Steady(0.1);
  const auto steady = Diagnose(fleet.names, fleet.devices, fleet.links, rules, {});
  ASSERT_EQ(steady.findings.size(), 1u);
  EXPECT_NEAR(steady.findings[0].deviation, -0.12, 1e-12);
  EXPECT_NEAR(RelativeStandardError(noisy), 1.2533 * CoefficientOfVariation(noisy) / std::sqrt(20.0), 1e-15);
}

TEST(Diagnose, VariableIterationsAreFindings) {
  Fleet fleet;
  fleet.devices[0].iteration_seconds = Steady(0.1);
  for (int i = 0; i < 6; ++i) fleet.devices[0].iteration_seconds[i] = 0.2;  // 30% of them spikes
  const auto d = fleet.Run();
  ASSERT_FALSE(d.findings.empty());
  bool spikes = false;
  for (const auto& f : d.findings) {
    EXPECT_EQ(f.subject, "device 0 of node a");
    spikes = spikes || f.metric == "gemm_spike_fraction";
  }
  EXPECT_TRUE(spikes);
  // Every device as variable (load on a shared host): nobody stands out.
  for (auto& f : fleet.devices) f.iteration_seconds = fleet.devices[0].iteration_seconds;
  EXPECT_TRUE(fleet.Run().findings.empty());
}

// With two nodes there is one link and no fleet to compare it with: only a
// given baseline can judge it.
TEST(Diagnose, AGivenBaselineJudgesWhatTheFleetCannot) {
  std::vector<std::string> names = {"a", "b"};
  std::vector<DeviceFigure> devices = {{0, 0, 1.0, Steady(0.1)}, {1, 0, 1.0, Steady(0.1)}};
  std::vector<LinkFigure> links = {{0, 1, 5, Steady(0.02)}};
  EXPECT_TRUE(Diagnose(names, devices, links, Defaults(), {}).findings.empty());
  v1::HealthBaseline given;
  given.set_pair_busbw_gbps(10);
  const auto d = Diagnose(names, devices, links, Defaults(), given);
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].subject, "link a - b");
  EXPECT_DOUBLE_EQ(d.findings[0].deviation, -0.5);
  // Ends that are short themselves explain their link.
  given.set_gemm_tflops(2.0);
  const auto both = Diagnose(names, devices, links, Defaults(), given);
  ASSERT_EQ(both.findings.size(), 2u);
  EXPECT_EQ(both.findings[0].subject, "device 0 of node a");
  EXPECT_EQ(both.findings[1].subject, "device 0 of node b");
}

// A worker's devices' collective short of the fleet's: the worker's
// devices are named (a bad NVLink or PCIe switch), counted as a link.
TEST(Diagnose, AShortIntraNodeCollectiveNamesThatWorkersDevices) {
  Fleet fleet;
  for (int n = 0; n < 3; ++n) fleet.links.push_back({n, -1, n == 1 ? 200.0 : 400.0, Steady(0.005)});
  const auto d = fleet.Run();
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].subject, "devices of node b");
  EXPECT_EQ(d.findings[0].metric, "intra_node_busbw_gbps");
  EXPECT_DOUBLE_EQ(d.findings[0].baseline, 400);
  EXPECT_DOUBLE_EQ(d.baseline.intra_node_busbw_gbps(), 400);
  EXPECT_EQ(d.defective_links, 1);
  EXPECT_EQ(d.defective_nodes, 0);
  EXPECT_EQ(Confirm(d, d).defective_links, 1);
}

// Only what every run found stands: a healthy link caught in a slow moment
// once is not a finding; a slow device found twice is.
TEST(Diagnose, ConfirmKeepsOnlyWhatEveryRunFound) {
  Fleet noisy;
  noisy.devices[2].tflops = 0.5;
  noisy.links[0].busbw_gbps = 5;  // a - b, once
  noisy.links[1].busbw_gbps = 12;
  noisy.links[2].busbw_gbps = 12;
  const auto first = noisy.Run();
  ASSERT_EQ(first.findings.size(), 2u);
  Fleet again;
  again.devices[2].tflops = 0.55;
  const auto second = again.Run();
  const auto confirmed = Confirm(first, second);
  ASSERT_EQ(confirmed.findings.size(), 1u);
  EXPECT_EQ(confirmed.findings[0].subject, "device 0 of node c");
  EXPECT_DOUBLE_EQ(confirmed.findings[0].value, 0.55);  // the later run's evidence
  EXPECT_EQ(confirmed.defective_nodes, 1);
  EXPECT_EQ(confirmed.defective_links, 0);
  EXPECT_TRUE(Confirm(Fleet().Run(), second).findings.empty());
}

TEST(Diagnose, ChecksAreSizedForTheirBackend) {
  const auto cpu = FleetGemmCheck("cpu", 20);
  EXPECT_EQ(cpu.name(), "fleet-check/gemm");
  EXPECT_EQ(cpu.gemm().shapes(0).m(), 1024);
  EXPECT_EQ(cpu.timed_iterations(), 20);
  EXPECT_EQ(FleetGemmCheck("cuda", 50).gemm().dtypes(0), v1::DTYPE_BF16);
  EXPECT_EQ(FleetPairCheck("cuda", 20).collective().max_bytes(), int64_t{256} << 20);
  EXPECT_EQ(FleetPairCheck("cpu", 20).collective().min_bytes(), int64_t{32} << 20);
}

}  // namespace
}  // namespace tokenmeter::workload
