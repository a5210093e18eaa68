// Test support shared by the cpu and cuda backends' tests: builders of the
// ops of a training-step program (kernels/step.h), and a stop request sent
// from another thread while runs are under way (BackendOptions::stop).
#ifndef TOKENMETER_TESTS_SUPPORT_STEP_OPS_H_
#define TOKENMETER_TESTS_SUPPORT_STEP_OPS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <stop_token>
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

// A stop request (BackendOptions::stop) sent from another thread, as the
// worker's heart-beat thread sends one when the coordinator ends a job:
// `delay` after every one of `parties` runs has begun, so that each run is
// under way, never refused at its start. Each party calls Begin() right
// before its run.
class StopWhenRunning {
 public:
  StopWhenRunning(int parties, std::chrono::milliseconds delay)
      : started_(parties), sender_([this, delay](std::stop_token destroyed) {
          // Gives up when destroyed first (a party failed before its run).
          while (!started_.try_wait()) {
            if (destroyed.stop_requested()) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          std::this_thread::sleep_for(delay);
          sent_at_ = std::chrono::steady_clock::now().time_since_epoch().count();
          stop_ = true;
        }) {}

  const std::atomic<bool>* flag() const { return &stop_; }
  void Begin() { started_.count_down(); }
  // Time since the request was sent (0 before it is).
  std::chrono::steady_clock::duration SinceSent() const {
    const auto sent = sent_at_.load();
    if (sent == 0) return {};
    return std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(sent);
  }

 private:
  std::latch started_;
  std::atomic<bool> stop_{false};
  std::atomic<std::chrono::steady_clock::rep> sent_at_{0};
  std::jthread sender_;  // last: started once the rest exists
};

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_TESTS_SUPPORT_STEP_OPS_H_
