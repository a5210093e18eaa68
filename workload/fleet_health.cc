#include "workload/fleet_health.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "workload/strict_json.h"

namespace tokenmeter::workload {
namespace {

constexpr double kDefaultGemmMaxDeficit = 0.05;
constexpr double kDefaultBandwidthMaxDeficit = 0.10;
constexpr double kDefaultMaxCv = 0.25;
constexpr double kDefaultSpikeFactor = 1.5;
constexpr double kDefaultMaxSpikeFraction = 0.2;
constexpr double kDefaultMinStandardErrors = 3;

bool IsCpu(absl::string_view backend) { return backend == "cpu" || backend.empty(); }

absl::Status Invalid(absl::string_view field, double value, absl::string_view bound) {
  return absl::InvalidArgumentError(absl::StrCat("health rules: ", field, " must be ", bound, ", got ", value));
}

template <typename Message>
absl::StatusOr<Message> ReadJson(const std::string& path, absl::string_view what) {
  Message message;
  if (auto s = ReadStrictJsonFile(path, what, &message); !s.ok()) return s;
  return message;
}

std::string Percent(double fraction) { return absl::StrFormat("%g", fraction); }

// What Diagnose builds on: the rules, the names, and the figures by node.
class Judge {
 public:
  Judge(const std::vector<std::string>& names, const v1::HealthRules& rules) : names_(names), rules_(rules) {}

  // The bounds of one kind of check's variability: the rules', or twice the
  // fleet's median for that kind where that is higher (load on a shared
  // host makes every check of a kind vary; a variable node stands out).
  struct Bounds {
    double cv = 0, spike_fraction = 0;
  };
  template <typename Figures>
  Bounds BoundsFor(const Figures& figures) const {
    std::vector<double> cvs, spikes;
    for (const auto& f : figures) {
      cvs.push_back(CoefficientOfVariation(f.iteration_seconds));
      spikes.push_back(SpikeFraction(f.iteration_seconds, rules_.spike_factor()));
    }
    return {std::max(rules_.max_cv(), 2 * MedianOf(cvs)),
            std::max(rules_.max_spike_fraction(), 2 * MedianOf(spikes))};
  }

  // The variability findings of one check, if any.
  void Variability(const std::string& subject, std::vector<int> nodes, const std::string& check,
                   const std::vector<double>& seconds, const Bounds& bounds, std::vector<Finding>* out) const {
    const double cv = CoefficientOfVariation(seconds);
    if (cv > bounds.cv) {
      out->push_back({subject, nodes, check + "_cv", cv, bounds.cv, cv / bounds.cv - 1,
                      absl::StrCat("max_cv ", Percent(rules_.max_cv()), " (or twice the fleet's median)")});
    }
    const double spikes = SpikeFraction(seconds, rules_.spike_factor());
    if (spikes > bounds.spike_fraction) {
      out->push_back({subject, nodes, check + "_spike_fraction", spikes, bounds.spike_fraction,
                      spikes / bounds.spike_fraction - 1,
                      absl::StrCat("max_spike_fraction ", Percent(rules_.max_spike_fraction()), " above ",
                                   Percent(rules_.spike_factor()), "x the median (or twice the fleet's median)")});
    }
  }

  // A finding when value is more than max_deficit below baseline, and
  // more than min_standard_errors of the medians' relative standard errors
  // (value_se of the figure, baseline_se typical of the figures the
  // baseline came from).
  bool Short(const std::string& subject, std::vector<int> nodes, const std::string& metric, double value,
             double baseline, double max_deficit, const std::string& rule_name, double value_se, double baseline_se,
             std::vector<Finding>* out) const {
    if (baseline <= 0 || value >= baseline * (1 - max_deficit)) return false;
    const double deficit = 1 - value / baseline;
    if (deficit <= rules_.min_standard_errors() * std::hypot(value_se, baseline_se)) return false;
    out->push_back({subject, std::move(nodes), metric, value, baseline, -deficit,
                    absl::StrCat(rule_name, " ", Percent(max_deficit))});
    return true;
  }

  void Wrong(const std::string& subject, std::vector<int> nodes, int64_t wrong, std::vector<Finding>* out) const {
    if (wrong > 0) {
      out->push_back({subject, std::move(nodes), "wrong_elements", static_cast<double>(wrong), 0, 0,
                      "every element verified"});
    }
  }

  std::string Node(int i) const { return absl::StrCat("node ", names_.at(i)); }

 private:
  const std::vector<std::string>& names_;
  const v1::HealthRules& rules_;
};

}  // namespace

v1::WorkloadSpec FleetGemmCheck(absl::string_view backend, int iterations) {
  v1::WorkloadSpec spec;
  spec.set_name("fleet-check/gemm");
  spec.set_version(1);
  // A CPU core does a 1024-cube in tens of ms; a GPU needs 8192 to reach its
  // matmul ceiling (the MAMF class).
  const int64_t n = IsCpu(backend) ? 1024 : 8192;
  spec.set_warmup_iterations(IsCpu(backend) ? 3 : 10);
  spec.set_timed_iterations(iterations);
  auto* shape = spec.mutable_gemm()->add_shapes();
  shape->set_name(absl::StrCat("square-", n));
  shape->set_m(n);
  shape->set_n(n);
  shape->set_k(n);
  spec.mutable_gemm()->add_dtypes(IsCpu(backend) ? v1::DTYPE_FP32 : v1::DTYPE_BF16);
  return spec;
}

namespace {
v1::WorkloadSpec AllReduceAt(std::string name, int64_t bytes, int iterations) {
  v1::WorkloadSpec spec;
  spec.set_name(std::move(name));
  spec.set_version(1);
  spec.set_warmup_iterations(3);
  spec.set_timed_iterations(iterations);
  auto* c = spec.mutable_collective();
  c->add_ops(v1::ALL_REDUCE);
  c->set_min_bytes(bytes);
  c->set_max_bytes(bytes);
  c->set_step_factor(2);
  c->set_dtype(v1::DTYPE_FP32);
  return spec;
}
}  // namespace

// 32 MiB is far past the latency-bound sizes of TCP and takes a CPU tens of
// milliseconds, long enough that scheduling noise does not decide a 10%
// rule (at 4 MiB, loopback pairs on a 2-core VM varied by 20% run to run);
// 256 MiB is the size nccl-tests users quote bus bandwidth at.
v1::WorkloadSpec FleetPairCheck(absl::string_view backend, int iterations) {
  return AllReduceAt("fleet-check/pair", IsCpu(backend) ? (int64_t{32} << 20) : (int64_t{256} << 20), iterations);
}
v1::WorkloadSpec FleetIntraNodeCheck(absl::string_view backend, int iterations) {
  return AllReduceAt("fleet-check/intra-node", IsCpu(backend) ? (int64_t{4} << 20) : (int64_t{256} << 20),
                     iterations);
}

std::vector<PairRound> PairingRounds(int n, int all_pairs_up_to) {
  std::vector<PairRound> rounds;
  if (n < 2) return rounds;
  if (n <= all_pairs_up_to) {
    // The circle method: fix the first seat, rotate the others; with an odd
    // count the extra seat is a bye.
    const int seats = n % 2 ? n + 1 : n;
    std::vector<int> seat(seats);
    for (int i = 0; i < seats; ++i) seat[i] = i;
    for (int r = 0; r < seats - 1; ++r) {
      PairRound round;
      for (int i = 0; i < seats / 2; ++i) {
        const int a = seat[i], b = seat[seats - 1 - i];
        if (a < n && b < n) round.emplace_back(std::min(a, b), std::max(a, b));
      }
      rounds.push_back(std::move(round));
      std::rotate(seat.begin() + 1, seat.end() - 1, seat.end());
    }
    return rounds;
  }
  for (int stride = 1; stride < n; stride *= 2) {
    PairRound round;
    for (int i = 0; i < n; ++i) {
      if ((i / stride) % 2 == 0 && i + stride < n) round.emplace_back(i, i + stride);
    }
    rounds.push_back(std::move(round));
  }
  return rounds;
}

double RobustBaseline(std::vector<double> values, double floor_fraction) {
  while (!values.empty()) {
    const double median = MedianOf(values);
    std::vector<double> deviations;
    for (double v : values) deviations.push_back(std::abs(v - median));
    const double bound = std::max(3 * 1.4826 * MedianOf(deviations), floor_fraction * std::abs(median));
    std::vector<double> kept;
    for (double v : values) {
      if (std::abs(v - median) <= bound) kept.push_back(v);
    }
    if (kept.size() == values.size() || kept.empty()) return median;
    values = std::move(kept);
  }
  return 0;
}

double CoefficientOfVariation(const std::vector<double>& values) {
  if (values.size() < 2) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  const double mean = sum / values.size();
  if (mean == 0) return 0;
  double squares = 0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return std::sqrt(squares / (values.size() - 1)) / mean;
}

double RelativeStandardError(const std::vector<double>& values) {
  if (values.size() < 2) return 0;
  // The median's standard error is sqrt(pi/2) times the mean's for normal
  // noise; relative to the centre, as the rules' deficits are.
  return 1.2533 * CoefficientOfVariation(values) / std::sqrt(static_cast<double>(values.size()));
}

double SpikeFraction(const std::vector<double>& values, double factor) {
  if (values.empty()) return 0;
  const double median = MedianOf(values);
  int spikes = 0;
  for (double v : values) spikes += v > factor * median;
  return static_cast<double>(spikes) / values.size();
}

absl::StatusOr<v1::HealthRules> ResolveHealthRules(const v1::HealthRules& given) {
  v1::HealthRules r = given;
  if (r.gemm_max_deficit() == 0) r.set_gemm_max_deficit(kDefaultGemmMaxDeficit);
  if (r.bandwidth_max_deficit() == 0) r.set_bandwidth_max_deficit(kDefaultBandwidthMaxDeficit);
  if (r.max_cv() == 0) r.set_max_cv(kDefaultMaxCv);
  if (r.spike_factor() == 0) r.set_spike_factor(kDefaultSpikeFactor);
  if (r.max_spike_fraction() == 0) r.set_max_spike_fraction(kDefaultMaxSpikeFraction);
  if (r.min_standard_errors() == 0) r.set_min_standard_errors(kDefaultMinStandardErrors);
  if (!(r.gemm_max_deficit() > 0 && r.gemm_max_deficit() < 1)) {
    return Invalid("gemm_max_deficit", r.gemm_max_deficit(), "in (0, 1)");
  }
  if (!(r.bandwidth_max_deficit() > 0 && r.bandwidth_max_deficit() < 1)) {
    return Invalid("bandwidth_max_deficit", r.bandwidth_max_deficit(), "in (0, 1)");
  }
  if (!(r.max_cv() > 0 && r.max_cv() <= 1)) return Invalid("max_cv", r.max_cv(), "in (0, 1]");
  if (!(r.spike_factor() > 1 && r.spike_factor() <= 100)) {
    return Invalid("spike_factor", r.spike_factor(), "in (1, 100]");
  }
  if (!(r.max_spike_fraction() > 0 && r.max_spike_fraction() <= 1)) {
    return Invalid("max_spike_fraction", r.max_spike_fraction(), "in (0, 1]");
  }
  if (!(r.min_standard_errors() > 0 && r.min_standard_errors() <= 100)) {
    return Invalid("min_standard_errors", r.min_standard_errors(), "in (0, 100]");
  }
  return r;
}

absl::StatusOr<v1::HealthRules> LoadHealthRules(const std::string& path) {
  auto rules = ReadJson<v1::HealthRules>(path, "health rules");
  if (!rules.ok()) return rules.status();
  auto resolved = ResolveHealthRules(*rules);
  if (!resolved.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", resolved.status().message()));
  return resolved;
}

absl::StatusOr<v1::HealthBaseline> LoadHealthBaseline(const std::string& path) {
  auto baseline = ReadJson<v1::HealthBaseline>(path, "health baseline");
  if (!baseline.ok()) return baseline.status();
  for (const auto& [field, value] : {std::pair<const char*, double>{"gemm_tflops", baseline->gemm_tflops()},
                                     {"pair_busbw_gbps", baseline->pair_busbw_gbps()},
                                     {"intra_node_busbw_gbps", baseline->intra_node_busbw_gbps()}}) {
    if (!(value >= 0) || !std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": health baseline: ", field, " must be a finite number >= 0, got ", value));
    }
  }
  return baseline;
}

Diagnosis Diagnose(const std::vector<std::string>& node_names, const std::vector<DeviceFigure>& devices,
                   const std::vector<LinkFigure>& links, const v1::HealthRules& rules,
                   const v1::HealthBaseline& given) {
  Diagnosis d;
  d.nodes = static_cast<int>(node_names.size());
  const Judge judge(node_names, rules);
  std::vector<bool> node_short(node_names.size(), false);

  // Devices: GEMM against the fleet's robust centre (or the given one).
  std::vector<double> tflops;
  std::vector<double> gemm_errors;
  for (const auto& f : devices) {
    tflops.push_back(f.tflops);
    gemm_errors.push_back(RelativeStandardError(f.iteration_seconds));
  }
  d.baseline.set_gemm_tflops(given.gemm_tflops() > 0 ? given.gemm_tflops() : RobustBaseline(tflops));
  const double gemm_se = given.gemm_tflops() > 0 ? 0 : MedianOf(gemm_errors);
  const auto gemm_bounds = judge.BoundsFor(devices);
  for (const auto& f : devices) {
    const std::string subject = absl::StrCat("device ", f.device, " of ", judge.Node(f.node));
    const size_t before = d.findings.size();
    judge.Short(subject, {f.node}, "gemm_tflops", f.tflops, d.baseline.gemm_tflops(), rules.gemm_max_deficit(),
                "gemm_max_deficit", RelativeStandardError(f.iteration_seconds), gemm_se, &d.findings);
    judge.Variability(subject, {f.node}, "gemm", f.iteration_seconds, gemm_bounds, &d.findings);
    judge.Wrong(subject, {f.node}, f.wrong_elements, &d.findings);
    if (d.findings.size() > before) node_short[f.node] = true;
  }

  // Intra-node bandwidth: against the centre of the fleet's intra-node figures.
  std::vector<double> intra, intra_errors, pair_errors;
  for (const auto& l : links) {
    (l.b < 0 ? intra_errors : pair_errors).push_back(RelativeStandardError(l.iteration_seconds));
    if (l.b < 0) intra.push_back(l.busbw_gbps);
  }
  const double intra_se = given.intra_node_busbw_gbps() > 0 ? 0 : MedianOf(intra_errors);
  const double pair_se = given.pair_busbw_gbps() > 0 ? 0 : MedianOf(pair_errors);
  d.baseline.set_intra_node_busbw_gbps(given.intra_node_busbw_gbps() > 0 ? given.intra_node_busbw_gbps()
                                                                          : RobustBaseline(intra));

  // Between nodes: a node's network is as good as its fastest link shows.
  std::vector<double> fastest(node_names.size(), 0), fastest_se(node_names.size(), 0);
  std::vector<int> link_count(node_names.size(), 0);
  for (const auto& l : links) {
    if (l.b < 0) continue;
    for (int n : {l.a, l.b}) {
      if (l.busbw_gbps > fastest[n]) {
        fastest[n] = l.busbw_gbps;
        fastest_se[n] = RelativeStandardError(l.iteration_seconds);
      }
      ++link_count[n];
    }
  }
  std::vector<double> node_link_scores;
  for (size_t n = 0; n < node_names.size(); ++n) {
    if (link_count[n] > 0) node_link_scores.push_back(fastest[n]);
  }
  d.baseline.set_pair_busbw_gbps(given.pair_busbw_gbps() > 0 ? given.pair_busbw_gbps()
                                                             : RobustBaseline(node_link_scores));
  // A node whose every link (two at least) varies, or is short, is the cause.
  std::vector<int> variable_links(node_names.size(), 0);
  std::vector<std::vector<Finding>> link_variability(links.size());
  std::vector<LinkFigure> pair_links, intra_links;
  for (const auto& l : links) (l.b < 0 ? intra_links : pair_links).push_back(l);
  const auto pair_bounds = judge.BoundsFor(pair_links), intra_bounds = judge.BoundsFor(intra_links);
  for (size_t i = 0; i < links.size(); ++i) {
    const auto& l = links[i];
    const std::string check = l.b < 0 ? "intra_node" : "pair";
    judge.Variability("", {}, check, l.iteration_seconds, l.b < 0 ? intra_bounds : pair_bounds,
                      &link_variability[i]);
    if (l.b >= 0 && !link_variability[i].empty()) {
      ++variable_links[l.a];
      ++variable_links[l.b];
    }
  }
  std::vector<bool> network_short(node_names.size(), false);
  for (size_t n = 0; n < node_names.size(); ++n) {
    if (link_count[n] < 2) continue;
    const std::string subject = absl::StrCat("network of ", judge.Node(n));
    bool found = judge.Short(subject, {static_cast<int>(n)}, "pair_busbw_gbps", fastest[n],
                             d.baseline.pair_busbw_gbps(), rules.bandwidth_max_deficit(), "bandwidth_max_deficit",
                             fastest_se[n], pair_se, &d.findings);
    if (variable_links[n] == link_count[n]) {
      for (size_t i = 0; i < links.size(); ++i) {
        if (links[i].b < 0 || (links[i].a != static_cast<int>(n) && links[i].b != static_cast<int>(n))) continue;
        for (auto f : link_variability[i]) {
          f.subject = subject;
          f.nodes = {static_cast<int>(n)};
          d.findings.push_back(std::move(f));
        }
        found = true;
        break;  // one link's figures as the evidence
      }
    }
    network_short[n] = found;
  }
  for (size_t n = 0; n < node_names.size(); ++n) node_short[n] = node_short[n] || network_short[n];

  for (size_t i = 0; i < links.size(); ++i) {
    const auto& l = links[i];
    ++d.links;
    if (l.b < 0) {
      const std::string subject = absl::StrCat("devices of ", judge.Node(l.a));
      const size_t before = d.findings.size();
      judge.Wrong(subject, {l.a}, l.wrong_elements, &d.findings);
      judge.Short(subject, {l.a}, "intra_node_busbw_gbps", l.busbw_gbps, d.baseline.intra_node_busbw_gbps(),
                  rules.bandwidth_max_deficit(), "bandwidth_max_deficit", RelativeStandardError(l.iteration_seconds),
                  intra_se, &d.findings);
      for (auto f : link_variability[i]) {
        f.subject = subject;
        f.nodes = {l.a};
        d.findings.push_back(std::move(f));
      }
      if (d.findings.size() > before) ++d.defective_links;
      continue;
    }
    const std::string subject = absl::StrCat("link ", node_names[l.a], " - ", node_names[l.b]);
    const size_t before = d.findings.size();
    judge.Wrong(subject, {l.a, l.b}, l.wrong_elements, &d.findings);
    if (node_short[l.a] || node_short[l.b]) {  // explained by a short node
      d.defective_links += d.findings.size() > before;
      continue;
    }
    judge.Short(subject, {l.a, l.b}, "pair_busbw_gbps", l.busbw_gbps, d.baseline.pair_busbw_gbps(),
                rules.bandwidth_max_deficit(), "bandwidth_max_deficit", RelativeStandardError(l.iteration_seconds),
                pair_se, &d.findings);
    for (auto f : link_variability[i]) {
      f.subject = subject;
      f.nodes = {l.a, l.b};
      d.findings.push_back(std::move(f));
    }
    if (d.findings.size() > before) ++d.defective_links;
  }
  for (bool s : node_short) d.defective_nodes += s;
  return d;
}

Diagnosis Confirm(const Diagnosis& earlier, const Diagnosis& later) {
  std::set<std::pair<std::string, std::string>> found;
  for (const auto& f : earlier.findings) found.insert({f.subject, f.metric});
  Diagnosis d = later;
  d.findings.clear();
  for (const auto& f : later.findings) {
    if (found.count({f.subject, f.metric})) d.findings.push_back(f);
  }
  std::set<int> nodes;
  std::set<std::string> links;
  for (const auto& f : d.findings) {
    if (f.nodes.size() == 1 && !absl::StartsWith(f.subject, "devices of ")) nodes.insert(f.nodes[0]);
    if (f.nodes.size() == 2 || absl::StartsWith(f.subject, "devices of ")) links.insert(f.subject);
  }
  d.defective_nodes = static_cast<int>(nodes.size());
  d.defective_links = static_cast<int>(links.size());
  return d;
}

}  // namespace tokenmeter::workload
