// The cpu backend's elementwise pass (kernels/cpu/eager_pass.h): what it
// computes, that a fresh tensor really costs the kernel a fault per page, the
// allocator threshold's boundary, and a step that uses both.
#include "kernels/cpu/eager_pass.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/support/step_ops.h"

namespace tokenmeter::kernels::cpu {
namespace {

std::vector<float> Ramp(int64_t n, float from, float step) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = from + step * static_cast<float>(i % 997);
  return v;
}

TEST(EagerPassTest, ComputesItsFormulaOutOfPlace) {
  constexpr int64_t n = 10007;  // not a multiple of any vector width
  const std::vector<float> x = Ramp(n, -1.0f, 0.002f), y = Ramp(n, 0.5f, -0.001f);
  const std::vector<float> x_before = x, y_before = y;
  std::vector<float> z(n, 0.0f);
  RunEagerPass(ElementwiseMath::kMemory, x.data(), y.data(), z.data(), n, 0.5f);
  for (int64_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(z[i], 0.5f * x[i] + y[i]) << i;
  RunEagerPass(ElementwiseMath::kExp, x.data(), y.data(), z.data(), n, 0.5f);
  for (int64_t i = 0; i < n; ++i) {
    // libmvec's expf is within 4 ulp; a relative bound well above that.
    const double want = std::exp(0.5 * x[i]) + y[i];
    ASSERT_NEAR(z[i], want, 1e-5 * std::fabs(want) + 1e-6) << i;
  }
  EXPECT_EQ(x, x_before);  // inputs untouched: the output is a tensor of its own
  EXPECT_EQ(y, y_before);

  // In place (z = y): y becomes the formula over its old value.
  std::vector<float> updated = y;
  RunEagerPass(ElementwiseMath::kMemory, x.data(), updated.data(), updated.data(), n, 0.5f);
  for (int64_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(updated[i], 0.5f * x[i] + y[i]) << i;
}

long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

// The cost the fresh mapping stands for is the kernel's: at least one minor
// fault per page of every tensor, every time.
TEST(EagerPassTest, FreshTensorsFaultInEveryPageEachTime) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  const int64_t bytes = kFreshMappingBytes;
  const int64_t pages = bytes / page;
  for (int round = 0; round < 2; ++round) {
    const long before = MinorFaults();
    TouchFreshTensors(bytes, 2);
    const long faults = MinorFaults() - before;
    // Transparent huge pages may serve a mapping with fewer faults; where
    // they are off (madvise or never, the Debian default) every page faults.
    EXPECT_GE(faults, 2 * pages / 512) << "round " << round;
    std::FILE* thp = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = {};
    if (thp) {
      std::fgets(mode, sizeof mode, thp);
      std::fclose(thp);
    }
    if (std::string(mode).find("[always]") == std::string::npos) {
      EXPECT_GE(faults, 2 * pages) << "round " << round;
    }
  }
}

TEST(EagerPassTest, OnlyAllocationsAtTheAllocatorsCeilingAreFresh) {
  EXPECT_FALSE(IsFreshMapping(0));
  EXPECT_FALSE(IsFreshMapping(kFreshMappingBytes - 1));
  EXPECT_TRUE(IsFreshMapping(kFreshMappingBytes));  // 1024 × 8192 fp32 logits
  EXPECT_EQ(kFreshMappingBytes, int64_t{32} << 20);
}

// A step of the loss's ops as the eager plan gives them: exponentials and two
// fresh 32 MiB tensors, and the head's GEMM with its fresh logits; the faults
// land in each op's own timed iterations.
TEST(EagerPassTest, AStepMapsItsFreshTensorsInsideTheTimedOp) {
  auto backend = Backend::Create("cpu", BackendOptions{.cpu_threads = 1});
  ASSERT_TRUE(backend.ok()) << backend.status();
  StepOp loss = Elementwise(1 << 20);
  loss.math = ElementwiseMath::kExp;
  loss.new_tensor_bytes = kFreshMappingBytes;
  loss.new_tensors = 2;
  StepOp small = Elementwise(1 << 20);
  small.math = ElementwiseMath::kExp;
  small.new_tensor_bytes = kFreshMappingBytes - 4096;  // reused by the allocator: not mapped
  small.new_tensors = 2;
  StepOp logits = Gemm(16, 16, 16);  // the head's GEMM, its output fresh as the plan lists it
  logits.new_tensor_bytes = kFreshMappingBytes;
  logits.new_tensors = 1;
  StepProgram program;
  program.groups = {{0}};
  program.ops = {loss, small, logits};
  const long before = MinorFaults();
  auto run = (*backend)->RunStep(program, {.warmup = 1, .timed = 3});
  ASSERT_TRUE(run.ok()) << run.status();
  const long pages = kFreshMappingBytes / sysconf(_SC_PAGESIZE);
  EXPECT_GE(MinorFaults() - before, 4 * 3 * pages / 512);
  ASSERT_EQ(run->op_seconds.size(), 3u);
  for (const auto& iteration : run->op_seconds) {
    // Two 32 MiB mappings (16k faults, each zeroing a page) against 1 MiB of
    // traffic: the fresh op is the slower one by far.
    EXPECT_GT(iteration[0], 2 * iteration[1]);
    // A 16³ GEMM takes microseconds; its fresh 32 MiB output, milliseconds.
    EXPECT_GT(iteration[2], iteration[1]);
  }
}

}  // namespace
}  // namespace tokenmeter::kernels::cpu
