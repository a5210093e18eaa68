#include "worker/train_step_runner.h"

namespace tokenmeter::worker {

absl::Status RunTrainStep(kernels::Backend& backend, const v1::WorkloadSpec& spec, const std::atomic<bool>* abort,
                          v1::TrainStepMeasurement* out) {
  return absl::UnimplementedError("train-step workloads are not implemented yet");
}

}  // namespace tokenmeter::worker
