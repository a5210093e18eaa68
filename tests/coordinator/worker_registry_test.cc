// Heart-beat expiry with an injected clock.
#include "coordinator/worker_registry.h"

#include <map>

#include "absl/strings/str_cat.h"
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
  EXPECT_EQ(registry.Heartbeat(*a, clock.Now()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Heartbeat("nobody", clock.Now()).status().code(), absl::StatusCode::kNotFound);
}

// A fleet beyond max_heartbeats_per_second × interval is told a cadence
// doubled until its beats fit; lost_after stretches with it.
TEST(WorkerRegistry, CadenceDoublesUntilTheFleetsBeatsFitTheRate) {
  ManualClock clock;
  WorkerRegistry registry({absl::Seconds(1), absl::Seconds(5), /*max_heartbeats_per_second=*/4});
  std::vector<std::string> ids;
  auto add = [&] { ids.push_back(*registry.Register(TestInventory("w", 1), clock.Now())); };
  for (int i = 0; i < 4; ++i) add();  // 4 beats/s: fits
  EXPECT_EQ(registry.Cadence().interval, absl::Seconds(1));
  EXPECT_EQ(registry.Cadence().lost_after, absl::Seconds(5));
  add();  // 5 beats/s at 1 s -> 2.5 at 2 s
  EXPECT_EQ(registry.Cadence().interval, absl::Seconds(2));
  EXPECT_EQ(registry.Cadence().lost_after, absl::Seconds(10));
  for (int i = 0; i < 12; ++i) add();  // 17 workers: 17/4 = 4.25 beats/s at 4 s -> 8 s
  EXPECT_EQ(registry.Cadence().interval, absl::Seconds(8));
  auto told = registry.Heartbeat(ids[0], clock.Now());
  ASSERT_TRUE(told.ok());
  EXPECT_EQ(told->interval, absl::Seconds(8));
  EXPECT_EQ(told->lost_after, absl::Seconds(40));
  // Leaving workers shrink it again.
  for (int i = 1; i < 17; ++i) registry.Deregister(ids[i]);
  EXPECT_EQ(registry.Cadence().interval, absl::Seconds(1));
}

// Each worker is held to the lost_after of its last reply: a fleet that
// shrinks does not declare lost a worker still beating at the longer interval
// it was given.
TEST(WorkerRegistry, AWorkerIsHeldToTheLostAfterItWasTold) {
  ManualClock clock;
  WorkerRegistry registry({absl::Seconds(1), absl::Seconds(5), /*max_heartbeats_per_second=*/1});
  auto a = *registry.Register(TestInventory("a", 1), clock.Now());
  auto b = *registry.Register(TestInventory("b", 1), clock.Now());
  ASSERT_EQ(registry.Heartbeat(a, clock.Now())->lost_after, absl::Seconds(10));  // 2 workers at 1/s: 2 s, 10 s
  registry.Deregister(b);
  EXPECT_EQ(registry.Cadence().lost_after, absl::Seconds(5));
  clock.Advance(absl::Seconds(9));
  EXPECT_TRUE(registry.ExpireSilent(clock.Now()).empty());  // told 10 s
  EXPECT_EQ(registry.Heartbeat(a, clock.Now())->lost_after, absl::Seconds(5));
  clock.Advance(absl::Seconds(5) + absl::Milliseconds(1));
  EXPECT_EQ(registry.ExpireSilent(clock.Now()), std::vector<std::string>{a});
  EXPECT_EQ(registry.Cadence().interval, absl::Seconds(1));  // nobody live
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

// Slices of registration order together are the whole list, in order,
// whatever the slice size; past the end a slice is empty.
TEST(WorkerRegistry, SlicesOfTheListAreTheListInOrder) {
  ManualClock clock;
  WorkerRegistry registry({absl::Seconds(1), absl::Seconds(5)});
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(*registry.Register(TestInventory(absl::StrCat("h", i), 1), clock.Now()));
    clock.Advance(absl::Milliseconds(100));
  }
  registry.Deregister(ids[2]);
  registry.Deregister(ids[5]);
  for (bool include_lost : {false, true}) {
    const auto whole = registry.List(clock.Now(), include_lost);
    ASSERT_EQ(whole.size(), include_lost ? 7u : 5u);
    for (size_t slice : {1u, 2u, 3u, 7u, 100u}) {
      std::vector<v1::WorkerStatus> sliced;
      size_t from = 0;
      while (from < registry.registered()) from = registry.ListSlice(clock.Now(), include_lost, from, slice, &sliced);
      ASSERT_EQ(sliced.size(), whole.size()) << "slice " << slice;
      for (size_t i = 0; i < whole.size(); ++i) {
        EXPECT_EQ(sliced[i].worker_id(), whole[i].worker_id());
        EXPECT_DOUBLE_EQ(sliced[i].heartbeat_age_seconds(), whole[i].heartbeat_age_seconds());
      }
    }
    EXPECT_EQ(whole.front().worker_id(), ids[0]);  // registration order
    EXPECT_EQ(whole.back().worker_id(), ids[6]);
  }
  std::vector<v1::WorkerStatus> none;
  EXPECT_EQ(registry.ListSlice(clock.Now(), true, 7, 10, &none), 7u);
  EXPECT_TRUE(none.empty());
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

// Errors name a worker so that an operator finds it: by host, and by the
// address its peers reach it on where hosts share a name.
TEST(WorkerRegistry, DescribesAWorkerByHostAddressAndPid) {
  WorkerRegistry registry({});
  auto inventory = TestInventory("node7", 1);
  inventory.set_pid(4242);
  auto plain = registry.Register(inventory, absl::Now());
  inventory.set_collective_host("198.18.0.3");
  auto addressed = registry.Register(inventory, absl::Now());
  ASSERT_TRUE(plain.ok() && addressed.ok());
  EXPECT_EQ(registry.Describe(*plain), absl::StrCat("worker ", *plain, " (node7, pid 4242)"));
  EXPECT_EQ(registry.Describe(*addressed), absl::StrCat("worker ", *addressed, " (node7, 198.18.0.3, pid 4242)"));
  EXPECT_EQ(registry.Describe("nobody"), "worker nobody");
}

}  // namespace
}  // namespace tokenmeter::coordinator
