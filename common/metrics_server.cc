#include "common/metrics_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace tokenmeter::metrics {
namespace {

constexpr char kPath[] = "/metrics";
constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

absl::Status CheckBound(const char* field, double value, double low, double high, const std::string& unit) {
  if (value >= low && value <= high) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("MetricsServerOptions.", field, " is ", value, unit, "; must be in ", low, unit, " .. ", high, unit));
}

absl::Status CheckOptions(const MetricsServerOptions& o) {
  if (auto s = CheckBound("thread_stack_bytes", static_cast<double>(o.thread_stack_bytes), 256 << 10, 1 << 30, " B");
      !s.ok()) {
    return s;
  }
  if (auto s = CheckBound("max_connections", o.max_connections, 1, 1024, ""); !s.ok()) return s;
  if (auto s = CheckBound("connection_timeout", absl::ToDoubleSeconds(o.connection_timeout), 1, 3600, " s"); !s.ok()) {
    return s;
  }
  return CheckBound("connection_memory_bytes", static_cast<double>(o.connection_memory_bytes), 4 << 10, 1 << 20,
                    " B");
}

struct HostPort {
  std::string host;  // "" for every address
  std::string port;
};

absl::StatusOr<HostPort> SplitAddress(const std::string& address) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("metrics address \"", address,
                                                   "\" is not HOST:PORT, [IPv6]:PORT or :PORT with PORT in 0..65535"));
  };
  HostPort hp;
  size_t colon;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') return bad();
    hp.host = address.substr(1, close - 1);
    if (hp.host.empty()) return bad();
    colon = close + 1;
  } else {
    colon = address.rfind(':');
    if (colon == std::string::npos) return bad();
    hp.host = address.substr(0, colon);
    // An IPv6 address needs its brackets: "::1:9400" is ambiguous.
    if (hp.host.find(':') != std::string::npos) return bad();
  }
  hp.port = address.substr(colon + 1);
  int port = -1;
  if (hp.port.empty() || hp.port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(hp.port, &port) || port > 65535) {
    return bad();
  }
  return hp;
}

// A listening socket on address; its port in *port.
absl::StatusOr<int> Listen(const std::string& address, int* port) {
  auto hp = SplitAddress(address);
  if (!hp.ok()) return hp.status();
  const std::string where = absl::StrCat("cannot serve metrics on ", address, ": ");
  addrinfo hints = {};
  hints.ai_family = hp->host.empty() ? AF_INET : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(hp->host.empty() ? nullptr : hp->host.c_str(), hp->port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat(where, "cannot resolve \"", hp->host, "\": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
  int fd = socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) return absl::UnavailableError(absl::StrCat(where, "socket: ", std::strerror(errno)));
  // A restarted process can bind while its old connections are in
  // TIME_WAIT; Linux still refuses a second listener on the port.
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 64) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat(where, std::strerror(error)));
  }
  sockaddr_storage bound = {};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  *port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

MHD_Result Reply(MHD_Connection* connection, unsigned int status, const std::string& body, const char* content_type,
                 const char* allow = nullptr) {
  MHD_Response* response =
      MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;  // closes the connection
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (allow != nullptr) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

// Runs on the server's thread, once per request (again per chunk of a
// request body, which none of the answers reads). A C callback: nothing may
// be thrown through it.
MHD_Result HandleRequest(void* self, MHD_Connection* connection, const char* url, const char* method,
                         const char* /*version*/, const char* /*upload_data*/, size_t* upload_data_size,
                         void** /*state*/) {
  if (*upload_data_size != 0) {
    *upload_data_size = 0;  // a body of a request already answered: dropped
    return MHD_YES;
  }
  try {
    const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    if (!get && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
      return Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "405 Method Not Allowed: GET or HEAD /metrics\n",
                   "text/plain", "GET, HEAD");
    }
    if (std::strcmp(url, kPath) != 0) {
      return Reply(connection, MHD_HTTP_NOT_FOUND, "404 Not Found: metrics are on /metrics\n", "text/plain");
    }
    // HEAD: libmicrohttpd sends the headers (Content-Length included) only.
    return Reply(connection, MHD_HTTP_OK, static_cast<MetricsServer*>(self)->Scrape(), kContentType);
  } catch (const std::exception&) {
    return MHD_NO;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                    const MetricsServerOptions& options) {
  if (auto s = CheckOptions(options); !s.ok()) return s;
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  auto fd = Listen(address, &server->port_);
  if (!fd.ok()) return fd.status();
  // One internal thread poll()s every connection and runs HandleRequest;
  // libmicrohttpd closes the listening socket when stopped. poll, not epoll:
  // libmicrohttpd 0.9.75's edge-triggered epoll loop misses a client's
  // half-close that arrives with the last bytes of an unfinished request, and
  // such a connection then waits out connection_timeout.
  server->daemon_ = MHD_start_daemon(
      MHD_USE_POLL_INTERNAL_THREAD, /*port=*/0, /*apc=*/nullptr, nullptr, &HandleRequest, server.get(),
      MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(*fd), MHD_OPTION_THREAD_STACK_SIZE,
      options.thread_stack_bytes, MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(options.max_connections),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned int>(absl::ToInt64Seconds(options.connection_timeout)),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, options.connection_memory_bytes, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    close(*fd);
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": libmicrohttpd did not start its server thread"));
  }
  return server;
}

MetricsServer::~MetricsServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

void MetricsServer::RegisterCollectable(const std::weak_ptr<prometheus::Collectable>& collectable) {
  absl::MutexLock lock(&mu_);
  collectables_.push_back(collectable);
}

std::string MetricsServer::Scrape() {
  std::vector<std::shared_ptr<prometheus::Collectable>> live;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& weak : collectables_) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  // Collected outside the lock: a registry has its own.
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : live) {
    auto collected = c->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tokenmeter::metrics
