// Tests of the "cuda" backend on whatever GPUs the host has; every test that
// needs a GPU skips without one. Multi-rank tests run one rank per GPU as
// threads sharing an in-memory store (world size = GPUs on the host, so one
// GPU still runs NCCL with world size 1).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/nccl_comm.h"
#include "tests/gpu/cuda_ranks.h"
#include "tests/support/step_ops.h"

namespace tokenmeter::kernels {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<Backend> MakeBackend(BackendOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = NewCudaBackend(options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? *std::move(backend) : nullptr;
}

// ---- Without a GPU ----

TEST(CudaDevicesTest, ListIsEmptyOrDescribesEveryDevice) {
  absl::StatusOr<std::vector<DeviceDescription>> devices = ListCudaDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();  // never an error, even without a driver
  for (const DeviceDescription& d : *devices) {
    EXPECT_FALSE(d.model.empty());
    EXPECT_EQ(d.uuid.rfind("GPU-", 0), 0u) << d.uuid;
    EXPECT_EQ(d.uuid.size(), 40u) << d.uuid;  // GPU- + 32 hex + 4 dashes
    EXPECT_GT(d.memory_bytes, 0);
    EXPECT_GT(d.compute_units, 0);
    EXPECT_FALSE(d.compute_capability.empty());
  }
}

TEST(CudaBackendTest, NoDeviceIsUnavailableNotACrash) {
  if (GpuCount() > 0) GTEST_SKIP() << "this host has a CUDA device";
  absl::StatusOr<std::unique_ptr<Backend>> backend = NewCudaBackend(BackendOptions{});
  ASSERT_EQ(backend.status().code(), absl::StatusCode::kUnavailable) << backend.status();
  EXPECT_NE(backend.status().message().find("no CUDA device"), std::string::npos)
      << backend.status();
}

// ---- Device and options ----

TEST(CudaBackendTest, DescribesItsDevice) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Backend> b = MakeBackend();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->kind(), "cuda");
  EXPECT_EQ(b->rank(), 0);
  EXPECT_EQ(b->world_size(), 1);
  EXPECT_EQ(b->device().model, (*ListCudaDevices())[0].model);
  EXPECT_FALSE(b->device().driver_version.empty());
}

// The live power gauge's source on a GPU: NVML's reading of the GPU found by
// UUID. A board draws tens of watts idle and under 2 kW at most (B200: 1 kW
// TDP), so a reading outside (0, 2000) W is wrong, not a fast GPU.
TEST(CudaPowerSourceTest, ReadsThePowerOfEveryGpuByUuid) {
  SKIP_WITHOUT_GPU();
  const std::vector<DeviceDescription> devices = *ListCudaDevices();
  for (size_t i = 0; i < devices.size(); ++i) {
    PowerSourceOptions o;
    o.device_index = static_cast<int>(i);
    o.uuid = devices[i].uuid;
    absl::StatusOr<std::unique_ptr<PowerSource>> source = OpenCudaPowerSource(o);
    // Under MIG the CUDA device is an instance (NVML's "MIG-…"), and NVML
    // reports power for whole GPUs only: no source, by design.
    if (!source.ok() && absl::IsUnimplemented(source.status()) &&
        source.status().message().find("MIG") != std::string::npos) {
      GTEST_SKIP() << devices[i].uuid << " is a MIG instance, which has no power reading of its "
                   << "own: " << source.status();
    }
    if (!source.ok() && absl::IsUnimplemented(source.status())) {
      GTEST_SKIP() << "this host's driver reports no power: " << source.status();
    }
    ASSERT_TRUE(source.ok()) << devices[i].uuid << ": " << source.status();
    for (int reading = 0; reading < 3; ++reading) {
      absl::StatusOr<double> watts = (*source)->Watts();
      ASSERT_TRUE(watts.ok()) << devices[i].uuid << ": " << watts.status();
      EXPECT_GT(*watts, 0) << devices[i].uuid;
      EXPECT_LT(*watts, 2000) << devices[i].uuid;
    }
    EXPECT_FALSE((*source)->Describe().empty());
  }
}

TEST(CudaPowerSourceTest, UnknownUuidIsNotFound) {
  SKIP_WITHOUT_GPU();
  PowerSourceOptions o;
  o.uuid = "GPU-00000000-0000-0000-0000-000000000000";
  absl::StatusOr<std::unique_ptr<PowerSource>> source = OpenCudaPowerSource(o);
  ASSERT_FALSE(source.ok());
  if (absl::IsUnimplemented(source.status())) GTEST_SKIP() << source.status();
  EXPECT_TRUE(absl::IsNotFound(source.status())) << source.status();
}

TEST(CudaBackendTest, DeviceIndexOutOfRangeIsInvalidArgument) {
  SKIP_WITHOUT_GPU();
  BackendOptions o;
  o.device_index = GpuCount();
  absl::StatusOr<std::unique_ptr<Backend>> backend = NewCudaBackend(o);
  ASSERT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument) << backend.status();
  EXPECT_NE(backend.status().message().find("device_index"), std::string::npos);
}

// ---- GEMM ----

class CudaGemmTest : public testing::TestWithParam<DType> {};

void ExpectVerified(const absl::StatusOr<GemmRun>& run, const IterationPlan& plan) {
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->verified);
  EXPECT_EQ(run->wrong_elements, 0);
  EXPECT_LE(run->max_error, 1.0);
  ASSERT_EQ(run->iteration_seconds.size(), static_cast<size_t>(plan.timed));
  for (double s : run->iteration_seconds) EXPECT_GT(s, 0.0);
}

TEST_P(CudaGemmTest, ResultMatchesReference) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Backend> b = MakeBackend();
  ASSERT_NE(b, nullptr);
  const DType dtype = GetParam();
  const IterationPlan plan{2, 3};
  if (!b->SupportsGemm(dtype)) {
    absl::StatusOr<GemmRun> run = b->RunGemm({256, 256, 256, dtype}, plan);
    EXPECT_EQ(run.status().code(), absl::StatusCode::kUnimplemented) << run.status();
    GTEST_SKIP() << DTypeName(dtype) << " is not supported on " << b->device().model;
  }
  // Every element checked (m*n below the sampling limit), sizes not powers of 2.
  ExpectVerified(b->RunGemm({528, 400, 1040, dtype}, plan), plan);
  if (dtype != DType::kFp8E4M3) {
    // Odd sizes: no alignment at all.
    ExpectVerified(b->RunGemm({333, 517, 129, dtype}, plan), plan);
  }
  // Large enough that the check samples; long k stresses accumulation.
  ExpectVerified(b->RunGemm({2560, 2048, 8192, dtype}, plan), plan);
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, CudaGemmTest,
                         testing::Values(DType::kFp32, DType::kTf32, DType::kFp16, DType::kBf16,
                                         DType::kFp8E4M3),
                         [](const testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

TEST(CudaGemmBadInputTest, NonPositiveSizesAreInvalidArgument) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Backend> b = MakeBackend();
  ASSERT_NE(b, nullptr);
  for (GemmProblem p : {GemmProblem{0, 64, 64, DType::kBf16}, GemmProblem{64, -1, 64, DType::kBf16},
                        GemmProblem{64, 64, 0, DType::kFp32}}) {
    absl::StatusOr<GemmRun> run = b->RunGemm(p, {});
    EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
  }
}

TEST(CudaGemmBadInputTest, TooLargeIsResourceExhausted) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Backend> b = MakeBackend();
  ASSERT_NE(b, nullptr);
  // 2^20 x 2^20 bf16 operands: 2 TiB each.
  absl::StatusOr<GemmRun> run = b->RunGemm({1 << 20, 1 << 20, 1 << 20, DType::kBf16}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kResourceExhausted) << run.status();
  EXPECT_NE(run.status().message().find("bytes"), std::string::npos);
  // Sizes whose byte counts overflow int64.
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2;
  run = b->RunGemm({huge, huge, huge, DType::kFp32}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kResourceExhausted) << run.status();
}

TEST(CudaGemmBadInputTest, Fp8OffSixteenIsInvalidArgument) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Backend> b = MakeBackend();
  ASSERT_NE(b, nullptr);
  if (!b->SupportsGemm(DType::kFp8E4M3)) GTEST_SKIP() << "no fp8 on this device";
  absl::StatusOr<GemmRun> run = b->RunGemm({100, 64, 64, DType::kFp8E4M3}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
}

// ---- Collectives ----

int64_t ExpectedChecked(CollectiveOp op, int64_t count, int rank, int world) {
  switch (op) {
    case CollectiveOp::kReduceScatter: return count / world;
    case CollectiveOp::kReduce: return rank == 0 ? count : 0;
    default: return count;
  }
}

TEST(CudaCollectiveTest, EveryOpAndDTypeIsCorrect) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  const IterationPlan plan{1, 2};
  const CollectiveOp ops[] = {CollectiveOp::kAllReduce,     CollectiveOp::kAllGather,
                              CollectiveOp::kReduceScatter, CollectiveOp::kAllToAll,
                              CollectiveOp::kBroadcast,     CollectiveOp::kReduce};
  const DType dtypes[] = {DType::kFp32, DType::kFp16, DType::kBf16};
  // A small odd chunk and a large one (past NCCL's protocol switches).
  const int64_t counts[] = {int64_t{world} * 4099, int64_t{world} * (int64_t{1} << 22)};
  RunRanks(world, "every-op", [&](int rank, Backend& b) {
    for (CollectiveOp op : ops) {
      for (DType dtype : dtypes) {
        for (int64_t count : counts) {
          ASSERT_TRUE(b.SupportsCollective(op, dtype));
          absl::StatusOr<CollectiveRun> run = b.RunCollective(op, count, dtype, plan);
          ASSERT_TRUE(run.ok()) << run.status();
          SCOPED_TRACE(testing::Message() << CollectiveOpName(op) << " " << DTypeName(dtype)
                                          << " count " << count << " rank " << rank);
          EXPECT_EQ(run->checked_elements,
                    (plan.warmup + plan.timed) * ExpectedChecked(op, count, rank, world));
          EXPECT_EQ(run->wrong_elements, 0);
          EXPECT_EQ(run->iteration_seconds.size(), static_cast<size_t>(plan.timed));
        }
      }
    }
  });
}

// Every call's output is checked, not only the last one's, and the output is
// poisoned between calls: a call in the middle of the timed loop that writes
// nothing must count all its elements wrong. (It passed before either was
// so: the last call's output was right, and the skipped call's buffer held
// the previous call's result.)
TEST(CudaCollectiveTest, EveryCallIsCheckedNotOnlyTheLast) {
  SKIP_WITHOUT_GPU();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  {
    absl::StatusOr<std::unique_ptr<cuda::NcclComm>> comm =
        cuda::NcclComm::Join(nullptr, "skip-call", 0, 1, milliseconds(60000), stream, "test rank");
    ASSERT_TRUE(comm.ok()) << comm.status();
    const int64_t count = 3 * 4099;
    const IterationPlan plan{1, 4};
    for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kAllGather}) {
      SCOPED_TRACE(CollectiveOpName(op));
      absl::StatusOr<CollectiveRun> healthy = (*comm)->Run(op, count, DType::kFp32, plan);
      ASSERT_TRUE(healthy.ok()) << healthy.status();
      EXPECT_EQ(healthy->wrong_elements, 0);
      EXPECT_EQ(healthy->checked_elements, 5 * count);  // 1 warm-up + 4 timed calls
      (*comm)->SkipCallForTesting(2);                   // the second timed call
      absl::StatusOr<CollectiveRun> skipped = (*comm)->Run(op, count, DType::kFp32, plan);
      ASSERT_TRUE(skipped.ok()) << skipped.status();
      EXPECT_EQ(skipped->wrong_elements, count);
      EXPECT_EQ(skipped->checked_elements, 5 * count);
    }
  }
  cudaStreamDestroy(stream);
}

TEST(CudaCollectiveTest, BadInputIsRefusedOnEveryRank) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  RunRanks(world, "bad-input", [&](int rank, Backend& b) {
    EXPECT_EQ(b.RunCollective(CollectiveOp::kAllReduce, 0, DType::kFp32, {}).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(b.RunCollective(CollectiveOp::kAllReduce, -8, DType::kFp32, {}).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(b.RunCollective(CollectiveOp::kAllGather, int64_t{1} << 50, DType::kFp32, {})
                  .status()
                  .code(),
              world == 1 || ((int64_t{1} << 50) % world == 0) ? absl::StatusCode::kResourceExhausted
                                                               : absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(b.RunCollective(CollectiveOp::kAllReduce, 64, DType::kFp8E4M3, {}).status().code(),
              absl::StatusCode::kUnimplemented);
    if (world > 1) {
      for (CollectiveOp op : {CollectiveOp::kAllGather, CollectiveOp::kReduceScatter,
                              CollectiveOp::kAllToAll}) {
        absl::StatusOr<CollectiveRun> run = b.RunCollective(op, world * 100 + 1, DType::kFp32, {});
        EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
      }
    }
    // The communicator is still usable after refused calls.
    absl::StatusOr<CollectiveRun> run = b.RunCollective(CollectiveOp::kAllReduce, 1024, DType::kFp32, {});
    ASSERT_TRUE(run.ok()) << "rank " << rank << ": " << run.status();
    EXPECT_EQ(run->wrong_elements, 0);
  });
}

TEST(CudaCollectiveTest, CountNotDivisibleIsInvalidArgument) {
  SKIP_WITHOUT_GPU();
  if (GpuCount() < 2) GTEST_SKIP() << "needs 2 GPUs (every count divides world size 1)";
  // Covered in BadInputIsRefusedOnEveryRank; kept separate so that a 1-GPU
  // run says plainly that this case was not exercised.
  SUCCEED();
}

TEST(CudaCollectiveTest, MissingPeerGivesDeadlineExceededNotAHang) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Store> store = NewInMemoryStore();
  BackendOptions o;
  o.rank = 0;
  o.world_size = 2;  // rank 1 never comes
  o.store = store.get();
  o.store_prefix = "missing-peer";
  o.timeout = milliseconds(3000);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<Backend>> backend = NewCudaBackend(o);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kDeadlineExceeded) << backend.status();
  EXPECT_LT(elapsed, std::chrono::seconds(30));

  // A rank whose rank 0 never publishes the unique id times out too.
  o.rank = 1;
  o.store_prefix = "missing-root";
  backend = NewCudaBackend(o);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kDeadlineExceeded) << backend.status();
}

// ---- Energy ----

TEST(CudaEnergyTest, EnergyGrowsOrIsUnimplemented) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Backend> b = MakeBackend();
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->RunGemm({4096, 4096, 4096, DType::kBf16}, {2, 20}).ok());
  absl::StatusOr<double> joules = b->EnergyJoules();
  if (!joules.ok()) {
    EXPECT_EQ(joules.status().code(), absl::StatusCode::kUnimplemented) << joules.status();
    GTEST_SKIP() << joules.status();
  }
  EXPECT_GE(*joules, 0.0);
}

// ---- Stop on request (BackendOptions::stop) ----

// Every rank's run is under way when the stop comes (StopWhenRunning), and
// ends Aborted soon after it: what is queued drains in about a second.
void ExpectStopped(const absl::Status& status, const StopWhenRunning& stop, int rank) {
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << "rank " << rank << ": " << status;
  EXPECT_NE(status.message().find("stopped on request"), std::string::npos) << status;
  EXPECT_LT(stop.SinceSent(), std::chrono::seconds(10)) << "rank " << rank;
}

TEST(CudaStopTest, GemmStopsWhenAsked) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  StopWhenRunning stop(world, milliseconds(500));
  RunRanks(world, "stop-gemm", [&](int rank, Backend& b) {
    stop.Begin();
    // 20000 calls of ~1.4 ms (8192^3 bf16 on an H100-class GPU): ~30 s unless stopped.
    ExpectStopped(b.RunGemm({8192, 8192, 8192, DType::kBf16}, {0, 20000}).status(), stop, rank);
  }, stop.flag());
}

TEST(CudaStopTest, CollectiveStopsWhenAskedAndAbortsItsCommunicator) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  StopWhenRunning stop(world, milliseconds(500));
  RunRanks(world, "stop-collective", [&](int rank, Backend& b) {
    stop.Begin();
    // 20000 all-reduces of 1 GiB of bf16: ~1 ms or more each, unless stopped.
    ExpectStopped(b.RunCollective(CollectiveOp::kAllReduce, int64_t{1} << 29, DType::kBf16, {0, 20000})
                      .status(),
                  stop, rank);
  }, stop.flag());
}

TEST(CudaStopTest, StepStopsWhenAsked) {
  SKIP_WITHOUT_GPU();
  const int world = GpuCount();
  StopWhenRunning stop(world, milliseconds(500));
  RunRanks(world, "stop-step", [&](int rank, Backend& b) {
    StepProgram p;
    p.dtype = DType::kBf16;
    p.collective_dtype = DType::kBf16;
    p.groups = {{}};
    for (int r = 0; r < world; ++r) p.groups[0].push_back(r);
    p.ops = {Gemm(8192, 8192, 8192), Collective(CollectiveOp::kAllReduce, int64_t{world} << 24, 0)};
    stop.Begin();
    ExpectStopped(b.RunStep(p, {0, 20000}).status(), stop, rank);
  }, stop.flag());
}

}  // namespace
}  // namespace tokenmeter::kernels
