// Heart-beat expiry with an injected clock.
#include "coordinator/worker_registry.h"

#include <map>

#include "coordinator/clock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_inventory.h"

namespace tokenmeter::coordinator {
namespace {

TEST(WorkerRegistry, SilentWorkerIsLostAfterLostAfterAndNotBefore) {
  ManualClock clock;
  WorkerRegistry registry({absl::Seconds(1), absl::Seconds(5)});
  auto a = registry.Register(TestInventory("a", 1), clock.Now());
  auto b = registry.Register(TestInventory("b", 1), clock.Now());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);

  clock.Advance(absl::Seconds(4));
  ASSERT_TRUE(registry.Heartbeat(*b, clock.Now()).ok());
  EXPECT_TRUE(registry.ExpireSilent(clock.Now()).empty());

  clock.Advance(absl::Seconds(1) + absl::Milliseconds(1));  // a: 5.001 s silent; b: 1.001 s
  auto lost = registry.ExpireSilent(clock.Now());
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0], *a);
  EXPECT_FALSE(registry.IsAlive(*a));
  EXPECT_TRUE(registry.IsAlive(*b));
  EXPECT_TRUE(registry.ExpireSilent(clock.Now()).empty());  // reported once

  // A lost worker must register again.
  EXPECT_EQ(registry.Heartbeat(*a, clock.Now()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Heartbeat("nobody", clock.Now()).code(), absl::StatusCode::kNotFound);
}

TEST(WorkerRegistry, ListsAgesAndStates) {
  ManualClock clock;
  WorkerRegistry registry({absl::Seconds(1), absl::Seconds(5)});
  auto a = *registry.Register(TestInventory("a", 2), clock.Now());
  clock.Advance(absl::Milliseconds(2500));
  registry.SetBusy(a, "job-1");
  auto list = registry.List(clock.Now(), false);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_DOUBLE_EQ(list[0].heartbeat_age_seconds(), 2.5);
  EXPECT_EQ(list[0].state(), v1::WORKER_BUSY);
  EXPECT_EQ(list[0].job_id(), "job-1");
  EXPECT_TRUE(registry.IdleWorkers().empty());
  registry.SetIdle(a);
  EXPECT_EQ(registry.IdleWorkers().size(), 1u);
  registry.Deregister(a);
  EXPECT_TRUE(registry.List(clock.Now(), false).empty());
  EXPECT_EQ(registry.List(clock.Now(), true)[0].state(), v1::WORKER_GONE);
}

// The metrics' per-worker record: the same ages and states as List, without
// the inventories.
TEST(WorkerRegistry, AgesMatchTheListWithoutCopyingInventories) {
  ManualClock clock;
  WorkerRegistry registry({absl::Seconds(1), absl::Seconds(5)});
  auto a = *registry.Register(TestInventory("host-a", 8), clock.Now());
  clock.Advance(absl::Seconds(2));
  auto b = *registry.Register(TestInventory("host-b", 8), clock.Now());
  registry.SetBusy(b, "job-1");
  clock.Advance(absl::Milliseconds(500));
  std::map<std::string, WorkerAge> ages;
  for (auto& w : registry.Ages(clock.Now())) ages[w.worker_id] = w;
  ASSERT_EQ(ages.size(), 2u);
  EXPECT_EQ(ages[a].hostname, "host-a");
  EXPECT_DOUBLE_EQ(ages[a].heartbeat_age_seconds, 2.5);
  EXPECT_EQ(ages[a].state, v1::WORKER_IDLE);
  EXPECT_DOUBLE_EQ(ages[b].heartbeat_age_seconds, 0.5);
  EXPECT_EQ(ages[b].state, v1::WORKER_BUSY);
  for (const auto& listed : registry.List(clock.Now(), true)) {
    EXPECT_DOUBLE_EQ(ages[listed.worker_id()].heartbeat_age_seconds, listed.heartbeat_age_seconds());
    EXPECT_EQ(ages[listed.worker_id()].state, listed.state());
  }
}

TEST(WorkerRegistry, RefusesAnInventoryWithoutDevices) {
  WorkerRegistry registry({});
  EXPECT_EQ(registry.Register(TestInventory("a", 0), absl::Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tokenmeter::coordinator
