#include "kernels/cuda/gemm_layout.h"

namespace tokenmeter::kernels::cuda {

std::string LtGemmLayout::Name() const {
  return std::string(transa ? "T" : "N") + (transb ? "T" : "N");
}

LtGemmLayout LayoutFor(int64_t m, int64_t n, int64_t k, GemmStorage storage) {
  LtGemmLayout l;
  if (!storage.row_major) {
    // A row-major m×k is a column-major k×m; B's columns and C are
    // column-major already.
    l.transa = true;
    l.a = {k, m, k};
    l.b = {k, n, k};
    l.c = {m, n, m};
    return l;
  }
  // Row-major C (m×n) is column-major Cᵀ (n×m) = op(B)ᵀ·op(A)ᵀ, and a
  // row-major r×c matrix is a column-major c×r one with ld = c.
  l.swap_operands = true;
  l.c = {n, m, n};
  // cuBLASLt's A is op(B)ᵀ, n×k. B stored k×n is it as it lies (N); B stored
  // n×k (transpose_b) lies as its transpose, k×n (T).
  l.transa = storage.transpose_b;
  l.a = storage.transpose_b ? LtMatrix{k, n, k} : LtMatrix{n, k, n};
  // cuBLASLt's B is op(A)ᵀ, k×m: A stored m×k lies as it (N); A stored k×m
  // (transpose_a) lies as its transpose, m×k (T).
  l.transb = storage.transpose_a;
  l.b = storage.transpose_a ? LtMatrix{m, k, m} : LtMatrix{k, m, k};
  return l;
}

bool Fp8NeedsTn(int cc_major, int cc_minor) {
  const int cc = cc_major * 10 + cc_minor;
  return !((cc >= 100 && cc < 120) || cc >= 130);
}

GemmStorage Fp8Storage(GemmStorage requested, bool needs_tn) {
  if (!needs_tn || !requested.row_major) return requested;
  return GemmStorage{.row_major = true, .transpose_a = false, .transpose_b = true};
}

}  // namespace tokenmeter::kernels::cuda
