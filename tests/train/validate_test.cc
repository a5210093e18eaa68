// ValidateTrainStep refuses inconsistent specs with a message naming the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "workload/models.h"

namespace tokenmeter::workload {
namespace {

using ::testing::HasSubstr;

v1::TrainStep Preset(const char* name) {
  auto step = TrainStepPreset(name);
  EXPECT_TRUE(step.ok()) << step.status();
  return *step;
}

void ExpectInvalid(const v1::TrainStep& step, int ranks, const std::string& message,
                   int64_t memory = 0) {
  const absl::Status st = ValidateTrainStep(step, ranks, memory);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr(message));
}

TEST(Presets, EveryPresetParsesAndValidates) {
  const std::vector<std::string> names = TrainStepPresetNames();
  for (const char* want : {"tiny", "llama3-8b", "llama3-70b", "gpt3-175b", "deepseek-v3"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const std::string& name : names) {
    auto step = TrainStepPreset(name);
    ASSERT_TRUE(step.ok()) << name << ": " << step.status();
    EXPECT_EQ(step->model().name(), name);
    EXPECT_TRUE(ValidateTrainStep(*step, 1, 0).ok()) << name << ": " << ValidateTrainStep(*step, 1, 0);
    EXPECT_TRUE(ValidateTrainStep(*step, 8, 0).ok()) << name << ": " << ValidateTrainStep(*step, 8, 0);
  }
}

TEST(Presets, UnknownPresetNamesTheKnownOnes) {
  auto step = TrainStepPreset("llama4");
  EXPECT_EQ(step.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(step.status().message()), HasSubstr("llama3-8b"));
}

TEST(Presets, TinyIsCpuSized) {
  const v1::TrainStep tiny = Preset("tiny");
  EXPECT_EQ(tiny.dtype(), v1::DTYPE_FP32);
  EXPECT_EQ(tiny.layers_to_run(), 0);
  EXPECT_EQ(tiny.parallel().data(), 0);  // = ranks
}

TEST(Validate, HeadsMustDivideHiddenSize) {
  v1::TrainStep step = Preset("llama3-8b");
  step.mutable_model()->set_hidden_size(4100);
  ExpectInvalid(step, 1, "train_step.model.heads (32) must divide train_step.model.hidden_size (4100)");
  step.mutable_model()->set_head_dim(128);  // an explicit head dim lifts the rule
  EXPECT_TRUE(ValidateTrainStep(step, 1, 0).ok());
}

TEST(Validate, KvHeadsMustDivideHeads) {
  v1::TrainStep step = Preset("llama3-8b");
  step.mutable_model()->set_kv_heads(3);
  ExpectInvalid(step, 1, "train_step.model.kv_heads (3) must divide train_step.model.heads (32)");
}

TEST(Validate, SizesMustBePositive) {
  v1::TrainStep step = Preset("tiny");
  step.set_micro_batch(0);
  ExpectInvalid(step, 1, "train_step.micro_batch (0) must be positive");
  step = Preset("tiny");
  step.mutable_model()->set_layers(-2);
  ExpectInvalid(step, 1, "train_step.model.layers (-2) must be positive");
  step = Preset("tiny");
  step.mutable_model()->set_seq_len(0);
  ExpectInvalid(step, 1, "train_step.model.seq_len (0) must be positive");
  step = Preset("tiny");
  step.clear_dtype();
  ExpectInvalid(step, 1, "train_step.dtype is not set");
}

// The step plan counts in int64: a shape whose counts would overflow it is
// refused before any is computed (spec_fuzz found a hidden size of 2.5e8
// overflowing the optimizer's bytes with device memory given).
TEST(Validate, ShapesTooLargeToCountAreRefused) {
  v1::TrainStep step = Preset("tiny");
  step.mutable_model()->set_hidden_size(250000000);
  ExpectInvalid(step, 1, "train_step: parameters is ");
  EXPECT_FALSE(ValidateTrainStep(step, 1, int64_t{80} << 30).ok());
  step = Preset("tiny");
  step.mutable_model()->set_seq_len(int64_t{1} << 41);
  ExpectInvalid(step, 1, "train_step.model.seq_len must be at most 2^40");
  step = Preset("tiny");
  step.mutable_model()->set_seq_len(int64_t{1} << 30);
  ExpectInvalid(step, 1, "train_step: attention scores (micro_batch x heads x seq_len^2) is ");
  step = Preset("tiny");
  step.set_micro_batch(int64_t{1} << 40);
  ExpectInvalid(step, 1, "train_step: tokens per step (micro_batch x seq_len) x the widest activation is ");
  // The largest preset is far inside the bounds.
  EXPECT_TRUE(ValidateTrainStep(Preset("deepseek-v3"), 1, 0).ok());
}

TEST(Validate, LayersToRunAtMostLayers) {
  v1::TrainStep step = Preset("llama3-8b");
  step.set_layers_to_run(40);
  ExpectInvalid(step, 1, "train_step.layers_to_run (40) must not exceed train_step.model.layers (32)");
  step = Preset("deepseek-v3");
  step.set_layers_to_run(1);
  ExpectInvalid(step, 1, "train_step.layers_to_run (1) must be at least 2");
}

TEST(Validate, DataTimesTensorIsRanks) {
  v1::TrainStep step = Preset("tiny");
  step.mutable_parallel()->set_data(3);
  ExpectInvalid(step, 4,
                "train_step.parallel.data (3) × train_step.parallel.tensor (1) must equal the ranks (4)");
  step = Preset("tiny");
  step.mutable_parallel()->set_tensor(3);
  ExpectInvalid(step, 4, "train_step.parallel.tensor (3) must divide the ranks (4)");
}

TEST(Validate, TensorMustDivideHeadsAndWidths) {
  v1::TrainStep step = Preset("llama3-8b");
  step.mutable_parallel()->set_tensor(16);
  ExpectInvalid(step, 16, "train_step.parallel.tensor (16) must divide train_step.model.kv_heads (8)");
  step = Preset("tiny");
  step.mutable_parallel()->set_tensor(3);
  ExpectInvalid(step, 3, "train_step.parallel.tensor (3) must divide train_step.model.heads (4)");
}

TEST(Validate, ExpertParallelRules) {
  v1::TrainStep step = Preset("deepseek-v3");
  step.mutable_parallel()->set_expert(3);
  ExpectInvalid(step, 6, "train_step.parallel.expert (3) must divide train_step.model.moe.routed_experts (256)");
  step.mutable_parallel()->set_expert(4);
  ExpectInvalid(step, 6, "train_step.parallel.expert (4) must divide train_step.parallel.data (6)");
  step.mutable_parallel()->set_expert(0);  // = data = 6
  ExpectInvalid(step, 6, "train_step.parallel.expert (0 = data) (6) must divide");
  step = Preset("llama3-8b");
  step.mutable_parallel()->set_expert(2);
  ExpectInvalid(step, 2, "train_step.parallel.expert (2) needs a mixture-of-experts model");
}

TEST(Validate, MoeShape) {
  v1::TrainStep step = Preset("tiny-moe");
  step.mutable_model()->mutable_moe()->set_experts_per_token(9);
  ExpectInvalid(step, 1, "train_step.model.moe.experts_per_token (9) must not exceed");
}

TEST(Validate, TooLargeForDeviceMemory) {
  // 70B with Adam on one 80 GB device: ~16 bytes per parameter alone.
  const v1::TrainStep step = Preset("llama3-70b");
  const int64_t h100 = 80LL * 1000 * 1000 * 1000;
  ExpectInvalid(step, 1, "per device, device has 74.5 GiB", h100);
  ExpectInvalid(step, 1, "train_step: needs ", h100);
  // Tiny fits in a gigabyte.
  EXPECT_TRUE(ValidateTrainStep(Preset("tiny"), 2, 1LL << 30).ok());
}

TEST(Parallelism, ZerosResolve) {
  v1::TrainStep step = Preset("deepseek-v3");
  step.mutable_parallel()->set_tensor(2);
  const ResolvedParallelism p = ResolveParallelism(step, 64);
  EXPECT_EQ(p.tensor, 2);
  EXPECT_EQ(p.data, 32);
  EXPECT_EQ(p.expert, 32);
  EXPECT_EQ(TokensPerStep(step, 64), 32 * 1 * 4096);
  EXPECT_EQ(ResolveParallelism(Preset("tiny"), 4).expert, 1);
}

}  // namespace
}  // namespace tokenmeter::workload
