// Test support for the cpu kernels: ranks of one job run as threads sharing an
// in-memory store (as Gloo's test/base_test.h).
#ifndef TOKENMETER_TESTS_KERNELS_RANK_THREADS_H_
#define TOKENMETER_TESTS_KERNELS_RANK_THREADS_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/store.h"

namespace tokenmeter::kernels {

// A rendezvous prefix no other communicator of this test binary uses.
inline std::string UniquePrefix() {
  static std::atomic<int> next{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name() + "." + std::to_string(next++);
}

inline BackendOptions RankOptions(int rank, int world_size, Store* store, const std::string& prefix,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  BackendOptions options;
  options.rank = rank;
  options.world_size = world_size;
  options.store = store;
  options.store_prefix = prefix;
  options.timeout = timeout;
  options.cpu_threads = 1;
  return options;
}

// Runs body(rank, backend) on world_size threads, each with a connected
// backend; fails the test if any rank cannot connect. Every rank has finished
// connecting before any body starts, and every body has returned before any
// backend is destroyed: a rank whose body sends nothing would otherwise close
// its connections while a peer still completes its side of the mesh.
inline void RunRanks(int world_size, const std::function<void(int, Backend&)>& body,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  auto store = NewInMemoryStore();
  const std::string prefix = UniquePrefix();
  std::latch connected(world_size);
  std::latch finished(world_size);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      auto backend = Backend::Create("cpu", RankOptions(rank, world_size, store.get(), prefix, timeout));
      connected.arrive_and_wait();
      if (backend.ok()) body(rank, **backend);
      finished.arrive_and_wait();
      ASSERT_TRUE(backend.ok()) << "rank " << rank << ": " << backend.status();
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_TESTS_KERNELS_RANK_THREADS_H_
