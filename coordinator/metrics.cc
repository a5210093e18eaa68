#include "coordinator/metrics.h"

#include <iterator>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/metric_names.h"
#include "google/protobuf/util/time_util.h"
#include "workload/figures.h"

namespace tokenmeter::coordinator {
namespace {

using google::protobuf::util::TimeUtil;
namespace m = tokenmeter::metrics;

// The fixed label values: worker states in the order a scrape lists them,
// outcomes in the order of jobs_by_outcome_.
constexpr v1::WorkerState kStates[] = {v1::WORKER_IDLE, v1::WORKER_BUSY, v1::WORKER_LOST, v1::WORKER_GONE};
constexpr v1::JobState kOutcomes[] = {v1::JOB_SUCCEEDED, v1::JOB_FAILED, v1::JOB_CANCELLED};

std::string StateLabel(v1::WorkerState s) {
  switch (s) {
    case v1::WORKER_IDLE: return "idle";
    case v1::WORKER_BUSY: return "busy";
    case v1::WORKER_LOST: return "lost";
    case v1::WORKER_GONE: return "gone";
    default: return "unknown";
  }
}

std::string OutcomeLabel(v1::JobState s) {
  switch (s) {
    case v1::JOB_SUCCEEDED: return "succeeded";
    case v1::JOB_FAILED: return "failed";
    case v1::JOB_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

bool Live(v1::WorkerState s) { return s == v1::WORKER_IDLE || s == v1::WORKER_BUSY; }

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

}  // namespace

// Builds the fleet's families at scrape time rather than keeping a gauge
// child per worker: nothing to refresh between scrapes, nothing to remove.
class CoordinatorMetrics::FleetCollectable : public prometheus::Collectable {
 public:
  void SetSource(FleetSource source) {
    absl::MutexLock lock(&mu_);
    source_ = std::move(source);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<WorkerAge> fleet;
    {
      absl::MutexLock lock(&mu_);
      if (source_) fleet = source_();
    }
    prometheus::MetricFamily workers{m::kWorkers, "Registered workers by state (idle, busy, lost, gone)",
                                     prometheus::MetricType::Gauge, {}};
    prometheus::MetricFamily ages{m::kHeartbeatAge,
                                  "Seconds since each live worker's last heart-beat (absent once it is lost)",
                                  prometheus::MetricType::Gauge, {}};
    std::array<double, std::size(kStates)> counts{};
    ages.metric.reserve(fleet.size());
    for (auto& w : fleet) {
      for (size_t i = 0; i < std::size(kStates); ++i) {
        if (w.state == kStates[i]) counts[i] += 1;
      }
      if (!Live(w.state)) continue;
      prometheus::ClientMetric& age = ages.metric.emplace_back();
      age.label = {{m::kLabelWorker, std::move(w.worker_id)}, {m::kLabelHostname, std::move(w.hostname)}};
      age.gauge.value = w.heartbeat_age_seconds;
    }
    for (size_t i = 0; i < counts.size(); ++i) {
      prometheus::ClientMetric& count = workers.metric.emplace_back();
      count.label = {{m::kLabelState, StateLabel(kStates[i])}};
      count.gauge.value = counts[i];
    }
    std::vector<prometheus::MetricFamily> out;
    out.push_back(std::move(workers));
    out.push_back(std::move(ages));
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  FleetSource source_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> CoordinatorMetrics::Start(const std::string& address) {
  std::unique_ptr<CoordinatorMetrics> metrics(new CoordinatorMetrics());
  auto server = m::MetricsServer::Start(address);
  if (!server.ok()) return server.status();
  metrics->server_ = *std::move(server);
  auto& r = metrics->registry_;
  r = std::make_shared<prometheus::Registry>();
  Gauge(*r, m::kBuildInfo, "tokenmeter build information; the value is always 1")
      .Add({{m::kLabelVersion, TOKENMETER_VERSION}})
      .Set(1);

  metrics->jobs_ = &prometheus::BuildCounter()
                        .Name(m::kJobsTotal)
                        .Help("Jobs that reached a final state, by outcome (succeeded, failed, cancelled)")
                        .Register(*r);
  for (size_t i = 0; i < std::size(kOutcomes); ++i) {
    metrics->jobs_by_outcome_[i] = &metrics->jobs_->Add({{m::kLabelOutcome, OutcomeLabel(kOutcomes[i])}});
  }
  metrics->job_duration_ = &prometheus::BuildHistogram()
                                .Name(m::kJobDuration)
                                .Help("Wall time of finished jobs from start to end, in seconds")
                                .Register(*r)
                                .Add({}, prometheus::Histogram::BucketBoundaries{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600,
                                                                                1800, 3600});
  metrics->tokens_per_second_ =
      &Gauge(*r, m::kTokensPerSecond, "Training tokens per second of the latest train-step result");
  metrics->mfu_ = &Gauge(*r, m::kMfuRatio,
                         "Model FLOPs utilisation (0..1) of the latest train-step result, against the datasheet "
                         "peak (peak=\"datasheet\") or the measured maximum matmul FLOP/s (peak=\"mamf\")");
  metrics->cost_ = &Gauge(*r, m::kCostPerMillionTokens,
                          "US dollars per million training tokens of the latest train-step result");
  metrics->energy_ = &Gauge(*r, m::kEnergyPerToken,
                            "Device energy per training token of the latest train-step result, in joules");
  metrics->gemm_flops_ = &Gauge(*r, m::kResultGemmFlops,
                                "GEMM FLOP/s per device of the latest result (slowest rank), per shape and dtype");
  metrics->mamf_ = &Gauge(*r, m::kResultMamf,
                          "Maximum achievable matmul FLOP/s per device (best shape) of the latest gemm result");
  metrics->busbw_ = &Gauge(*r, m::kResultBusBandwidth,
                           "Collective bus bandwidth in bytes/s (nccl-tests' busbw, a flat-fabric re-calibration) "
                           "of the latest result (slowest rank), per collective and size");
  metrics->node_health_ = &Gauge(*r, m::kNodeHealth,
                                 "1 when the setup's latest diagnosis found nothing wrong with the worker, 0 when it did");
  metrics->link_health_ = &Gauge(*r, m::kLinkHealth,
                                 "1 when the setup's latest diagnosis found the link between two workers healthy, 0 "
                                 "when it did not");
  metrics->health_deviation_ = &Gauge(*r, m::kHealthDeviation,
                                      "A finding of the setup's latest diagnosis: its value over its baseline, less "
                                      "1 (-0.4 = 40% short), the worst per worker, peer and metric");
  metrics->fleet_ = std::make_shared<FleetCollectable>();
  metrics->server_->RegisterCollectable(std::weak_ptr<prometheus::Collectable>(metrics->fleet_));
  metrics->server_->RegisterCollectable(r);
  return metrics;
}

int CoordinatorMetrics::port() const { return server_->port(); }

void CoordinatorMetrics::SetFleetSource(FleetSource source) { fleet_->SetSource(std::move(source)); }

void CoordinatorMetrics::JobFinished(const v1::JobStatus& job) {
  bool counted = false;
  for (size_t i = 0; i < std::size(kOutcomes); ++i) {
    if (job.state() == kOutcomes[i]) {
      jobs_by_outcome_[i]->Increment();
      counted = true;
    }
  }
  if (!counted) jobs_->Add({{m::kLabelOutcome, OutcomeLabel(job.state())}}).Increment();
  if (job.has_started_at() && job.has_finished_at()) {
    job_duration_->Observe(
        static_cast<double>(TimeUtil::TimestampToNanoseconds(job.finished_at()) -
                            TimeUtil::TimestampToNanoseconds(job.started_at())) /
        1e9);
  }
  if (job.state() == v1::JOB_SUCCEEDED) PublishResult(job.result());
}

void CoordinatorMetrics::PublishResult(const v1::JobResult& result) {
  if (result.has_health()) return PublishHealth(result);
  const std::map<std::string, std::string> labels = {{m::kLabelSetup, result.setup()},
                                                     {m::kLabelWorkload, result.spec().name()},
                                                     {m::kLabelDeviceModel, result.device_model()}};
  for (const auto& g : result.gemm()) {
    auto l = labels;
    l[m::kLabelShape] = g.shape().name();
    l[m::kLabelDtype] = std::string(workload::DTypeName(g.dtype()));
    gemm_flops_->Add(l).Set(g.tflops() * 1e12);
  }
  if (result.mamf_tflops() > 0) mamf_->Add(labels).Set(result.mamf_tflops() * 1e12);
  for (const auto& c : result.collective()) {
    auto l = labels;
    l[m::kLabelCollective] = std::string(workload::CollectiveOpName(c.op()));
    l[m::kLabelSizeBytes] = absl::StrCat(c.size_bytes());
    busbw_->Add(l).Set(c.busbw_gbps() * 1e9);
  }
  if (result.has_train_step()) {
    const auto& f = result.train_step();
    tokens_per_second_->Add(labels).Set(f.tokens_per_second());
    auto with_peak = [&](const char* peak) {
      auto l = labels;
      l[m::kLabelPeak] = peak;
      return l;
    };
    // 0 means unknown (no datasheet peak for the device, no price, no energy
    // reading): such a figure is left out rather than shown as 0.
    if (f.mfu() > 0) mfu_->Add(with_peak(m::kPeakDatasheet)).Set(f.mfu());
    if (f.mfu_mamf() > 0) mfu_->Add(with_peak(m::kPeakMamf)).Set(f.mfu_mamf());
    if (f.cost_per_million_tokens_dollars() > 0) cost_->Add(labels).Set(f.cost_per_million_tokens_dollars());
    if (f.energy_per_token_joules() > 0) energy_->Add(labels).Set(f.energy_per_token_joules());
  }
}

void CoordinatorMetrics::PublishHealth(const v1::JobResult& result) {
  const auto& report = result.health();
  const std::string& setup = result.setup();
  std::map<std::string, std::string> hostname;
  for (int i = 0; i < report.worker_ids_size() && i < report.hostnames_size(); ++i) {
    hostname[report.worker_ids(i)] = report.hostnames(i);
  }
  // A finding names one worker (a device, its network) or two (a link).
  std::set<std::string> short_nodes;
  std::set<std::pair<std::string, std::string>> short_links;
  std::map<std::tuple<std::string, std::string, std::string>, double> worst;
  for (const auto& f : report.findings()) {
    if (f.worker_ids().empty()) continue;
    const std::string a = f.worker_ids(0), b = f.worker_ids_size() > 1 ? f.worker_ids(1) : "";
    if (b.empty()) {
      short_nodes.insert(a);
    } else {
      short_links.insert({a, b});
    }
    if (f.metric() == "check_failed") continue;
    auto [it, fresh] = worst.try_emplace({a, b, f.metric()}, f.deviation());
    if (!fresh) it->second = std::min(it->second, f.deviation());
  }
  absl::MutexLock lock(&mu_);
  auto& series = health_series_[setup];
  for (auto& [family, gauge] : series) family->Remove(gauge);
  series.clear();
  auto add = [&](prometheus::Family<prometheus::Gauge>* family, std::map<std::string, std::string> labels,
                 double value) {
    labels[m::kLabelSetup] = setup;
    auto* gauge = &family->Add(labels);
    gauge->Set(value);
    series.emplace_back(family, gauge);
  };
  for (const auto& id : report.worker_ids()) {
    add(node_health_, {{m::kLabelWorker, id}, {m::kLabelHostname, hostname[id]}}, short_nodes.count(id) ? 0 : 1);
  }
  std::set<std::pair<std::string, std::string>> links;
  for (const auto& f : report.figures()) {
    if (f.worker_ids_size() == 2) links.insert({f.worker_ids(0), f.worker_ids(1)});
  }
  for (const auto& l : short_links) links.insert(l);
  for (const auto& [a, b] : links) {
    add(link_health_, {{m::kLabelWorker, a}, {m::kLabelPeerWorker, b}}, short_links.count({a, b}) ? 0 : 1);
  }
  for (const auto& [key, deviation] : worst) {
    const auto& [a, b, metric] = key;
    add(health_deviation_, {{m::kLabelWorker, a}, {m::kLabelPeerWorker, b}, {m::kLabelMetric, metric}}, deviation);
  }
}

}  // namespace tokenmeter::coordinator
