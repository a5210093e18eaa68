#include "worker/task_progress.h"

namespace tokenmeter::worker {

void TaskProgress::BeginEntry(int index, int count, std::string label, int iterations) {
  absl::MutexLock lock(&mu_);
  iterations_begun_.store(0, std::memory_order_relaxed);
  progress_.set_entry(std::move(label));
  progress_.set_entry_index(index);
  progress_.set_entries(count);
  progress_.set_iterations(iterations);
}

void TaskProgress::EndEntry(double median_seconds) {
  absl::MutexLock lock(&mu_);
  progress_.set_last_median_seconds(median_seconds);
}

v1::JobProgress TaskProgress::Snapshot() const {
  absl::MutexLock lock(&mu_);
  v1::JobProgress p = progress_;
  p.set_iterations_begun(std::min<int64_t>(iterations_begun_.load(std::memory_order_relaxed), p.iterations()));
  p.set_elapsed_seconds(absl::ToDoubleSeconds(absl::Now() - started_));
  return p;
}

}  // namespace tokenmeter::worker
