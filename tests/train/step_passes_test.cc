// The non-matmul ops of the step plan under each framework profile: their
// bytes against formulas written out here (docs/workloads.md's table), which
// ops each profile has, the transposes of every GEMM, and that the fused
// profile moves less than eager on the same shape.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "workload/models.h"
#include "workload/spec.h"
#include "workload/step_plan.h"

namespace tokenmeter::workload {
namespace {

// The Llama-shaped decoder: d 512, 4 layers, 8 heads / 4 kv heads,
// gated FFN 1536, vocab 8192, seq 256, micro-batch 4, fp32.
v1::TrainStep Llama512(v1::FrameworkProfile profile) {
  v1::TrainStep step;
  auto* m = step.mutable_model();
  m->set_name("llama-d512");
  m->set_layers(4);
  m->set_hidden_size(512);
  m->set_heads(8);
  m->set_kv_heads(4);
  m->set_ffn_hidden_size(1536);
  m->set_gated_ffn(true);
  m->set_vocab_size(8192);
  m->set_seq_len(256);
  step.set_micro_batch(4);
  step.set_dtype(v1::DTYPE_FP32);
  step.set_profile(profile);
  return step;
}

std::map<std::string, PlannedOp> ByName(const v1::TrainStep& step, int ranks) {
  auto plan = PlanTrainStep(step, ranks);
  EXPECT_TRUE(plan.ok()) << plan.status();
  std::map<std::string, PlannedOp> ops;
  for (const PlannedOp& op : *plan) {
    EXPECT_TRUE(ops.emplace(op.name, op).second) << "two ops named " << op.name;
  }
  return ops;
}

int64_t BytesOf(const std::map<std::string, PlannedOp>& ops, const std::string& name) {
  auto it = ops.find(name);
  EXPECT_NE(it, ops.end()) << "no op " << name;
  return it == ops.end() ? -1 : it->second.bytes;
}

// Element counts of the shape, per layer, on one rank: T tokens of width h.
constexpr int64_t kT = 4 * 256, kH = 512, kQ = 512, kKv = 256, kF = 1536, kV = 8192;
constexpr int64_t kScores = 4 * 8 * 256 * 256;  // B·H·s²
constexpr int64_t kFp32 = 4;

TEST(StepPasses, EagerBytesFollowTheTable) {
  const auto ops = ByName(Llama512(v1::FRAMEWORK_PROFILE_EAGER), 1);
  const int64_t N = kT * kH;
  EXPECT_EQ(BytesOf(ops, "embedding.lookup.fwd"), 2 * N * kFp32);
  EXPECT_EQ(BytesOf(ops, "embedding.lookup.bwd"), (kV * kH + 3 * N) * kFp32);
  for (const char* norm : {"layer2.attn.norm", "layer2.ffn.norm", "final_norm"}) {
    EXPECT_EQ(BytesOf(ops, std::string(norm) + ".fwd"), 7 * N * kFp32) << norm;
    EXPECT_EQ(BytesOf(ops, std::string(norm) + ".bwd"), 19 * N * kFp32) << norm;
  }
  for (const char* residual : {"layer1.attn.residual", "layer1.ffn.residual"}) {
    EXPECT_EQ(BytesOf(ops, std::string(residual) + ".fwd"), 3 * N * kFp32) << residual;
    EXPECT_EQ(BytesOf(ops, std::string(residual) + ".bwd"), 3 * N * kFp32) << residual;
  }
  EXPECT_EQ(BytesOf(ops, "layer0.attn.rotary.fwd"), 10 * kT * (kQ + kKv) * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.rotary.bwd"), 8 * kT * (kQ + kKv) * kFp32);
  // q copied (2), k and v read once and written for each of the 2 query heads
  // per kv head (1 + 2 each), the output copied back (2).
  const int64_t layout = (2 * kQ + 3 * kKv + 3 * kKv + 2 * kQ) * kT * kFp32;
  EXPECT_EQ(BytesOf(ops, "layer3.attn.layout.fwd"), layout);
  EXPECT_EQ(BytesOf(ops, "layer3.attn.layout.bwd"), layout);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.scale.fwd"), 2 * kScores * kFp32);
  // masked_fill reads the scores and the 1-byte mask, writes the scores.
  EXPECT_EQ(BytesOf(ops, "layer0.attn.mask.fwd"), (2 * kFp32 + 1) * kScores);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.softmax.fwd"), 2 * kScores * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.scale.bwd"), 2 * kScores * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.mask.bwd"), (2 * kFp32 + 1) * kScores);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.softmax.bwd"), 3 * kScores * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.ffn.act.fwd"), 5 * kT * kF * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.ffn.act.bwd"), 9 * kT * kF * kFp32);
  EXPECT_EQ(BytesOf(ops, "head.loss.fwd"), 2 * kT * kV * kFp32);
  EXPECT_EQ(BytesOf(ops, "head.loss.bwd"), 4 * kT * kV * kFp32);
  // Single-tensor AdamW: 23 fp32 accesses per parameter. A layer holds
  // q, k, v, o (512·(512+256+256+512)), three FFN matrices (3·512·1536) and
  // two norm weights (2·512); embedding and head 2·8192·512 and the final norm.
  const int64_t layer_params = 512 * (512 + 256 + 256 + 512) + 3 * 512 * 1536 + 2 * 512;
  EXPECT_EQ(BytesOf(ops, "layer1.adam"), layer_params * 23 * kFp32);
  EXPECT_EQ(BytesOf(ops, "embedding_head.adam"), (2 * kV * kH + kH) * 23 * kFp32);
  EXPECT_EQ(ops.count("layer0.weight_cast.fwd"), 0u) << "fp32 runs cast nothing";
}

// What each eager op computes and allocates (step_passes.h): exponentials in
// softmax, the activation and the loss; one new tensor of the main operand
// each way, two for the loss's backward, none for the in-place mask or the
// optimizer.
TEST(StepPasses, EagerOpsComputeAndAllocateAsTheTableSays) {
  const auto ops = ByName(Llama512(v1::FRAMEWORK_PROFILE_EAGER), 1);
  struct Expected {
    const char* name;
    PassMath math;
    int64_t tensor_bytes;
    int count;
  };
  const PassMath kExp = PassMath::kExp, kMem = PassMath::kMemory;
  for (const Expected& e : std::vector<Expected>{
           {"head.loss.fwd", kExp, kT * kV * kFp32, 1},
           {"head.loss.bwd", kExp, kT * kV * kFp32, 2},
           {"layer0.attn.softmax.fwd", kExp, kScores * kFp32, 1},
           {"layer0.attn.softmax.bwd", kMem, kScores * kFp32, 1},
           {"layer0.attn.scale.fwd", kMem, kScores * kFp32, 1},
           {"layer0.attn.mask.fwd", kMem, 0, 0},
           {"layer0.attn.mask.bwd", kMem, 0, 0},
           {"layer0.ffn.act.fwd", kExp, kT * kF * kFp32, 1},
           {"layer0.ffn.act.bwd", kExp, kT * kF * kFp32, 1},
           {"layer0.attn.norm.fwd", kMem, kT * kH * kFp32, 1},
           {"layer3.ffn.residual.bwd", kMem, kT * kH * kFp32, 1},
           {"layer0.attn.rotary.fwd", kMem, kT * (kQ + kKv) * kFp32, 1},
           // GQA's repeat_kv: k repeated to the 8 query heads is the largest copy.
           {"layer0.attn.layout.fwd", kMem, kT * kKv * 2 * kFp32, 1},
           {"embedding.lookup.fwd", kMem, kT * kH * kFp32, 1},
           {"embedding.lookup.bwd", kMem, kV * kH * kFp32, 1},
           {"layer0.adam", kMem, 0, 0},
       }) {
    auto it = ops.find(e.name);
    ASSERT_NE(it, ops.end()) << e.name;
    EXPECT_EQ(it->second.math, e.math) << e.name;
    EXPECT_EQ(it->second.new_tensors.bytes, e.tensor_bytes) << e.name;
    EXPECT_EQ(it->second.new_tensors.count, e.count) << e.name;
    // In place: masked_fill_ and the optimizer's updates; every other op
    // writes an output of its own.
    const std::string name = e.name;
    EXPECT_EQ(it->second.in_place, name.find("mask") != std::string::npos ||
                                       name.find("adam") != std::string::npos)
        << e.name;
  }
}

// Of the matmuls only the head lists its output, the fp32 logits; its
// gradients' matmuls none.
TEST(StepPasses, OnlyTheHeadsLogitsAreANewMatmulOutput) {
  for (auto profile : {v1::FRAMEWORK_PROFILE_EAGER, v1::FRAMEWORK_PROFILE_FUSED}) {
    for (const auto& [name, op] : ByName(Llama512(profile), 1)) {
      if (op.kind != PlannedOp::kGemm && op.kind != PlannedOp::kAttention) continue;
      if (name == "head.logits.fwd") {
        EXPECT_EQ(op.new_tensors.bytes, kT * kV * kFp32);
        EXPECT_EQ(op.new_tensors.count, 1);
      } else {
        EXPECT_EQ(op.new_tensors.count, 0) << name;
      }
    }
  }
}

// Fused cross entropy writes its gradient in place of the logits.
TEST(StepPasses, FusedLossAllocatesNothingBackward) {
  const auto ops = ByName(Llama512(v1::FRAMEWORK_PROFILE_FUSED), 1);
  EXPECT_EQ(ops.at("head.loss.fwd").new_tensors.count, 1);
  EXPECT_EQ(ops.at("head.loss.bwd").new_tensors.count, 0);
  EXPECT_EQ(ops.at("head.loss.bwd").math, PassMath::kExp);
}

TEST(StepPasses, FusedBytesFollowTheTable) {
  const auto ops = ByName(Llama512(v1::FRAMEWORK_PROFILE_FUSED), 1);
  const int64_t N = kT * kH;
  EXPECT_EQ(BytesOf(ops, "layer2.attn.norm.fwd"), 4 * N * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer2.attn.norm.bwd"), 4 * N * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.rotary.fwd"), 2 * kT * (kQ + kKv) * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.ffn.act.fwd"), 3 * kT * kF * kFp32);
  EXPECT_EQ(BytesOf(ops, "layer0.ffn.act.bwd"), 5 * kT * kF * kFp32);
  EXPECT_EQ(BytesOf(ops, "head.loss.fwd"), 1 * kT * kV * kFp32);
  EXPECT_EQ(BytesOf(ops, "head.loss.bwd"), 2 * kT * kV * kFp32);
  const int64_t layer_params = 512 * (512 + 256 + 256 + 512) + 3 * 512 * 1536 + 2 * 512;
  EXPECT_EQ(BytesOf(ops, "layer1.adam"), layer_params * 28);
  // What fused kernels do not have as ops of their own.
  for (const char* absent : {"layer0.attn.residual.fwd", "layer0.ffn.residual.fwd", "layer0.attn.layout.fwd",
                             "layer0.attn.scale.fwd", "layer0.attn.mask.fwd", "layer0.attn.softmax.fwd"}) {
    EXPECT_EQ(ops.count(absent), 0u) << absent;
  }
}

// bf16 scores: softmax runs in fp32 (read 2, write 4), its probabilities
// cast back to bf16 (read 4, write 2); backward the gradient's cast up (read
// 2, write 4) and softmax_backward over fp32 gradient and output (read 4 + 4,
// write 2).
TEST(StepPasses, EagerMixedPrecisionSoftmaxRunsInFp32) {
  v1::TrainStep step = Llama512(v1::FRAMEWORK_PROFILE_EAGER);
  step.set_dtype(v1::DTYPE_BF16);
  const auto ops = ByName(step, 1);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.scale.fwd"), (2 + 2) * kScores);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.mask.fwd"), (2 + 2 + 1) * kScores);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.softmax.fwd"), (2 + 4 + 4 + 2) * kScores);
  EXPECT_EQ(BytesOf(ops, "layer0.attn.softmax.bwd"), (2 + 4 + 4 + 4 + 2) * kScores);
}

TEST(StepPasses, EagerMixedPrecisionCastsItsWeights) {
  v1::TrainStep step = Llama512(v1::FRAMEWORK_PROFILE_EAGER);
  step.set_dtype(v1::DTYPE_BF16);
  const auto ops = ByName(step, 1);
  const int64_t matmul_params = 512 * (512 + 256 + 256 + 512) + 3 * 512 * 1536;
  EXPECT_EQ(BytesOf(ops, "layer0.weight_cast.fwd"), matmul_params * (4 + 2));
  EXPECT_EQ(BytesOf(ops, "layer0.weight_cast.bwd"), matmul_params * (4 + 2));
  // Activations in 2 bytes; the loss in fp32 regardless.
  EXPECT_EQ(BytesOf(ops, "layer0.attn.norm.fwd"), 7 * kT * kH * 2);
  EXPECT_EQ(BytesOf(ops, "head.loss.fwd"), 2 * kT * kV * kFp32);
  step.set_profile(v1::FRAMEWORK_PROFILE_FUSED);
  EXPECT_EQ(ByName(step, 1).count("layer0.weight_cast.fwd"), 0u);
}

TEST(StepPasses, EagerRunsSeparateProjectionsFusedRunsOne) {
  const auto eager = ByName(Llama512(v1::FRAMEWORK_PROFILE_EAGER), 1);
  for (const char* gemm : {"layer0.attn.q_proj.fwd", "layer0.attn.k_proj.fwd", "layer0.attn.v_proj.fwd",
                           "layer0.ffn.gate.fwd", "layer0.ffn.up.fwd", "layer0.ffn.down.fwd"}) {
    EXPECT_EQ(eager.count(gemm), 1u) << gemm;
  }
  EXPECT_EQ(eager.at("layer0.attn.k_proj.fwd").n, kKv);
  EXPECT_EQ(eager.at("layer0.ffn.gate.fwd").n, kF);
  const auto fused = ByName(Llama512(v1::FRAMEWORK_PROFILE_FUSED), 1);
  EXPECT_EQ(fused.at("layer0.attn.qkv_proj.fwd").n, kQ + 2 * kKv);
  EXPECT_EQ(fused.at("layer0.ffn.gate_up.fwd").n, 2 * kF);
  EXPECT_EQ(fused.count("layer0.attn.q_proj.fwd"), 0u);
}

// Weights stored [out, in]: forward x·Wᵀ, input gradient dY·W, weight
// gradient dYᵀ·X; scores Q·Kᵀ; values P·V with gradients dO·Vᵀ and Pᵀ·dO.
TEST(StepPasses, GemmsCarryTheirOperandsStorage) {
  const auto ops = ByName(Llama512(v1::FRAMEWORK_PROFILE_EAGER), 1);
  auto expect = [&](const std::string& name, int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
    const PlannedOp& op = ops.at(name);
    EXPECT_EQ(op.m, m) << name;
    EXPECT_EQ(op.n, n) << name;
    EXPECT_EQ(op.k, k) << name;
    EXPECT_EQ(op.transpose_a, ta) << name;
    EXPECT_EQ(op.transpose_b, tb) << name;
  };
  expect("layer0.ffn.down.fwd", kT, kH, kF, false, true);
  expect("layer0.ffn.down.bwd_input", kT, kF, kH, false, false);
  expect("layer0.ffn.down.bwd_weight", kH, kF, kT, true, false);
  expect("head.logits.fwd", kT, kV, kH, false, true);
  expect("layer0.attn.scores.fwd", 256, 256, 64, false, true);
  expect("layer0.attn.scores.bwd_input", 256, 64, 256, false, false);   // dQ = dS·K
  expect("layer0.attn.scores.bwd_weight", 256, 64, 256, true, false);   // dK = dSᵀ·Q
  expect("layer0.attn.values.fwd", 256, 64, 256, false, false);
  expect("layer0.attn.values.bwd_input", 256, 256, 64, false, true);    // dP = dO·Vᵀ
  expect("layer0.attn.values.bwd_weight", 256, 64, 256, true, false);   // dV = Pᵀ·dO
}

TEST(StepPasses, FusedMovesLessThanEagerOnEveryPreset) {
  for (const std::string& preset : TrainStepPresetNames()) {
    auto step = TrainStepPreset(preset);
    ASSERT_TRUE(step.ok());
    double bytes[2] = {0, 0};
    int i = 0;
    for (auto profile : {v1::FRAMEWORK_PROFILE_EAGER, v1::FRAMEWORK_PROFILE_FUSED}) {
      step->set_profile(profile);
      auto plan = PlanTrainStep(*step, 1);
      ASSERT_TRUE(plan.ok()) << preset << ": " << plan.status();
      for (const PlannedOp& op : *plan) {
        if (op.kind == PlannedOp::kElementwise || op.kind == PlannedOp::kOptimizer) {
          bytes[i] += static_cast<double>(op.bytes) * op.depth_scale;
        }
      }
      ++i;
    }
    EXPECT_LT(bytes[1], 0.5 * bytes[0]) << preset << ": fused " << bytes[1] << " vs eager " << bytes[0];
  }
}

TEST(StepPasses, TheLossIsAPhaseOfItsOwn) {
  const auto ops = ByName(Llama512(v1::FRAMEWORK_PROFILE_EAGER), 1);
  EXPECT_EQ(ops.at("head.loss.fwd").phase, "loss");
  EXPECT_EQ(ops.at("head.loss.bwd").phase, "loss");
  EXPECT_EQ(ops.at("layer0.attn.softmax.fwd").phase, "elementwise");
  EXPECT_EQ(ops.at("layer0.adam").phase, "optimizer");
}

TEST(StepPasses, TheProfileIsRequired) {
  v1::TrainStep step = Llama512(v1::FRAMEWORK_PROFILE_UNSPECIFIED);
  auto plan = PlanTrainStep(step, 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("train_step.profile"), std::string::npos)
      << plan.status();
}

TEST(StepPasses, PresetNamesCarryTheProfile) {
  auto tiny = ResolveWorkload("train-step/tiny");
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  EXPECT_EQ(tiny->name(), "train-step/tiny/eager");
  EXPECT_EQ(tiny->version(), kTrainStepVersion);
  auto fused = ResolveWorkload("train-step/tiny/fused");
  ASSERT_TRUE(fused.ok()) << fused.status();
  EXPECT_EQ(fused->name(), "train-step/tiny/fused");
  EXPECT_EQ(fused->train_step().profile(), v1::FRAMEWORK_PROFILE_FUSED);
  EXPECT_EQ(ResolveWorkload("train-step/llama3-8b")->name(), "train-step/llama3-8b/fused");
  auto bad = ResolveWorkload("train-step/tiny/compiled");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("'compiled' is not one of eager, fused"), std::string::npos)
      << bad.status();
  EXPECT_EQ(CanonicalWorkloadName("train-step/tiny"), "train-step/tiny/eager");
  EXPECT_EQ(CanonicalWorkloadName("my-own-step"), "my-own-step");
}

}  // namespace
}  // namespace tokenmeter::workload
