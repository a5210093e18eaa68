// metrics::MetricsServer on its own: real sockets, real libmicrohttpd. What a
// real coordinator and worker answer on their metrics ports is
// tests/integration/metrics_port_test.cc.
#include "common/metrics_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "tests/metrics/metrics_test_support.h"

namespace tokenmeter::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using metrics_test::HttpGet;

TEST(MetricsServer, PortZeroPicksAPortAndEveryLiveRegistryIsScraped) {
  auto server = MetricsServer::Start("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto a = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("test_a").Help("a").Register(*a).Add({}).Set(3);
  auto gone = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("test_gone").Help("gone").Register(*gone).Add({}).Set(1);
  auto b = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("test_b_total").Help("b").Register(*b).Add({{"k", "v"}}).Increment(2);
  (*server)->RegisterCollectable(a);
  (*server)->RegisterCollectable(gone);
  (*server)->RegisterCollectable(b);
  gone.reset();

  auto r = HttpGet((*server)->port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("# TYPE test_a gauge\ntest_a 3\n"));
  EXPECT_THAT(r.body, HasSubstr("test_b_total{k=\"v\"} 2\n"));
  EXPECT_THAT(r.body, Not(HasSubstr("test_gone")));
  EXPECT_LT(r.body.find("test_a"), r.body.find("test_b_total"));  // registration order
  EXPECT_EQ(HttpGet((*server)->port(), "/").status, 404);
  EXPECT_EQ(HttpGet((*server)->port(), "/metrics?x=1").status, 200);  // the query is not the path
}

TEST(MetricsServer, ScrapesALargeRegistryWhole) {
  auto server = MetricsServer::Start("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildGauge().Name("test_large").Help("many series").Register(*registry);
  constexpr int kSeries = 40000;
  const std::string padding(64, 'p');
  for (int i = 0; i < kSeries; ++i) family.Add({{"i", absl::StrCat(i)}, {"pad", padding}}).Set(i);
  (*server)->RegisterCollectable(registry);

  auto r = HttpGet((*server)->port(), "/metrics", metrics_test::seconds(30));
  ASSERT_EQ(r.status, 200);
  EXPECT_GT(r.body.size(), static_cast<size_t>(kSeries) * 64);  // several MB
  int lines = 0;
  for (char c : r.body) lines += c == '\n';
  EXPECT_EQ(lines, kSeries + 2);  // HELP, TYPE, one line per series
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("test_large{i=\"", kSeries - 1, "\",pad=\"", padding, "\"} ",
                                             kSeries - 1, "\n")));
}

TEST(MetricsServer, KeepsServingAfterMoreConnectionsThanItsLimit) {
  MetricsServerOptions options;
  options.max_connections = 4;
  auto server = MetricsServer::Start("127.0.0.1:0", options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int> held;
  for (int i = 0; i < options.max_connections + 8; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>((*server)->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    held.push_back(fd);
  }
  for (int fd : held) close(fd);
  EXPECT_TRUE(tokenmeter::testing::Eventually([&] { return HttpGet((*server)->port(), "/metrics").status == 200; },
                                  metrics_test::seconds(5)));
}

TEST(MetricsServer, AnAddressInUseIsUnavailableAndNamesIt) {
  auto first = MetricsServer::Start("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = MetricsServer::Start(taken);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot serve metrics on " + taken));
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));

  auto unresolved = MetricsServer::Start("no-such-host.invalid:0");
  ASSERT_FALSE(unresolved.ok());
  EXPECT_EQ(unresolved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(unresolved.status().message(), HasSubstr("no-such-host.invalid"));
}

TEST(MetricsServer, AMalformedAddressIsInvalidAndNamesIt) {
  for (const std::string address : {"127.0.0.1:notaport", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1",
                                    "127.0.0.1:", "::1:9400", "[::1]9400", "[]:9400", ""}) {
    auto s = MetricsServer::Start(address);
    ASSERT_FALSE(s.ok()) << address;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(s.status().message(), HasSubstr("\"" + address + "\" is not HOST:PORT")) << address;
  }
}

TEST(MetricsServer, BindsIPv6AndEveryAddress) {
  auto any = MetricsServer::Start(":0");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(HttpGet((*any)->port(), "/metrics").status, 200);  // 127.0.0.1 is one of them
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  if (probe < 0) GTEST_SKIP() << "no IPv6 on this host";
  close(probe);
  auto v6 = MetricsServer::Start("[::1]:0");
  if (!v6.ok() && v6.status().message().find("Cannot assign") != std::string::npos) {
    GTEST_SKIP() << "no ::1 on this host: " << v6.status();
  }
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_GT((*v6)->port(), 0);
}

TEST(MetricsServer, OptionsOutOfBoundsAreInvalidAndNameTheField) {
  struct Case {
    MetricsServerOptions options;
    const char* field;
    const char* bound;
  };
  std::vector<Case> cases(4);
  cases[0].options.thread_stack_bytes = 64 << 10;
  cases[0] = {cases[0].options, "thread_stack_bytes", "262144 B"};
  cases[1].options.max_connections = 0;
  cases[1] = {cases[1].options, "max_connections", "1 .. 1024"};
  cases[2].options.connection_timeout = absl::Milliseconds(10);
  cases[2] = {cases[2].options, "connection_timeout", "1 s .. 3600 s"};
  cases[3].options.connection_memory_bytes = 100;
  cases[3] = {cases[3].options, "connection_memory_bytes", "4096 B"};
  for (const auto& c : cases) {
    auto s = MetricsServer::Start("127.0.0.1:0", c.options);
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(s.status().message(), HasSubstr(c.field));
    EXPECT_THAT(s.status().message(), HasSubstr(c.bound));
  }
}

}  // namespace
}  // namespace tokenmeter::metrics
