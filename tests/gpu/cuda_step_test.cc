// Tests of Backend::RunStep on the "cuda" backend. Program validation is a
// pure function and runs everywhere; everything that needs a GPU skips
// without one. Multi-rank tests run one rank per GPU as threads sharing an
// in-memory store (world size = GPUs on the host; one GPU runs world size 1).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_step.h"
#include "kernels/cuda/gemm_layout.h"
#include "tests/gpu/cuda_ranks.h"
#include "tests/support/step_ops.h"

namespace tokenmeter::kernels {
namespace {

std::vector<int> AllRanks(int world) {
  std::vector<int> all(static_cast<size_t>(world));
  std::iota(all.begin(), all.end(), 0);
  return all;
}

// A proper subgroup with this rank, where the world has one: its pair
// {2p, 2p+1} (the last rank alone when world is odd); alone when world is 2.
// With world 1 the only list is the world itself.
std::vector<int> PairOf(int rank, int world) {
  if (world == 2) return {rank};
  const int first = rank - rank % 2;
  std::vector<int> pair{first};
  if (first + 1 < world) pair.push_back(first + 1);
  return pair;
}

// gemm, elementwise, all-reduce in the world, all-reduce in a pair (world >= 2),
// all-to-all in the world, another gemm: every kind, both group kinds.
StepProgram MixedProgram(int rank, int world, DType dtype) {
  StepProgram p;
  p.dtype = dtype;
  p.collective_dtype = DType::kBf16;
  p.groups.push_back(AllRanks(world));
  p.ops.push_back(Gemm(512, 384, 256, 2));
  p.ops.push_back(Elementwise(int64_t{3} << 22));
  p.ops.push_back(Collective(CollectiveOp::kAllReduce, 1 << 20, 0));
  if (world >= 2) {
    p.groups.push_back(PairOf(rank, world));
    p.ops.push_back(Collective(CollectiveOp::kAllReduce, 3 * 4099, 1));
  }
  p.ops.push_back(Collective(CollectiveOp::kAllToAll, int64_t{world} * 4096, 0));
  p.ops.push_back(Gemm(1024, 1024, 1024));
  return p;
}

void ExpectWellFormed(const absl::StatusOr<StepRun>& run, const StepProgram& program,
                      const IterationPlan& plan, int rank) {
  ASSERT_TRUE(run.ok()) << "rank " << rank << ": " << run.status();
  ASSERT_EQ(run->op_seconds.size(), static_cast<size_t>(plan.timed));
  ASSERT_EQ(run->step_seconds.size(), static_cast<size_t>(plan.timed));
  for (int i = 0; i < plan.timed; ++i) {
    SCOPED_TRACE(testing::Message() << "rank " << rank << " timed iteration " << i);
    ASSERT_EQ(run->op_seconds[i].size(), program.ops.size());
    double sum = 0;
    for (double t : run->op_seconds[i]) {
      EXPECT_GT(t, 0.0);
      sum += t;
    }
    EXPECT_GT(run->step_seconds[i], 0.0);
    // Ops run one after another on one stream: the step spans them all (up to
    // the events' resolution, about 0.5 us each).
    EXPECT_GE(run->step_seconds[i], 0.97 * sum - 1e-6 * static_cast<double>(program.ops.size()));
  }
  if (run->timed_energy_joules >= 0) {
    EXPECT_LT(run->timed_energy_joules, 1e6);
  } else {
    EXPECT_EQ(run->timed_energy_joules, -1.0);
  }
}

// ---- Without a GPU: validation is host-only ----

TEST(StepProgramValidationTest, WellFormedProgramPasses) {
  StepProgram p = MixedProgram(1, 4, DType::kBf16);
  EXPECT_TRUE(ValidateStepProgram(p, 1, 4).ok());
}

TEST(StepProgramValidationTest, BadGroupsAreInvalidArgument) {
  const auto invalid = [](std::vector<std::vector<int>> groups, int rank, int world,
                          const std::string& needle) {
    StepProgram p;
    p.groups = std::move(groups);
    p.ops.push_back(Collective(CollectiveOp::kAllReduce, 64, 0));
    absl::Status s = ValidateStepProgram(p, rank, world);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s;
  };
  invalid({{}}, 0, 2, "groups[0]");                   // empty
  invalid({{0, 2}}, 0, 2, "outside the world");       // beyond world
  invalid({{-1, 0}}, 0, 2, "outside the world");      // negative
  invalid({{1, 0}}, 0, 2, "ascending");               // descending
  invalid({{0, 0}}, 0, 2, "ascending");               // repeated
  invalid({{0, 1}, {1, 2}}, 0, 3, "groups[1]");       // without this rank
  invalid({{1}}, 0, 2, "does not contain this rank");
}

TEST(StepProgramValidationTest, BadOpsAreInvalidArgument) {
  const auto invalid = [](StepOp op, const std::string& needle) {
    StepProgram p;
    p.groups = {{0}};
    p.ops.push_back(op);
    absl::Status s = ValidateStepProgram(p, 0, 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s;
  };
  invalid(Collective(CollectiveOp::kAllReduce, 64, 1), "ops[0].group");
  invalid(Collective(CollectiveOp::kAllReduce, 64, -1), "ops[0].group");
  invalid(Collective(CollectiveOp::kAllReduce, 0, 0), "count");
  invalid(Gemm(0, 8, 8), "ops[0] (gemm)");
  invalid(Gemm(8, 8, 8, 0), "count");
  invalid(Elementwise(0), "bytes");
  EXPECT_EQ(ValidateStepProgram(StepProgram{}, 0, 1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StepProgramValidationTest, ActivationDTypeFollowsGemmDType) {
  EXPECT_EQ(cuda::StepActivationDType(DType::kBf16), DType::kBf16);
  EXPECT_EQ(cuda::StepActivationDType(DType::kFp16), DType::kFp16);
  EXPECT_EQ(cuda::StepActivationDType(DType::kFp32), DType::kFp32);
  EXPECT_EQ(cuda::StepActivationDType(DType::kTf32), DType::kFp32);
  EXPECT_EQ(cuda::StepActivationDType(DType::kFp8E4M3), DType::kBf16);
}

TEST(StepProgramValidationTest, GroupKeyNamesEveryMember) {
  EXPECT_EQ(cuda::GroupCommunicators::KeyFor("job-7/a0", {0, 2, 5}), "job-7/a0/group-0-2-5");
}

// ---- With GPUs ----

class CudaStepTest : public testing::TestWithParam<DType> {};

TEST_P(CudaStepTest, MixedProgramTimesEveryOpOnEveryRank) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  const DType dtype = GetParam();
  const IterationPlan plan{2, 3};
  RunRanks(world, absl::StrCat("step-mixed-", std::string(DTypeName(dtype))),
           [&](int rank, Backend& b) {
             if (!b.SupportsGemm(dtype)) {
               StepProgram p = MixedProgram(rank, world, dtype);
               EXPECT_EQ(b.RunStep(p, plan).status().code(), absl::StatusCode::kUnimplemented);
               return;
             }
             StepProgram p = MixedProgram(rank, world, dtype);
             ExpectWellFormed(b.RunStep(p, plan), p, plan, rank);
             // Again on the same backend: communicators and algorithms are reused.
             ExpectWellFormed(b.RunStep(p, plan), p, plan, rank);
           });
}

INSTANTIATE_TEST_SUITE_P(GemmDTypes, CudaStepTest,
                         testing::Values(DType::kBf16, DType::kFp16, DType::kTf32,
                                         DType::kFp8E4M3),
                         [](const testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

// ---- Transposed operands (kernels/step.h's transpose_a / transpose_b) ----

StepOp TransposedGemm(int64_t m, int64_t n, int64_t k, bool transpose_a, bool transpose_b) {
  StepOp op = Gemm(m, n, k);
  op.transpose_a = transpose_a;
  op.transpose_b = transpose_b;
  return op;
}

// Every combination of transposes times, at a tensor-core shape and an odd
// one (fp8 takes only multiples of 16: there the odd one is InvalidArgument).
TEST_P(CudaStepTest, EveryTransposeCombinationTimes) {
  SKIP_WITHOUT_GPU();
  const DType dtype = GetParam();
  absl::StatusOr<std::unique_ptr<Backend>> b = NewCudaBackend(BackendOptions{});
  ASSERT_TRUE(b.ok()) << b.status();
  if (!(*b)->SupportsGemm(dtype)) GTEST_SKIP() << "no " << DTypeName(dtype) << " GEMM here";
  StepProgram p;
  p.dtype = dtype;
  p.groups = {{0}};
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      p.ops.push_back(TransposedGemm(512, 384, 256, ta, tb));
      if (dtype != DType::kFp8E4M3) p.ops.push_back(TransposedGemm(96, 40, 72, ta, tb));
    }
  }
  const IterationPlan plan{1, 2};
  ExpectWellFormed((*b)->RunStep(p, plan), p, plan, 0);
  if (dtype == DType::kFp8E4M3) {
    p.ops = {TransposedGemm(96, 40, 72, true, false)};
    absl::StatusOr<StepRun> run = (*b)->RunStep(p, plan);
    EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
    EXPECT_NE(run.status().message().find("step op 0 (gemm 96x40x72 fp8_e4m3, transpose_a,"),
              std::string::npos)
        << run.status();
  }
}

// The row-major layouts on the device, in numbers: small integers in fp32
// are exact, so C must equal the host's product element for element.
TEST(CudaGemmStorageTest, RowMajorTransposesComputeTheProduct) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<std::vector<DeviceDescription>> devices = ListCudaDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  {
    absl::StatusOr<std::unique_ptr<cuda::CublasLtGemm>> gemm =
        cuda::CublasLtGemm::Create(0, (*devices)[0], stream);
    ASSERT_TRUE(gemm.ok()) << gemm.status();
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> dist(-4, 4);
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{96, 40, 72}, {64, 48, 32},
                           {1, 7, 3}}) {
      for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
          SCOPED_TRACE(testing::Message() << m << "x" << n << "x" << k << " transpose_a=" << ta
                                          << " transpose_b=" << tb);
          std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
          for (float& x : a) x = static_cast<float>(dist(rng));
          for (float& x : b) x = static_cast<float>(dist(rng));
          absl::StatusOr<const cuda::PreparedGemm*> prepared = (*gemm)->Prepare(
              {m, n, k, DType::kFp32},
              cuda::GemmStorage{.row_major = true, .transpose_a = ta, .transpose_b = tb});
          ASSERT_TRUE(prepared.ok()) << prepared.status();
          cuda::DeviceBuffer da, db, dc;
          ASSERT_TRUE(da.Allocate(a.size() * sizeof(float), "A").ok());
          ASSERT_TRUE(db.Allocate(b.size() * sizeof(float), "B").ok());
          ASSERT_TRUE(dc.Allocate(static_cast<size_t>(m * n) * sizeof(float), "C").ok());
          ASSERT_EQ(cudaMemcpy(da.get(), a.data(), da.bytes(), cudaMemcpyHostToDevice),
                    cudaSuccess);
          ASSERT_EQ(cudaMemcpy(db.get(), b.data(), db.bytes(), cudaMemcpyHostToDevice),
                    cudaSuccess);
          ASSERT_EQ((*gemm)->Enqueue(**prepared, da.get(), db.get(), dc.get()),
                    CUBLAS_STATUS_SUCCESS);
          ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
          std::vector<float> c(static_cast<size_t>(m * n));
          ASSERT_EQ(cudaMemcpy(c.data(), dc.get(), dc.bytes(), cudaMemcpyDeviceToHost),
                    cudaSuccess);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              float want = 0;
              for (int64_t q = 0; q < k; ++q) {
                want += a[static_cast<size_t>(ta ? q * m + i : i * k + q)] *
                        b[static_cast<size_t>(tb ? j * k + q : q * n + j)];
              }
              ASSERT_EQ(c[static_cast<size_t>(i * n + j)], want) << "C[" << i << "," << j << "]";
            }
          }
        }
      }
    }
    // fp8 runs TN where cuBLASLt's fp8 takes nothing else (gemm_layout.h).
    int major = 0, minor = 0;
    ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
    ASSERT_EQ(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0), cudaSuccess);
    if ((*gemm)->Supports(DType::kFp8E4M3)) {
      absl::StatusOr<const cuda::PreparedGemm*> fp8 = (*gemm)->Prepare(
          {64, 48, 32, DType::kFp8E4M3}, cuda::GemmStorage{.row_major = true});
      ASSERT_TRUE(fp8.ok()) << fp8.status();
      EXPECT_EQ((*fp8)->layout.Name(), cuda::Fp8NeedsTn(major, minor) ? "TN" : "NN");
    }
  }
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST(CudaStepRunTest, EveryCollectiveInTheWorldAndInPairs) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  RunRanks(world, "step-every-collective", [&](int rank, Backend& b) {
    StepProgram p;
    p.dtype = DType::kFp32;
    p.collective_dtype = DType::kFp32;
    p.groups.push_back(AllRanks(world));
    p.groups.push_back(PairOf(rank, world));
    const int pair = static_cast<int>(p.groups[1].size());
    for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kAllGather,
                            CollectiveOp::kReduceScatter, CollectiveOp::kAllToAll,
                            CollectiveOp::kBroadcast, CollectiveOp::kReduce}) {
      p.ops.push_back(Collective(op, int64_t{world} * 2 * 1031, 0));
      p.ops.push_back(Collective(op, int64_t{pair} * 517, 1));
    }
    const IterationPlan plan{0, 2};  // warmup 0: one untimed iteration still checks
    ExpectWellFormed(b.RunStep(p, plan), p, plan, rank);
  });
}

// ---- Overlapped gradient sync ----

// A backward pass in miniature, as the worker plans one with
// overlap_grad_sync: weight-gradient GEMMs, each layer's gradient sync
// overlappable in the world, a tensor-parallel all-reduce in line in the
// rank's PairOf group (with one GPU the world itself, so in-line and
// overlapped collectives share a rank list), the optimizer waiting for the
// sync, and the updated
// parameters' all-gather at the very end. With one GPU the overlapped ops are
// NCCL's one-rank copies: the same streams, events and accounting.
StepProgram BackwardWithGradSync(int rank, int world) {
  StepProgram p;
  p.dtype = DType::kBf16;
  p.collective_dtype = DType::kBf16;
  p.groups = {AllRanks(world), PairOf(rank, world)};
  const StepOp grad_gemm = Gemm(4096, 4096, 4096, 2);  // ~0.4 ms on an H100-class GPU
  const int64_t bucket = int64_t{world} * (int64_t{1} << 24);  // 32 MiB of bf16 per rank
  p.ops = {
      grad_gemm,
      Overlapped(Collective(CollectiveOp::kAllReduce, bucket, 0)),  // layer 1's grad sync
      grad_gemm,
      Collective(CollectiveOp::kAllReduce, int64_t{world} * 65536, 1),  // tensor-parallel
      grad_gemm,
      Overlapped(Collective(CollectiveOp::kReduceScatter, bucket, 0)),  // layer 0's, sharded
      grad_gemm,
      Elementwise(int64_t{3} << 24),
      Waiting(Elementwise(int64_t{3} << 22)),  // the optimizer
      Overlapped(Collective(CollectiveOp::kAllGather, bucket, 0)),  // updated parameters
  };
  return p;
}

// What every overlapped run must satisfy, whatever the hardware: an
// overlapped op's exposed part is within its own time, an op in line is all
// exposed, and the step spans the main stream's ops and its waits.
void ExpectOverlapAccounting(const StepRun& run, const StepProgram& program,
                             const IterationPlan& plan, int rank) {
  ASSERT_EQ(run.op_seconds.size(), static_cast<size_t>(plan.timed));
  ASSERT_EQ(run.exposed_seconds.size(), static_cast<size_t>(plan.timed));
  ASSERT_EQ(run.step_seconds.size(), static_cast<size_t>(plan.timed));
  for (int i = 0; i < plan.timed; ++i) {
    SCOPED_TRACE(testing::Message() << "rank " << rank << " timed iteration " << i);
    ASSERT_EQ(run.exposed_seconds[i].size(), program.ops.size());
    double main_stream = 0, sync = 0, exposed = 0;
    for (size_t j = 0; j < program.ops.size(); ++j) {
      const double t = run.op_seconds[i][j], e = run.exposed_seconds[i][j];
      EXPECT_GT(t, 0.0) << "op " << j;
      if (program.ops[j].overlappable) {
        EXPECT_GE(e, 0.0) << "op " << j;
        EXPECT_LE(e, t) << "op " << j;
        sync += t;
        exposed += e;
      } else {
        EXPECT_EQ(e, t) << "op " << j;
        main_stream += t;
      }
    }
    EXPECT_LE(exposed, sync);
    // Events resolve to about 0.5 us each.
    EXPECT_GE(run.step_seconds[i],
              0.97 * (main_stream + exposed) - 1e-6 * static_cast<double>(program.ops.size()));
  }
}

TEST(CudaStepOverlapTest, GradSyncOverlapsComputeAndIsChecked) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  std::atomic<int> overlapped{0};
  RunRanks(world, "step-overlap", [&](int rank, Backend& b) {
    const StepProgram p = BackwardWithGradSync(rank, world);
    // The check iteration (warm-up) verifies every collective, overlapped
    // ones included: a wrong element would be Internal.
    const IterationPlan plan{2, 5};
    absl::StatusOr<StepRun> run = b.RunStep(p, plan);
    ASSERT_TRUE(run.ok()) << "rank " << rank << ": " << run.status();
    ExpectOverlapAccounting(*run, p, plan, rank);
    overlapped += run->overlapped;
    // Again without warm-up (the check iteration joins each overlapped op at
    // once) on the same communicators and stream.
    const IterationPlan again{0, 1};
    run = b.RunStep(p, again);
    ASSERT_TRUE(run.ok()) << "rank " << rank << " (second call): " << run.status();
    ExpectOverlapAccounting(*run, p, again, rank);
  });
  // Whether a one-rank copy runs beside a GEMM is the hardware's business;
  // between GPUs each sync (32 MiB a rank) has ~0.4 ms of GEMMs after it to
  // run beside, so some must overlap.
  testing::Test::RecordProperty("ranks_that_overlapped", overlapped.load());
  std::printf("overlapped on %d of %d ranks\n", overlapped.load(), world);
  if (world >= 2) {
    EXPECT_GT(overlapped.load(), 0);
  }
}

TEST(CudaStepRunTest, BadGroupIsInvalidArgument) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  RunRanks(world, "step-bad-group", [&](int rank, Backend& b) {
    StepProgram p;
    p.groups.push_back({world});  // outside the world
    p.ops.push_back(Collective(CollectiveOp::kAllReduce, 64, 0));
    EXPECT_EQ(b.RunStep(p, {1, 1}).status().code(), absl::StatusCode::kInvalidArgument);
    p.groups = {AllRanks(world)};
    p.ops[0].group = 1;  // no such group
    EXPECT_EQ(b.RunStep(p, {1, 1}).status().code(), absl::StatusCode::kInvalidArgument);
    if (world >= 2) {
      p.groups = {{(rank + 1) % world}};  // without this rank
      p.ops[0].group = 0;
      EXPECT_EQ(b.RunStep(p, {1, 1}).status().code(), absl::StatusCode::kInvalidArgument);
      p.groups = {{1, 0}};  // descending
      EXPECT_EQ(b.RunStep(p, {1, 1}).status().code(), absl::StatusCode::kInvalidArgument);
      // Count not divisible by the group size.
      p.groups = {AllRanks(world)};
      p.ops[0] = Collective(CollectiveOp::kAllGather, int64_t{world} * 100 + 1, 0);
      EXPECT_EQ(b.RunStep(p, {1, 1}).status().code(), absl::StatusCode::kInvalidArgument);
    }
    // Refused programs leave the communicators usable.
    p.groups = {AllRanks(world)};
    p.ops = {Collective(CollectiveOp::kAllReduce, 1024, 0)};
    const IterationPlan plan{1, 1};
    ExpectWellFormed(b.RunStep(p, plan), p, plan, rank);
  });
}

TEST(CudaStepRunTest, CollectiveDTypeWithoutNcclSupportIsUnimplemented) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<std::unique_ptr<Backend>> b = NewCudaBackend(BackendOptions{});
  ASSERT_TRUE(b.ok()) << b.status();
  StepProgram p;
  p.dtype = DType::kBf16;
  p.collective_dtype = DType::kFp8E4M3;
  p.groups = {{0}};
  p.ops = {Gemm(64, 64, 64), Collective(CollectiveOp::kAllReduce, 64, 0)};
  absl::StatusOr<StepRun> run = (*b)->RunStep(p, {1, 1});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kUnimplemented) << run.status();
  EXPECT_NE(run.status().message().find("fp8_e4m3"), std::string::npos) << run.status();
  EXPECT_NE(run.status().message().find("step op 1"), std::string::npos) << run.status();
  // Without collectives the collective dtype does not matter.
  p.ops.pop_back();
  const IterationPlan plan{1, 2};
  ExpectWellFormed((*b)->RunStep(p, plan), p, plan, 0);
}

TEST(CudaStepRunTest, TooLargeIsResourceExhausted) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<std::unique_ptr<Backend>> b = NewCudaBackend(BackendOptions{});
  ASSERT_TRUE(b.ok()) << b.status();
  StepProgram p;
  p.dtype = DType::kBf16;
  p.ops = {Gemm(1 << 20, 1 << 20, 1 << 20)};  // 2 TiB operands
  absl::StatusOr<StepRun> run = (*b)->RunStep(p, {1, 1});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kResourceExhausted) << run.status();
  EXPECT_NE(run.status().message().find("bytes free"), std::string::npos) << run.status();
  p.ops = {Elementwise(int64_t{1} << 62)};
  run = (*b)->RunStep(p, {1, 1});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kResourceExhausted) << run.status();
}

TEST(CudaStepRunTest, LongProgramIsThrottledNotBlocked) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<std::unique_ptr<Backend>> b = NewCudaBackend(BackendOptions{});
  ASSERT_TRUE(b.ok()) << b.status();
  // Far more launches per iteration than the in-flight bound.
  StepProgram p;
  p.dtype = DType::kBf16;
  p.groups = {{0}};
  for (int i = 0; i < 300; ++i) {
    p.ops.push_back(Gemm(256, 256, 256, 3));
    p.ops.push_back(Elementwise(3 * 2 * 4096));
    if (i % 10 == 0) p.ops.push_back(Collective(CollectiveOp::kAllReduce, 4096, 0));
  }
  const IterationPlan plan{1, 3};
  ExpectWellFormed((*b)->RunStep(p, plan), p, plan, 0);
}

}  // namespace
}  // namespace tokenmeter::kernels
