// The worker's Prometheus exposer: step-time histogram, live GEMM FLOP/s,
// collective bus bandwidth and device power, labelled as dcgm-exporter does
// (gpu, modelName, hostname) so queries can join the two.
#ifndef TOKENMETER_WORKER_METRICS_H_
#define TOKENMETER_WORKER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tokenmeter/v1/inventory.pb.h"
#include "worker/task_runner.h"

namespace tokenmeter::worker {

// Starts an exposer on address ("host:port"; port 0 picks a free one).
// Unavailable when it cannot bind. Thread-safe.
absl::StatusOr<std::unique_ptr<MeasurementObserver>> StartWorkerMetrics(const std::string& address,
                                                                        const v1::WorkerInventory& inventory,
                                                                        int* bound_port);

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_METRICS_H_
