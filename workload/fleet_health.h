// Fleet health: which devices, hosts and links of a fleet fall short of the
// rest (`tokenmeter diagnose`, docs/fleet-health.md). Pure functions: the
// checks' specs, the pairing pattern that covers every worker, the robust
// baseline, and the rules that turn figures into findings.
#ifndef TOKENMETER_WORKLOAD_FLEET_HEALTH_H_
#define TOKENMETER_WORKLOAD_FLEET_HEALTH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenmeter/v1/health.pb.h"
#include "workload/figures.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// The workload name a diagnosis is stored under (its result's `health`).
inline constexpr absl::string_view kFleetCheckWorkload = "fleet-check";

// ---- the checks
// The per-device GEMM check for a backend ("cpu", "cuda", ...): one square
// of the MAMF class in the backend's fastest common dtype, `iterations`
// timed after a warm-up. Named "fleet-check/gemm".
v1::WorkloadSpec FleetGemmCheck(absl::string_view backend, int iterations);
// The bandwidth check between two workers ("fleet-check/pair") or among one
// worker's devices ("fleet-check/intra-node"): all-reduce at one size large
// enough to be bandwidth-bound on the backend's links.
v1::WorkloadSpec FleetPairCheck(absl::string_view backend, int iterations);
v1::WorkloadSpec FleetIntraNodeCheck(absl::string_view backend, int iterations);

// ---- which pairs to measure
// Rounds of disjoint pairs of workers 0..n-1 (a worker is in one pair per
// round at most, so a round's pairs may run at once). Up to
// `all_pairs_up_to` workers: every pair once (a round-robin tournament,
// n-1 rounds for even n, n for odd). Above it: ceil(log2 n) rounds, round k
// pairing i with i + 2^k inside blocks of 2^(k+1) (a hypercube's dimensions;
// every worker is paired in some round, most in every one).
using PairRound = std::vector<std::pair<int, int>>;
std::vector<PairRound> PairingRounds(int n, int all_pairs_up_to = 16);

// ---- the baseline
// The robust centre of `values`: their median, after dropping, again and
// again until none is dropped, every value farther from the median of those
// kept than max(3 × 1.4826 × their median absolute deviation,
// floor_fraction × that median). 0 for no values.
double RobustBaseline(std::vector<double> values, double floor_fraction = 0.01);

// Coefficient of variation (sample standard deviation / mean); 0 for fewer
// than two values.
double CoefficientOfVariation(const std::vector<double>& values);
// The relative standard error of the median of `values` (iteration times),
// from their spread: 1.2533 × CV / sqrt(n); 0 for fewer than two.
double RelativeStandardError(const std::vector<double>& values);
// The fraction of values above factor × their median.
double SpikeFraction(const std::vector<double>& values, double factor);

// ---- the rules
// `given` with every field left at 0 set to its default; InvalidArgument
// naming the field and its bound for a value out of range (deficits in
// (0, 1), max_cv and max_spike_fraction in (0, 1], spike_factor in (1, 100],
// min_standard_errors in (0, 100]).
absl::StatusOr<v1::HealthRules> ResolveHealthRules(const v1::HealthRules& given);
// Rules and baselines from JSON files (protobuf's JSON reader; unknown fields
// are errors naming the file). Rules are resolved as above; baselines must
// be non-negative.
absl::StatusOr<v1::HealthRules> LoadHealthRules(const std::string& path);
absl::StatusOr<v1::HealthBaseline> LoadHealthBaseline(const std::string& path);

// ---- the figures and the verdict
// One device's GEMM check.
struct DeviceFigure {
  int node = 0;                          // index into the fleet's nodes
  int device = 0;                        // the device's index on its worker
  double tflops = 0;                     // at the median iteration
  std::vector<double> iteration_seconds;
  int64_t wrong_elements = 0;            // against the reference; > 0 is a finding whatever the speed
};
// One bandwidth check: between nodes a and b, or among node a's devices
// (b = -1).
struct LinkFigure {
  int a = 0, b = -1;
  double busbw_gbps = 0;                 // at the median iteration
  std::vector<double> iteration_seconds;
  int64_t wrong_elements = 0;            // as for DeviceFigure
};

// A node or link found short, with the evidence.
struct Finding {
  std::string subject;   // "node <name>", "device <i> of node <name>", "network of node <name>", "link <a> - <b>"
  std::vector<int> nodes;                // the nodes it implicates
  std::string metric;    // gemm_tflops, pair_busbw_gbps, intra_node_busbw_gbps, <check>_cv, <check>_spike_fraction
  double value = 0;
  double baseline = 0;   // for variability: the bound
  double deviation = 0;  // value / baseline - 1
  std::string rule;      // "gemm_max_deficit 0.05"
};

struct Diagnosis {
  v1::HealthBaseline baseline;           // the figures judged against
  std::vector<Finding> findings;
  int nodes = 0, links = 0;              // checked
  int defective_nodes = 0, defective_links = 0;
};

// Judges the fleet. A device is short when its TFLOP/s is more than
// gemm_max_deficit below the GEMM baseline (and, as every deficit, by more
// than min_standard_errors of the two medians' errors; a given baseline has
// none). A node's network is short when
// it has two links or more and even its fastest is more than
// bandwidth_max_deficit below the pair baseline (a bad NIC or host link
// slows every pair it is in); a link is short on its own when below the
// baseline while neither end is short (links of a short node are its
// evidence, not findings of their own). Wrong results are findings of the
// device or link that gave them. Checks whose iterations vary more than
// max_cv / max_spike_fraction allow, and more than twice the fleet's median
// for that kind of check, are findings too, attributed the same way. Baselines
// not given (0) are the robust centres of the fleet's own figures: of the
// devices' TFLOP/s, of the nodes' fastest links, of the intra-node figures.
Diagnosis Diagnose(const std::vector<std::string>& node_names, const std::vector<DeviceFigure>& devices,
                   const std::vector<LinkFigure>& links, const v1::HealthRules& rules,
                   const v1::HealthBaseline& given);

// `later` with only the findings `earlier` also had (the same subject and
// metric; the evidence is later's), and its defect counts recomputed.
Diagnosis Confirm(const Diagnosis& earlier, const Diagnosis& later);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_FLEET_HEALTH_H_
