// The coordinator process: the gRPC server (three services plus gRPC's
// standard health service), the scheduler and registry, the rendezvous store,
// the SQLite results store, the liveness monitor and the metrics exposer.
#ifndef TOKENMETER_COORDINATOR_SERVER_H_
#define TOKENMETER_COORDINATOR_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"
#include "coordinator/metrics.h"
#include "coordinator/rendezvous_store.h"
#include "coordinator/results_store.h"
#include "coordinator/scheduler.h"
#include "coordinator/service.h"
#include "grpcpp/server.h"

namespace tokenmeter::coordinator {

struct CoordinatorOptions {
  // gRPC address; port 0 picks a free port (see CoordinatorServer::port()).
  std::string listen_address = "127.0.0.1:7070";
  // SQLite results store; created when absent. Required.
  std::string store_path;
  // Prometheus /metrics address; "" = no exposer.
  std::string metrics_address;
  // Heart-beat period and the silence after which a worker is lost.
  RegistryOptions registry;
  // Bound on every rendezvous wait and collective in the tasks it hands out.
  absl::Duration collective_timeout = absl::Seconds(30);
  // The largest gRPC message it accepts (a report of a 100,000-iteration
  // sweep is a few MiB; gRPC's own default is 4 MiB).
  int64_t max_message_bytes = int64_t{64} << 20;
  // Queue length and per-job work (scheduler.h).
  JobLimits limits;
  // Device catalogue overrides (JSON) applied to the built-in one; "" = none.
  std::string catalogue_file;
  // Server TLS (PEM files); all empty = plaintext. With tls_ca, clients must
  // present a certificate signed by it (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
  // Bearer tokens and their roles (common/bearer_tokens.h); "" = no token
  // checks. With tokens and no TLS the tokens cross the network in the clear:
  // the coordinator says so when it starts.
  std::string token_file;
};

// Start() returns a running coordinator; Shutdown() (or the destructor) stops
// it, letting in-flight calls finish within a short grace period. Stored
// results are never lost: every change is committed before it is answered.
class CoordinatorServer {
 public:
  // InvalidArgument for bad options; Unavailable when the address cannot be
  // bound (in use) or the store cannot be opened.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorOptions& options);
  ~CoordinatorServer();

  int port() const { return port_; }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

  // Stops serving, the monitor and the wait timer; idempotent.
  void Shutdown();

 private:
  CoordinatorServer() = default;
  void Monitor();
  // Ends long-polls at their deadlines; once draining, ends every one at once.
  void ExpireWaits();

  CoordinatorOptions options_;
  SystemClock clock_;
  std::unique_ptr<ResultsStore> store_;
  std::unique_ptr<workload::DeviceCatalogue> catalogue_;
  RendezvousStore rendezvous_;
  std::unique_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<Scheduler> scheduler_;
  Authenticator auth_;
  std::unique_ptr<CoordinatorService> coordinator_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<RendezvousServiceImpl> rendezvous_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Notification stopping_;
  absl::Notification draining_;      // the server is shutting down: answer waits now
  absl::Notification waits_stopped_;
  std::thread monitor_;
  std::thread wait_timer_;
  bool shut_down_ = false;
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_SERVER_H_
