// Test support for the cuda kernels: whether the host has a GPU, and ranks of
// one job run as threads, one GPU each, sharing an in-memory store (world
// size = GPUs on the host, so one GPU still runs NCCL with world size 1).
#ifndef TOKENMETER_TESTS_GPU_CUDA_RANKS_H_
#define TOKENMETER_TESTS_GPU_CUDA_RANKS_H_

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/store.h"

namespace tokenmeter::kernels {

inline int GpuCount() {
  absl::StatusOr<std::vector<DeviceDescription>> devices = ListCudaDevices();
  return devices.ok() ? static_cast<int>(devices->size()) : 0;
}

#define SKIP_WITHOUT_GPU() \
  if (::tokenmeter::kernels::GpuCount() == 0) GTEST_SKIP() << "no CUDA device"

// Runs fn(rank, backend) on `world` ranks, one thread and one GPU each;
// `stop` becomes every rank's BackendOptions::stop.
template <typename Fn>
void RunRanks(int world, const std::string& prefix, Fn fn, const std::atomic<bool>* stop = nullptr) {
  std::unique_ptr<Store> store = NewInMemoryStore();
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      BackendOptions o;
      o.rank = r;
      o.world_size = world;
      o.device_index = r;
      o.store = store.get();
      o.store_prefix = prefix;
      o.timeout = std::chrono::seconds(60);
      o.stop = stop;
      absl::StatusOr<std::unique_ptr<Backend>> backend = NewCudaBackend(o);
      ASSERT_TRUE(backend.ok()) << "rank " << r << ": " << backend.status();
      fn(r, **backend);
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_TESTS_GPU_CUDA_RANKS_H_
