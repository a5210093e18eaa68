#include "kernels/cpu/gemm_check.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace tokenmeter::kernels::cpu {
namespace {

constexpr double kFp32UnitRoundoff = 0x1p-24;

// All of [0, extent) when it has at most `limit` entries; otherwise 0,
// extent-1 and limit-2 other distinct indices drawn at random, sorted.
std::vector<int64_t> PickIndices(int64_t extent, int64_t limit, std::mt19937_64& rng) {
  std::vector<int64_t> picked;
  if (extent <= limit || limit < 2) {
    picked.resize(static_cast<size_t>(std::min(extent, std::max<int64_t>(limit, 1))));
    if (extent <= limit) std::iota(picked.begin(), picked.end(), 0);
    return picked;
  }
  picked = {0, extent - 1};
  std::uniform_int_distribution<int64_t> any(1, extent - 2);
  // Rejection keeps them distinct; limit << extent here, so it ends quickly.
  while (static_cast<int64_t>(picked.size()) < limit) {
    int64_t candidate = any(rng);
    if (std::find(picked.begin(), picked.end(), candidate) == picked.end()) picked.push_back(candidate);
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

}  // namespace

double Fp32GemmTolerance(int64_t k, double abs_sum, double lambda) {
  return (lambda * std::sqrt(static_cast<double>(k)) + 1.0) * kFp32UnitRoundoff * abs_sum;
}

int64_t CheckFp32GemmScratchBytes(int64_t n, int64_t k, const GemmCheckOptions& options) {
  return k * std::min(n, std::max<int64_t>(options.max_cols, 1)) * static_cast<int64_t>(sizeof(float));
}

GemmCheckResult CheckFp32Gemm(const float* a, const float* b, const float* c, int64_t m, int64_t n,
                              int64_t k, const GemmCheckOptions& options) {
  std::mt19937_64 rng(options.seed);
  const std::vector<int64_t> rows = PickIndices(m, options.max_rows, rng);
  const std::vector<int64_t> cols = PickIndices(n, options.max_cols, rng);

  // B's picked columns, transposed so the inner loop reads both operands
  // contiguously.
  std::vector<float> bt(static_cast<size_t>(k) * cols.size());
  for (int64_t p = 0; p < k; ++p) {
    for (size_t jc = 0; jc < cols.size(); ++jc) bt[jc * k + p] = b[p * n + cols[jc]];
  }

  GemmCheckResult result;
  for (int64_t i : rows) {
    const float* a_row = a + i * k;
    for (size_t jc = 0; jc < cols.size(); ++jc) {
      const float* b_col = bt.data() + jc * k;
      double ref = 0, abs_sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        double term = static_cast<double>(a_row[p]) * static_cast<double>(b_col[p]);
        ref += term;
        abs_sum += std::fabs(term);
      }
      const double got = c[i * n + cols[jc]];
      const double error = std::fabs(got - ref);
      const double tolerance = Fp32GemmTolerance(k, abs_sum, options.lambda);
      double ratio;
      if (!std::isfinite(got)) {
        ratio = std::numeric_limits<double>::infinity();
      } else if (tolerance > 0) {
        ratio = error / tolerance;
      } else {
        ratio = error == 0 ? 0 : std::numeric_limits<double>::infinity();
      }
      ++result.checked_elements;
      if (!(ratio <= 1.0)) ++result.wrong_elements;
      result.max_error = std::max(result.max_error, ratio);
    }
  }
  return result;
}

}  // namespace tokenmeter::kernels::cpu
