// tokenmeter diagnose: which devices, hosts and links of a setup fall short
// of the rest (docs/fleet-health.md). Every check is an ordinary job pinned
// to its workers, so its result is stored like any other; the verdict is
// judged here from those results by workload/fleet_health.h.
#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/common_flags.h"
#include "cli/coordinator_client.h"
#include "cli/json_line.h"
#include "cli/signals.h"
#include "common/log.h"
#include "workload/fleet_health.h"

namespace tokenmeter::cli {
namespace {

constexpr const char* kCommand = "diagnose";

// One check: its spec, the workers (fleet indices) its job is pinned to in
// rank order, the ranks it takes, and what each run of it gave.
struct CheckJob {
  v1::WorkloadSpec spec;
  std::vector<int> nodes;
  int ranks = 1;
  std::vector<v1::JobResult> results;  // one per successful run
  std::string error;                   // of the last run, when it failed
};

class Checks {
 public:
  Checks(CoordinatorClient* client, std::vector<v1::WorkerStatus> fleet, std::string setup, absl::Duration timeout,
         const std::atomic<bool>* interrupted)
      : client_(client), fleet_(std::move(fleet)), setup_(std::move(setup)), timeout_(timeout),
        interrupted_(interrupted) {}

  // Runs the jobs: those on workers of distinct hosts at once, those sharing
  // a host one after another (workers of one host share its CPU, memory
  // bandwidth and NIC: measured together, each would slow the others' check).
  void Run(std::vector<CheckJob>& jobs) {
    std::vector<CheckJob*> all;
    for (auto& j : jobs) all.push_back(&j);
    Run(all);
  }
  void Run(std::vector<CheckJob*> left) {
    while (!left.empty() && !*interrupted_) {
      std::set<std::string> hosts;
      std::vector<CheckJob*> wave, later;
      for (auto* j : left) {
        bool clash = false;
        for (int n : j->nodes) clash = clash || hosts.count(Host(n));
        if (clash) {
          later.push_back(j);
          continue;
        }
        for (int n : j->nodes) hosts.insert(Host(n));
        wave.push_back(j);
      }
      RunAtOnce(wave);
      left = std::move(later);
    }
  }

  const std::string& Host(int node) const { return fleet_[node].inventory().hostname(); }

 private:
  void RunAtOnce(const std::vector<CheckJob*>& wave) {
    std::vector<std::pair<CheckJob*, std::string>> submitted;
    for (auto* j : wave) {
      std::vector<std::string> ids;
      for (int n : j->nodes) ids.push_back(fleet_[n].worker_id());
      auto id = client_->Submit(j->spec, j->ranks, setup_, false, 1, ids);
      if (!id.ok()) {
        j->error = std::string(id.status().message());
        continue;
      }
      submitted.emplace_back(j, *id);
    }
    for (auto& [j, id] : submitted) {
      auto status = client_->WaitForJob(id, timeout_, interrupted_);
      if (!status.ok()) {
        j->error = std::string(status.status().message());
        (void)client_->Cancel(id);
      } else if (status->state() != v1::JOB_SUCCEEDED) {
        j->error = absl::StrCat("job ", id, " ", v1::JobState_Name(status->state()), ": ", status->error());
      } else {
        j->error.clear();
        j->results.push_back(status->result());
      }
    }
  }

  CoordinatorClient* client_;
  std::vector<v1::WorkerStatus> fleet_;
  std::string setup_;
  absl::Duration timeout_;
  const std::atomic<bool>* interrupted_;
};

std::string NodeName(const v1::WorkerStatus& w) {
  const auto& inv = w.inventory();
  return absl::StrCat(w.worker_id(), " (", inv.hostname(), inv.collective_host().empty() ? "" : ", ",
                      inv.collective_host(), ")");
}

// The one setup of the idle workers, or the one asked for; their statuses.
absl::StatusOr<std::vector<v1::WorkerStatus>> Fleet(const std::vector<v1::WorkerStatus>& workers,
                                                    std::string* setup) {
  std::map<std::string, int> setups;
  for (const auto& w : workers) {
    if (w.state() == v1::WORKER_IDLE) ++setups[w.inventory().setup()];
  }
  if (setup->empty()) {
    if (setups.size() > 1) {
      std::vector<std::string> names;
      for (const auto& [s, n] : setups) names.push_back(absl::StrCat(s, " (", n, ")"));
      return absl::InvalidArgumentError(
          absl::StrCat("idle workers are in several setups: ", absl::StrJoin(names, ", "), "; give --setup"));
    }
    if (!setups.empty()) *setup = setups.begin()->first;
  }
  std::vector<v1::WorkerStatus> fleet;
  for (const auto& w : workers) {
    if (w.state() == v1::WORKER_IDLE && w.inventory().setup() == *setup) fleet.push_back(w);
  }
  if (fleet.empty()) return absl::FailedPreconditionError(absl::StrCat("no idle worker in setup '", *setup, "'"));
  return fleet;
}

struct Failure {
  std::string subject, error;
  std::vector<int> nodes;
};

void PrintTable(const workload::Diagnosis& d, const std::vector<Failure>& failures, const std::string& setup,
                std::ostream& out) {
  out << absl::StrFormat("# fleet health of setup %s: %d workers, %d links checked\n", setup, d.nodes, d.links);
  out << absl::StrFormat("# baseline: GEMM %.4g TFLOP/s per device, pair bus bandwidth %.4g GB/s", d.baseline.gemm_tflops(),
                         d.baseline.pair_busbw_gbps());
  if (d.baseline.intra_node_busbw_gbps() > 0) {
    out << absl::StrFormat(", intra-node %.4g GB/s", d.baseline.intra_node_busbw_gbps());
  }
  out << "\n";
  if (!d.findings.empty()) {
    out << absl::StrFormat("  %-58s %-26s %12s %12s %10s  %s\n", "defective", "metric", "value", "baseline",
                           "deviation", "rule");
    for (const auto& f : d.findings) {
      out << absl::StrFormat("  %-58s %-26s %12.4g %12.4g %+9.1f%%  %s\n", f.subject, f.metric, f.value, f.baseline,
                             100 * f.deviation, f.rule);
    }
  }
  for (const auto& f : failures) out << absl::StrFormat("  %-58s check failed: %s\n", f.subject, f.error);
  const bool healthy = d.findings.empty() && failures.empty();
  out << absl::StrFormat("# %s: %d of %d workers and %d of %d links healthy\n", healthy ? "HEALTHY" : "DEFECTIVE",
                         d.nodes - d.defective_nodes, d.nodes, d.links - d.defective_links, d.links);
}

void PrintJson(const workload::Diagnosis& d, const std::vector<Failure>& failures,
               const std::vector<workload::DeviceFigure>& devices, const std::vector<workload::LinkFigure>& links,
               const std::vector<v1::WorkerStatus>& fleet, const std::string& setup, std::ostream& out) {
  auto ids = [&](const std::vector<int>& nodes) {
    std::vector<std::string> v;
    for (int n : nodes) v.push_back(fleet[n].worker_id());
    return absl::StrJoin(v, ",");
  };
  // Every figure judged, so that a healthy verdict shows its evidence too.
  auto figure = [&](const std::string& metric, const std::vector<int>& nodes, int device, double value,
                    const std::vector<double>& seconds) {
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    JsonLine()
        .Add("kind", "check")
        .Add("worker_ids", ids(nodes))
        .Add("device", device)
        .Add("metric", metric)
        .Add("value", value)
        .Add("median_seconds", sorted.empty() ? 0.0 : sorted[sorted.size() / 2])
        .Add("cv", workload::CoefficientOfVariation(seconds))
        .WriteTo(out);
  };
  for (const auto& f : devices) figure("gemm_tflops", {f.node}, f.device, f.tflops, f.iteration_seconds);
  for (const auto& l : links) {
    if (l.b < 0) {
      figure("intra_node_busbw_gbps", {l.a}, -1, l.busbw_gbps, l.iteration_seconds);
    } else {
      figure("pair_busbw_gbps", {l.a, l.b}, -1, l.busbw_gbps, l.iteration_seconds);
    }
  }
  for (const auto& f : d.findings) {
    JsonLine()
        .Add("kind", "finding")
        .Add("subject", f.subject)
        .Add("worker_ids", ids(f.nodes))
        .Add("metric", f.metric)
        .Add("value", f.value)
        .Add("baseline", f.baseline)
        .Add("deviation", f.deviation)
        .Add("rule", f.rule)
        .WriteTo(out);
  }
  for (const auto& f : failures) {
    JsonLine()
        .Add("kind", "finding")
        .Add("subject", f.subject)
        .Add("worker_ids", ids(f.nodes))
        .Add("metric", "check_failed")
        .Add("error", f.error)
        .WriteTo(out);
  }
  JsonLine()
      .Add("kind", "diagnosis")
      .Add("setup", setup)
      .Add("healthy", d.findings.empty() && failures.empty())
      .Add("workers", d.nodes)
      .Add("links", d.links)
      .Add("defective_workers", d.defective_nodes)
      .Add("defective_links", d.defective_links)
      .Add("baseline_gemm_tflops", d.baseline.gemm_tflops())
      .Add("baseline_pair_busbw_gbps", d.baseline.pair_busbw_gbps())
      .Add("baseline_intra_node_busbw_gbps", d.baseline.intra_node_busbw_gbps())
      .WriteTo(out);
}

struct Figures {
  std::vector<workload::DeviceFigure> devices;
  std::vector<workload::LinkFigure> links;
  std::vector<Failure> failures;
};

// The check's best run: the one with the highest throughput, and, where it
// varied more than another run, the steadier run's iteration times.
template <typename Figure>
void KeepBest(Figure figure, double Figure::*value, std::map<std::pair<int, int>, Figure>* best,
              std::pair<int, int> key) {
  auto [it, fresh] = best->try_emplace(key, figure);
  if (fresh) return;
  Figure& kept = it->second;
  const bool steadier = workload::CoefficientOfVariation(figure.iteration_seconds) <
                        workload::CoefficientOfVariation(kept.iteration_seconds);
  if (figure.*value > kept.*value) std::swap(kept.*value, figure.*value);
  if (steadier) kept.iteration_seconds = figure.iteration_seconds;
  kept.wrong_elements = std::max(kept.wrong_elements, figure.wrong_elements);  // wrong once is wrong
}

Figures Collect(const std::vector<CheckJob*>& jobs, const std::vector<std::string>& names) {
  Figures out;
  std::map<std::pair<int, int>, workload::DeviceFigure> devices;
  std::map<std::pair<int, int>, workload::LinkFigure> links;
  for (const auto* j : jobs) {
    if (j->results.empty()) {
      std::vector<std::string> who;
      for (int node : j->nodes) who.push_back(names[node]);
      out.failures.push_back({absl::StrCat(j->spec.name(), " on ", absl::StrJoin(who, " - ")), j->error, j->nodes});
      continue;
    }
    for (const auto& result : j->results) {
      if (j->spec.has_gemm()) {
        for (const auto& rank : result.ranks()) {
          if (rank.gemm().empty()) continue;
          const auto& g = rank.gemm(0);
          workload::DeviceFigure f{j->nodes[0], rank.device().index(), g.tflops(),
                                   {g.iteration_seconds().begin(), g.iteration_seconds().end()},
                                   g.verified() ? g.wrong_elements() : std::max<int64_t>(g.wrong_elements(), 1)};
          KeepBest(f, &workload::DeviceFigure::tflops, &devices, {f.node, f.device});
        }
      } else if (!result.collective().empty()) {
        const auto& c = result.collective(0);
        workload::LinkFigure f{j->nodes[0], j->nodes.size() > 1 ? j->nodes[1] : -1, c.busbw_gbps(),
                               {c.iteration_seconds().begin(), c.iteration_seconds().end()}, c.wrong_elements()};
        KeepBest(f, &workload::LinkFigure::busbw_gbps, &links, {f.a, f.b});
      }
    }
  }
  for (auto& [key, f] : devices) out.devices.push_back(std::move(f));
  for (auto& [key, f] : links) out.links.push_back(std::move(f));
  return out;
}

}  // namespace

int DiagnoseCommand(const Args& args) {
  FlagSet flags(kCommand, "--coordinator HOST:PORT [--setup NAME] [--rules FILE] [--baseline FILE] [--json]");
  flags.Value("coordinator", "HOST:PORT", "the coordinator whose idle workers to check (required)");
  flags.Value("setup", "NAME", "check the idle workers of this setup (default: the one setup idle workers are in)");
  flags.Value("rules", "FILE", "HealthRules as JSON (docs/fleet-health.md); defaults for fields left out");
  flags.Value("baseline", "FILE", "HealthBaseline as JSON: judge against these figures, not the fleet's centre");
  flags.Value("write-baseline", "FILE", "write the baseline judged against, as a --baseline file");
  flags.Value("iterations", "N", "timed iterations of every check", "20");
  flags.Value("job-timeout", "SECONDS", "the longest one check may take", "600");
  flags.Value("confirmations", "N", "times the checks of implicated workers run again before a finding stands", "2");
  DeclareClientTlsFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/false);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto address = flags.Require("coordinator");
  if (!address.ok()) return Fail(kCommand, address.status(), kExitUsage);
  auto iterations = flags.GetInt("iterations", 5, 10000);
  if (!iterations.ok()) return Fail(kCommand, iterations.status(), kExitUsage);
  auto confirmations = flags.GetInt("confirmations", 0, 10);
  if (!confirmations.ok()) return Fail(kCommand, confirmations.status(), kExitUsage);
  auto job_timeout = GetSeconds(flags, "job-timeout", 1, 86400);
  if (!job_timeout.ok()) return Fail(kCommand, job_timeout.status(), kExitUsage);
  absl::StatusOr<v1::HealthRules> rules =
      flags.Has("rules") ? workload::LoadHealthRules(*flags.Get("rules")) : workload::ResolveHealthRules({});
  if (!rules.ok()) return Fail(kCommand, rules.status(), kExitUsage);
  v1::HealthBaseline given;
  if (flags.Has("baseline")) {
    auto b = workload::LoadHealthBaseline(*flags.Get("baseline"));
    if (!b.ok()) return Fail(kCommand, b.status(), kExitUsage);
    given = *b;
  }

  std::atomic<bool> interrupted{false};
  HandleShutdownSignals([&](int) {
    interrupted = true;
    Log(kCommand, "interrupted: cancelling the running checks");
  });
  auto client = CoordinatorClient::Connect(ClientChannelOptions(flags, *address), absl::Seconds(5));
  if (!client.ok()) return Fail(kCommand, client.status());
  auto workers = (*client)->ListWorkers(false);
  if (!workers.ok()) return Fail(kCommand, workers.status());
  std::string setup = flags.Get("setup").value_or("");
  auto fleet = Fleet(*workers, &setup);
  if (!fleet.ok()) return Fail(kCommand, fleet.status());
  const int n = static_cast<int>(fleet->size());
  std::vector<std::string> names;
  for (const auto& w : *fleet) names.push_back(NodeName(w));
  const std::string backend = fleet->front().inventory().backend();
  const int iters = static_cast<int>(*iterations);

  // Per worker: GEMM on every device, and its devices' collective where it
  // has several. Between workers: the pairing rounds.
  std::vector<CheckJob> local;
  for (int i = 0; i < n; ++i) {
    const int devices = (*fleet)[i].inventory().devices_size();
    local.push_back({workload::FleetGemmCheck(backend, iters), {i}, devices, {}, ""});
    if (devices > 1) local.push_back({workload::FleetIntraNodeCheck(backend, iters), {i}, devices, {}, ""});
  }
  const auto rounds = workload::PairingRounds(n);
  Log(kCommand, "checking ", n, " workers of setup ", setup, ": GEMM on each, then ", rounds.size(),
      " rounds of pairs");
  Checks checks(client->get(), *fleet, setup, *job_timeout, &interrupted);
  checks.Run(local);
  std::vector<CheckJob> pairs;
  for (size_t r = 0; r < rounds.size() && !interrupted; ++r) {
    std::vector<CheckJob> round;
    for (const auto& [a, b] : rounds[r]) round.push_back({workload::FleetPairCheck(backend, iters), {a, b}, 2, {}, ""});
    checks.Run(round);
    for (auto& j : round) pairs.push_back(std::move(j));
  }
  if (interrupted) return Fail(kCommand, absl::CancelledError("interrupted"));

  std::vector<CheckJob*> all;
  for (auto& j : local) all.push_back(&j);
  for (auto& j : pairs) all.push_back(&j);
  Figures figures = Collect(all, names);
  auto diagnosis = workload::Diagnose(names, figures.devices, figures.links, *rules, given);
  // A VM's or a shared network's noise can make any one measurement look
  // short; a defect shows in every one. Checks of implicated workers run
  // again, and each check is judged by its best run.
  for (int again = 0; again < *confirmations && !interrupted && !diagnosis.findings.empty(); ++again) {
    std::set<int> implicated;
    for (const auto& f : diagnosis.findings) implicated.insert(f.nodes.begin(), f.nodes.end());
    std::vector<CheckJob*> suspects;
    for (auto* j : all) {
      for (int node : j->nodes) {
        if (implicated.count(node)) {
          suspects.push_back(j);
          break;
        }
      }
    }
    Log(kCommand, diagnosis.findings.size(), " findings on ", implicated.size(), " workers: measuring their ",
        suspects.size(), " checks again");
    checks.Run(suspects);
    figures = Collect(all, names);
    diagnosis = workload::Diagnose(names, figures.devices, figures.links, *rules, given);
  }
  if (interrupted) return Fail(kCommand, absl::CancelledError("interrupted"));
  const auto& devices = figures.devices;
  const auto& links = figures.links;
  const auto& failures = figures.failures;
  if (flags.Has("write-baseline")) {
    std::ofstream out(*flags.Get("write-baseline"));
    out << CanonicalJson(diagnosis.baseline) << "\n";
    if (!out) {
      return Fail(kCommand, absl::UnavailableError(absl::StrCat("cannot write --write-baseline file '",
                                                                 *flags.Get("write-baseline"), "'")));
    }
  }
  if (OutputFormat(flags) == Format::kJson) {
    PrintJson(diagnosis, failures, devices, links, *fleet, setup, std::cout);
  } else {
    PrintTable(diagnosis, failures, setup, std::cout);
  }
  return diagnosis.findings.empty() && failures.empty() ? kExitOk : kExitFailed;
}

}  // namespace tokenmeter::cli
