// The heart-beat cadence grows with the fleet: a real worker process adopts
// the longer interval a heart-beat reply tells it once the fleet outgrows
// --max-heartbeats-per-second, and is not declared lost for beating slower.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/silent_worker.h"
#include "tests/support/subprocess.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::vector<v1::WorkerStatus> Live(v1::Coordinator::Stub& api) {
  v1::ListWorkersResponse workers;
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!api.ListWorkers(&c, v1::ListWorkersRequest(), &workers).ok()) return {};
  return {workers.workers().begin(), workers.workers().end()};
}

TEST(HeartbeatCadence, AWorkerAdoptsTheLongerIntervalTheGrowingFleetIsTold) {
  TempDir dir;
  // 0.05 s and 1 beat/s: one worker (20/s) is told 32 × 0.05 = 1.6 s, lost
  // after 32 × 0.5 = 16 s; two workers (40/s) 3.2 s, lost after 32 s.
  CoordinatorProcess coordinator(dir.path(), dir.File("store.db"),
                                 {"--heartbeat-interval", "0.05", "--lost-after", "0.5",
                                  "--max-heartbeats-per-second", "1"});
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  auto channel = grpc::CreateChannel(coordinator.address(), grpc::InsecureChannelCredentials());
  auto api = v1::Coordinator::NewStub(channel);

  Process real(TOKENMETER_BINARY,
               {"worker", "--coordinator", coordinator.address(), "--cpu-threads", "1", "--setup", "test-cpu"},
               dir.path(), "worker");
  v1::WorkerInventory inventory;
  ASSERT_TRUE(Eventually(
      [&] {
        auto live = Live(*api);
        if (live.size() != 1) return false;
        inventory = live[0].inventory();
        return true;
      },
      std::chrono::seconds(20)))
      << real.err();
  const std::string real_id = Live(*api)[0].worker_id();
  inventory.set_hostname("second");
  SilentWorker second(channel, inventory);
  ASSERT_TRUE(second.status().ok()) << second.status().error_message();

  // The worker's next beat (within 1.6 s) is told 3.2 s; from then on its
  // heart-beat age climbs past 1.6 s, which it never reaches at the old one.
  double oldest = 0;
  const auto until = Clock::now() + std::chrono::seconds(8);
  while (Clock::now() < until) {
    for (const auto& w : Live(*api)) {
      if (w.worker_id() == real_id) {
        EXPECT_EQ(w.state(), v1::WORKER_IDLE);
        oldest = std::max(oldest, w.heartbeat_age_seconds());
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(oldest, 2.4) << real.err();
  EXPECT_LT(oldest, 3.2 + 2.0);
  EXPECT_THAT(real.err(), HasSubstr("the coordinator asks for a heart-beat every 3.2s (lost after 32s)"));
}

}  // namespace
}  // namespace tokenmeter::testing
