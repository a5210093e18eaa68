// tokenmeter coordinator: the daemon.
#include <fstream>

#include "absl/synchronization/notification.h"
#include "cli/common_flags.h"
#include "cli/signals.h"
#include "coordinator/server.h"

namespace tokenmeter::cli {

int CoordinatorCommand(const Args& args) {
  FlagSet flags("coordinator", "--listen HOST:PORT --store FILE.db [--metrics HOST:PORT] [flags]");
  flags.Value("listen", "HOST:PORT", "gRPC address to serve on; port 0 picks a free port", "127.0.0.1:7070");
  flags.Value("store", "FILE.db", "SQLite results store; created when absent (required)");
  flags.Value("metrics", "HOST:PORT", "serve Prometheus /metrics here (none when absent)");
  flags.Value("tls-cert", "FILE", "server certificate (PEM); with --tls-key enables TLS");
  flags.Value("tls-key", "FILE", "server private key (PEM)");
  flags.Value("tls-ca", "FILE", "require client certificates signed by this CA (mutual TLS)");
  flags.Value("token-file", "FILE",
              "bearer tokens, one '<role> <token>' line each (role worker or user); every call must carry one "
              "of its role");
  flags.Value("heartbeat-interval", "SECONDS", "how often workers heart-beat", "1");
  flags.Value("lost-after", "SECONDS", "a worker silent this long is lost and its job fails", "5");
  flags.Value("max-heartbeats-per-second", "N",
              "the fleet's heart-beat rate; beyond it the interval and --lost-after are doubled until it fits",
              "4000");
  flags.Value("collective-timeout", "SECONDS", "bound on every rendezvous wait and collective in a job", "30");
  flags.Value("catalogue", "FILE", "device catalogue overrides (JSON): peaks and prices for train-step figures");
  flags.Value("max-message-bytes", "BYTES", "the largest gRPC request accepted (e.g. 64M)", "64M");
  flags.Value("max-queued-jobs", "N", "jobs the queue may hold; a submit beyond is refused", "10000");
  flags.Value("max-job-seconds", "SECONDS",
              "refuse a job whose work would take longer even at 10 PFLOP/s and 10 TB/s per device", "86400");
  flags.Value("port-file", "FILE", "write the bound gRPC port here once serving (for scripts and tests)");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  IgnoreBrokenPipes();  // a peer that dies mid-send must fail the send, not this process

  coordinator::CoordinatorOptions options;
  options.listen_address = *flags.Get("listen");
  auto store = flags.Require("store");
  if (!store.ok()) return Fail("coordinator", store.status(), kExitUsage);
  options.store_path = *store;
  options.metrics_address = flags.Get("metrics").value_or("");
  options.tls_cert_file = flags.Get("tls-cert").value_or("");
  options.tls_key_file = flags.Get("tls-key").value_or("");
  options.tls_ca_file = flags.Get("tls-ca").value_or("");
  options.token_file = flags.Get("token-file").value_or("");
  options.catalogue_file = flags.Get("catalogue").value_or("");
  auto heartbeat = GetSeconds(flags, "heartbeat-interval", 0.01, 3600);
  if (!heartbeat.ok()) return Fail("coordinator", heartbeat.status(), kExitUsage);
  auto lost = GetSeconds(flags, "lost-after", 0.02, 86400);
  if (!lost.ok()) return Fail("coordinator", lost.status(), kExitUsage);
  auto heartbeat_rate = flags.GetDouble("max-heartbeats-per-second", 1, 1e6);
  if (!heartbeat_rate.ok()) return Fail("coordinator", heartbeat_rate.status(), kExitUsage);
  auto collective = GetSeconds(flags, "collective-timeout", 0.1, 86400);
  if (!collective.ok()) return Fail("coordinator", collective.status(), kExitUsage);
  options.registry.heartbeat_interval = *heartbeat;
  options.registry.lost_after = *lost;
  options.registry.max_heartbeats_per_second = *heartbeat_rate;
  options.collective_timeout = *collective;
  auto message = ParseBytes(*flags.Get("max-message-bytes"), "--max-message-bytes", 4 << 20, int64_t{1} << 30);
  if (!message.ok()) return Fail("coordinator", message.status(), kExitUsage);
  auto queued = flags.GetInt("max-queued-jobs", 1, 10000000);
  if (!queued.ok()) return Fail("coordinator", queued.status(), kExitUsage);
  auto job_seconds = flags.GetDouble("max-job-seconds", 1, 365.0 * 86400);
  if (!job_seconds.ok()) return Fail("coordinator", job_seconds.status(), kExitUsage);
  options.max_message_bytes = *message;
  options.limits.max_queued_jobs = static_cast<int>(*queued);
  options.limits.max_job_seconds = *job_seconds;

  absl::Notification stop;
  HandleShutdownSignals([&stop](int) { stop.Notify(); });
  auto server = coordinator::CoordinatorServer::Start(options);
  if (!server.ok()) return Fail("coordinator", server.status());
  if (auto port_file = flags.Get("port-file")) {
    std::ofstream(*port_file + ".tmp") << (*server)->port() << "\n";
    std::rename((*port_file + ".tmp").c_str(), port_file->c_str());
  }
  stop.WaitForNotification();
  (*server)->Shutdown();
  return kExitOk;
}

}  // namespace tokenmeter::cli
