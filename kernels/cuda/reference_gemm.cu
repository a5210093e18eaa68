// The one-time GEMM check: a naive, obviously-correct reference computed from
// the very operands cuBLASLt read, compared element by element.
//
// Layout (the backend's convention, see cuda_gemm.h): column-major with
// op(A) = T, i.e. A is m×k with each row contiguous (A[i,p] = a[i*k + p]),
// B is k×n with each column contiguous (B[p,j] = b[j*k + p]), and C is m×n
// column-major (C[i,j] = c[j*m + i]).
//
// Each thread computes one checked element: ref = Σ_p a·b accumulated in
// double (so the reference's own error is negligible; fp64 products of
// fp32-representable values are exact) and S = Σ_p |a·b|,
// then tests |got − ref| <= tol = out_rel·|ref| + sum_rel·S + abs_floor.
// The host picks out_rel/sum_rel per dtype (cuda_gemm.cc explains why).
#include <cfloat>

#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/elem_access.cuh"

namespace tokenmeter::kernels::cuda {
namespace {

constexpr int kTile = 32;  // a block checks a 32×32 tile of C with 32×32 threads

// Block (bx) checks tile bx: the whole of C tile by tile when `full`, else a
// tile at a hashed position. Threads stage 32 rows of A and 32 columns of B
// through shared memory, 32 values of k at a time, with coalesced loads
// (both operands are K-contiguous), so every operand byte is read once per
// tile rather than once per element.
template <ElemType In, ElemType Out>
__global__ void __launch_bounds__(kTile * kTile) GemmCheckKernel(const typename Elem<In>::type* a, const typename Elem<In>::type* b,
                                const typename Elem<Out>::type* c, GemmCheckParams p, bool full,
                                int64_t tiles_m, GemmCheckResult* result) {
  __shared__ float as[kTile][kTile + 1];  // +1: no bank conflicts on column reads
  __shared__ float bs[kTile][kTile + 1];
  const int64_t tile = blockIdx.x;
  int64_t r0, c0;
  if (full) {
    r0 = (tile % tiles_m) * kTile;
    c0 = (tile / tiles_m) * kTile;
  } else {
    const uint64_t hr = Mix64(p.seed ^ (2 * static_cast<uint64_t>(tile) + 1));
    const uint64_t hc = Mix64(p.seed ^ (2 * static_cast<uint64_t>(tile) + 2));
    r0 = p.m > kTile ? static_cast<int64_t>(hr % static_cast<uint64_t>(p.m - kTile + 1)) : 0;
    c0 = p.n > kTile ? static_cast<int64_t>(hc % static_cast<uint64_t>(p.n - kTile + 1)) : 0;
  }
  const int tx = threadIdx.x;  // row within the tile (and k within a chunk when loading)
  const int ty = threadIdx.y;  // column within the tile (and row/column when loading)
  const int64_t i = r0 + tx;
  const int64_t j = c0 + ty;
  double ref = 0.0;
  double sum_abs = 0.0;
  for (int64_t k0 = 0; k0 < p.k; k0 += kTile) {
    const int64_t kk = k0 + tx;
    const int64_t load_row = r0 + ty;
    const int64_t load_col = c0 + ty;
    as[ty][tx] = (load_row < p.m && kk < p.k) ? Elem<In>::Load(a, load_row * p.k + kk) : 0.0f;
    bs[ty][tx] = (load_col < p.n && kk < p.k) ? Elem<In>::Load(b, load_col * p.k + kk) : 0.0f;
    __syncthreads();
    for (int q = 0; q < kTile; ++q) {
      const double prod = static_cast<double>(as[tx][q]) * static_cast<double>(bs[ty][q]);
      ref += prod;
      sum_abs += fabs(prod);
    }
    __syncthreads();
  }
  float err = 0.0f;
  unsigned int wrong = 0;
  const bool active = i < p.m && j < p.n;
  if (active) {
    const double got = static_cast<double>(Elem<Out>::Load(c, j * p.m + i));
    const double tol = p.out_rel * fabs(ref) + p.sum_rel * sum_abs + p.abs_floor;
    const double e = fabs(got - ref) / tol;
    if (!isfinite(got) || !(e <= 1.0)) wrong = 1;
    // Non-finite or huge errors are reported as +inf (still orders as max).
    err = (isfinite(e) && e < static_cast<double>(FLT_MAX)) ? static_cast<float>(e) : INFINITY;
  }
  // Reduce in the warp first: one atomic per warp, not per element.
  // Over the 32 lanes of one tile column (tx): offsets below 32 stay inside
  // them on 32-lane warps and 64-lane wavefronts alike (gpu_runtime.h).
  unsigned int active_lanes = active ? 1u : 0u;
  for (int offset = 16; offset > 0; offset >>= 1) {
    err = fmaxf(err, TM_SHFL_XOR(err, offset));
    wrong += TM_SHFL_XOR(wrong, offset);
    active_lanes += TM_SHFL_XOR(active_lanes, offset);
  }
  if (tx == 0 && active_lanes > 0) {
    atomicAdd(&result->checked, static_cast<unsigned long long>(active_lanes));
    if (wrong > 0) atomicAdd(&result->wrong, static_cast<unsigned long long>(wrong));
    // Non-negative floats order like their bit patterns.
    atomicMax(&result->max_error_bits, __float_as_uint(err));
  }
}

template <ElemType In, ElemType Out>
cudaError_t Launch(const void* a, const void* b, const void* c, const GemmCheckParams& p,
                   GemmCheckResult* result, cudaStream_t stream) {
  const int64_t tiles_m = (p.m + kTile - 1) / kTile;
  const int64_t tiles_n = (p.n + kTile - 1) / kTile;
  const bool full = p.m * p.n <= p.max_checked;
  const int64_t tiles = full ? tiles_m * tiles_n : (p.max_checked + kTile * kTile - 1) / (kTile * kTile);
  if (tiles > 0x7FFFFFFF) return cudaErrorInvalidValue;
  GemmCheckKernel<In, Out><<<static_cast<unsigned int>(tiles), dim3(kTile, kTile), 0, stream>>>(
      static_cast<const typename Elem<In>::type*>(a), static_cast<const typename Elem<In>::type*>(b),
      static_cast<const typename Elem<Out>::type*>(c), p, full, tiles_m, result);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchGemmCheck(const void* a, const void* b, const void* c,
                            const GemmCheckParams& params, GemmCheckResult* result,
                            cudaStream_t stream) {
  if (params.m <= 0 || params.n <= 0 || params.k <= 0 || params.max_checked <= 0) {
    return cudaErrorInvalidValue;
  }
  if (cudaError_t e = cudaMemsetAsync(result, 0, sizeof(GemmCheckResult), stream);
      e != cudaSuccess) {
    return e;
  }
  using E = ElemType;
  if (params.in_type == E::kF32 && params.out_type == E::kF32) {
    return Launch<E::kF32, E::kF32>(a, b, c, params, result, stream);
  }
  if (params.in_type == E::kF16 && params.out_type == E::kF16) {
    return Launch<E::kF16, E::kF16>(a, b, c, params, result, stream);
  }
  if (params.in_type == E::kBf16 && params.out_type == E::kBf16) {
    return Launch<E::kBf16, E::kBf16>(a, b, c, params, result, stream);
  }
#if TOKENMETER_GPU_FP8
  if (params.in_type == E::kFp8E4M3 && params.out_type == E::kBf16) {
    return Launch<E::kFp8E4M3, E::kBf16>(a, b, c, params, result, stream);
  }
#endif
  return cudaErrorInvalidValue;  // a combination the backend never runs
}

}  // namespace tokenmeter::kernels::cuda
