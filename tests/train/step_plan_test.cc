// The step plan executes exactly the model FLOPs, for every preset and
// parallelism; its structure, groups and memory estimate.
#include <gtest/gtest.h>

#include <set>

#include "workload/flops.h"
#include "workload/models.h"
#include "workload/step_plan.h"

namespace tokenmeter::workload {
namespace {

v1::TrainStep Preset(const char* name) {
  auto step = TrainStepPreset(name);
  EXPECT_TRUE(step.ok()) << step.status();
  return *step;
}

struct Layout {
  const char* preset;
  int ranks;
  int tensor;
  int expert;  // 0 = default
  bool sharded;
  bool full_depth;
};

class PlanFlopsTest : public testing::TestWithParam<Layout> {};

// Σ over ranks of the plan's matmul FLOPs at full depth = model FLOPs per
// token × tokens per step (forward + backward = 3 × forward, both sides).
TEST_P(PlanFlopsTest, PlanFlopsAreModelFlops) {
  const Layout& l = GetParam();
  for (auto profile : {v1::FRAMEWORK_PROFILE_EAGER, v1::FRAMEWORK_PROFILE_FUSED}) {
  SCOPED_TRACE(profile == v1::FRAMEWORK_PROFILE_EAGER ? "eager" : "fused");
  v1::TrainStep step = Preset(l.preset);
  step.set_profile(profile);
  step.mutable_parallel()->set_tensor(l.tensor);
  step.mutable_parallel()->set_expert(l.expert);
  step.mutable_parallel()->set_sharded(l.sharded);
  if (l.full_depth) step.set_layers_to_run(0);
  auto plan = PlanTrainStep(step, l.ranks);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const double executed = PlanModelFlops(*plan) * l.ranks;
  const double model =
      ModelFlopsPerToken(step.model()) * static_cast<double>(TokensPerStep(step, l.ranks));
  EXPECT_NEAR(executed / model, 1.0, 1e-12) << executed << " vs " << model;
  // Only matmuls carry FLOPs.
  for (const PlannedOp& op : *plan) {
    if (op.kind != PlannedOp::kGemm && op.kind != PlannedOp::kAttention) {
      EXPECT_EQ(op.flops, 0) << op.name;
    } else {
      EXPECT_GT(op.m * op.n * op.k * op.count, 0) << op.name;
    }
    if (op.kind == PlannedOp::kElementwise || op.kind == PlannedOp::kOptimizer) {
      EXPECT_GT(op.bytes, 0) << op.name;
    }
  }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Presets, PlanFlopsTest,
    testing::Values(Layout{"tiny", 1, 0, 0, false, true}, Layout{"tiny", 2, 0, 0, false, true},
                    Layout{"tiny", 2, 2, 0, false, true}, Layout{"tiny", 4, 2, 0, true, true},
                    Layout{"tiny-moe", 1, 0, 0, false, true}, Layout{"tiny-moe", 2, 0, 0, true, true},
                    Layout{"tiny-moe", 4, 2, 0, false, true}, Layout{"tiny-moe", 8, 1, 2, true, true},
                    Layout{"tiny-moe", 3, 1, 1, false, true},  // 8 experts: 256·2/8 per expert
                    Layout{"llama3-8b", 1, 0, 0, true, false}, Layout{"llama3-8b", 8, 8, 0, true, false},
                    Layout{"llama3-8b", 16, 2, 0, true, true}, Layout{"llama3-70b", 64, 8, 0, true, false},
                    Layout{"llama3-70b", 8, 0, 0, false, true}, Layout{"gpt3-175b", 64, 8, 0, true, false},
                    Layout{"gpt3-175b", 16, 4, 0, true, true}, Layout{"deepseek-v3", 1, 0, 0, true, false},
                    Layout{"deepseek-v3", 64, 0, 0, true, false}, Layout{"deepseek-v3", 64, 2, 8, true, false},
                    Layout{"deepseek-v3", 32, 0, 0, true, true}),
    [](const testing::TestParamInfo<Layout>& info) {
      std::string name = std::string(info.param.preset) + "_r" + std::to_string(info.param.ranks) +
                         "_t" + std::to_string(info.param.tensor) + "_e" +
                         std::to_string(info.param.expert) + (info.param.sharded ? "_sharded" : "") +
                         (info.param.full_depth ? "_full" : "_scaled");
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST(StepPlan, BackwardHasTwiceTheForwardFlops) {
  auto plan = PlanTrainStep(Preset("llama3-8b"), 1);
  ASSERT_TRUE(plan.ok());
  double fwd = 0, bwd = 0;
  for (const PlannedOp& op : *plan) {
    if (op.name.ends_with(".fwd")) fwd += op.flops;
    if (op.name.find(".bwd") != std::string::npos) bwd += op.flops;
  }
  EXPECT_DOUBLE_EQ(bwd, 2 * fwd);
}

TEST(StepPlan, DepthScaleOfTheLayersRun) {
  // DeepSeek-V3 runs 4 layers: round(4·3/61) → 1 dense (×3) and 3 MoE (×58/3).
  const DepthPlan d = PlanDepth(Preset("deepseek-v3"));
  EXPECT_EQ(d.dense_run, 1);
  EXPECT_EQ(d.moe_run, 3);
  EXPECT_DOUBLE_EQ(d.dense_scale, 3);
  EXPECT_DOUBLE_EQ(d.moe_scale, 58.0 / 3);
  EXPECT_DOUBLE_EQ(d.depth_scale, 61.0 / 4);
  EXPECT_DOUBLE_EQ(PlanDepth(Preset("tiny")).depth_scale, 1);
  EXPECT_DOUBLE_EQ(PlanDepth(Preset("llama3-8b")).depth_scale, 8);
}

TEST(StepPlan, CollectivesFollowParallelism) {
  v1::TrainStep step = Preset("tiny-moe");
  step.mutable_parallel()->set_tensor(2);
  step.mutable_parallel()->set_expert(2);
  step.mutable_parallel()->set_sharded(true);
  auto plan = PlanTrainStep(step, 8);  // data 4, tensor 2, expert 2
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::multiset<v1::CollectiveOp> ops;
  for (const PlannedOp& op : *plan) {
    if (op.kind != PlannedOp::kCollective) continue;
    ops.insert(op.op);
    EXPECT_GT(op.bytes, 0) << op.name;
    EXPECT_EQ(op.bytes % op.group_size, 0) << op.name;
    EXPECT_EQ(op.phase, "communication");
  }
  // Dispatch + combine, forward and backward, in the one MoE layer.
  EXPECT_EQ(ops.count(v1::ALL_TO_ALL), 4u);
  // Sharded: one reduce-scatter and one all-gather per parameter group
  // (dense layer, MoE layer's dense part and experts, embedding/head).
  EXPECT_EQ(ops.count(v1::REDUCE_SCATTER), 4u);
  // Tensor all-reduces: 2 per layer forward and 2 backward = 8.
  EXPECT_EQ(ops.count(v1::ALL_REDUCE), 8u);
  // Parameter all-gathers (4) and the head's input-gradient all-gather (1).
  EXPECT_EQ(ops.count(v1::ALL_GATHER), 5u);
}

TEST(StepPlan, SingleRankHasNoCollectives) {
  auto plan = PlanTrainStep(Preset("tiny"), 1);
  ASSERT_TRUE(plan.ok());
  for (const PlannedOp& op : *plan) EXPECT_NE(op.kind, PlannedOp::kCollective) << op.name;
}

TEST(StepPlan, OverlapMarksGradientSync) {
  v1::TrainStep step = Preset("tiny");
  step.set_overlap_grad_sync(true);
  auto plan = PlanTrainStep(step, 2);
  ASSERT_TRUE(plan.ok());
  int overlappable = 0;
  for (const PlannedOp& op : *plan) {
    if (op.overlappable) {
      ++overlappable;
      EXPECT_NE(op.name.find("grad_sync"), std::string::npos) << op.name;
    }
  }
  EXPECT_EQ(overlappable, 3);  // two layers + embedding/head
  for (const PlannedOp& op : *plan) EXPECT_EQ(op.grad_sync, op.overlappable) << op.name;

  // Without overlap the same ops are gradient sync, none overlappable; with
  // sharding the parameter all-gathers count too.
  step.set_overlap_grad_sync(false);
  step.mutable_parallel()->set_sharded(true);
  plan = PlanTrainStep(step, 2);
  ASSERT_TRUE(plan.ok());
  int grad_sync = 0;
  for (const PlannedOp& op : *plan) {
    EXPECT_FALSE(op.overlappable) << op.name;
    if (!op.grad_sync) continue;
    ++grad_sync;
    EXPECT_TRUE(op.name.find(".grad_sync") != std::string::npos ||
                op.name.find(".param_allgather") != std::string::npos)
        << op.name;
  }
  EXPECT_EQ(grad_sync, 6);  // reduce-scatter and all-gather of each of the 3 groups
}

TEST(StepPlan, GroupRanksTensorInnermost) {
  v1::TrainStep step = Preset("tiny-moe");
  step.mutable_parallel()->set_tensor(2);
  step.mutable_parallel()->set_expert(2);
  // 8 ranks: data 4, tensor 2; rank 5 = data index 2, tensor index 1.
  EXPECT_EQ(GroupRanks(step, 8, 5, CommGroup::kTensor), (std::vector<int>{4, 5}));
  EXPECT_EQ(GroupRanks(step, 8, 5, CommGroup::kData), (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(GroupRanks(step, 8, 5, CommGroup::kExpert), (std::vector<int>{5, 7}));
  EXPECT_EQ(GroupRanks(step, 8, 5, CommGroup::kExpertData), (std::vector<int>{1, 5}));
  EXPECT_EQ(GroupRanks(step, 8, 5, CommGroup::kWorld).size(), 8u);
}

TEST(StepPlan, MemoryEstimateShardsOptimizerState) {
  v1::TrainStep step = Preset("llama3-8b");
  step.mutable_parallel()->set_sharded(false);
  const MemoryEstimate replicated = EstimateTrainStepMemory(step, 8);
  step.mutable_parallel()->set_sharded(true);
  const MemoryEstimate sharded = EstimateTrainStepMemory(step, 8);
  // bf16 weights: 2 bytes per parameter, whole model on every rank.
  EXPECT_NEAR(replicated.weights / (2 * CountParams(step.model()).total), 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(sharded.weights, replicated.weights);
  // Adam: fp32 master + 2 moments = 12 bytes per parameter, split 8 ways.
  EXPECT_NEAR(replicated.optimizer_state / replicated.weights, 6.0, 1e-9);
  EXPECT_NEAR(sharded.optimizer_state * 8 / replicated.optimizer_state, 1.0, 1e-9);
  EXPECT_GT(sharded.activations, 0);
}

}  // namespace
}  // namespace tokenmeter::workload
