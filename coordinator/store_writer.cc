#include "coordinator/store_writer.h"

#include "absl/synchronization/notification.h"

namespace tokenmeter::coordinator {

StoreWriter::StoreWriter(ResultsStore* store) : store_(store), thread_([this] { Run(); }) {}

StoreWriter::~StoreWriter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void StoreWriter::Queue(Write write, Done done) {
  absl::MutexLock lock(&mu_);
  queue_.push_back({std::move(write), std::move(done)});
}

void StoreWriter::AfterQueuedWrites(std::function<void()> then) {
  absl::MutexLock lock(&mu_);
  queue_.push_back({nullptr, [then = std::move(then)](absl::Status) { then(); }});
}

void StoreWriter::Flush() {
  absl::Notification done;
  AfterQueuedWrites([&done] { done.Notify(); });
  done.WaitForNotification();
}

void StoreWriter::Run() {
  for (;;) {
    Entry entry;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and every write has run
      entry = std::move(queue_.front());
      queue_.pop_front();
    }
    const absl::Status status = entry.write ? entry.write(*store_) : absl::OkStatus();
    if (entry.done) entry.done(status);
  }
}

}  // namespace tokenmeter::coordinator
