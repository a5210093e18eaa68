// How far a task has got, for the progress line of `run`: the sweep entry (or
// phase) its first rank is in, how many iterations of it have begun (the cpu
// backend counts them through BackendOptions::iterations_begun), and the last
// finished entry's median. The rank thread writes it; the heart-beat thread
// reads a snapshot of it once a period.
#ifndef TOKENMETER_WORKER_TASK_PROGRESS_H_
#define TOKENMETER_WORKER_TASK_PROGRESS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::worker {

// Thread-safe.
class TaskProgress {
 public:
  TaskProgress() : started_(absl::Now()) {}

  // Entry `index` (from 1) of `count` begins: `label` says what it is,
  // `iterations` its warm-up plus timed iterations. Resets the iteration count.
  void BeginEntry(int index, int count, std::string label, int iterations);
  // The entry ended with this median.
  void EndEntry(double median_seconds);

  // For BackendOptions::iterations_begun. Lives as long as this object.
  std::atomic<int64_t>* iterations_begun() { return &iterations_begun_; }

  v1::JobProgress Snapshot() const;

 private:
  const absl::Time started_;
  std::atomic<int64_t> iterations_begun_{0};
  mutable absl::Mutex mu_;
  v1::JobProgress progress_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_TASK_PROGRESS_H_
