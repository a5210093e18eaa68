// The job-scoped rendezvous: bounded waits, released when the job ends.
#include "coordinator/rendezvous_store.h"

#include <cstdio>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenmeter::coordinator {
namespace {

TEST(RendezvousStore, GetWaitsForASetAndTimesOut) {
  RendezvousStore store;
  store.OpenJob("j");
  std::thread setter([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(store.Set("j", "k", "v").ok());
  });
  auto v = store.Get("j", "k", absl::Now() + absl::Seconds(5));
  setter.join();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "v");
  const absl::Time start = absl::Now();
  EXPECT_EQ(store.Get("j", "missing", absl::Now() + absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(RendezvousStore, ClosingAJobReleasesItsWaiters) {
  RendezvousStore store;
  store.OpenJob("j");
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    store.CloseJob("j");
  });
  auto v = store.Get("j", "never", absl::Now() + absl::Seconds(30));
  closer.join();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store.Set("j", "k", "v").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RendezvousStore, AddWaitAndBounds) {
  RendezvousStore store;
  store.OpenJob("j");
  EXPECT_EQ(*store.Add("j", "n", 2), 2);
  EXPECT_EQ(*store.Add("j", "n", 3), 5);
  ASSERT_TRUE(store.Set("j", "a", "1").ok());
  EXPECT_TRUE(store.Wait("j", {"a", "n"}, absl::Now() + absl::Seconds(1)).ok());
  EXPECT_EQ(store.Wait("j", {"a", "b"}, absl::Now() + absl::Milliseconds(50)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store.Set("j", "big", std::string(RendezvousStore::kMaxValueBytes + 1, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
  // Jobs do not see each other's keys.
  store.OpenJob("other");
  EXPECT_EQ(store.Get("other", "a", absl::Now()).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RendezvousStore, KeysAndBytesPerJobAreBoundedAndOtherJobsUnaffected) {
  RendezvousStore store;
  store.OpenJob("j");
  store.OpenJob("other");
  const std::string mib(RendezvousStore::kMaxValueBytes, 'x');
  const size_t fit = RendezvousStore::kMaxBytesPerJob / (mib.size() + 2);  // keys are 2 bytes: "00".."63"
  for (size_t i = 0; i < fit; ++i) {
    char key[3];
    std::snprintf(key, sizeof key, "%02zu", i);
    ASSERT_TRUE(store.Set("j", key, mib).ok()) << i;
  }
  auto full = store.Set("j", "zz", mib);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), ::testing::HasSubstr("the bound is 67108864 per job"));
  // Replacing a value counts its new size, not both.
  EXPECT_TRUE(store.Set("j", "00", "small").ok());
  EXPECT_TRUE(store.Set("j", "zz", mib).ok());
  EXPECT_TRUE(store.Set("other", "k", mib).ok());
  store.CloseJob("j");
  store.OpenJob("keys");
  for (size_t i = 0; i < RendezvousStore::kMaxKeysPerJob; ++i) ASSERT_TRUE(store.Add("keys", std::to_string(i), 1).ok());
  EXPECT_EQ(store.Add("keys", "one-more", 1).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store.Set("keys", "one-more", "v").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*store.Add("keys", "0", 1), 2);  // an existing key is still served
}

}  // namespace
}  // namespace tokenmeter::coordinator
