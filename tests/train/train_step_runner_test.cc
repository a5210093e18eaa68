// The worker's training step (worker/train_step_runner.h) on the cpu backend,
// ranks as threads: gradient sync overlapped with compute when the spec asks
// for it, reported as measured, with tensor- and expert-parallel collectives
// in the same step.
#include "worker/train_step_runner.h"

#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/rank_threads.h"
#include "workload/models.h"

namespace tokenmeter::worker {
namespace {

// A preset made small: one sequence of 64 tokens per data-parallel rank and a
// vocabulary of 2048, so a step takes milliseconds on one core.
v1::WorkloadSpec SmallStep(const std::string& preset, bool overlap) {
  auto step = workload::TrainStepPreset(preset);
  EXPECT_TRUE(step.ok()) << step.status();
  v1::WorkloadSpec spec;
  spec.set_name("train-step/" + preset);
  spec.set_warmup_iterations(1);
  spec.set_timed_iterations(2);
  *spec.mutable_train_step() = *step;
  spec.mutable_train_step()->set_micro_batch(1);
  spec.mutable_train_step()->mutable_model()->set_seq_len(64);
  spec.mutable_train_step()->mutable_model()->set_vocab_size(2048);
  spec.mutable_train_step()->set_overlap_grad_sync(overlap);
  return spec;
}

// Runs `spec` on `ranks` cpu ranks; every rank's measurement, by rank.
std::vector<v1::TrainStepMeasurement> RunOnRanks(const v1::WorkloadSpec& spec, int ranks) {
  std::vector<v1::TrainStepMeasurement> out(ranks);
  kernels::RunRanks(ranks, [&](int rank, kernels::Backend& backend) {
    absl::Status status = RunTrainStep(backend, spec, nullptr, nullptr, &out[rank]);
    EXPECT_TRUE(status.ok()) << "rank " << rank << ": " << status;
  });
  return out;
}

// Every rank's gradient sync figures are consistent; with `overlap`, at least
// one rank saw its gradient sync run during compute. Not every rank need: on
// a loaded 2-core host a rank's communication thread may get no core until
// its main thread waits, and then the rank honestly reports no overlap.
void ExpectGradSyncFigures(const std::vector<v1::TrainStepMeasurement>& ranks, bool overlap) {
  int overlapped = 0;
  for (const auto& m : ranks) {
    overlapped += m.grad_sync_overlapped();
    EXPECT_GT(m.grad_sync_seconds(), 0);
    EXPECT_GE(m.grad_sync_exposed_seconds(), 0);
    EXPECT_LE(m.grad_sync_exposed_seconds(), m.grad_sync_seconds());
    if (!overlap) {
      EXPECT_DOUBLE_EQ(m.grad_sync_exposed_seconds(), m.grad_sync_seconds());
    }
    EXPECT_GT(m.timing().median_seconds(), 0);
    EXPECT_EQ(m.iteration_seconds_size(), 2);
    EXPECT_GT(m.phase_seconds().at("communication"), 0);
  }
  if (overlap) {
    EXPECT_GT(overlapped, 0);
  } else {
    EXPECT_EQ(overlapped, 0);
  }
}

TEST(TrainStepRunner, DataParallelGradSyncOverlapsOnlyWhenAsked) {
  for (bool overlap : {true, false}) {
    SCOPED_TRACE(overlap ? "overlap" : "in line");
    ExpectGradSyncFigures(RunOnRanks(SmallStep("tiny", overlap), 2), overlap);
  }
}

// tiny-moe on 2 ranks: the experts' all-to-alls run in line in the very rank
// list ([0,1]) the overlapped gradient sync uses.
TEST(TrainStepRunner, ExpertAllToAllBesideOverlappedGradSync) {
  ExpectGradSyncFigures(RunOnRanks(SmallStep("tiny-moe", true), 2), true);
}

// tensor 2 × data 2, sharded: tensor all-reduces in line in [0,1] | [2,3]
// while reduce-scatters and parameter all-gathers overlap in [0,2] | [1,3].
TEST(TrainStepRunner, TensorParallelBesideOverlappedShardedGradSync) {
  v1::WorkloadSpec spec = SmallStep("tiny", true);
  spec.mutable_train_step()->mutable_parallel()->set_tensor(2);
  spec.mutable_train_step()->mutable_parallel()->set_sharded(true);
  ExpectGradSyncFigures(RunOnRanks(spec, 4), true);
}

// One data-parallel rank has no gradient to synchronise: nothing overlaps,
// whatever the spec asks.
TEST(TrainStepRunner, OneRankHasNoGradSync) {
  const auto m = RunOnRanks(SmallStep("tiny", true), 1);
  EXPECT_FALSE(m[0].grad_sync_overlapped());
  EXPECT_EQ(m[0].grad_sync_seconds(), 0);
  EXPECT_EQ(m[0].grad_sync_exposed_seconds(), 0);
}

}  // namespace
}  // namespace tokenmeter::worker

namespace tokenmeter::worker {
namespace {

// What the backend is given is what the plan says: every GEMM's FLOPs and
// storage, every pass's bytes, op for op, under both profiles.
TEST(BuildStepProgram, ExecutesThePlannedFlopsAndBytes) {
  for (auto profile : {v1::FRAMEWORK_PROFILE_EAGER, v1::FRAMEWORK_PROFILE_FUSED}) {
    v1::TrainStep step = SmallStep("tiny", false).train_step();
    step.set_profile(profile);
    auto plan = workload::PlanTrainStep(step, 2);
    ASSERT_TRUE(plan.ok()) << plan.status();
    auto program = BuildStepProgram(step, *plan, 2, 1);
    ASSERT_TRUE(program.ok()) << program.status();
    ASSERT_EQ(program->ops.size(), plan->size());
    double planned_flops = 0, executed_flops = 0, planned_bytes = 0, executed_bytes = 0;
    int transposed = 0;
    for (size_t i = 0; i < plan->size(); ++i) {
      const workload::PlannedOp& p = (*plan)[i];
      const kernels::StepOp& k = program->ops[i];
      planned_flops += p.flops;
      if (k.kind == kernels::StepOp::Kind::kGemm) {
        executed_flops += 2.0 * static_cast<double>(k.m * k.n * k.k * k.count);
        EXPECT_EQ(k.transpose_a, p.transpose_a) << p.name;
        EXPECT_EQ(k.transpose_b, p.transpose_b) << p.name;
        transposed += k.transpose_a || k.transpose_b;
      }
      if (p.kind == workload::PlannedOp::kElementwise || p.kind == workload::PlannedOp::kOptimizer) {
        planned_bytes += static_cast<double>(p.bytes);
        ASSERT_EQ(k.kind, kernels::StepOp::Kind::kElementwise) << p.name;
        executed_bytes += static_cast<double>(k.bytes);
      }
    }
    EXPECT_DOUBLE_EQ(executed_flops, planned_flops);
    EXPECT_DOUBLE_EQ(executed_bytes, planned_bytes);
    EXPECT_GT(planned_bytes, 0);
    EXPECT_GT(transposed, 0);
  }
}

}  // namespace
}  // namespace tokenmeter::worker
