// The `train-step/<model>` presets, how a TrainStep's parallelism resolves on
// a number of ranks, which layers a step runs, and the checks a TrainStep
// must pass before anything is planned or run (docs/workloads.md).
// Pure functions; thread-safe.
#ifndef TOKENMETER_WORKLOAD_MODELS_H_
#define TOKENMETER_WORKLOAD_MODELS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// The preset called `model` ("tiny", "tiny-moe", "llama3-8b", "llama3-70b",
// "gpt3-175b", "deepseek-v3"): the public model's shape with the workload's
// defaults (micro batch, dtype, parallelism, layers to run). Presets are
// shipped as JSON in the TrainStep schema (models.cc), the same form a user's
// spec file takes. NotFound naming the known presets when `model` is unknown.
absl::StatusOr<v1::TrainStep> TrainStepPreset(std::string_view model);

// Every preset name, in a stable order.
std::vector<std::string> TrainStepPresetNames();

// Parallel degrees with the spec's zeros resolved for `ranks` ranks:
//   tensor 0 → 1;
//   data   0 → ranks / tensor;
//   expert 0 → data for mixture-of-experts models (experts spread over every
//            data-parallel rank), 1 for dense models.
// Rank layout: rank = data_index · tensor + tensor_index (tensor innermost).
// Expert-parallel groups are `expert` consecutive data indices at one tensor
// index; routed experts are split over the tensor group like the dense FFN.
struct ResolvedParallelism {
  int data = 1;
  int tensor = 1;
  int expert = 1;
  bool sharded = false;
};

// REQUIRES: ValidateTrainStep(step, ranks, ...) is OK (else the result is
// whatever the zeros resolve to, unchecked).
ResolvedParallelism ResolveParallelism(const v1::TrainStep& step, int ranks);

// Tokens per step across all ranks = global batch × seq_len, where the global
// batch = micro_batch × data-parallel degree.
int64_t TokensPerStep(const v1::TrainStep& step, int ranks);

// Which layers a step runs and how each kind scales to the full depth. With
// layers_to_run = r < layers, a model with both dense and MoE layers runs
// max(1, round(r·dense/layers)) dense layers and the rest MoE layers, so each
// kind is measured and scaled by its own factor; the FLOPs at full depth stay
// exact.
struct DepthPlan {
  int64_t dense_run = 0;
  int64_t moe_run = 0;
  double dense_scale = 1;  // dense layers in the model / dense layers run
  double moe_scale = 1;    // MoE layers in the model / MoE layers run
  double depth_scale = 1;  // layers / layers run (the figure reports show)
};
DepthPlan PlanDepth(const v1::TrainStep& step);

// Checks `step` for running on `ranks` ranks with `device_memory_bytes` of
// memory on the smallest device (0 = unknown, not checked). InvalidArgument
// naming the field and the bound, e.g. "train_step.model.heads (32) must
// divide train_step.model.hidden_size (4100)"; when the model does not fit,
// InvalidArgument "train_step: needs 1065.6 GiB per device, device has
// 74.5 GiB (weights ..., gradients ..., optimizer state ..., activations ...)"
// (EstimateTrainStepMemory in step_plan.h says what is counted).
// Rules (docs/workloads.md): positive sizes; heads divide hidden_size when
// head_dim is 0; kv_heads divide heads; data × tensor = ranks; expert divides
// data and routed_experts; tensor divides heads, kv_heads, every FFN width,
// the MLA ranks and routed_experts, and micro_batch × seq_len (the output head
// is split over tokens); layers_to_run ≤ layers.
absl::Status ValidateTrainStep(const v1::TrainStep& step, int ranks, int64_t device_memory_bytes);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_MODELS_H_
