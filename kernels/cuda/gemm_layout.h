// How a GEMM's operands lie in memory, in the terms cuBLASLt takes them in.
// cuBLASLt knows only column-major matrices (rows×cols, ld elements from the
// start of one column to the next) and an op, N or T, per input; a row-major
// product is described to it as its transpose. Pure functions without CUDA,
// so that the layouts are tested on any host (tests/gpu/cuda_gemm_layout_test.cc):
// a wrong leading dimension gives no error on the device, just wrong numbers
// or a different kernel timed.
#ifndef TOKENMETER_KERNELS_CUDA_GEMM_LAYOUT_H_
#define TOKENMETER_KERNELS_CUDA_GEMM_LAYOUT_H_

#include <cstdint>
#include <string>
#include <tuple>

namespace tokenmeter::kernels::cuda {

// How the caller stores A, B and C of C = op(A)·op(B) (m×n, inner size k).
struct GemmStorage {
  // false: the column-major "TN" convention of cuda_gemm.h, which
  // CublasLtGemm::Run uses and reference_gemm.cu checks. true: row-major, as
  // kernels/step.h's StepOp: A stored m×k (k×m with transpose_a), B stored
  // k×n (n×k with transpose_b), C stored m×n.
  bool row_major = false;
  bool transpose_a = false;  // row_major only
  bool transpose_b = false;  // row_major only

  auto Key() const { return std::make_tuple(row_major, transpose_a, transpose_b); }
  friend bool operator==(const GemmStorage& x, const GemmStorage& y) { return x.Key() == y.Key(); }
};

// One matrix as cublasLtMatrixLayoutCreate takes it: column-major rows×cols,
// element (r, c) at r + c·ld.
struct LtMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;
};

// D = op(A)·op(B) as cuBLASLt computes it, with D = C in place.
struct LtGemmLayout {
  bool transa = false;  // CUBLASLT_MATMUL_DESC_TRANSA
  bool transb = false;  // CUBLASLT_MATMUL_DESC_TRANSB
  LtMatrix a, b, c;     // cuBLASLt's A, B and C (= D)
  // cuBLASLt's A is the caller's B and its B the caller's A: the row-major
  // C = op(A)·op(B) is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so the pointers
  // are swapped at the call (CublasLtGemm::Enqueue).
  bool swap_operands = false;

  // "TN", "NN", "NT" or "TT": transa then transb, as cuBLAS names layouts.
  std::string Name() const;
};

// The layout of an m×n×k GEMM stored as `storage` says.
// REQUIRES: m, n, k > 0.
LtGemmLayout LayoutFor(int64_t m, int64_t n, int64_t k, GemmStorage storage);

// Whether cuBLASLt's fp8 kernels on compute capability major.minor take only
// the TN layout (cublasLtMatmul's fp8 requirements): Ada and Hopper (8.9,
// 9.0) and 12.x; 10.x, 11.x and 13+ take any, as Transformer Engine decides
// (nvte_is_non_tn_fp8_gemm_supported).
bool Fp8NeedsTn(int cc_major, int cc_minor);

// The storage an fp8 GEMM runs in. Where cuBLASLt's fp8 takes only TN, a
// row-major GEMM runs as row-major x·Wᵀ (transpose_b only, which is TN), as
// Transformer Engine runs every fp8 GEMM on Hopper: it casts each operand to
// fp8 together with its transpose, so that the GEMM always reads the TN one.
// Elsewhere, and for the column-major convention (TN already), `requested`.
// The operands are the same sizes either way.
GemmStorage Fp8Storage(GemmStorage requested, bool needs_tn);

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_GEMM_LAYOUT_H_
