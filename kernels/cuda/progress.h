// Bounded waiting for work queued on CUDA streams behind NCCL collectives,
// shared by NcclComm::Run and the training step (cuda_step.h).
//
// Never hang: the host keeps at most kMaxLaunchesInFlight launches and
// kMaxOpsInFlight ops queued ahead of the device, so it never blocks inside a
// CUDA launch behind a stuck collective; it waits by polling the oldest op's
// event. Every wait is bounded by a timeout measured from the device's last
// progress (an op finished), not from the start of a loop, so a long healthy
// run is never cut short while a lost peer is still caught within the
// timeout. While waiting, NCCL's asynchronous errors are polled; on a deadline
// or an error every communicator given is aborted (ncclCommAbort stops NCCL's
// kernels, so the streams drain) and the error names the op and the rank.
// A stop request (BackendOptions::stop) does the same and returns Aborted, as
// c10d's ProcessGroupNCCL::abort ends a collective blocked on a lost peer
// without waiting for its timeout; it is read before every op is admitted
// (so a device that keeps up with the host still stops at the next op) and
// while waiting.
//
// Not thread-safe: one thread, with the rank's device current.
#ifndef TOKENMETER_KERNELS_CUDA_PROGRESS_H_
#define TOKENMETER_KERNELS_CUDA_PROGRESS_H_

#include <cuda_runtime_api.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda/nccl_comm.h"

namespace tokenmeter::kernels::cuda {

// At most this much work is queued ahead of the device: well under the CUDA
// launch queue's depth, and far more than it takes to keep the device busy.
inline constexpr int64_t kMaxLaunchesInFlight = 512;
inline constexpr int kMaxOpsInFlight = 128;

// Events created up front (so that no creation can fail mid-run), destroyed
// on scope exit.
class EventPool {
 public:
  EventPool() = default;
  EventPool(const EventPool&) = delete;
  EventPool& operator=(const EventPool&) = delete;
  ~EventPool();

  // Creates `n` events with `flags` on the current device; `what` names them
  // in the error.
  absl::Status Create(size_t n, unsigned int flags, const char* what);

  cudaEvent_t operator[](size_t i) const { return events_[i]; }
  size_t size() const { return events_.size(); }

 private:
  std::vector<cudaEvent_t> events_;
};

// The queue of recorded events the host waits on, oldest first.
class Progress {
 public:
  // `comms`: the communicators whose errors are polled and which are aborted
  // on a deadline, an error or a stop request; `who` names this rank in
  // messages; `stop` (may be null) is BackendOptions::stop.
  Progress(std::chrono::milliseconds timeout, std::vector<NcclComm*> comms, std::string who,
           const std::atomic<bool>* stop = nullptr);

  // Waits until `launches` more fit in flight (or nothing is in flight).
  // Aborted (communicators aborted) once a stop is requested.
  absl::Status Admit(int64_t launches);

  // `fence` was recorded after work of `launches` launches described by
  // `what` (which must outlive this object).
  void Push(cudaEvent_t fence, int64_t launches, const std::string* what);

  // Waits for everything pushed.
  absl::Status Drain();

  // Aborts every communicator (so that NCCL's kernels stop and the streams
  // drain) and returns `status`.
  absl::Status AbortAll(absl::Status status);

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    cudaEvent_t fence;
    int64_t launches;
    const std::string* what;
  };

  absl::Status WaitFront();
  // AbortAll with the Aborted status of a stop requested before `where`.
  absl::Status Stopped(const std::string& where);

  std::chrono::milliseconds timeout_;
  std::vector<NcclComm*> comms_;
  std::string who_;
  const std::atomic<bool>* stop_;
  std::deque<Entry> queue_;
  int64_t in_flight_ = 0;
  Clock::time_point last_progress_ = Clock::now();
};

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_PROGRESS_H_
