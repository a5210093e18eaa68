// The fp32 GEMM checker (kernels/cpu/gemm_check.h) and the host probes
// (kernels/cpu/cpu_info.h), tested directly.
#include "kernels/cpu/gemm_check.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_info.h"

namespace tokenmeter::kernels::cpu {
namespace {

struct Matrices {
  int64_t m, n, k;
  std::vector<float> a, b, c;
};

float Bf16Round(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
  std::memcpy(&x, &bits, sizeof(bits));
  return x;
}

// C computed in fp32 by a plain loop (a correct, if slow, GEMM); with
// `bf16_inputs`, the operands are rounded to bf16 first, as a kernel
// silently running in lower precision would.
Matrices Multiply(int64_t m, int64_t n, int64_t k, bool bf16_inputs = false) {
  Matrices x{m, n, k, std::vector<float>(m * k), std::vector<float>(k * n),
             std::vector<float>(m * n)};
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (float& v : x.a) v = uniform(rng);
  for (float& v : x.b) v = uniform(rng);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        float a = x.a[i * k + p], b = x.b[p * n + j];
        if (bf16_inputs) a = Bf16Round(a), b = Bf16Round(b);
        sum += a * b;
      }
      x.c[i * n + j] = sum;
    }
  }
  return x;
}

GemmCheckResult Check(const Matrices& x, const GemmCheckOptions& options = {}) {
  return CheckFp32Gemm(x.a.data(), x.b.data(), x.c.data(), x.m, x.n, x.k, options);
}

TEST(GemmCheckTest, CorrectFp32ResultPasses) {
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {3, 5, 7}, {64, 64, 512}, {100, 90, 1000}}) {
    Matrices x = Multiply(m, n, k);
    GemmCheckResult result = Check(x);
    EXPECT_EQ(result.wrong_elements, 0) << m << "x" << n << "x" << k;
    EXPECT_LE(result.max_error, 1.0);
    // Every element for shapes up to 64×64, a 64×64 sample beyond.
    EXPECT_EQ(result.checked_elements, std::min<int64_t>(m, 64) * std::min<int64_t>(n, 64));
  }
}

TEST(GemmCheckTest, OneCorruptedElementIsCaught) {
  Matrices x = Multiply(40, 30, 200);
  x.c[17 * 30 + 11] += 1e-2f;  // far below 1% of a typical |C| (~5)
  GemmCheckResult result = Check(x);
  EXPECT_EQ(result.wrong_elements, 1);
  EXPECT_GT(result.max_error, 1.0);
}

TEST(GemmCheckTest, MissingOneTermOfTheSumIsCaught) {
  Matrices x = Multiply(16, 16, 256);
  // As if a kernel dropped the last k step for one element.
  x.c[5 * 16 + 9] -= x.a[5 * 256 + 255] * x.b[255 * 16 + 9];
  GemmCheckResult result = Check(x);
  EXPECT_EQ(result.wrong_elements, 1);
}

TEST(GemmCheckTest, NanIsWrong) {
  Matrices x = Multiply(8, 8, 8);
  x.c[0] = std::numeric_limits<float>::quiet_NaN();
  GemmCheckResult result = Check(x);
  EXPECT_EQ(result.wrong_elements, 1);
  EXPECT_TRUE(std::isinf(result.max_error));
}

TEST(GemmCheckTest, LastRowAndColumnAreAlwaysSampled) {
  Matrices x = Multiply(300, 200, 16);
  x.c[299 * 200 + 199] = 1e6f;  // the bottom-right corner, where edge tiles live
  for (uint64_t seed : {1u, 2u, 3u}) {
    GemmCheckOptions options;
    options.seed = seed;
    GemmCheckResult result = Check(x, options);
    EXPECT_EQ(result.checked_elements, 64 * 64);
    EXPECT_EQ(result.wrong_elements, 1) << "seed " << seed;
  }
}

TEST(GemmCheckTest, LowerPrecisionArithmeticIsCaught) {
  Matrices x = Multiply(32, 32, 1024, /*bf16_inputs=*/true);
  GemmCheckResult result = Check(x);
  EXPECT_GT(result.wrong_elements, 32 * 32 / 2);
  EXPECT_GT(result.max_error, 10.0);
}

TEST(GemmCheckTest, ToleranceGrowsWithSqrtK) {
  EXPECT_DOUBLE_EQ(Fp32GemmTolerance(100, 1.0), (10.0 * 10 + 1) * 0x1p-24);
  EXPECT_NEAR(Fp32GemmTolerance(10000, 2.0) / Fp32GemmTolerance(100, 2.0), 1001.0 / 101.0, 1e-12);
  EXPECT_EQ(Fp32GemmTolerance(64, 0.0), 0.0);
}

TEST(CpuInfoTest, ParsesCpuinfoAndMeminfo) {
  EXPECT_EQ(ParseCpuModelName("processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core\nflags\t: x\n"),
            "AMD EPYC 9R14 96-Core");
  EXPECT_EQ(ParseCpuModelName("processor : 0\nHardware : foo\n"), std::nullopt);
  const std::string meminfo = "MemTotal:       24683656 kB\nMemAvailable:   1000 kB\n";
  EXPECT_EQ(ParseMeminfoBytes(meminfo, "MemTotal"), int64_t{24683656} * 1024);
  EXPECT_EQ(ParseMeminfoBytes(meminfo, "MemAvailable"), 1024000);
  EXPECT_EQ(ParseMeminfoBytes(meminfo, "MemFree"), std::nullopt);
  EXPECT_EQ(ParseMeminfoBytes("MemTotal: lots kB\n", "MemTotal"), std::nullopt);
}

TEST(CpuInfoTest, HostProbesAreSane) {
  EXPECT_FALSE(CpuModelName().empty());
  EXPECT_GT(HostMemoryTotalBytes(), 0);
  EXPECT_GT(HostMemoryAvailableBytes(), 0);
  EXPECT_LE(HostMemoryAvailableBytes(), HostMemoryTotalBytes());
  EXPECT_GE(HostCores(), 1);
  EXPECT_FALSE(HostName().empty());
}

}  // namespace
}  // namespace tokenmeter::kernels::cpu
