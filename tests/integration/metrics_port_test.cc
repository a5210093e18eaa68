// A metrics port is open to anyone who can reach it: a browser opening the
// URL, a port scanner, a mistyped scrape path. Whatever arrives there must get
// an HTTP answer or a closed connection, and the coordinator and the worker
// must keep running and keep serving /metrics. (Under civetweb, whose threads
// had 100 KiB stacks of which OpenBLAS's static TLS took 60, the first
// `GET /` overflowed the stack of the error reply and killed the process.)
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;
using std::chrono::seconds;

// What came back for one request.
struct Exchange {
  bool connected = false;
  // The server answered (the reply starts with an HTTP status line) or closed
  // the connection (EOF or reset) before the deadline.
  bool answered_or_closed = false;
  int status = 0;  // the status code when it answered
  std::string reply;
};

// Connects to 127.0.0.1:port, sends `bytes` (then half-closes when
// `half_close`, so a server waiting for the rest of a request sees its end)
// and reads until the server closes or 5 s pass. `close_after_send`: the
// client hangs up at once, reading nothing.
Exchange Send(int port, const std::string& bytes, bool half_close, bool close_after_send = false) {
  Exchange e;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return e;
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return e;
  }
  e.connected = true;
  // A server may close early on an oversized request; the rest of the send
  // then fails, which is an answer too (read below).
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (close_after_send) {
    close(fd);
    e.answered_or_closed = true;
    return e;
  }
  if (half_close) shutdown(fd, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  char buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      e.reply.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0 || errno == ECONNRESET || errno == EPIPE) e.answered_or_closed = true;
    break;
  }
  close(fd);
  if (e.reply.compare(0, 7, "HTTP/1.") == 0) {
    e.answered_or_closed = true;
    e.status = std::atoi(e.reply.c_str() + e.reply.find(' ') + 1);
  }
  return e;
}

Exchange Get(int port, const std::string& path) {
  return Send(port, absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
              /*half_close=*/false);
}

struct BadRequest {
  std::string name;
  std::string bytes;
  bool half_close = false;
  bool close_after_send = false;
};

std::vector<BadRequest> BadRequests() {
  const std::string end = "Host: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string garbage(4096, '\0');
  std::mt19937 rng(7);
  for (auto& c : garbage) c = static_cast<char>(rng());
  return {
      {"GET /", "GET / HTTP/1.1\r\n" + end},
      {"GET /nope", "GET /nope HTTP/1.1\r\n" + end},
      {"GET /metrics/../", "GET /metrics/../ HTTP/1.0\r\n\r\n"},
      {"POST /metrics", "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n" + end + "hello"},
      {"DELETE /", "DELETE / HTTP/1.1\r\n" + end},
      {"BREW /metrics", "BREW /metrics HTTP/1.1\r\n" + end},
      {"malformed request line", "THIS IS NOT HTTP\r\n\r\n", /*half_close=*/true},
      {"unknown version", "GET /metrics HTTP/9.9\r\n" + end, /*half_close=*/true},
      {"64 KiB header", "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n" + end},
      {"4 KiB of binary garbage", garbage, /*half_close=*/true},
      {"connection closed at once", "", false, /*close_after_send=*/true},
      {"half a request, then close", "GET /metr", false, /*close_after_send=*/true},
      {"half a request, then half-close", "GET /metrics HTTP/1.1\r\nHo", /*half_close=*/true},
  };
}

// Sends every bad request to the process serving metrics on `port`, checking
// after each that it answered or closed and that the process still runs.
void Batter(const std::string& who, int port, Process& process) {
  for (const auto& r : BadRequests()) {
    Exchange e = Send(port, r.bytes, r.half_close, r.close_after_send);
    EXPECT_TRUE(e.connected) << who << ", " << r.name << ": cannot connect";
    EXPECT_TRUE(e.answered_or_closed) << who << ", " << r.name << ": neither answered nor closed within 5 s";
    ASSERT_TRUE(Eventually([&] { return Get(port, "/metrics").status == 200; }, seconds(5)) || !process.Running())
        << who << ", " << r.name << ": /metrics does not answer";
    ASSERT_TRUE(process.Running()) << who << " died after \"" << r.name << "\": exit " << process.exit_code()
                                   << " (128 + signal)\n"
                                   << Tail(process.err());
  }
  // Clear answers for what a person or a scanner sends most.
  EXPECT_EQ(Get(port, "/").status, 404) << who;
  EXPECT_EQ(Send(port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false).status, 405)
      << who;
  Exchange head = Send(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
  EXPECT_EQ(head.status, 200) << who;
  EXPECT_EQ(head.reply.find("tokenmeter_build_info"), std::string::npos) << who << ": HEAD carried a body";
}

// The worker is battered mid-job, as in the field: a scanner does not wait
// for a worker to be idle.
TEST(MetricsPort, CoordinatorAndWorkerSurviveBadRequestsAndKeepServing) {
  TempDir dir;
  const int coordinator_metrics = FreePort();
  CoordinatorProcess coordinator(dir.path(), dir.File("s.db"),
                                 {"--metrics", absl::StrCat("127.0.0.1:", coordinator_metrics)});
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  const int worker_metrics = FreePort();
  Process worker(TOKENMETER_BINARY,
                 {"worker", "--coordinator", coordinator.address(), "--metrics",
                  absl::StrCat("127.0.0.1:", worker_metrics), "--cpu-threads", "1"},
                 dir.path(), "worker");
  ASSERT_TRUE(Eventually([&] { return worker.err().find("registered as") != std::string::npos; }, seconds(20)))
      << worker.err();
  // One sweep entry of 100000 512^3 GEMMs: minutes, cancelled below.
  const std::string spec = dir.File("long-gemm.json");
  WriteFile(spec, R"({"name": "long-gemm", "version": 1, "warmup_iterations": 0, "timed_iterations": 100000,
      "gemm": {"dtypes": ["DTYPE_FP32"], "shapes": [{"name": "s512", "m": 512, "n": 512, "k": 512}]}})");
  Process run(TOKENMETER_BINARY, {"run", "--coordinator", coordinator.address(), "--spec", spec}, dir.path(), "run");
  const std::string busy = "tokenmeter_workers{state=\"busy\"} 1";
  ASSERT_TRUE(Eventually([&] { return Get(coordinator_metrics, "/metrics").reply.find(busy) != std::string::npos; },
                         seconds(20)))
      << run.err();

  Batter("coordinator", coordinator_metrics, coordinator.process());
  Batter("worker", worker_metrics, worker);

  Exchange c = Get(coordinator_metrics, "/metrics");
  EXPECT_EQ(c.status, 200);
  EXPECT_THAT(c.reply, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(c.reply, HasSubstr(busy)) << "the job did not survive";
  Exchange w = Get(worker_metrics, "/metrics");
  EXPECT_EQ(w.status, 200);
  EXPECT_THAT(w.reply, HasSubstr("tokenmeter_build_info"));
  EXPECT_THAT(w.reply, HasSubstr("tokenmeter_step_duration_seconds"));
  EXPECT_TRUE(coordinator.process().Running());
  EXPECT_TRUE(worker.Running());

  run.Signal(SIGINT);  // cancels the job
  EXPECT_TRUE(run.Wait(seconds(20)));
}

}  // namespace
}  // namespace tokenmeter::testing
