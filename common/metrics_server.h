// The HTTP server behind every `--metrics HOST:PORT`: serves the Prometheus
// text exposition of registered prometheus-cpp collectables on /metrics, and
// a plain HTTP error for anything else, on one thread whose stack it sizes.
//
// Why not prometheus-cpp's Exposer: it serves over civetweb, whose threads
// get a compile-time stack (Debian's libcivetweb: 100 KiB) out of which glibc
// also carves every thread's static TLS — OpenBLAS alone takes 60 KiB — and
// civetweb's error reply overflowed what was left: any request but
// `GET /metrics` killed the process with SIGSEGV. libmicrohttpd takes the
// stack size at run time (MetricsServerOptions::thread_stack_bytes) and
// answers malformed requests itself. Only the pull side is replaced;
// registries, families and the text format stay prometheus-cpp's.
//
// What it answers: GET or HEAD /metrics: 200, `text/plain; version=0.0.4`;
// GET or HEAD of any other path: 404; any other method: 405 with `Allow:
// GET, HEAD`; requests libmicrohttpd cannot parse, or whose header exceeds
// the connection memory: 400, 431 or 505 (libmicrohttpd's own replies), or the
// connection is closed. A connection idle for connection_timeout is closed.
#ifndef TOKENMETER_COMMON_METRICS_SERVER_H_
#define TOKENMETER_COMMON_METRICS_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"

struct MHD_Daemon;

namespace tokenmeter::metrics {

struct MetricsServerOptions {
  // Stack of the server's one thread. glibc takes the process's static TLS
  // (libraries' thread-locals, OpenBLAS's 60 KiB among them) out of it, and
  // it is reserved, not touched: pages are used only as the stack grows.
  // Bounds: 256 KiB .. 1 GiB.
  size_t thread_stack_bytes = 8 << 20;
  // Connections served at once; further ones are accepted and closed at once.
  // Bounds: 1 .. 1024.
  int max_connections = 32;
  // A connection with no traffic for this long is closed (slow or half-sent
  // requests). Bounds: 1 s .. 1 h, whole seconds.
  absl::Duration connection_timeout = absl::Seconds(10);
  // Memory per connection for the request line and headers; a request whose
  // header does not fit is refused (431). Bounds: 4 KiB .. 1 MiB.
  size_t connection_memory_bytes = 32 << 10;
};

// Thread-safe: RegisterCollectable and port() may be called from any thread
// while the server serves from its own.
class MetricsServer {
 public:
  // Binds address ("HOST:PORT", "[IPv6]:PORT" or ":PORT" for every address;
  // HOST may be a name; port 0 picks a free one) and starts serving.
  // InvalidArgument when address is not of that form or an option is out of
  // its bounds (the message names it and the bound); Unavailable, naming the
  // address and the reason, when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              const MetricsServerOptions& options = {});

  // Stops serving; a scrape in progress is finished or cut first.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Adds collectable to every later scrape, in registration order. The server
  // keeps only a weak reference: one that has gone away is skipped.
  void RegisterCollectable(const std::weak_ptr<prometheus::Collectable>& collectable);

  // The port bound (the one picked when the address asked for port 0).
  int port() const { return port_; }

  // The text exposition of every live collectable: the body of a scrape.
  std::string Scrape();

 private:
  MetricsServer() = default;

  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  absl::Mutex mu_;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenmeter::metrics

#endif  // TOKENMETER_COMMON_METRICS_SERVER_H_
