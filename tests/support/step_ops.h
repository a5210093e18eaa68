// Test support shared by the cpu and cuda backends' tests: builders of the
// ops of a training-step program (kernels/step.h), and a stop request sent
// from another thread (BackendOptions::stop).
#ifndef TOKENMETER_TESTS_SUPPORT_STEP_OPS_H_
#define TOKENMETER_TESTS_SUPPORT_STEP_OPS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "kernels/step.h"
#include "kernels/types.h"

namespace tokenmeter::kernels {

inline StepOp Gemm(int64_t m, int64_t n, int64_t k, int64_t count = 1) {
  return {.kind = StepOp::Kind::kGemm, .m = m, .n = n, .k = k, .count = count};
}
inline StepOp Elementwise(int64_t bytes) { return {.kind = StepOp::Kind::kElementwise, .bytes = bytes}; }
inline StepOp Collective(CollectiveOp op, int64_t count, int group) {
  return {.kind = StepOp::Kind::kCollective, .count = count, .op = op, .group = group};
}
// A gradient sync the backend may overlap with the ops after it.
inline StepOp Overlapped(StepOp op) {
  op.overlappable = true;
  return op;
}
// An op that starts only once the overlapped ops before it have completed
// (the optimizer update).
inline StepOp Waiting(StepOp op) {
  op.waits_for_overlapped = true;
  return op;
}

// Sets `stop` after `delay` from another thread, as the worker's heart-beat
// thread does when the coordinator ends a job; joined on destruction.
inline std::jthread StopAfter(std::atomic<bool>& stop, std::chrono::milliseconds delay) {
  return std::jthread([&stop, delay] {
    std::this_thread::sleep_for(delay);
    stop = true;
  });
}

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_TESTS_SUPPORT_STEP_OPS_H_
