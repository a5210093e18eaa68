// The CUDA events of one training-step run (RunStepProgram, cuda_step.h):
// the hand-offs through which its two streams wait on each other, the marks
// that time it, and the reading of those marks into a StepRun.
//
// Every event is created before the first iteration (Create), so that no
// creation can fail mid-run. In timed iteration t:
//  - op j runs between its own start/stop pair, recorded on the stream it
//    runs on (the communication stream for an overlapped op): op_seconds;
//  - the main stream records a begin mark before the first op and an end
//    mark after its last wait: step_seconds;
//  - when the step overlaps, the main stream records a mark before and one
//    after each of its waits for the communication stream (MainWaitsForComm):
//    an overlapped op's exposed_seconds is the part of its run inside those
//    waits, and `overlapped` is set when one ran while a GEMM or elementwise
//    op did (kernels/step_overlap.h).
// Untimed iterations record fences instead (no timing), only for Progress to
// wait on: a ring two longer than the ops Progress keeps in flight
// (kMaxOpsInFlight), so that a fence is recorded again only after Progress
// has waited for it.
//
// Not thread-safe: the step's thread, with the rank's device current.
#ifndef TOKENMETER_KERNELS_CUDA_STEP_EVENTS_H_
#define TOKENMETER_KERNELS_CUDA_STEP_EVENTS_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/progress.h"
#include "kernels/step.h"

namespace tokenmeter::kernels::cuda {

class StepEvents {
 public:
  // How Read treats one op of the program.
  struct Op {
    const std::string* label = nullptr;  // in messages; must outlive Read
    bool compute = false;                // a GEMM or elementwise op, on the main stream
    bool overlapped = false;             // run on the communication stream
  };

  // `who` names this rank in messages.
  explicit StepEvents(std::string who) : who_(std::move(who)) {}
  StepEvents(const StepEvents&) = delete;
  StepEvents& operator=(const StepEvents&) = delete;

  // Events for `timed` iterations of `ops` ops. `waits`: the most waits of
  // the main stream for the communication stream in one iteration; 0 when
  // nothing overlaps (then there are no hand-off events, and Read leaves
  // exposed_seconds empty).
  absl::Status Create(size_t ops, int timed, size_t waits);

  // In each, t >= 0 is a timed iteration and t < 0 an untimed one (which
  // records nothing but fences). "cudaEventRecord (<who>)"-style errors.

  // The main stream's begin mark of iteration t.
  absl::Status RecordBegin(int t, cudaStream_t main);
  // The main stream's end mark of timed iteration t (REQUIRES t >= 0): the
  // main stream's last event of the iteration, after its last wait, so that
  // once it has completed every event of the iteration has.
  absl::StatusOr<cudaEvent_t> RecordEnd(int t, cudaStream_t main);
  // Op j's start event, on the stream it runs on.
  absl::Status RecordOpStart(int t, size_t j, cudaStream_t stream);
  // Op j's stop event (a fence when untimed), on the stream it ran on: what
  // Progress waits on for the op.
  absl::StatusOr<cudaEvent_t> RecordOpDone(int t, size_t j, cudaStream_t stream);

  // The communication stream waits for everything enqueued so far on the
  // main stream, before overlapped op `label`.
  absl::Status CommWaitsForMain(cudaStream_t main, cudaStream_t comm, const std::string& label);
  // The main stream waits for everything enqueued so far on the
  // communication stream; in a timed iteration between a pair of marks.
  // REQUIRES: fewer than `waits` (Create) calls so far in iteration t.
  absl::Status MainWaitsForComm(int t, cudaStream_t main, cudaStream_t comm);

  // Fills run's op_seconds, step_seconds and, when the step overlaps,
  // exposed_seconds and overlapped, from the timed iterations' events; `ops`
  // as the program's. REQUIRES: every timed iteration's end mark has
  // completed.
  absl::Status Read(const std::vector<Op>& ops, StepRun* run) const;

 private:
  cudaEvent_t start(int t, size_t j) const { return timing_[2 * (Index(t) * ops_ + j)]; }
  cudaEvent_t stop(int t, size_t j) const { return timing_[2 * (Index(t) * ops_ + j) + 1]; }
  size_t marks_per_iteration() const { return 2 + 2 * waits_; }
  cudaEvent_t begin(int t) const { return marks_[Index(t) * marks_per_iteration()]; }
  cudaEvent_t end(int t) const { return marks_[Index(t) * marks_per_iteration() + 1]; }
  // edge 0: before the wait, 1: after it.
  cudaEvent_t wait_mark(int t, size_t slot, int edge) const {
    return marks_[Index(t) * marks_per_iteration() + 2 + 2 * slot + static_cast<size_t>(edge)];
  }
  static size_t Index(int t) { return static_cast<size_t>(t); }

  // Seconds from `from` to `to` (events on either stream).
  absl::Status Seconds(cudaEvent_t from, cudaEvent_t to, double* out) const;

  std::string who_;
  size_t ops_ = 0;
  int timed_ = 0;
  size_t waits_ = 0;  // wait-mark pairs per timed iteration
  EventPool timing_, marks_, fences_, handoff_;
  size_t next_fence_ = 0;
  std::vector<size_t> waits_in_;  // wait-mark pairs used, per timed iteration
};

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_STEP_EVENTS_H_
