// Placement: one device model per job, consecutive ranks, dtype checks.
#include "coordinator/placement.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_inventory.h"

namespace tokenmeter::coordinator {
namespace {

using ::testing::HasSubstr;

v1::WorkerStatus Worker(const std::string& id, v1::WorkerInventory inv) {
  v1::WorkerStatus w;
  w.set_worker_id(id);
  *w.mutable_inventory() = std::move(inv);
  w.set_state(v1::WORKER_IDLE);
  return w;
}

PlacementRequest Request(int ranks) {
  PlacementRequest r;
  r.ranks = ranks;
  r.gemm_dtypes = {v1::DTYPE_FP32};
  return r;
}

TEST(Placement, RanksAreGivenOutConsecutivelyAcrossWorkers) {
  auto a = Worker("a", TestInventory("ha", 2));
  auto b = Worker("b", TestInventory("hb", 2));
  auto plan = Place(Request(3), {&a, &b});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->shares.size(), 2u);
  EXPECT_EQ(plan->shares[0].worker_id, "a");
  ASSERT_EQ(plan->shares[0].ranks.size(), 2u);
  EXPECT_EQ(plan->shares[0].ranks[0].rank(), 0);
  EXPECT_EQ(plan->shares[0].ranks[1].rank(), 1);
  EXPECT_EQ(plan->shares[0].ranks[1].device_index(), 1);
  ASSERT_EQ(plan->shares[1].ranks.size(), 1u);
  EXPECT_EQ(plan->shares[1].ranks[0].rank(), 2);
  EXPECT_EQ(plan->min_device_memory_bytes, int64_t{16} << 30);
}

TEST(Placement, NeverMixesDeviceModels) {
  auto a = Worker("a", TestInventory("ha", 1, "GPU-A"));
  auto b = Worker("b", TestInventory("hb", 1, "GPU-B"));
  auto c = Worker("c", TestInventory("hc", 1, "GPU-B"));
  auto plan = Place(Request(2), {&a, &b, &c});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->shares[0].worker_id, "b");
  EXPECT_EQ(plan->shares[1].worker_id, "c");
  EXPECT_EQ(Place(Request(3), {&a, &b, &c}).status().code(), absl::StatusCode::kUnavailable);
}

TEST(Placement, TheGroupOfTheEarliestWorkerWinsEvenWhenALaterGroupFillsFirst) {
  // Placement stops walking the fleet once the first group suffices; a later
  // group that fills sooner must not be taken for it.
  auto a1 = Worker("a1", TestInventory("h1", 1, "GPU-A"));
  auto b1 = Worker("b1", TestInventory("h2", 2, "GPU-B"));
  auto a2 = Worker("a2", TestInventory("h3", 1, "GPU-A"));
  auto b2 = Worker("b2", TestInventory("h4", 2, "GPU-B"));
  auto plan = Place(Request(2), {&a1, &b1, &a2, &b2});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->shares.size(), 2u);
  EXPECT_EQ(plan->shares[0].worker_id, "a1");
  EXPECT_EQ(plan->shares[1].worker_id, "a2");
  // When the earliest group cannot, the next one in order of first worker.
  plan = Place(Request(3), {&a1, &b1, &a2, &b2});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->shares[0].worker_id, "b1");
  EXPECT_EQ(plan->shares[1].worker_id, "b2");
}

TEST(Placement, SkipsWorkersLackingADtypeAndOtherSetups) {
  auto a = Worker("a", TestInventory("ha", 1, "CPU", "cpu", "lab"));
  auto b = Worker("b", TestInventory("hb", 1, "CPU", "cpu", "other"));
  PlacementRequest r = Request(1);
  r.setup = "other";
  auto plan = Place(r, {&a, &b});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->shares[0].worker_id, "b");

  PlacementRequest bf16 = Request(1);
  bf16.gemm_dtypes = {v1::DTYPE_BF16};
  EXPECT_FALSE(Place(bf16, {&a, &b}).ok());
  auto s = CheckSatisfiable(bf16, {&a, &b});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("GEMM in bf16"));
  EXPECT_THAT(s.message(), HasSubstr("backend cpu"));
  EXPECT_TRUE(CheckSatisfiable(bf16, {}).ok());  // nobody registered yet: wait
}

TEST(Placement, KeepsAJobInsideOneSetupUnlessItSpansThem) {
  auto a1 = Worker("a1", TestInventory("ha1", 1, "CPU", "cpu", "cpu-a"));
  auto b1 = Worker("b1", TestInventory("hb1", 1, "CPU", "cpu", "cpu-b"));
  auto a2 = Worker("a2", TestInventory("ha2", 1, "CPU", "cpu", "cpu-a"));
  auto plan = Place(Request(2), {&a1, &b1, &a2});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->shares[0].worker_id, "a1");
  EXPECT_EQ(plan->shares[1].worker_id, "a2");

  auto refused = Place(Request(2), {&a1, &b1});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("cpu-a 1, cpu-b 1"));

  PlacementRequest span = Request(2);
  span.span_setups = true;
  auto spanned = Place(span, {&a1, &b1});
  ASSERT_TRUE(spanned.ok()) << spanned.status();
  EXPECT_EQ(spanned->shares[0].worker_id, "a1");
  EXPECT_EQ(spanned->shares[1].worker_id, "b1");
  // Spanning setups never spans device models.
  auto gpu = Worker("g", TestInventory("hg", 1, "GPU", "cpu", "cpu-b"));
  EXPECT_FALSE(Place(span, {&a1, &gpu}).ok());
}

TEST(Placement, RequestForCollectsTheSpecsDtypes) {
  v1::WorkloadSpec spec;
  spec.mutable_collective()->set_dtype(v1::DTYPE_FP16);
  auto r = RequestFor(spec, 4, "x");
  EXPECT_EQ(r.ranks, 4);
  EXPECT_EQ(r.setup, "x");
  ASSERT_EQ(r.collective_dtypes.size(), 1u);
  EXPECT_EQ(r.collective_dtypes[0], v1::DTYPE_FP16);
}

// A job pinned to workers runs on exactly those, in the order given, and
// waits while one of them is busy; ones that can never run it are named.
TEST(Placement, APinnedJobGoesOnItsWorkersInTheirOrder) {
  auto a = Worker("a", TestInventory("ha", 1));
  auto b = Worker("b", TestInventory("hb", 2));
  auto c = Worker("c", TestInventory("hc", 1));
  PlacementRequest r = Request(3);
  r.workers = {"c", "b"};
  auto plan = Place(r, {&a, &b, &c});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->shares.size(), 2u);
  EXPECT_EQ(plan->shares[0].worker_id, "c");
  EXPECT_EQ(plan->shares[0].ranks[0].rank(), 0);
  EXPECT_EQ(plan->shares[1].worker_id, "b");
  ASSERT_EQ(plan->shares[1].ranks.size(), 2u);
  EXPECT_EQ(plan->shares[1].ranks[1].rank(), 2);

  // b busy: the job waits for it, though a and c would do.
  auto waiting = Place(r, {&a, &c});
  EXPECT_EQ(waiting.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(waiting.status().message(), HasSubstr("waiting for worker b"));
  EXPECT_TRUE(CheckSatisfiable(r, {&a, &b, &c}).ok());
}

TEST(Placement, APinnedJobTheListedWorkersCanNeverRunFails) {
  auto a = Worker("a", TestInventory("ha", 1));
  auto b = Worker("b", TestInventory("hb", 1, "GPU-B"));
  PlacementRequest r = Request(2);
  r.workers = {"a", "gone"};
  EXPECT_THAT(CheckSatisfiable(r, {&a, &b}).message(), HasSubstr("worker gone is not registered"));
  r.workers = {"a", "b"};
  EXPECT_THAT(CheckSatisfiable(r, {&a, &b}).message(), HasSubstr("not of one backend, device model"));
  r.ranks = 3;
  r.workers = {"a"};
  EXPECT_THAT(CheckSatisfiable(r, {&a, &b}).message(), HasSubstr("have 1 devices for 3 ranks"));
  EXPECT_EQ(CheckSatisfiable(r, {&a, &b}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Placement, AWorkerListIsCheckedOnItsOwn) {
  EXPECT_TRUE(CheckWorkerList({}, 1).ok());
  EXPECT_TRUE(CheckWorkerList({"a", "b"}, 2).ok());
  EXPECT_THAT(CheckWorkerList({"a", "b", "a"}, 4).message(), HasSubstr("workers[2] 'a' is listed twice"));
  EXPECT_THAT(CheckWorkerList({"a", "b"}, 1).message(), HasSubstr("lists 2 workers for 1 ranks"));
  EXPECT_THAT(CheckWorkerList({""}, 1).message(), HasSubstr("workers[0] is empty"));
}

}  // namespace
}  // namespace tokenmeter::coordinator
