#include "kernels/cuda/progress.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_status.h"

namespace tokenmeter::kernels::cuda {
namespace {

// Between polls of an event: short against ops of microseconds, long enough
// not to starve other ranks' threads on a small host.
constexpr auto kPollInterval = std::chrono::microseconds(50);

}  // namespace

EventPool::~EventPool() {
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

absl::Status EventPool::Create(size_t n, unsigned int flags, const char* what) {
  events_.reserve(events_.size() + n);
  for (size_t i = 0; i < n; ++i) {
    cudaEvent_t e = nullptr;
    TM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, flags), "cudaEventCreate (", what, ", ",
                            i, " of ", n, ")");
    events_.push_back(e);
  }
  return absl::OkStatus();
}

Progress::Progress(std::chrono::milliseconds timeout, std::vector<NcclComm*> comms, std::string who,
                   const std::atomic<bool>* stop)
    : timeout_(timeout), comms_(std::move(comms)), who_(std::move(who)), stop_(stop) {}

absl::Status Progress::Admit(int64_t launches) {
  if (StopRequested(stop_)) return Stopped("the next op was queued");
  while (!queue_.empty() && (in_flight_ + launches > kMaxLaunchesInFlight ||
                             queue_.size() >= static_cast<size_t>(kMaxOpsInFlight))) {
    if (absl::Status s = WaitFront(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void Progress::Push(cudaEvent_t fence, int64_t launches, const std::string* what) {
  // With nothing in flight the device has been idle, waiting for the host:
  // the clock starts now.
  if (queue_.empty()) last_progress_ = Clock::now();
  queue_.push_back({fence, launches, what});
  in_flight_ += launches;
}

absl::Status Progress::Drain() {
  while (!queue_.empty()) {
    if (absl::Status s = WaitFront(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Progress::AbortAll(absl::Status status) {
  for (NcclComm* c : comms_) c->Abort(status).IgnoreError();
  return status;
}

absl::Status Progress::Stopped(const std::string& where) {
  return AbortAll(StoppedError(absl::StrCat(where, " (", who_, ")",
                                            comms_.empty() ? "" : "; communicators aborted")));
}

absl::Status Progress::WaitFront() {
  const Entry& e = queue_.front();
  while (true) {
    // Before the errors: a peer that stopped on request may make NCCL report
    // a remote error here, the symptom rather than the cause.
    if (StopRequested(stop_)) return Stopped(absl::StrCat(*e.what, " completed"));
    const cudaError_t q = cudaEventQuery(e.fence);
    if (q == cudaSuccess) break;
    if (q != cudaErrorNotReady) {
      return AbortAll(CudaStatus(q, absl::StrCat(*e.what, " (", who_, ")")));
    }
    for (NcclComm* c : comms_) {
      if (absl::Status s = c->CheckAsyncError(absl::StrCat(*e.what, " (", who_, ")")); !s.ok()) {
        return AbortAll(s);
      }
    }
    if (Clock::now() - last_progress_ >= timeout_) {
      return AbortAll(absl::DeadlineExceededError(absl::StrCat(
          *e.what, " (", who_, ") did not complete within ", timeout_.count(),
          " ms of the previous op (a peer lost or stuck?); communicators aborted")));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  in_flight_ -= e.launches;
  queue_.pop_front();
  last_progress_ = Clock::now();
  return absl::OkStatus();
}

}  // namespace tokenmeter::kernels::cuda
