#include "cli/diagnosis.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/json_line.h"
#include "common/log.h"
#include "workload/fleet_health.h"

namespace tokenmeter::cli {
namespace {

constexpr const char* kWho = "diagnose";

// One check: its spec, the workers (fleet indices) its job is pinned to in
// rank order, the ranks it takes, and what each run of it gave.
struct CheckJob {
  v1::WorkloadSpec spec;
  std::vector<int> nodes;
  int ranks = 1;
  std::vector<v1::JobResult> results;  // one per successful run
  std::string error;                   // of the last run, when it failed
  bool last_run_failed = false;
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
        j->last_run_failed = true;
        continue;
      }
      submitted.emplace_back(j, *id);
    }
    for (auto& [j, id] : submitted) {
      auto status = client_->WaitForJob(id, timeout_, interrupted_);
      j->last_run_failed = true;
      if (!status.ok()) {
        j->error = std::string(status.status().message());
        (void)client_->Cancel(id);
      } else if (status->state() != v1::JOB_SUCCEEDED) {
        j->error = absl::StrCat("job ", id, " ", v1::JobState_Name(status->state()), ": ", status->error());
      } else {
        j->last_run_failed = false;
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
    if (setups.empty()) return absl::FailedPreconditionError("no worker is idle: nothing to check");
    *setup = setups.begin()->first;
  }
  std::vector<v1::WorkerStatus> fleet;
  std::vector<std::string> busy;
  for (const auto& w : workers) {
    if (w.inventory().setup() != *setup) continue;
    if (w.state() == v1::WORKER_IDLE) {
      fleet.push_back(w);
    } else {
      busy.push_back(w.worker_id());
    }
  }
  if (fleet.empty()) return absl::FailedPreconditionError(absl::StrCat("no idle worker in setup '", *setup, "'"));
  // Said, not hidden: a busy worker is not checked, and one worker alone has
  // no peers to be compared with.
  if (!busy.empty()) Log(kWho, "not checking ", busy.size(), " busy workers: ", absl::StrJoin(busy, ", "));
  if (fleet.size() == 1) {
    Log(kWho, "one idle worker: with no peers, only a --baseline file can find it short");
  }
  return fleet;
}

struct Failure {
  std::string subject, error;
  std::vector<int> nodes;
};

struct Figures {
  std::vector<workload::DeviceFigure> devices;
  std::vector<workload::LinkFigure> links;
  std::vector<Failure> failures;
};

// The figures of every check's last run; a check whose last run failed is
// a failure.
Figures Collect(const std::vector<CheckJob*>& jobs, const std::vector<std::string>& names) {
  Figures out;
  for (const auto* j : jobs) {
    if (j->last_run_failed || j->results.empty()) {
      std::vector<std::string> who;
      for (int node : j->nodes) who.push_back(names[node]);
      out.failures.push_back({absl::StrCat(j->spec.name(), " on ", absl::StrJoin(who, " - ")), j->error, j->nodes});
      continue;
    }
    const auto& result = j->results.back();
    if (j->spec.has_gemm()) {
      for (const auto& rank : result.ranks()) {
        if (rank.gemm().empty()) continue;
        const auto& g = rank.gemm(0);
        out.devices.push_back({j->nodes[0], rank.device().index(), g.tflops(),
                               {g.iteration_seconds().begin(), g.iteration_seconds().end()},
                               g.verified() ? g.wrong_elements() : std::max<int64_t>(g.wrong_elements(), 1)});
      }
    } else if (!result.collective().empty()) {
      const auto& c = result.collective(0);
      out.links.push_back({j->nodes[0], j->nodes.size() > 1 ? j->nodes[1] : -1, c.busbw_gbps(),
                           {c.iteration_seconds().begin(), c.iteration_seconds().end()}, c.wrong_elements()});
    }
  }
  return out;
}

// The report of a diagnosis: what was judged, and what was found.
v1::HealthReport Report(const workload::Diagnosis& d, const Figures& figures, const std::vector<CheckJob*>& jobs,
                        const std::vector<v1::WorkerStatus>& fleet, const v1::HealthRules& rules) {
  v1::HealthReport report;
  auto ids = [&](const std::vector<int>& nodes, google::protobuf::RepeatedPtrField<std::string>* out) {
    for (int n : nodes) out->Add(std::string(fleet[n].worker_id()));
  };
  *report.mutable_rules() = rules;
  *report.mutable_baseline() = d.baseline;
  for (const auto& f : figures.devices) {
    auto* r = report.add_figures();
    ids({f.node}, r->mutable_worker_ids());
    r->set_device(f.device);
    r->set_metric("gemm_tflops");
    r->set_value(f.tflops);
    r->set_median_seconds(workload::MedianOf(f.iteration_seconds));
    r->set_cv(workload::CoefficientOfVariation(f.iteration_seconds));
  }
  for (const auto& l : figures.links) {
    auto* r = report.add_figures();
    ids(l.b < 0 ? std::vector<int>{l.a} : std::vector<int>{l.a, l.b}, r->mutable_worker_ids());
    r->set_device(-1);
    r->set_metric(l.b < 0 ? "intra_node_busbw_gbps" : "pair_busbw_gbps");
    r->set_value(l.busbw_gbps);
    r->set_median_seconds(workload::MedianOf(l.iteration_seconds));
    r->set_cv(workload::CoefficientOfVariation(l.iteration_seconds));
  }
  for (const auto& f : d.findings) {
    auto* r = report.add_findings();
    r->set_subject(f.subject);
    ids(f.nodes, r->mutable_worker_ids());
    r->set_metric(f.metric);
    r->set_value(f.value);
    r->set_baseline(f.baseline);
    r->set_deviation(f.deviation);
    r->set_rule(f.rule);
  }
  for (const auto& f : figures.failures) {
    auto* r = report.add_findings();
    r->set_subject(f.subject);
    ids(f.nodes, r->mutable_worker_ids());
    r->set_metric("check_failed");
    r->set_rule("every check completes");
    r->set_error(f.error);
  }
  report.set_workers(d.nodes);
  report.set_links(d.links);
  report.set_defective_workers(d.defective_nodes);
  report.set_defective_links(d.defective_links);
  report.set_healthy(report.findings().empty());
  for (const auto* j : jobs) {
    for (const auto& r : j->results) report.add_check_job_ids(r.job_id());
  }
  for (const auto& w : fleet) {
    report.add_worker_ids(w.worker_id());
    report.add_hostnames(w.inventory().hostname());
  }
  return report;
}

}  // namespace

absl::StatusOr<v1::HealthReport> RunDiagnosis(CoordinatorClient& client, DiagnosisOptions& options,
                                              const std::atomic<bool>* interrupted) {
  auto workers = client.ListWorkers(false);
  if (!workers.ok()) return workers.status();
  auto fleet = Fleet(*workers, &options.setup);
  if (!fleet.ok()) return fleet.status();
  const int n = static_cast<int>(fleet->size());
  std::vector<std::string> names;
  for (const auto& w : *fleet) names.push_back(NodeName(w));
  const std::string backend = fleet->front().inventory().backend();
  const int iters = options.iterations;

  // Per worker: GEMM on every device, and its devices' collective where it
  // has several. Between workers: the pairing rounds.
  std::vector<CheckJob> local;
  for (int i = 0; i < n; ++i) {
    const int devices = (*fleet)[i].inventory().devices_size();
    local.push_back({workload::FleetGemmCheck(backend, iters), {i}, devices, {}, ""});
    if (devices > 1) local.push_back({workload::FleetIntraNodeCheck(backend, iters), {i}, devices, {}, ""});
  }
  const auto rounds = workload::PairingRounds(n);
  Log(kWho, "checking ", n, " workers of setup ", options.setup, ": GEMM on each, then ", rounds.size(),
      " rounds of pairs");
  Checks checks(&client, *fleet, options.setup, options.job_timeout, interrupted);
  checks.Run(local);
  std::vector<CheckJob> pairs;
  for (size_t r = 0; r < rounds.size() && !*interrupted; ++r) {
    std::vector<CheckJob> round;
    for (const auto& [a, b] : rounds[r]) round.push_back({workload::FleetPairCheck(backend, iters), {a, b}, 2, {}, ""});
    checks.Run(round);
    for (auto& j : round) pairs.push_back(std::move(j));
  }
  if (*interrupted) return absl::CancelledError("interrupted");

  std::vector<CheckJob*> all;
  for (auto& j : local) all.push_back(&j);
  for (auto& j : pairs) all.push_back(&j);
  Figures figures = Collect(all, names);
  auto diagnosis = workload::Diagnose(names, figures.devices, figures.links, options.rules, options.baseline);
  // A shared host drifts: on the 2-core VM loopback pairs ran 40% slower for
  // seconds at a time, so one run can catch a healthy link in a slow
  // moment. A defect shows in every run: while there are findings (or
  // failures), the whole check set runs again, each run judged against its
  // own baseline, and only what every run found stands.
  for (int again = 0; again < options.confirmations && !*interrupted &&
                      (!diagnosis.findings.empty() || !figures.failures.empty());
       ++again) {
    Log(kWho, diagnosis.findings.size() + figures.failures.size(), " findings: running every check again (",
        again + 1, " of ", options.confirmations, ")");
    const auto earlier = diagnosis;
    checks.Run(all);
    figures = Collect(all, names);
    diagnosis = workload::Confirm(
        earlier, workload::Diagnose(names, figures.devices, figures.links, options.rules, options.baseline));
  }
  if (*interrupted) return absl::CancelledError("interrupted");
  return Report(diagnosis, figures, all, *fleet, options.rules);
}

std::string HealthHeadline(const v1::HealthReport& report) {
  return absl::StrFormat("%s: %d of %d workers and %d of %d links healthy", report.healthy() ? "HEALTHY" : "DEFECTIVE",
                         report.workers() - report.defective_workers(), report.workers(),
                         report.links() - report.defective_links(), report.links());
}

void PrintHealthReport(const v1::HealthReport& report, const std::string& setup, Format format, std::ostream& out) {
  const auto& b = report.baseline();
  if (format == Format::kJson) {
    for (const auto& f : report.figures()) {
      JsonLine()
          .Add("kind", "check")
          .Add("worker_ids", absl::StrJoin(f.worker_ids(), ","))
          .Add("device", f.device())
          .Add("metric", f.metric())
          .Add("value", f.value())
          .Add("median_seconds", f.median_seconds())
          .Add("cv", f.cv())
          .WriteTo(out);
    }
    for (const auto& f : report.findings()) {
      JsonLine line;
      line.Add("kind", "finding")
          .Add("subject", f.subject())
          .Add("worker_ids", absl::StrJoin(f.worker_ids(), ","))
          .Add("metric", f.metric());
      if (f.metric() == "check_failed") {
        line.Add("error", f.error());
      } else {
        line.Add("value", f.value()).Add("baseline", f.baseline()).Add("deviation", f.deviation()).Add("rule", f.rule());
      }
      line.WriteTo(out);
    }
    JsonLine()
        .Add("kind", "diagnosis")
        .Add("setup", setup)
        .Add("healthy", report.healthy())
        .Add("workers", report.workers())
        .Add("links", report.links())
        .Add("defective_workers", report.defective_workers())
        .Add("defective_links", report.defective_links())
        .Add("baseline_gemm_tflops", b.gemm_tflops())
        .Add("baseline_pair_busbw_gbps", b.pair_busbw_gbps())
        .Add("baseline_intra_node_busbw_gbps", b.intra_node_busbw_gbps())
        .WriteTo(out);
    return;
  }
  out << absl::StrFormat("# fleet health of setup %s: %d workers, %d links checked\n", setup, report.workers(),
                         report.links());
  out << absl::StrFormat("# baseline: GEMM %.4g TFLOP/s per device, pair bus bandwidth %.4g GB/s", b.gemm_tflops(),
                         b.pair_busbw_gbps());
  if (b.intra_node_busbw_gbps() > 0) out << absl::StrFormat(", intra-node %.4g GB/s", b.intra_node_busbw_gbps());
  out << "\n";
  bool header = false;
  for (const auto& f : report.findings()) {
    if (f.metric() == "check_failed") continue;
    if (!header) {
      out << absl::StrFormat("  %-58s %-26s %12s %12s %10s  %s\n", "defective", "metric", "value", "baseline",
                             "deviation", "rule");
      header = true;
    }
    out << absl::StrFormat("  %-58s %-26s %12.4g %12.4g %+9.1f%%  %s\n", f.subject(), f.metric(), f.value(),
                           f.baseline(), 100 * f.deviation(), f.rule());
  }
  for (const auto& f : report.findings()) {
    if (f.metric() == "check_failed") out << absl::StrFormat("  %-58s check failed: %s\n", f.subject(), f.error());
  }
  out << "# " << HealthHeadline(report) << "\n";
}

}  // namespace tokenmeter::cli
