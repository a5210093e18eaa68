// Writes to the results store off the scheduler's lock, in the order they
// were queued, on one thread of its own. The scheduler queues a write under
// its lock (a copy of the row, no I/O) and answers the client only once that
// write is durable: a heart-beat never waits behind an fsync, and nothing is
// acknowledged that a crash could take back.
#ifndef TOKENMETER_COORDINATOR_STORE_WRITER_H_
#define TOKENMETER_COORDINATOR_STORE_WRITER_H_

#include <deque>
#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/results_store.h"

namespace tokenmeter::coordinator {

class StoreWriter {
 public:
  using Write = std::function<absl::Status(ResultsStore&)>;
  // Runs on the writer's thread, under no lock of the writer's, right after
  // its write: the status is the write's own. May queue further writes.
  using Done = std::function<void(absl::Status)>;

  // store is not owned and must outlive the writer.
  explicit StoreWriter(ResultsStore* store);
  // Finishes every queued write and its callback, then stops.
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Queues a write; writes run one at a time in the order queued.
  void Queue(Write write, Done done = nullptr);
  // Runs `then` once every write queued before it has run.
  void AfterQueuedWrites(std::function<void()> then);
  // Blocks until every write queued so far has run (tools and tests). Never
  // call it holding a lock that a write's callback takes.
  void Flush();

 private:
  struct Entry {
    Write write;  // null for a barrier
    Done done;
  };
  void Run();

  ResultsStore* const store_;
  absl::Mutex mu_;
  std::deque<Entry> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_STORE_WRITER_H_
