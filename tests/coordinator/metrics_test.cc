// CoordinatorMetrics' fleet series on a real /metrics port: what a scrape
// shows of the workers it reads, and that nothing reads the fleet between
// scrapes (a walk under the scheduler's lock that a 16,384-worker fleet
// feels in its heart-beat latency).
#include "coordinator/metrics.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/metrics/metrics_test_support.h"

namespace tokenmeter::coordinator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using metrics_test::HttpGet;

std::string Scrape(const CoordinatorMetrics& m) { return HttpGet(m.port(), "/metrics").body; }

TEST(CoordinatorMetrics, FleetSeriesAreReadFromTheSourceAtEachScrapeOnly) {
  auto metrics = CoordinatorMetrics::Start("127.0.0.1:0");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  std::atomic<int> reads{0};
  std::vector<WorkerAge> fleet = {{"w-1", "node-a", v1::WORKER_IDLE, 0.25},
                                  {"w-2", "node-b", v1::WORKER_BUSY, 1.5},
                                  {"w-3", "node-c", v1::WORKER_LOST, 9},
                                  {"w-4", "node-d", v1::WORKER_IDLE, 0.5}};
  (*metrics)->SetFleetSource([&] {
    ++reads;
    return fleet;
  });
  absl::SleepFor(absl::Milliseconds(1200));
  EXPECT_EQ(reads.load(), 0) << "the fleet was read with nobody scraping";

  std::string body = Scrape(**metrics);
  EXPECT_EQ(reads.load(), 1);
  EXPECT_THAT(body, HasSubstr("# TYPE tokenmeter_workers gauge\n"));
  EXPECT_THAT(body, HasSubstr("tokenmeter_workers{state=\"idle\"} 2\n"));
  EXPECT_THAT(body, HasSubstr("tokenmeter_workers{state=\"busy\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("tokenmeter_workers{state=\"lost\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("tokenmeter_workers{state=\"gone\"} 0\n"));
  EXPECT_THAT(body, HasSubstr("# TYPE tokenmeter_heartbeat_age_seconds gauge\n"));
  EXPECT_THAT(body, HasSubstr("tokenmeter_heartbeat_age_seconds{worker=\"w-1\",Hostname=\"node-a\"} 0.25\n"));
  EXPECT_THAT(body, HasSubstr("tokenmeter_heartbeat_age_seconds{worker=\"w-2\",Hostname=\"node-b\"} 1.5\n"));
  EXPECT_THAT(body, Not(HasSubstr("w-3"))) << "a lost worker carries no age";

  // A worker that leaves is absent from the next scrape: no series lingers.
  fleet.erase(fleet.begin());
  body = Scrape(**metrics);
  EXPECT_EQ(reads.load(), 2);
  EXPECT_THAT(body, Not(HasSubstr("\"w-1\"")));
  EXPECT_THAT(body, HasSubstr("tokenmeter_workers{state=\"idle\"} 1\n"));

  // Detached (the coordinator is stopping): counts 0, no ages, no read.
  (*metrics)->SetFleetSource(nullptr);
  body = Scrape(**metrics);
  EXPECT_EQ(reads.load(), 2);
  EXPECT_THAT(body, HasSubstr("tokenmeter_workers{state=\"busy\"} 0\n"));
  EXPECT_THAT(body, Not(HasSubstr("tokenmeter_heartbeat_age_seconds{")));
  EXPECT_THAT(body, HasSubstr("tokenmeter_build_info"));
}

}  // namespace
}  // namespace tokenmeter::coordinator
