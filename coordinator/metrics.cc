#include "coordinator/metrics.h"

#include "absl/strings/str_cat.h"
#include "common/metric_names.h"
#include "google/protobuf/util/time_util.h"
#include "workload/figures.h"

namespace tokenmeter::coordinator {
namespace {

using google::protobuf::util::TimeUtil;
namespace m = tokenmeter::metrics;

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

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> CoordinatorMetrics::Start(const std::string& address) {
  std::unique_ptr<CoordinatorMetrics> metrics(new CoordinatorMetrics());
  try {
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  auto& r = metrics->registry_;
  r = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name(m::kBuildInfo)
      .Help("tokenmeter build; the value is always 1")
      .Register(*r)
      .Add({{m::kLabelVersion, TOKENMETER_VERSION}})
      .Set(1);
  metrics->workers_ = &prometheus::BuildGauge().Name(m::kWorkers).Help("Registered workers by state").Register(*r);
  for (auto s : {v1::WORKER_IDLE, v1::WORKER_BUSY, v1::WORKER_LOST, v1::WORKER_GONE}) {
    metrics->workers_->Add({{m::kLabelState, StateLabel(s)}}).Set(0);
  }
  metrics->jobs_ = &prometheus::BuildCounter().Name(m::kJobsTotal).Help("Jobs that ended, by outcome").Register(*r);
  for (auto s : {v1::JOB_SUCCEEDED, v1::JOB_FAILED, v1::JOB_CANCELLED}) {
    metrics->jobs_->Add({{m::kLabelOutcome, OutcomeLabel(s)}});
  }
  metrics->job_duration_ = &prometheus::BuildHistogram()
                                .Name(m::kJobDuration)
                                .Help("Wall time of finished jobs from start to end, in seconds")
                                .Register(*r)
                                .Add({}, prometheus::Histogram::BucketBoundaries{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600,
                                                                                1800, 3600});
  metrics->heartbeat_age_ = &prometheus::BuildGauge()
                                 .Name(m::kHeartbeatAge)
                                 .Help("Seconds since each live worker's last heart-beat")
                                 .Register(*r);
  metrics->tokens_per_second_ = &prometheus::BuildGauge()
                                     .Name(m::kTokensPerSecond)
                                     .Help("Training tokens per second of the latest result")
                                     .Register(*r);
  metrics->mfu_ = &prometheus::BuildGauge()
                       .Name(m::kMfuRatio)
                       .Help("Model FLOPs utilisation of the latest result against the datasheet peak")
                       .Register(*r);
  metrics->cost_ = &prometheus::BuildGauge()
                        .Name(m::kCostPerMillionTokens)
                        .Help("Dollars per million training tokens of the latest result")
                        .Register(*r);
  metrics->energy_ = &prometheus::BuildGauge()
                          .Name(m::kEnergyPerToken)
                          .Help("Device energy per training token of the latest result, in joules")
                          .Register(*r);
  metrics->gemm_flops_ = &prometheus::BuildGauge()
                              .Name(m::kResultGemmFlops)
                              .Help("GEMM FLOP/s per device of the latest result, per shape and dtype")
                              .Register(*r);
  metrics->busbw_ = &prometheus::BuildGauge()
                         .Name(m::kResultBusBandwidth)
                         .Help("Collective bus bandwidth (nccl-tests' busbw, bytes/s) of the latest result")
                         .Register(*r);
  metrics->exposer_->RegisterCollectable(r);
  return metrics;
}

int CoordinatorMetrics::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void CoordinatorMetrics::SetWorkers(const std::vector<v1::WorkerStatus>& workers) {
  std::map<std::string, double> by_state = {{"idle", 0}, {"busy", 0}, {"lost", 0}, {"gone", 0}};
  for (const auto& w : workers) by_state[StateLabel(w.state())] += 1;
  for (const auto& [state, n] : by_state) workers_->Add({{m::kLabelState, state}}).Set(n);
  absl::MutexLock lock(&mu_);
  // Only live workers carry an age; the set is bounded by the fleet.
  for (auto* g : heartbeat_children_) heartbeat_age_->Remove(g);
  heartbeat_children_.clear();
  for (const auto& w : workers) {
    if (w.state() != v1::WORKER_IDLE && w.state() != v1::WORKER_BUSY) continue;
    auto& g = heartbeat_age_->Add({{m::kLabelWorker, w.worker_id()}, {m::kLabelHostname, w.inventory().hostname()}});
    g.Set(w.heartbeat_age_seconds());
    heartbeat_children_.push_back(&g);
  }
}

void CoordinatorMetrics::JobFinished(const v1::JobStatus& job) {
  jobs_->Add({{m::kLabelOutcome, OutcomeLabel(job.state())}}).Increment();
  if (job.has_started_at() && job.has_finished_at()) {
    job_duration_->Observe(
        static_cast<double>(TimeUtil::TimestampToNanoseconds(job.finished_at()) -
                            TimeUtil::TimestampToNanoseconds(job.started_at())) /
        1e9);
  }
  if (job.state() == v1::JOB_SUCCEEDED) PublishResult(job.result());
}

void CoordinatorMetrics::PublishResult(const v1::JobResult& result) {
  const std::map<std::string, std::string> labels = {{m::kLabelSetup, result.setup()},
                                                     {m::kLabelWorkload, result.spec().name()},
                                                     {m::kLabelDeviceModel, result.device_model()}};
  for (const auto& g : result.gemm()) {
    auto l = labels;
    l[m::kLabelShape] = g.shape().name();
    l[m::kLabelDtype] = std::string(workload::DTypeName(g.dtype()));
    gemm_flops_->Add(l).Set(g.tflops() * 1e12);
  }
  for (const auto& c : result.collective()) {
    auto l = labels;
    l[m::kLabelCollective] = std::string(workload::CollectiveOpName(c.op()));
    l[m::kLabelSizeBytes] = absl::StrCat(c.size_bytes());
    busbw_->Add(l).Set(c.busbw_gbps() * 1e9);
  }
  if (result.has_train_step()) {
    const auto& f = result.train_step();
    tokens_per_second_->Add(labels).Set(f.tokens_per_second());
    mfu_->Add(labels).Set(f.mfu());
    cost_->Add(labels).Set(f.cost_per_million_tokens_dollars());
    if (f.energy_per_token_joules() > 0) energy_->Add(labels).Set(f.energy_per_token_joules());
  }
}

}  // namespace tokenmeter::coordinator
