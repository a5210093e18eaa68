// Checks an fp32 GEMM result against a reference computed in double precision.
//
// Tolerance. Each checked element C[i][j] is compared with ref = Σ_k a_ik·b_kj
// summed in double from the same fp32 operands (so input rounding plays no
// part, and the reference's own error, ~k·2^-53, is negligible). An element
// passes when
//     |C[i][j] - ref| <= (λ·√k + 1) · u · Σ_k |a_ik·b_kj|,   u = 2^-24, λ = 10.
// This is the probabilistic bound of Higham & Mary ("A New Approach to
// Probabilistic Rounding Error Analysis", SIAM J. Sci. Comput. 41(5), 2019)
// for an fp32 inner product of length k in any summation order (blocked,
// FMA, split-k), which holds with probability >= 1 - 2·exp(-λ²/2) ≈ 1 - 4e-22
// per element; the "+1" covers the final rounding of C to fp32. The
// deterministic worst case (k·u) would be sound too but so loose at large k
// that a dropped k-slice would pass; λ·√k·u still catches one missing term of
// random [-1,1) data for k up to ~10^4, and any lower-precision accumulation
// (bf16/fp16/tf32 inputs) by orders of magnitude.
//
// Sampling. Rows and columns are each checked in full when there are at most
// `max_rows` / `max_cols` of them; otherwise the first, the last (edge tiles
// are where blocking bugs live) and random others are picked, and every
// (row, column) pair of the picks is checked — 4096 elements by default, and
// every element for shapes up to 64×64. Picking whole columns lets the
// reference read each B column once, contiguously.
#ifndef TOKENMETER_KERNELS_CPU_GEMM_CHECK_H_
#define TOKENMETER_KERNELS_CPU_GEMM_CHECK_H_

#include <cstdint>

namespace tokenmeter::kernels::cpu {

struct GemmCheckOptions {
  // Most rows / columns of C to check; all of them when the matrix is smaller.
  int64_t max_rows = 64;
  int64_t max_cols = 64;
  // λ of the bound above.
  double lambda = 10.0;
  // Seeds the choice of sampled rows and columns.
  uint64_t seed = 0;
};

struct GemmCheckResult {
  int64_t checked_elements = 0;
  int64_t wrong_elements = 0;   // over the tolerance, or not finite
  double max_error = 0;         // worst |got - ref| / tolerance; <= 1 passes; inf for NaN
};

// The tolerance above for one element whose Σ|a·b| is `abs_sum`.
double Fp32GemmTolerance(int64_t k, double abs_sum, double lambda = 10.0);

// Checks row-major C[m×n] = A[m×k] · B[k×n] (leading dimensions k, n, n).
// REQUIRES: m, n, k > 0; the pointers cover their matrices.
// Allocates k·min(n, max_cols) floats of scratch. Thread-safe.
GemmCheckResult CheckFp32Gemm(const float* a, const float* b, const float* c, int64_t m, int64_t n,
                              int64_t k, const GemmCheckOptions& options = {});

// Bytes of scratch CheckFp32Gemm allocates for this shape.
int64_t CheckFp32GemmScratchBytes(int64_t n, int64_t k, const GemmCheckOptions& options = {});

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_GEMM_CHECK_H_
