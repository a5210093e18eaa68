// Runs the `train-step/<model>/<profile>` workload on one rank: the step plan of the
// spec (workload/step_plan.h) executed on a kernels::Backend, timed per step.
#ifndef TOKENMETER_WORKER_TRAIN_STEP_RUNNER_H_
#define TOKENMETER_WORKER_TRAIN_STEP_RUNNER_H_

#include <atomic>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/step.h"
#include "worker/task_progress.h"
#include "tokenmeter/v1/result.pb.h"
#include "tokenmeter/v1/workload.pb.h"
#include "workload/step_plan.h"

namespace tokenmeter::worker {

// The kernels' program for `rank` of `world` running `plan` (PlanTrainStep
// of `step` on `world` ranks): one op per planned op, in order — GEMMs with
// their shapes and transposes, passes with their bytes, collectives with
// their element counts in the activation dtype and their rank groups; the
// first optimizer op waits for the overlapped gradient sync.
absl::StatusOr<kernels::StepProgram> BuildStepProgram(const v1::TrainStep& step,
                                                      const std::vector<workload::PlannedOp>& plan,
                                                      int world, int rank);

// Runs spec.warmup_iterations untimed and spec.timed_iterations timed steps;
// fills out with every step's time (scaled to the model's full depth), the
// median per phase, the gradient synchronisation's time and exposed part, and
// whether it overlapped compute (as the backend observed it, not as the spec
// asked: TrainStep.overlap_grad_sync marks the ops, the backend runs them).
absl::Status RunTrainStep(kernels::Backend& backend, const v1::WorkloadSpec& spec, const std::atomic<bool>* abort,
                          TaskProgress* progress, v1::TrainStepMeasurement* out);

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_TRAIN_STEP_RUNNER_H_
