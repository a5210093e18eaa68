// Backend::RunStep on the "cpu" backend: GEMMs, the elementwise pass and
// collectives in world and sub-groups. Ranks run as threads sharing an
// in-memory store (as Gloo's test/base_test.h).
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <latch>
#include <numeric>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/step.h"
#include "kernels/store.h"
#include "tests/kernels/rank_threads.h"
#include "tests/support/step_ops.h"

namespace tokenmeter::kernels {
namespace {

using std::chrono::milliseconds;
using ::testing::AnyOf;
using ::testing::HasSubstr;


// "2ranks": the name of a world-size test parameter.
std::string RanksName(const ::testing::TestParamInfo<int>& info) {
  return std::to_string(info.param) + "ranks";
}

std::vector<int> Range(int begin, int end, int stride = 1) {
  std::vector<int> ranks;
  for (int r = begin; r < end; r += stride) ranks.push_back(r);
  return ranks;
}

// The program every rank runs, with this rank's own group lists:
//   0 the world; 1 a pair ([0,1] | [2,3]; the world itself for 2 ranks);
//   2 a strided pair ([0,2] | [1,3]; for 2 ranks a group of one);
//   3 this rank alone.
// Counts are divisible by every group size.
constexpr int64_t kCount = 4800;
StepProgram TrainingLikeProgram(int rank, int world_size) {
  StepProgram program;
  program.groups.push_back(Range(0, world_size));
  if (world_size == 4) {
    program.groups.push_back(rank < 2 ? Range(0, 2) : Range(2, 4));
    program.groups.push_back(Range(rank % 2, 4, 2));
  } else {
    program.groups.push_back(Range(0, world_size));
    program.groups.push_back({rank});
  }
  program.groups.push_back({rank});
  program.ops = {
      Gemm(96, 64, 128, 2),
      Elementwise(12 * 65536),
      Collective(CollectiveOp::kAllReduce, kCount, 0),
      Collective(CollectiveOp::kAllReduce, kCount, 1),
      Collective(CollectiveOp::kAllReduce, kCount, 2),
      Collective(CollectiveOp::kAllToAll, kCount, 0),
      Collective(CollectiveOp::kReduceScatter, kCount, 0),
      Collective(CollectiveOp::kAllGather, kCount, 0),
      Collective(CollectiveOp::kReduceScatter, kCount / 2, 1),  // a sub-group's own RS context
      Collective(CollectiveOp::kAllGather, kCount / 2, 1),
      Collective(CollectiveOp::kBroadcast, kCount, 2),
      Collective(CollectiveOp::kReduce, kCount, 1),
      Collective(CollectiveOp::kAllReduce, kCount, 3),  // a group of one: skipped
      Gemm(64, 64, 64, 1),
      Elementwise(12 * 1000),
  };
  return program;
}

// Whether op j of `program` does nothing on this rank (a group of one).
bool Trivial(const StepProgram& program, size_t j) {
  const StepOp& op = program.ops[j];
  return op.kind == StepOp::Kind::kCollective && program.groups[op.group].size() == 1;
}

void ExpectWellFormed(const StepProgram& program, const StepRun& run, int timed, int rank) {
  ASSERT_EQ(run.op_seconds.size(), static_cast<size_t>(timed));
  ASSERT_EQ(run.step_seconds.size(), static_cast<size_t>(timed));
  for (int i = 0; i < timed; ++i) {
    ASSERT_EQ(run.op_seconds[i].size(), program.ops.size());
    for (size_t j = 0; j < program.ops.size(); ++j) {
      if (Trivial(program, j)) {
        EXPECT_EQ(run.op_seconds[i][j], 0.0) << "rank " << rank << " op " << j;
      } else {
        EXPECT_GT(run.op_seconds[i][j], 0.0) << "rank " << rank << " op " << j;
      }
    }
    // The ops run back to back inside the step: their times add up to it,
    // less a few clock reads (and any preemption between two ops: 4 ranks
    // share 2 cores here, hence the slack).
    const double sum = std::accumulate(run.op_seconds[i].begin(), run.op_seconds[i].end(), 0.0);
    EXPECT_LE(sum, run.step_seconds[i]) << "rank " << rank << " iteration " << i;
    EXPECT_GE(sum, 0.5 * run.step_seconds[i] - 5e-3) << "rank " << rank << " iteration " << i;
  }
  EXPECT_TRUE(run.timed_energy_joules == -1 || run.timed_energy_joules >= 0)
      << run.timed_energy_joules;
}

class CpuStepTest : public ::testing::TestWithParam<int> {};

TEST_P(CpuStepTest, RunsEveryOpInWorldAndSubGroups) {
  const int n = GetParam();
  const IterationPlan plan{.warmup = 1, .timed = 3};
  RunRanks(n, [&](int rank, Backend& backend) {
    const StepProgram program = TrainingLikeProgram(rank, n);
    auto run = backend.RunStep(program, plan);
    ASSERT_TRUE(run.ok()) << "rank " << rank << ": " << run.status();
    ExpectWellFormed(program, *run, plan.timed, rank);
  });
}

TEST_P(CpuStepTest, NoWarmupChecksInAPassOfItsOwnAndContextsAreReused) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Backend& backend) {
    const StepProgram program = TrainingLikeProgram(rank, n);
    // Twice on one backend: the sub-group contexts made by the first call
    // are reused (a second rendezvous under the same prefix would abort).
    for (int call = 0; call < 2; ++call) {
      auto run = backend.RunStep(program, {.warmup = 0, .timed = 1});
      ASSERT_TRUE(run.ok()) << "rank " << rank << " call " << call << ": " << run.status();
      ExpectWellFormed(program, *run, 1, rank);
    }
    // The world communicator still works for plain collectives.
    auto collective = backend.RunCollective(CollectiveOp::kReduceScatter, 4 * 64, DType::kFp32,
                                            {.warmup = 0, .timed = 1});
    ASSERT_TRUE(collective.ok()) << collective.status();
    EXPECT_EQ(collective->wrong_elements, 0);
  });
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, CpuStepTest, ::testing::Values(2, 4), RanksName);

TEST(CpuStepSingleRankTest, ComputeOnlyAndEmptyPrograms) {
  auto backend = Backend::Create("cpu", BackendOptions{.cpu_threads = 1});
  ASSERT_TRUE(backend.ok()) << backend.status();
  StepProgram program;
  program.groups = {{0}};
  program.ops = {Gemm(32, 16, 8, 3), Elementwise(5),  // fewer bytes than one element: one element
                 Collective(CollectiveOp::kAllToAll, 10, 0)};
  auto run = (*backend)->RunStep(program, {.warmup = 2, .timed = 2});
  ASSERT_TRUE(run.ok()) << run.status();
  ExpectWellFormed(program, *run, 2, 0);

  // The shared rule (kernels/step.h): a step of no ops measures nothing.
  auto empty = (*backend)->RunStep(StepProgram{}, {.warmup = 0, .timed = 2});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("no ops"));
}

// ---- Transposed operands (StepOp::transpose_a / transpose_b) ----

StepOp Transposed(StepOp op, bool transpose_a, bool transpose_b) {
  op.transpose_a = transpose_a;
  op.transpose_b = transpose_b;
  return op;
}

TEST(CpuStepTransposeTest, GemmsInEveryTransposeCombinationRun) {
  auto backend = Backend::Create("cpu", BackendOptions{.cpu_threads = 1});
  ASSERT_TRUE(backend.ok()) << backend.status();
  StepProgram program;
  // Non-square: a leading dimension taken from the wrong side reads past
  // the operand or multiplies the wrong elements (the test below sees that).
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) program.ops.push_back(Transposed(Gemm(96, 64, 128, 2), ta, tb));
  }
  program.ops.push_back(Transposed(Gemm(33, 17, 65, 1), true, true));
  auto run = (*backend)->RunStep(program, {.warmup = 1, .timed = 2});
  ASSERT_TRUE(run.ok()) << run.status();
  ExpectWellFormed(program, *run, 2, 0);
}

// The step runner times its GEMMs without checking them, so the one call it
// makes (cpu::StepGemm) is checked here against the definition: op(A) is A
// stored m×k, or Aᵀ of A stored k×m; op(B) is B stored k×n, or Bᵀ of B
// stored n×k; C is m×n; all row-major.
struct GemmShape {
  int64_t m, n, k;
};
void PrintTo(const GemmShape& s, std::ostream* os) {
  *os << "m=" << s.m << " n=" << s.n << " k=" << s.k;
}

class StepGemmTest : public ::testing::TestWithParam<GemmShape> {};

TEST_P(StepGemmTest, MatchesANaiveProductForEveryTransposeCombination) {
  const int64_t m = GetParam().m, n = GetParam().n, k = GetParam().k;
  const uint64_t seed = cpu::FreshSeed();
  SCOPED_TRACE(::testing::Message() << "m=" << m << " n=" << n << " k=" << k << " seed=" << seed);
  std::vector<float> a(m * k), b(k * n);
  cpu::FillSymmetricUnit(a.data(), a.size(), seed);
  cpu::FillSymmetricUnit(b.data(), b.size(), seed ^ 0x5bd1e9955bd1e995ULL);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "transpose_a=" << ta << " transpose_b=" << tb);
      // op(A)[i][p] and op(B)[p][j] read from the stored layouts.
      auto op_a = [&](int64_t i, int64_t p) { return ta ? a[p * m + i] : a[i * k + p]; };
      auto op_b = [&](int64_t p, int64_t j) { return tb ? b[j * k + p] : b[p * n + j]; };
      std::vector<float> c(m * n, std::nanf(""));
      cpu::StepGemm(Transposed(Gemm(m, n, k), ta, tb), a.data(), b.data(), c.data());
      int wrong = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double expected = 0, magnitude = 0;
          for (int64_t p = 0; p < k; ++p) {
            expected += double{op_a(i, p)} * op_b(p, j);
            magnitude += std::abs(double{op_a(i, p)} * op_b(p, j));
          }
          // fp32 accumulation over k terms: a few ulps of the terms' sum.
          const double tolerance = 4 * k * 0x1p-23 * magnitude + 1e-30;
          const double got = c[i * n + j];
          if (!(std::abs(got - expected) <= tolerance) && wrong++ < 5) {
            ADD_FAILURE() << "C[" << i << "][" << j << "] = " << got << ", expected " << expected;
          }
        }
      }
      EXPECT_EQ(wrong, 0) << "of " << m * n << " elements";
    }
  }
}

std::string ShapeName(const ::testing::TestParamInfo<GemmShape>& info) {
  return "m" + std::to_string(info.param.m) + "n" + std::to_string(info.param.n) + "k" +
         std::to_string(info.param.k);
}

// Odd, pairwise distinct dimensions: each leading dimension is a different
// number, so taking it from the wrong side cannot go unnoticed.
INSTANTIATE_TEST_SUITE_P(Shapes, StepGemmTest,
                         ::testing::Values(GemmShape{7, 5, 3}, GemmShape{3, 7, 5},
                                           GemmShape{5, 3, 7}, GemmShape{33, 17, 65}),
                         ShapeName);

// What a step facing a lost peer must do: fail as a timeout or a broken
// connection, naming the op, its place and the rank, within the 1 s timeout's
// bound, and refuse to reuse its connections afterwards.
void ExpectPeerLossReported(const absl::StatusOr<StepRun>& run,
                            std::chrono::steady_clock::duration waited, Backend& backend,
                            const StepProgram& program,
                            const std::vector<std::string>& message_parts) {
  ASSERT_FALSE(run.ok());
  EXPECT_THAT(run.status().code(),
              AnyOf(absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kUnavailable))
      << run.status();
  const std::string message(run.status().message());
  for (const std::string& part : message_parts) EXPECT_THAT(message, HasSubstr(part));
  EXPECT_THAT(message, HasSubstr("rank 0 of 2"));
  EXPECT_LT(waited, milliseconds(5000));
  auto again = backend.RunStep(program, {.warmup = 0, .timed = 1});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable) << again.status();
}

// ---- Overlapped gradient sync ----

// A backward pass in miniature on `world_size` ranks: weight-gradient GEMMs,
// each layer followed by its gradient sync (overlappable when `overlap`) in
// the data group, with tensor-parallel all-reduces and expert all-to-alls in
// line between them — in groups that are the data group itself for 2 ranks
// (so in-line and overlapped collectives share rank lists), and the tensor
// pairs [0,1] | [2,3] against the data pairs [0,2] | [1,3] for 4 — then the
// optimizer (which waits for the sync) and a sharded-style parameter
// all-gather at the very end. Groups: 0 data, 1 tensor/expert.
StepProgram BackwardWithGradSync(int rank, int world_size, bool overlap) {
  StepProgram program;
  if (world_size == 4) {
    program.groups = {Range(rank % 2, 4, 2), rank < 2 ? Range(0, 2) : Range(2, 4)};
  } else {
    program.groups = {Range(0, world_size), Range(0, world_size)};
  }
  auto sync = [&](StepOp op) { return overlap ? Overlapped(op) : op; };
  // ~27 MFLOP per op: a millisecond or more each, long against handing an op
  // to another thread (even on a loaded host: see the test below).
  const StepOp grad_gemm = Gemm(192, 192, 192, 2);
  program.ops = {
      grad_gemm,
      Collective(CollectiveOp::kAllReduce, kCount, 1),  // tensor-parallel, in line
      grad_gemm,
      sync(Collective(CollectiveOp::kAllReduce, 8 * kCount, 0)),  // layer 1's grad sync
      grad_gemm,
      Collective(CollectiveOp::kAllToAll, kCount, 1),  // expert dispatch, in line
      grad_gemm,
      Collective(CollectiveOp::kReduceScatter, kCount, 1),  // in line, class API
      grad_gemm,
      sync(Collective(CollectiveOp::kReduceScatter, 8 * kCount, 0)),  // layer 0's, sharded
      grad_gemm,
      Collective(CollectiveOp::kAllReduce, kCount, 1),
      Elementwise(12 * 65536),
      sync(Collective(CollectiveOp::kAllReduce, kCount, 0)),  // embedding's
      Elementwise(12 * 65536),
      Waiting(Elementwise(12 * 4096)),  // the optimizer
      Elementwise(12 * 4096),
      sync(Collective(CollectiveOp::kAllGather, 8 * kCount, 0)),  // updated parameters
  };
  return program;
}

class CpuStepOverlapTest : public ::testing::TestWithParam<int> {};

// Overlap is measured, so it is asserted of the job, not of every rank: on a
// loaded 2-core host one rank's communication thread may get no core until
// its main thread waits, and that rank then honestly reports no overlap.
TEST_P(CpuStepOverlapTest, GradSyncOverlapsComputeAndIsChecked) {
  const int n = GetParam();
  const IterationPlan plan{.warmup = 1, .timed = 3};
  std::atomic<int> overlapped{0};
  RunRanks(n, [&](int rank, Backend& backend) {
    const StepProgram program = BackwardWithGradSync(rank, n, true);
    // Checked in the warm-up iteration: a wrong element would be Internal.
    auto run = backend.RunStep(program, plan);
    ASSERT_TRUE(run.ok()) << "rank " << rank << ": " << run.status();
    overlapped += run->overlapped;
    ASSERT_EQ(run->op_seconds.size(), 3u);
    ASSERT_EQ(run->exposed_seconds.size(), 3u);
    ASSERT_EQ(run->step_seconds.size(), 3u);
    for (int i = 0; i < plan.timed; ++i) {
      double main_thread = 0, sync = 0, exposed = 0;
      for (size_t j = 0; j < program.ops.size(); ++j) {
        const double t = run->op_seconds[i][j], e = run->exposed_seconds[i][j];
        EXPECT_GT(t, 0.0) << "rank " << rank << " op " << j;
        if (program.ops[j].overlappable) {
          // Never more than its own time: the part of it the step waited for.
          EXPECT_GE(e, 0.0) << "rank " << rank << " op " << j;
          EXPECT_LE(e, t) << "rank " << rank << " op " << j;
          sync += t;
          exposed += e;
        } else {
          EXPECT_EQ(e, t) << "rank " << rank << " op " << j;  // in line: all of it
          main_thread += t;
        }
      }
      EXPECT_LE(exposed, sync);
      // The step is the main thread's ops and its waits, in which the
      // overlapped ops' exposed parts lie.
      EXPECT_GE(run->step_seconds[i], main_thread + exposed) << "rank " << rank << " iteration " << i;
    }
  });
  EXPECT_GT(overlapped.load(), 0);
}

TEST_P(CpuStepOverlapTest, InLineWhenNotOverlappable) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Backend& backend) {
    const StepProgram program = BackwardWithGradSync(rank, n, false);
    auto run = backend.RunStep(program, {.warmup = 0, .timed = 2});
    ASSERT_TRUE(run.ok()) << "rank " << rank << ": " << run.status();
    EXPECT_FALSE(run->overlapped);
    EXPECT_TRUE(run->exposed_seconds.empty());
    ExpectWellFormed(program, *run, 2, rank);
  });
}

// Overlapped and in-line collectives of one step share rank lists and run at
// the same time; the check pass (no warm-up) runs overlapped ones too, and a
// second call reuses the communication thread's contexts.
TEST_P(CpuStepOverlapTest, NoWarmupAndRepeatedCallsDoNotDeadlock) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Backend& backend) {
    const StepProgram program = BackwardWithGradSync(rank, n, true);
    for (int call = 0; call < 2; ++call) {
      auto run = backend.RunStep(program, {.warmup = 0, .timed = 1});
      ASSERT_TRUE(run.ok()) << "rank " << rank << " call " << call << ": " << run.status();
      EXPECT_EQ(run->exposed_seconds.size(), 1u);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, CpuStepOverlapTest, ::testing::Values(2, 4), RanksName);

TEST(CpuStepOverlapSingleRankTest, OverlappableOpsInAGroupOfOneDoNotOverlap) {
  auto backend = Backend::Create("cpu", BackendOptions{.cpu_threads = 1});
  ASSERT_TRUE(backend.ok()) << backend.status();
  StepProgram program;
  program.groups = {{0}};
  program.ops = {Gemm(32, 32, 32, 1), Overlapped(Collective(CollectiveOp::kAllReduce, 64, 0)),
                 Gemm(32, 32, 32, 1), Waiting(Elementwise(1200))};
  auto run = (*backend)->RunStep(program, {.warmup = 1, .timed = 2});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_FALSE(run->overlapped);  // nothing to synchronise: no gradient sync at all
  EXPECT_TRUE(run->exposed_seconds.empty());
  ExpectWellFormed(program, *run, 2, 0);
}

// A peer that ran one step (so the communication thread's contexts are
// connected) but not the next: the overlapped op fails on the communication
// thread within the timeout, and the main thread reports it when it waits.
TEST(CpuStepOverlapFailureTest, PeerThatStopsFailsTheOverlappedOpWithinTheTimeout) {
  std::latch rank0_done(1);
  RunRanks(
      2,
      [&](int rank, Backend& backend) {
        StepProgram program;
        program.groups = {{0, 1}};
        program.ops = {Gemm(16, 16, 16, 1), Overlapped(Collective(CollectiveOp::kAllReduce, 1024, 0)),
                       Gemm(16, 16, 16, 1), Waiting(Elementwise(1200))};
        auto first = backend.RunStep(program, {.warmup = 0, .timed = 1});
        ASSERT_TRUE(first.ok()) << "rank " << rank << ": " << first.status();
        if (rank == 1) {
          rank0_done.wait();  // connected, but never runs the second step
          return;
        }
        const auto start = std::chrono::steady_clock::now();
        auto run = backend.RunStep(program, {.warmup = 1, .timed = 2});
        const auto waited = std::chrono::steady_clock::now() - start;
        rank0_done.count_down();
        ExpectPeerLossReported(run, waited, backend, program,
                               {"step op 1 (all_reduce", "overlapped", "communication thread"});
      },
      milliseconds(500));
}

// ---- Refusals: before any allocation or communication ----

class CpuStepRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = Backend::Create("cpu", BackendOptions{.cpu_threads = 1});
    ASSERT_TRUE(created.ok()) << created.status();
    backend_ = *std::move(created);
  }
  absl::Status Run(const StepProgram& program, const IterationPlan& plan = {}) {
    return backend_->RunStep(program, plan).status();
  }
  std::unique_ptr<Backend> backend_;
};

TEST_F(CpuStepRefusalTest, Bf16IsUnimplementedNamingTheDtype) {
  StepProgram gemm;
  gemm.dtype = DType::kBf16;
  gemm.ops = {Gemm(8, 8, 8, 1)};
  absl::Status status = Run(gemm);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.message()), HasSubstr("backend cpu does not support GEMM in bf16"));

  StepProgram collective;
  collective.collective_dtype = DType::kBf16;
  collective.groups = {{0}};
  collective.ops = {Collective(CollectiveOp::kAllReduce, 8, 0)};
  status = Run(collective);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.message()), HasSubstr("all_reduce in bf16"));
}

TEST_F(CpuStepRefusalTest, MalformedProgramsAreInvalidArguments) {
  StepProgram bad_index;
  bad_index.groups = {{0}};
  bad_index.ops = {Collective(CollectiveOp::kAllReduce, 8, 1)};
  absl::Status status = Run(bad_index);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("ops[0].group 1 is not an index into groups"));
  bad_index.ops[0].group = -1;
  EXPECT_EQ(Run(bad_index).code(), absl::StatusCode::kInvalidArgument);

  StepProgram outside;
  outside.groups = {{0, 1}};
  outside.ops = {Gemm(8, 8, 8, 1)};
  status = Run(outside);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("outside the world [0, 1)"));

  StepProgram empty_group;
  empty_group.groups = {{}};
  empty_group.ops = {Gemm(8, 8, 8, 1)};
  EXPECT_EQ(Run(empty_group).code(), absl::StatusCode::kInvalidArgument);

  StepProgram zero;
  zero.ops = {Gemm(8, 0, 8, 1)};
  status = Run(zero);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("m, n, k and count must be positive"));
  zero.ops = {Elementwise(0)};
  EXPECT_EQ(Run(zero).code(), absl::StatusCode::kInvalidArgument);
  zero.groups = {{0}};
  zero.ops = {Collective(CollectiveOp::kAllReduce, 0, 0)};
  EXPECT_EQ(Run(zero).code(), absl::StatusCode::kInvalidArgument);

  StepProgram plan_ok;
  EXPECT_EQ(Run(plan_ok, {.warmup = -1, .timed = 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Run(plan_ok, {.warmup = 0, .timed = 0}).code(), absl::StatusCode::kInvalidArgument);

  // Still usable: refusals come before any communication.
  StepProgram fine;
  fine.ops = {Gemm(8, 8, 8, 1)};
  EXPECT_TRUE(Run(fine, {.warmup = 0, .timed = 1}).ok());
}

TEST_F(CpuStepRefusalTest, AbsurdSizesAreRefusedBeforeAllocating) {
  StepProgram program;
  program.ops = {Gemm(1 << 20, 1 << 20, 1 << 20, 1)};
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = Run(program);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("bytes of host memory"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
}

TEST(CpuStepGroupTest, GroupsWithoutThisRankOrOutOfOrderAreRefused) {
  RunRanks(2, [](int rank, Backend& backend) {
    StepProgram elsewhere;
    elsewhere.groups = {{1 - rank}};
    elsewhere.ops = {Collective(CollectiveOp::kAllReduce, 8, 0)};
    auto run = backend.RunStep(elsewhere, {});
    EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
    EXPECT_THAT(std::string(run.status().message()), HasSubstr("does not contain this rank"));

    StepProgram descending;
    descending.groups = {{1, 0}};
    descending.ops = {Collective(CollectiveOp::kAllReduce, 8, 0)};
    run = backend.RunStep(descending, {});
    EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
    EXPECT_THAT(std::string(run.status().message()), HasSubstr("ascending"));

    StepProgram odd;
    odd.groups = {{0, 1}};
    odd.ops = {Collective(CollectiveOp::kAllGather, 7, 0)};
    run = backend.RunStep(odd, {});
    EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
    EXPECT_THAT(std::string(run.status().message()), HasSubstr("divisible"));
  });
}

// ---- Lost peers: bounded, naming the op and group ----

TEST(CpuStepFailureTest, PeerThatNeverJoinsTheStepFailsWithinTheTimeout) {
  std::latch rank0_done(1);
  RunRanks(
      2,
      [&](int rank, Backend& backend) {
        if (rank == 1) {
          rank0_done.wait();  // connected, but never runs the step
          return;
        }
        StepProgram program;
        program.groups = {{0, 1}};
        program.ops = {Gemm(16, 16, 16, 1), Collective(CollectiveOp::kAllReduce, 1024, 0)};
        const auto start = std::chrono::steady_clock::now();
        auto run = backend.RunStep(program, {.warmup = 1, .timed = 2});
        const auto waited = std::chrono::steady_clock::now() - start;
        rank0_done.count_down();
        ExpectPeerLossReported(run, waited, backend, program, {"step op 1 (all_reduce", "group [0,1]"});
      },
      milliseconds(1000));
}

TEST(CpuStepFailureTest, SubGroupPeerThatNeverArrivesFailsTheRendezvous) {
  std::latch rank0_done(1);
  RunRanks(
      3,
      [&](int rank, Backend& backend) {
        if (rank != 0) {
          rank0_done.wait();
          return;
        }
        StepProgram program;
        program.groups = {{0, 2}};
        program.ops = {Collective(CollectiveOp::kReduceScatter, 64, 0)};
        const auto start = std::chrono::steady_clock::now();
        auto run = backend.RunStep(program, {.warmup = 0, .timed = 1});
        const auto waited = std::chrono::steady_clock::now() - start;
        rank0_done.count_down();
        ASSERT_FALSE(run.ok());
        EXPECT_EQ(run.status().code(), absl::StatusCode::kDeadlineExceeded) << run.status();
        const std::string message(run.status().message());
        EXPECT_THAT(message, HasSubstr("group [0,2]"));
        EXPECT_THAT(message, HasSubstr("step op 0 (reduce_scatter)"));
        EXPECT_LT(waited, milliseconds(5000));
      },
      milliseconds(1000));
}

}  // namespace
}  // namespace tokenmeter::kernels
