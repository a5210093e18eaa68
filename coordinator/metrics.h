// The coordinator's Prometheus exposer: fleet and job metrics, and the latest
// figures of every stored result per setup, workload and device model.
// Names, labels and units: common/metric_names.h and docs/metrics.md.
#ifndef TOKENMETER_COORDINATOR_METRICS_H_
#define TOKENMETER_COORDINATOR_METRICS_H_

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics_server.h"
#include "coordinator/worker_registry.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::coordinator {

// Thread-safe: every method may be called from any thread.
class CoordinatorMetrics {
 public:
  // Serves /metrics on address ("host:port"; port 0 picks a free one; see
  // metrics::MetricsServer). InvalidArgument when address is not of that
  // form; Unavailable, naming it, when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> Start(const std::string& address);

  // The port actually bound.
  int port() const;

  // What a scrape reads of the fleet: every registered worker's state and,
  // for the live ones, the age of its last heart-beat.
  using FleetSource = std::function<std::vector<WorkerAge>()>;
  // Worker counts by state and each live worker's heart-beat age are read
  // from source when a scrape asks, and at no other time: a fleet of 16,384
  // costs a walk under the scheduler's lock that only a scrape pays for, and
  // a lost or gone worker's series is simply absent from the next scrape, so
  // the label set stays bounded by the live fleet. nullptr detaches the
  // source (the counts read 0, no ages), waiting for a scrape that is reading
  // it; source must stay callable until then.
  void SetFleetSource(FleetSource source);
  // A job reached a final state (with its result when it succeeded).
  void JobFinished(const v1::JobStatus& job);
  // Publishes the figures of a stored result (also at start, for stored
  // ones). A later result with the same labels overwrites an earlier one.
  // Figures that are unknown (MFU of an unknown device, cost without a price,
  // energy the device does not report: all 0 in the result) are not
  // published rather than published as 0.
  // A `fleet-check` result (its `health`) replaces the health series of its
  // setup: one per checked worker and measured link, and a deviation per
  // finding, so the label set stays bounded by the latest checked fleet.
  void PublishResult(const v1::JobResult& result);

 private:
  void PublishHealth(const v1::JobResult& result);

  CoordinatorMetrics() = default;

  class FleetCollectable;

  std::shared_ptr<FleetCollectable> fleet_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* jobs_ = nullptr;
  prometheus::Histogram* job_duration_ = nullptr;
  prometheus::Family<prometheus::Gauge>* tokens_per_second_ = nullptr;
  prometheus::Family<prometheus::Gauge>* mfu_ = nullptr;
  prometheus::Family<prometheus::Gauge>* cost_ = nullptr;
  prometheus::Family<prometheus::Gauge>* energy_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gemm_flops_ = nullptr;
  prometheus::Family<prometheus::Gauge>* mamf_ = nullptr;
  prometheus::Family<prometheus::Gauge>* busbw_ = nullptr;
  prometheus::Family<prometheus::Gauge>* node_health_ = nullptr;
  prometheus::Family<prometheus::Gauge>* link_health_ = nullptr;
  prometheus::Family<prometheus::Gauge>* health_deviation_ = nullptr;

  // Children looked up once at start (the label values are a fixed set).
  // Indexed as kOutcomes in metrics.cc.
  std::array<prometheus::Counter*, 3> jobs_by_outcome_{};

  absl::Mutex mu_;
  // Per setup, the health series of its latest diagnosis, with their family.
  std::map<std::string, std::vector<std::pair<prometheus::Family<prometheus::Gauge>*, prometheus::Gauge*>>>
      health_series_ ABSL_GUARDED_BY(mu_);

  // Last, so it stops serving before anything above goes away.
  std::unique_ptr<metrics::MetricsServer> server_;
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_METRICS_H_
