// Small owners for CUDA resources, so that every early error return frees
// what was allocated before it. Not thread-safe; used by one backend thread.
#ifndef TOKENMETER_KERNELS_CUDA_DEVICE_RESOURCES_H_
#define TOKENMETER_KERNELS_CUDA_DEVICE_RESOURCES_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace tokenmeter::kernels::cuda {

// Device memory from cudaMalloc on the current device; freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      Reset();
      ptr_ = std::exchange(other.ptr_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { Reset(); }

  // Allocates `bytes` (at least 1) on the current device; `what` names the
  // buffer in the error ("gemm A 8192x8192 bf16").
  absl::Status Allocate(size_t bytes, const std::string& what) {
    Reset();
    void* p = nullptr;
    TM_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc(", bytes,
                            " bytes) for ", what);
    ptr_ = p;
    bytes_ = bytes;
    return absl::OkStatus();
  }

  void Reset() {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A start/stop event pair per timed iteration: each iteration is bracketed by
// its own pair on the stream, so every iteration's device time is kept.
class IterationTimer {
 public:
  IterationTimer() = default;
  IterationTimer(const IterationTimer&) = delete;
  IterationTimer& operator=(const IterationTimer&) = delete;
  ~IterationTimer() {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }

  // Creates 2 * iterations events on the current device.
  absl::Status Create(int iterations) {
    events_.reserve(2 * static_cast<size_t>(iterations));
    for (int i = 0; i < 2 * iterations; ++i) {
      cudaEvent_t e = nullptr;
      TM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e), "cudaEventCreate");
      events_.push_back(e);
    }
    return absl::OkStatus();
  }
  cudaEvent_t start(int i) const { return events_[2 * i]; }
  cudaEvent_t stop(int i) const { return events_[2 * i + 1]; }
  int iterations() const { return static_cast<int>(events_.size() / 2); }

  // REQUIRES: every stop event has completed. Seconds per iteration.
  absl::Status Read(std::vector<double>* seconds) const {
    seconds->clear();
    for (int i = 0; i < iterations(); ++i) {
      float ms = 0;
      TM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start(i), stop(i)),
                              "cudaEventElapsedTime for timed iteration ", i);
      seconds->push_back(static_cast<double>(ms) * 1e-3);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<cudaEvent_t> events_;
};

// Bytes needed by `count` elements of `bytes_each`, or -1 on int64 overflow.
inline int64_t CheckedBytes(int64_t count, int64_t bytes_each) {
  int64_t out = 0;
  if (__builtin_mul_overflow(count, bytes_each, &out)) return -1;
  return out;
}

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_DEVICE_RESOURCES_H_
