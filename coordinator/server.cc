#include "coordinator/server.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace tokenmeter::coordinator {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const CoordinatorOptions& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty() && o.tls_ca_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  auto cert = ReadFile(o.tls_cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(o.tls_key_file, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_ca_file.empty()) {
    auto ca = ReadFile(o.tls_ca_file, "--tls-ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(const CoordinatorOptions& options) {
  if (options.store_path.empty()) return absl::InvalidArgumentError("--store is required");
  if (options.registry.heartbeat_interval <= absl::ZeroDuration() ||
      options.registry.lost_after <= options.registry.heartbeat_interval) {
    return absl::InvalidArgumentError("--lost-after must be longer than --heartbeat-interval (and both positive)");
  }
  auto credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();

  std::unique_ptr<CoordinatorServer> c(new CoordinatorServer());
  c->options_ = options;
  if (!options.token_file.empty()) {
    auto tokens = ReadTokenTable(options.token_file);
    if (!tokens.ok()) return tokens.status();
    c->auth_ = Authenticator(*std::move(tokens));
    if (options.tls_cert_file.empty()) {
      Log("coordinator", "warning: bearer tokens without TLS cross the network in the clear; "
                         "give --tls-cert and --tls-key unless every client is on this host");
    }
  }
  auto store = ResultsStore::Open(options.store_path);
  if (!store.ok()) return store.status();
  c->store_ = *std::move(store);

  if (!options.metrics_address.empty()) {
    auto metrics = CoordinatorMetrics::Start(options.metrics_address);
    if (!metrics.ok()) return metrics.status();
    c->metrics_ = *std::move(metrics);
  }

  if (!options.catalogue_file.empty()) {
    auto catalogue = workload::LoadCatalogueFile(options.catalogue_file);
    if (!catalogue.ok()) return catalogue.status();
    c->catalogue_ = std::make_unique<workload::DeviceCatalogue>(*std::move(catalogue));
  }

  SchedulerOptions sched;
  sched.catalogue = c->catalogue_.get();
  sched.registry = options.registry;
  sched.collective_timeout = options.collective_timeout;
  sched.limits = options.limits;
  CoordinatorMetrics* metrics = c->metrics_.get();
  if (metrics != nullptr) {
    sched.on_job_finished = [metrics](const v1::JobStatus& job) { metrics->JobFinished(job); };
    sched.on_result_recorded = [metrics](const v1::JobResult& result) { metrics->PublishResult(result); };
  }
  c->scheduler_ = std::make_unique<Scheduler>(sched, c->store_.get(), &c->rendezvous_, &c->clock_);
  if (auto s = c->scheduler_->Recover(); !s.ok()) return s;
  if (metrics != nullptr) {
    // Stored results stay visible across restarts: newest last, so it wins.
    auto stored = c->store_->ListResults({});
    if (stored.ok()) {
      for (auto it = stored->rbegin(); it != stored->rend(); ++it) metrics->PublishResult(*it);
    }
  }

  c->coordinator_service_ = std::make_unique<CoordinatorService>(c->scheduler_.get(), c->store_.get(), &c->auth_);
  c->worker_service_ = std::make_unique<WorkerServiceImpl>(c->scheduler_.get(), &c->auth_);
  c->rendezvous_service_ = std::make_unique<RendezvousServiceImpl>(c->scheduler_.get(), &c->rendezvous_, &c->auth_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second coordinator
  // share a port silently; a port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive, matched by the clients (worker/channel.cc).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Larger requests are refused by gRPC with RESOURCE_EXHAUSTED, naming
  // both sizes, before any handler runs.
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.AddListeningPort(options.listen_address, *credentials, &c->port_);
  builder.RegisterService(c->coordinator_service_.get());
  builder.RegisterService(c->worker_service_.get());
  builder.RegisterService(c->rendezvous_service_.get());
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || c->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use, or not a valid HOST:PORT)"));
  }
  if (metrics != nullptr) {
    // Attached only once nothing can fail: the destructor detaches it before
    // the scheduler goes.
    metrics->SetFleetSource([scheduler = c->scheduler_.get()] { return scheduler->WorkerAges(); });
  }
  c->monitor_ = std::thread([p = c.get()] { p->Monitor(); });
  c->wait_timer_ = std::thread([p = c.get()] { p->ExpireWaits(); });
  Log("coordinator", "serving on port ", c->port_, ", store ", options.store_path,
      c->metrics_ ? absl::StrCat(", metrics on port ", c->metrics_->port()) : "");
  return c;
}

void CoordinatorServer::Monitor() {
  // Liveness is checked several times per heart-beat period so that a lost
  // worker is noticed within lost_after plus a fraction of a period.
  const absl::Duration period =
      std::min(absl::Milliseconds(250), options_.registry.heartbeat_interval / 2);
  while (!stopping_.WaitForNotificationWithTimeout(period)) scheduler_->CheckLiveness();
}

void CoordinatorServer::ExpireWaits() {
  // A long-poll ends within this much of its deadline. Each tick takes the
  // scheduler's lock once and costs nothing when no wait is due.
  constexpr absl::Duration kTick = absl::Milliseconds(10);
  while (!waits_stopped_.WaitForNotificationWithTimeout(kTick)) {
    const absl::Time now = draining_.HasBeenNotified() ? absl::InfiniteFuture() : absl::Now();
    scheduler_->ExpireWaits(now);
    rendezvous_.ExpireWaits(now);
  }
}

void CoordinatorServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stopping_.Notify();
  if (monitor_.joinable()) monitor_.join();
  // gRPC's Shutdown waits for every call's reactor to finish: answer the
  // parked long-polls (and any that arrive meanwhile) now, and give the
  // other in-flight calls a short grace.
  draining_.Notify();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  waits_stopped_.Notify();
  if (wait_timer_.joinable()) wait_timer_.join();
  Log("coordinator", "stopped");
}

CoordinatorServer::~CoordinatorServer() {
  if (server_) Shutdown();
  // A scrape must not reach the scheduler once it is gone (it goes first).
  if (metrics_) metrics_->SetFleetSource(nullptr);
}

}  // namespace tokenmeter::coordinator
