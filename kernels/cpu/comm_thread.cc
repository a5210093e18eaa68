#include "kernels/cpu/comm_thread.h"

#include "kernels/cpu/gloo_collectives.h"

namespace tokenmeter::kernels::cpu {

CommThread::CommThread() : thread_([this] { Loop(); }) {}

CommThread::~CommThread() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

size_t CommThread::Submit(Task task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(task);
  records_.emplace_back();
  return records_.size() - 1;
}

absl::Status CommThread::WaitAll() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](CommThread* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu_) {
        return t->finished_ == t->records_.size();
      },
      this));
  return failure_;
}

CommThread::Record CommThread::record(size_t ticket) {
  absl::MutexLock lock(&mu_);
  return records_[ticket];
}

void CommThread::Reset() {
  absl::MutexLock lock(&mu_);
  records_.clear();
  finished_ = 0;
}

void CommThread::Loop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](CommThread* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu_) {
          return t->stopping_ || !t->queue_.empty();
        },
        this));
    if (stopping_) return;
    const Task task = queue_.front();
    queue_.pop_front();
    const size_t ticket = finished_;  // one at a time, in order
    const bool skip = !failure_.ok();
    Record record;
    absl::Status status;
    // Unlocked while the op runs: the main thread submits and waits meanwhile.
    mu_.Unlock();
    record.start = Clock::now();
    if (!skip) {
      try {
        if (task.check) task.op->refresh();
        task.op->run();
        if (task.check) *task.wrong = task.op->wrong();
      } catch (...) {
        status = GlooExceptionToStatus(task.op->what);
      }
    }
    record.end = skip ? record.start : Clock::now();
    mu_.Lock();
    records_[ticket] = record;
    if (!status.ok() && failure_.ok()) failure_ = status;
    ++finished_;
  }
}

}  // namespace tokenmeter::kernels::cpu
