#include "kernels/cuda/step_events.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/step_overlap.h"

namespace tokenmeter::kernels::cuda {

absl::Status StepEvents::Create(size_t ops, int timed, size_t waits) {
  ops_ = ops;
  timed_ = timed;
  waits_ = waits;
  waits_in_.assign(static_cast<size_t>(timed), 0);
  const size_t t = static_cast<size_t>(timed);
  if (absl::Status s = timing_.Create(2 * ops * t, cudaEventDefault, "step timing"); !s.ok()) {
    return s;
  }
  if (absl::Status s = marks_.Create(marks_per_iteration() * t, cudaEventDefault, "step marks");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = fences_.Create(kMaxOpsInFlight + 2, cudaEventDisableTiming, "step fences");
      !s.ok()) {
    return s;
  }
  if (waits > 0) {
    if (absl::Status s = handoff_.Create(2, cudaEventDisableTiming, "stream hand-off"); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status StepEvents::RecordBegin(int t, cudaStream_t main) {
  if (t < 0) return absl::OkStatus();
  TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(begin(t), main), "cudaEventRecord (", who_, ")");
  return absl::OkStatus();
}

absl::StatusOr<cudaEvent_t> StepEvents::RecordEnd(int t, cudaStream_t main) {
  TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(end(t), main), "cudaEventRecord (", who_, ")");
  return end(t);
}

absl::Status StepEvents::RecordOpStart(int t, size_t j, cudaStream_t stream) {
  if (t < 0) return absl::OkStatus();
  TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(start(t, j), stream), "cudaEventRecord (", who_, ")");
  return absl::OkStatus();
}

absl::StatusOr<cudaEvent_t> StepEvents::RecordOpDone(int t, size_t j, cudaStream_t stream) {
  const cudaEvent_t done = t >= 0 ? stop(t, j) : fences_[next_fence_++ % fences_.size()];
  TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(done, stream), "cudaEventRecord (", who_, ")");
  return done;
}

absl::Status StepEvents::CommWaitsForMain(cudaStream_t main, cudaStream_t comm,
                                          const std::string& label) {
  TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(handoff_[0], main), "cudaEventRecord before ", label,
                          " (", who_, ")");
  TM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(comm, handoff_[0], 0), "cudaStreamWaitEvent before ",
                          label, " (", who_, ")");
  return absl::OkStatus();
}

absl::Status StepEvents::MainWaitsForComm(int t, cudaStream_t main, cudaStream_t comm) {
  const size_t slot = t >= 0 ? waits_in_[Index(t)] : 0;
  if (t >= 0) {
    TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(wait_mark(t, slot, 0), main), "cudaEventRecord (",
                            who_, ")");
  }
  TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(handoff_[1], comm),
                          "cudaEventRecord on the communication stream (", who_, ")");
  TM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(main, handoff_[1], 0),
                          "cudaStreamWaitEvent for the overlapped collectives (", who_, ")");
  if (t >= 0) {
    TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(wait_mark(t, slot, 1), main), "cudaEventRecord (",
                            who_, ")");
    waits_in_[Index(t)] = slot + 1;
  }
  return absl::OkStatus();
}

absl::Status StepEvents::Seconds(cudaEvent_t from, cudaEvent_t to, double* out) const {
  float ms = 0;
  TM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, from, to), "cudaEventElapsedTime (", who_,
                          ")");
  *out = static_cast<double>(ms) * 1e-3;
  return absl::OkStatus();
}

absl::Status StepEvents::Read(const std::vector<Op>& ops, StepRun* run) const {
  const size_t timed = static_cast<size_t>(timed_);
  const bool overlap = waits_ > 0;
  run->op_seconds.assign(timed, std::vector<double>(ops_, 0.0));
  run->step_seconds.assign(timed, 0.0);
  if (overlap) run->exposed_seconds.assign(timed, std::vector<double>(ops_, 0.0));
  for (int i = 0; i < timed_; ++i) {
    for (size_t j = 0; j < ops_; ++j) {
      if (absl::Status s = Seconds(start(i, j), stop(i, j), &run->op_seconds[i][j]); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(s.message(), " for ", *ops[j].label,
                                                   " in timed iteration ", i));
      }
    }
    if (absl::Status s = Seconds(begin(i), end(i), &run->step_seconds[i]); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(), " for timed iteration ", i,
                                                 " of the training step"));
    }
    if (!overlap) continue;
    // The iteration's timeline from its begin mark: the main stream's
    // compute ops and its waits (each ascending, as CoveredSeconds needs),
    // and each overlapped op.
    auto span_of = [&](cudaEvent_t from, cudaEvent_t to, StepInterval* out) -> absl::Status {
      if (absl::Status s = Seconds(begin(i), from, &out->start); !s.ok()) return s;
      return Seconds(begin(i), to, &out->end);
    };
    std::vector<StepInterval> compute_spans, wait_spans(waits_in_[Index(i)]);
    for (size_t w = 0; w < wait_spans.size(); ++w) {
      if (absl::Status s = span_of(wait_mark(i, w, 0), wait_mark(i, w, 1), &wait_spans[w]);
          !s.ok()) {
        return s;
      }
    }
    for (size_t j = 0; j < ops_; ++j) {
      if (!ops[j].compute) continue;
      StepInterval span;
      if (absl::Status s = span_of(start(i, j), stop(i, j), &span); !s.ok()) return s;
      compute_spans.push_back(span);
    }
    run->exposed_seconds[i] = run->op_seconds[i];
    for (size_t j = 0; j < ops_; ++j) {
      if (!ops[j].overlapped) continue;
      StepInterval span;
      if (absl::Status s = span_of(start(i, j), stop(i, j), &span); !s.ok()) return s;
      run->exposed_seconds[i][j] =
          std::min(run->op_seconds[i][j], CoveredSeconds(span, wait_spans));
      if (CoveredSeconds(span, compute_spans) > 0) run->overlapped = true;
    }
  }
  return absl::OkStatus();
}

}  // namespace tokenmeter::kernels::cuda
