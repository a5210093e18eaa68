// The "cpu" backend: OpenBLAS GEMM and Gloo collectives. Multi-rank tests run
// ranks as threads sharing an in-memory store (as Gloo's test/base_test.h).
#include "kernels/cpu/cpu_backend.h"

#include <algorithm>
#include <atomic>
#include <sys/stat.h>
#include <sys/socket.h>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <functional>
#include <latch>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/store.h"
#include "tests/kernels/rank_threads.h"
#include "tests/support/step_ops.h"

namespace tokenmeter::kernels {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr CollectiveOp kAllOps[] = {CollectiveOp::kAllReduce,     CollectiveOp::kAllGather,
                                    CollectiveOp::kReduceScatter, CollectiveOp::kAllToAll,
                                    CollectiveOp::kBroadcast,     CollectiveOp::kReduce};


// Output elements a rank checks, by nccl-tests' count convention.
int64_t ExpectedChecked(CollectiveOp op, int64_t count, int world_size, int rank) {
  switch (op) {
    case CollectiveOp::kReduceScatter:
      return count / world_size;
    case CollectiveOp::kReduce:
      return rank == 0 ? count : 0;
    default:
      return count;
  }
}

// ---- Device description ----

TEST(CpuBackendTest, ListsTheHostCpu) {
  auto devices = Backend::ListDevices("cpu");
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 1u);
  const DeviceDescription& cpu = devices->front();
  EXPECT_FALSE(cpu.model.empty());
  EXPECT_THAT(cpu.uuid, HasSubstr("-cpu"));
  EXPECT_GT(cpu.memory_bytes, 0);
  EXPECT_GE(cpu.compute_units, 1);
  EXPECT_TRUE(cpu.compute_capability.empty());
  EXPECT_THAT(cpu.driver_version, HasSubstr("OpenBLAS"));
}

TEST(CpuBackendTest, SingleRankNeedsNoStore) {
  BackendOptions options;
  options.cpu_threads = 2;
  auto backend = Backend::Create("cpu", options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->kind(), "cpu");
  EXPECT_EQ((*backend)->device().compute_units, 2);
  EXPECT_EQ((*backend)->world_size(), 1);
  EXPECT_TRUE((*backend)->SupportsGemm(DType::kFp32));
  EXPECT_FALSE((*backend)->SupportsGemm(DType::kBf16));
  EXPECT_TRUE((*backend)->SupportsCollective(CollectiveOp::kAllReduce, DType::kFp32));
  EXPECT_FALSE((*backend)->SupportsCollective(CollectiveOp::kAllReduce, DType::kBf16));
}

TEST(CpuBackendTest, RefusesBadOptions) {
  BackendOptions options;
  options.cpu_threads = -1;
  EXPECT_EQ(NewCpuBackend(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.cpu_threads = 0;
  options.timeout = milliseconds(0);
  EXPECT_EQ(NewCpuBackend(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CpuBackendTest, EnergyIsUnimplementedOrCounts) {
  auto backend = Backend::Create("cpu", BackendOptions{});
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto joules = (*backend)->EnergyJoules();
  if (joules.ok()) {
    EXPECT_GE(*joules, 0.0);
  } else {
    EXPECT_EQ(joules.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(std::string(joules.status().message()), HasSubstr("energy"));
  }
}

// ---- GEMM ----

class CpuGemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendOptions options;
    options.cpu_threads = 2;
    auto created = Backend::Create("cpu", options);
    ASSERT_TRUE(created.ok()) << created.status();
    backend_ = *std::move(created);
  }
  std::unique_ptr<Backend> backend_;
};

TEST_F(CpuGemmTest, SmallShapesAreVerifiedAndTimed) {
  const IterationPlan plan{.warmup = 1, .timed = 3};
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {7, 5, 3}, {64, 64, 64}, {129, 65, 257},
                         {300, 200, 1000}}) {
    auto run = backend_->RunGemm({.m = m, .n = n, .k = k, .dtype = DType::kFp32}, plan);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->verified);
    EXPECT_EQ(run->wrong_elements, 0) << m << "x" << n << "x" << k;
    EXPECT_LE(run->max_error, 1.0);
    ASSERT_EQ(run->iteration_seconds.size(), 3u);
    for (double seconds : run->iteration_seconds) EXPECT_GT(seconds, 0.0);
  }
}

TEST_F(CpuGemmTest, Bf16IsUnimplemented) {
  auto run = backend_->RunGemm({.m = 8, .n = 8, .k = 8, .dtype = DType::kBf16}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("bf16"));
}

TEST_F(CpuGemmTest, NonPositiveSizesNameTheDimension) {
  auto run = backend_->RunGemm({.m = 8, .n = 0, .k = 8}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("n must be positive"));
  run = backend_->RunGemm({.m = 8, .n = 8, .k = -3}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("k must be positive"));
  run = backend_->RunGemm({.m = 0, .n = 8, .k = 8}, {});
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("m must be positive"));
}

TEST_F(CpuGemmTest, AbsurdSizeIsRefusedBeforeAllocating) {
  const auto start = std::chrono::steady_clock::now();
  auto run = backend_->RunGemm({.m = 1 << 20, .n = 1 << 20, .k = 1 << 20}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("bytes"));
  // Filling 12 TiB (or failing to) would take far longer than this.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
}

TEST_F(CpuGemmTest, NegativePlanIsRefused) {
  auto run = backend_->RunGemm({.m = 8, .n = 8, .k = 8}, {.warmup = -1, .timed = 1});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  run = backend_->RunGemm({.m = 8, .n = 8, .k = 8}, {.warmup = 0, .timed = 0});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Collectives, every op × world sizes 1 to 4 ----

struct CollectiveCase {
  CollectiveOp op;
  int world_size;
};

class CpuCollectiveTest : public ::testing::TestWithParam<CollectiveCase> {};

TEST_P(CpuCollectiveTest, EveryOutputElementIsCorrect) {
  const CollectiveOp op = GetParam().op;
  const int n = GetParam().world_size;
  // Divisible by 1 to 4; the larger one spans several of Gloo's 1 MiB
  // segments (and of the ring reduce-scatter's), the odd factor leaves
  // ragged chunks inside the algorithms.
  for (int64_t count : {int64_t{12}, int64_t{12 * 1001}, int64_t{12 * 35001}}) {
    RunRanks(n, [&](int rank, Backend& backend) {
      auto run = backend.RunCollective(op, count, DType::kFp32, {.warmup = 1, .timed = 2});
      ASSERT_TRUE(run.ok()) << "rank " << rank << ": " << run.status();
      // Every call is checked: one warm-up and two timed.
      EXPECT_EQ(run->checked_elements, 3 * ExpectedChecked(op, count, n, rank))
          << "rank " << rank << " count " << count;
      EXPECT_EQ(run->wrong_elements, 0) << "rank " << rank << " count " << count;
      ASSERT_EQ(run->iteration_seconds.size(), 2u);
      for (double seconds : run->iteration_seconds) EXPECT_GT(seconds, 0.0);
    });
  }
}

TEST_P(CpuCollectiveTest, RefusesBadCounts) {
  const CollectiveOp op = GetParam().op;
  const int n = GetParam().world_size;
  RunRanks(n, [&](int rank, Backend& backend) {
    const bool splits = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter ||
                        op == CollectiveOp::kAllToAll;
    auto run = backend.RunCollective(op, 6 * 100 + 1, DType::kFp32, {});
    if (splits && n > 1) {
      EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(run.status().message()), HasSubstr("divisible"));
    }
    EXPECT_EQ(backend.RunCollective(op, 0, DType::kFp32, {}).status().code(),
              absl::StatusCode::kInvalidArgument);
    auto fp16 = backend.RunCollective(op, 12, DType::kFp16, {});
    EXPECT_EQ(fp16.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(std::string(fp16.status().message()),
                HasSubstr(std::string(CollectiveOpName(op)) + " in fp16"));
    // Still usable after refusals: they happen before any communication.
    auto ok = backend.RunCollective(op, 12, DType::kFp32, {.warmup = 0, .timed = 1});
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->wrong_elements, 0);
  });
}

TEST(CpuCollectiveLimitsTest, SizesBeyondMemoryAreRefused) {
  auto backend = Backend::Create("cpu", BackendOptions{});
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto huge = (*backend)->RunCollective(CollectiveOp::kAllReduce, int64_t{1} << 40, DType::kFp32, {});
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("bytes of host memory"));
  auto wide = (*backend)->RunCollective(CollectiveOp::kReduceScatter, int64_t{1} << 40, DType::kFp32, {});
  EXPECT_EQ(wide.status().code(), absl::StatusCode::kResourceExhausted);
}

std::vector<CollectiveCase> AllCases() {
  std::vector<CollectiveCase> cases;
  for (int n : {1, 2, 3, 4}) {
    for (CollectiveOp op : kAllOps) cases.push_back({op, n});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(OpsAndWorldSizes, CpuCollectiveTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<CollectiveCase>& info) {
                           return std::string(CollectiveOpName(info.param.op)) + "_" +
                                  std::to_string(info.param.world_size) + "ranks";
                         });

TEST(CpuCollectiveSequenceTest, AllOpsInTurnOnOneCommunicator) {
  // Every op on the one context, in turn, twice: no op's messages may be
  // taken for another's.
  RunRanks(3, [](int rank, Backend& backend) {
    for (int round = 0; round < 2; ++round) {
      for (CollectiveOp op : kAllOps) {
        auto run = backend.RunCollective(op, 3 * 512, DType::kFp32, {.warmup = 1, .timed = 1});
        ASSERT_TRUE(run.ok()) << CollectiveOpName(op) << " rank " << rank << ": " << run.status();
        EXPECT_EQ(run->wrong_elements, 0) << CollectiveOpName(op);
        EXPECT_EQ(run->checked_elements, 2 * ExpectedChecked(op, 3 * 512, 3, rank));  // both calls
      }
    }
  });
}

// What a size measures must not depend on the sizes measured before it on the
// same connections. Gloo's bound-buffer path (the class API the old
// reduce-scatter used) set a socket's send buffer to the size of any send
// larger than the last one it set, ending the kernel's auto-tuning: a sweep
// measured each size with a buffer its predecessors had left (seen as a
// ~44 ms median at 131072 B after 65536 B, where neighbours took 0.1–0.7 ms).
// The collectives now run only on unbound buffers, which never set it: after
// a whole sweep every connection's buffer is still the kernel's auto-tuned
// one. Read off the process's own TCP sockets.
std::vector<int> TcpSendBuffers() {
  std::vector<int> sizes;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    int type = 0, size = 0;
    socklen_t length = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) continue;
    sockaddr_storage peer;
    socklen_t peer_length = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) continue;  // listening
    length = sizeof(size);
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0) sizes.push_back(size);
  }
  return sizes;
}

TEST(CpuCollectiveSequenceTest, SendBuffersDoNotChangeOverASweep) {
  std::vector<int> after_connect, after_sweep;
  std::latch connected(2), measured(2), read(2);
  RunRanks(2, [&](int rank, Backend& backend) {
    connected.arrive_and_wait();
    if (rank == 0) after_connect = TcpSendBuffers();
    read.arrive_and_wait();
    // The default sweep's range.
    for (int64_t bytes = 8; bytes <= (int64_t{64} << 20); bytes *= 2) {
      for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kReduceScatter}) {
        auto run = backend.RunCollective(op, bytes / 4 < 2 ? 2 : bytes / 4, DType::kFp32,
                                         {.warmup = 0, .timed = 1});
        ASSERT_TRUE(run.ok()) << run.status();
      }
    }
    measured.arrive_and_wait();
    if (rank == 0) after_sweep = TcpSendBuffers();
  });
  // Both ranks' ends of the one pair live in this process.
  ASSERT_EQ(after_connect.size(), 2u);
  ASSERT_EQ(after_sweep.size(), 2u);
  // The kernel's auto-tuning may grow a buffer, up to net.ipv4.tcp_wmem's
  // maximum, and never past it; a SO_SNDBUF set by Gloo is twice the size it
  // asked for (capped by net.core.wmem_max), past that maximum for the large
  // sizes on hosts like this one (the old algorithm left 8 MiB over a 4 MiB
  // maximum).
  std::ifstream wmem("/proc/sys/net/ipv4/tcp_wmem");
  int64_t low = 0, initial = 0, most = 0;
  ASSERT_TRUE(wmem >> low >> initial >> most);
  for (int size : after_sweep) EXPECT_LE(size, most) << "a send buffer set by hand, not auto-tuned";
}

// ---- Failures: bounded, never hanging ----

TEST(CpuBackendFailureTest, PeerThatNeverArrivesFailsCreateWithinTheTimeout) {
  auto store = NewInMemoryStore();
  const auto start = std::chrono::steady_clock::now();
  auto backend = NewCpuBackend(RankOptions(0, 2, store.get(), UniquePrefix(), milliseconds(1000)));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kDeadlineExceeded) << backend.status();
  EXPECT_THAT(std::string(backend.status().message()), HasSubstr("rank 0 of 2"));
  EXPECT_LT(waited, milliseconds(5000));
}

TEST(CpuBackendFailureTest, PeerThatStopsCallingFailsTheCollective) {
  std::latch rank0_done(1);
  RunRanks(
      2,
      [&](int rank, Backend& backend) {
        if (rank == 1) {
          rank0_done.wait();  // alive, connected, but never joins the all-reduce
          return;
        }
        const auto start = std::chrono::steady_clock::now();
        auto run = backend.RunCollective(CollectiveOp::kAllReduce, 1024, DType::kFp32, {});
        const auto waited = std::chrono::steady_clock::now() - start;
        rank0_done.count_down();
        ASSERT_FALSE(run.ok());
        EXPECT_EQ(run.status().code(), absl::StatusCode::kDeadlineExceeded) << run.status();
        EXPECT_THAT(std::string(run.status().message()), HasSubstr("all_reduce"));
        EXPECT_THAT(std::string(run.status().message()), HasSubstr("rank 0 of 2"));
        EXPECT_LT(waited, milliseconds(5000));
        // The communicator is not reused after a failure.
        auto again = backend.RunCollective(CollectiveOp::kAllReduce, 1024, DType::kFp32, {});
        EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
      },
      milliseconds(1000));
}

TEST(CpuBackendFailureTest, PeerThatGoesAwayFailsTheCollective) {
  auto store = NewInMemoryStore();
  const std::string prefix = UniquePrefix();
  std::latch connected(2);
  std::thread peer([&] {
    auto backend = NewCpuBackend(RankOptions(1, 2, store.get(), prefix, milliseconds(1000)));
    ASSERT_TRUE(backend.ok()) << backend.status();
    connected.arrive_and_wait();
    // Destroying the backend closes its connections, as a dying process would.
  });
  auto backend = NewCpuBackend(RankOptions(0, 2, store.get(), prefix, milliseconds(1000)));
  ASSERT_TRUE(backend.ok()) << backend.status();
  connected.arrive_and_wait();
  peer.join();
  const auto start = std::chrono::steady_clock::now();
  auto run = (*backend)->RunCollective(CollectiveOp::kAllReduce, 1 << 16, DType::kFp32, {});
  EXPECT_FALSE(run.ok());
  EXPECT_THAT(run.status().code(), ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                                    absl::StatusCode::kDeadlineExceeded))
      << run.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
}

// ---- Stop on request (BackendOptions::stop): between calls, not at the end ----

BackendOptions StoppableOptions(const std::atomic<bool>* stop) {
  BackendOptions options;
  options.cpu_threads = 1;
  options.stop = stop;
  return options;
}

TEST(CpuBackendStopTest, GemmStopsAtTheNextCall) {
  StopWhenRunning stop(1, milliseconds(300));
  auto backend = Backend::Create("cpu", StoppableOptions(stop.flag()));
  ASSERT_TRUE(backend.ok()) << backend.status();
  stop.Begin();
  // 100000 calls of ~0.7 ms: over a minute unless it stops.
  auto run = (*backend)->RunGemm({256, 256, 256, DType::kFp32}, {.warmup = 0, .timed = 100000});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kAborted) << run.status();
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("stopped on request, before GEMM timed call"));
  EXPECT_LT(stop.SinceSent(), milliseconds(5000));
  // Already set: nothing runs.
  auto again = (*backend)->RunGemm({64, 64, 64, DType::kFp32}, {.warmup = 1, .timed = 1});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAborted) << again.status();
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("GEMM warm-up call 0"));
}

TEST(CpuBackendStopTest, StepStopsAtTheNextIteration) {
  StopWhenRunning stop(1, milliseconds(300));
  auto backend = Backend::Create("cpu", StoppableOptions(stop.flag()));
  ASSERT_TRUE(backend.ok()) << backend.status();
  StepProgram program;
  program.ops = {Gemm(256, 256, 256)};
  stop.Begin();
  auto run = (*backend)->RunStep(program, {.warmup = 0, .timed = 100000});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kAborted) << run.status();
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("stopped on request, before step timed iteration"));
  EXPECT_LT(stop.SinceSent(), milliseconds(5000));
}

TEST(CpuBackendStopTest, CollectiveStopsAtTheNextCall) {
  StopWhenRunning stop(2, milliseconds(300));
  auto store = NewInMemoryStore();
  const std::string prefix = UniquePrefix();
  std::atomic<int> aborted{0};
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ranks.emplace_back([&, rank] {
      BackendOptions options = RankOptions(rank, 2, store.get(), prefix, milliseconds(2000));
      options.stop = stop.flag();
      auto backend = Backend::Create("cpu", options);
      stop.Begin();
      ASSERT_TRUE(backend.ok()) << "rank " << rank << ": " << backend.status();
      // 100000 all-reduces of 1 MiB: minutes unless they stop.
      auto run = (*backend)->RunCollective(CollectiveOp::kAllReduce, 1 << 18, DType::kFp32,
                                           {.warmup = 0, .timed = 100000});
      // A rank that read the flag first leaves its peer inside a call, to
      // fail when the connection closes or at the collective timeout (2 s).
      EXPECT_FALSE(run.ok()) << "rank " << rank;
      if (run.status().code() == absl::StatusCode::kAborted) {
        EXPECT_THAT(std::string(run.status().message()), HasSubstr("stopped on request"));
        ++aborted;
      }
      EXPECT_LT(stop.SinceSent(), milliseconds(8000)) << "rank " << rank;
      // Destroying the backend closes its connections, as the worker does.
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_GE(aborted.load(), 1);
}

}  // namespace
}  // namespace tokenmeter::kernels
