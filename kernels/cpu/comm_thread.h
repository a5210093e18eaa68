// The communication thread of one CpuStepRunner::Run (cpu_step.h), as DDP
// hands its gradient buckets to the process group's own thread. Private to
// kernels/cpu.
#ifndef TOKENMETER_KERNELS_CPU_COMM_THREAD_H_
#define TOKENMETER_KERNELS_CPU_COMM_THREAD_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kernels/cpu/prepared_op.h"

namespace tokenmeter::kernels::cpu {

// Runs the overlapped ops one at a time, in the order they were submitted
// (the program's order, the same on every rank, as Gloo needs), and records
// when each ran. After an op fails, the ops queued behind it are skipped.
// Thread-safe; destroying it skips the queued ops and waits for the one
// running (Gloo bounds it by the timeout).
class CommThread {
 public:
  using Clock = std::chrono::steady_clock;

  // One op to run: with `check`, its inputs are refreshed before and its
  // wrong output elements counted into *wrong after.
  struct Task {
    const PreparedOp* op = nullptr;
    bool check = false;
    int64_t* wrong = nullptr;
  };
  // When a task ran; start == end for a skipped one.
  struct Record {
    Clock::time_point start, end;
  };

  CommThread();
  ~CommThread();
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  // Queues `task`; returns its ticket: 0, 1, ... since the last Reset.
  size_t Submit(Task task);

  // Blocks until every task submitted has finished (or been skipped). OK, or
  // the first failure, its message starting with the op's `what`.
  absl::Status WaitAll();

  // REQUIRES: WaitAll returned since the task with `ticket` was submitted.
  Record record(size_t ticket);

  // Tickets restart from 0. REQUIRES: WaitAll returned after the last Submit.
  void Reset();

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Record> records_ ABSL_GUARDED_BY(mu_);  // by ticket
  size_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_COMM_THREAD_H_
