// Runs the `train-step/<model>` workload on one rank: the step plan of the
// spec (workload/step_plan.h) executed on a kernels::Backend, timed per step.
#ifndef TOKENMETER_WORKER_TRAIN_STEP_RUNNER_H_
#define TOKENMETER_WORKER_TRAIN_STEP_RUNNER_H_

#include <atomic>

#include "absl/status/status.h"
#include "kernels/backend.h"
#include "tokenmeter/v1/result.pb.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::worker {

// Runs spec.warmup_iterations untimed and spec.timed_iterations timed steps;
// fills out with every step's time (scaled to the model's full depth), the
// median per phase, the gradient synchronisation's time and exposed part, and
// whether it overlapped compute (as the backend observed it, not as the spec
// asked: TrainStep.overlap_grad_sync marks the ops, the backend runs them).
absl::Status RunTrainStep(kernels::Backend& backend, const v1::WorkloadSpec& spec, const std::atomic<bool>* abort,
                          v1::TrainStepMeasurement* out);

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_TRAIN_STEP_RUNNER_H_
