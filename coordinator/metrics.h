// The coordinator's Prometheus exposer: fleet and job metrics, and the latest
// figures of every stored result per setup, workload and device model.
#ifndef TOKENMETER_COORDINATOR_METRICS_H_
#define TOKENMETER_COORDINATOR_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::coordinator {

// Thread-safe.
class CoordinatorMetrics {
 public:
  // Serves /metrics on address ("host:port"; port 0 picks a free one).
  // Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> Start(const std::string& address);

  // The port actually bound.
  int port() const;

  // Fleet state, refreshed periodically.
  void SetWorkers(const std::vector<v1::WorkerStatus>& workers);
  // A job reached a final state (with its result when it succeeded).
  void JobFinished(const v1::JobStatus& job);
  // Publishes the figures of a stored result (also at start, for stored ones).
  void PublishResult(const v1::JobResult& result);

 private:
  CoordinatorMetrics() = default;

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* workers_ = nullptr;
  prometheus::Family<prometheus::Counter>* jobs_ = nullptr;
  prometheus::Histogram* job_duration_ = nullptr;
  prometheus::Family<prometheus::Gauge>* heartbeat_age_ = nullptr;
  prometheus::Family<prometheus::Gauge>* tokens_per_second_ = nullptr;
  prometheus::Family<prometheus::Gauge>* mfu_ = nullptr;
  prometheus::Family<prometheus::Gauge>* cost_ = nullptr;
  prometheus::Family<prometheus::Gauge>* energy_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gemm_flops_ = nullptr;
  prometheus::Family<prometheus::Gauge>* busbw_ = nullptr;

  absl::Mutex mu_;
  std::vector<prometheus::Gauge*> heartbeat_children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_METRICS_H_
