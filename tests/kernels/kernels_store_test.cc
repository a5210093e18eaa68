// kernels::Store: the in-memory store and the prefix view over it.
#include "kernels/store.h"

#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace tokenmeter::kernels {
namespace {

using std::chrono::milliseconds;

TEST(InMemoryStoreTest, SetThenGet) {
  auto store = NewInMemoryStore();
  ASSERT_TRUE(store->Set("a", "1").ok());
  ASSERT_TRUE(store->Set("a", "2").ok());  // replaces
  auto value = store->Get("a", milliseconds(10));
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "2");
}

TEST(InMemoryStoreTest, GetTimesOutOnMissingKey) {
  auto store = NewInMemoryStore();
  const auto start = std::chrono::steady_clock::now();
  auto value = store->Get("missing", milliseconds(50));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(value.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(value.status().message().find("missing"), absl::string_view::npos);
  EXPECT_GE(waited, milliseconds(45));
  EXPECT_LT(waited, milliseconds(2000));
}

TEST(InMemoryStoreTest, GetWakesWhenAnotherThreadSets) {
  auto store = NewInMemoryStore();
  std::thread setter([&] {
    std::this_thread::sleep_for(milliseconds(20));
    ASSERT_TRUE(store->Set("late", "here").ok());
  });
  auto value = store->Get("late", milliseconds(5000));
  setter.join();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "here");
}

TEST(InMemoryStoreTest, AddAccumulatesFromZero) {
  auto store = NewInMemoryStore();
  EXPECT_EQ(*store->Add("n", 3), 3);
  EXPECT_EQ(*store->Add("n", -1), 2);
  EXPECT_EQ(*store->Get("n", milliseconds(10)), "2");
  ASSERT_TRUE(store->Set("text", "abc").ok());
  EXPECT_EQ(store->Add("text", 1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InMemoryStoreTest, AddIsAtomicAcrossThreads) {
  auto store = NewInMemoryStore();
  constexpr int kThreads = 4, kAdds = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAdds; ++i) ASSERT_TRUE(store->Add("counter", 1).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*store->Add("counter", 0), kThreads * kAdds);
}

TEST(InMemoryStoreTest, WaitForEveryKey) {
  auto store = NewInMemoryStore();
  ASSERT_TRUE(store->Set("x", "").ok());
  EXPECT_EQ(store->Wait({"x", "y"}, milliseconds(30)).code(), absl::StatusCode::kDeadlineExceeded);
  std::thread setter([&] { ASSERT_TRUE(store->Set("y", "").ok()); });
  EXPECT_TRUE(store->Wait({"x", "y"}, milliseconds(5000)).ok());
  setter.join();
}

TEST(PrefixStoreTest, KeysLiveUnderThePrefix) {
  auto base = NewInMemoryStore();
  auto job1 = NewPrefixStore(base.get(), "job1");
  auto job2 = NewPrefixStore(base.get(), "job2");
  ASSERT_TRUE(job1->Set("k", "one").ok());
  ASSERT_TRUE(job2->Set("k", "two").ok());
  EXPECT_EQ(*job1->Get("k", milliseconds(10)), "one");
  EXPECT_EQ(*job2->Get("k", milliseconds(10)), "two");
  EXPECT_EQ(*base->Get("job1/k", milliseconds(10)), "one");
  EXPECT_EQ(base->Get("k", milliseconds(10)).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(PrefixStoreTest, AddGetAndWaitGoThroughThePrefix) {
  auto base = NewInMemoryStore();
  auto view = NewPrefixStore(base.get(), "p");
  EXPECT_EQ(*view->Add("n", 5), 5);
  EXPECT_EQ(*base->Add("p/n", 1), 6);
  EXPECT_EQ(view->Get("absent", milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(view->Wait({"n", "m"}, milliseconds(20)).code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(base->Set("p/m", "").ok());
  EXPECT_TRUE(view->Wait({"n", "m"}, milliseconds(20)).ok());
}

}  // namespace
}  // namespace tokenmeter::kernels
