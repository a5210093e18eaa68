// The worker's Prometheus exposer: step-time histogram, live GEMM FLOP/s,
// collective bus bandwidth and device power, per device and labelled as
// dcgm-exporter labels its series (gpu, UUID, Hostname), plus device_model
// and the worker's setup, so queries can join the two. Names, labels and units:
// common/metric_names.h and docs/metrics.md.
#ifndef TOKENMETER_WORKER_METRICS_H_
#define TOKENMETER_WORKER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tokenmeter/v1/inventory.pb.h"
#include "worker/task_runner.h"

namespace tokenmeter::worker {

// Serves /metrics on address ("host:port"; port 0 picks a free one; see
// metrics::MetricsServer) and returns the observer that feeds it;
// *bound_port (if not null) receives the port bound. InvalidArgument when
// address is not of that form; Unavailable, naming it, when it cannot bind. The observer is thread-safe
// (rank threads call it concurrently) and serves until destroyed.
absl::StatusOr<std::unique_ptr<MeasurementObserver>> StartWorkerMetrics(const std::string& address,
                                                                        const v1::WorkerInventory& inventory,
                                                                        int* bound_port);

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_METRICS_H_
