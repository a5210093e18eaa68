// Host-callable launchers for the backend's own CUDA kernels (the .cu files
// beside this header): random operands for GEMMs, the reference GEMM check,
// and the input pattern and output check of collectives. Plain C++17 with
// GPU runtime types only (gpu_runtime.h), so nvcc, hipcc and the host
// compiler all read it.
// Every launcher enqueues on `stream` and returns the launch error (kernel
// faults surface at the next synchronisation).
#ifndef TOKENMETER_KERNELS_CUDA_DEVICE_KERNELS_H_
#define TOKENMETER_KERNELS_CUDA_DEVICE_KERNELS_H_

#include "kernels/cuda/gpu_runtime.h"

#include <cstdint>

namespace tokenmeter::kernels::cuda {

// Element types the kernels read and write (storage types: tf32 is kF32).
enum class ElemType : int { kF32 = 0, kF16 = 1, kBf16 = 2, kFp8E4M3 = 3 };

// Fills data[0, count) with values uniform in [-1, 1), rounded to `type`
// (and, when round_to_tf32, further to tf32's 10 mantissa bits), from a
// counter-based hash of (seed, index): fresh data for every seed, no curand.
cudaError_t LaunchFillUniform(void* data, ElemType type, int64_t count, uint64_t seed,
                              bool round_to_tf32, cudaStream_t stream);

// Parameters of the one-time GEMM check (see reference_gemm.cu for the
// layout and the tolerance model).
struct GemmCheckParams {
  int64_t m = 0, n = 0, k = 0;
  ElemType in_type = ElemType::kF32;   // A and B
  ElemType out_type = ElemType::kF32;  // C
  // tol(i,j) = out_rel * |ref| + sum_rel * sum_p |a_ip * b_pj| + abs_floor.
  double out_rel = 0;
  double sum_rel = 0;
  double abs_floor = 0;
  // Elements checked: all of C when m*n <= max_checked, else about
  // max_checked of them: 32×32 tiles at positions hashed from `seed`.
  int64_t max_checked = 0;
  uint64_t seed = 0;
};

// Device-side result of the check: written by LaunchGemmCheck.
struct GemmCheckResult {
  unsigned long long checked;  // elements compared
  unsigned long long wrong;    // elements over tolerance (or not finite)
  unsigned int max_error_bits; // float bits of max |got-ref|/tol (non-negative)
};

// Recomputes the sampled elements of C = A·B (A m×k stored row-major with
// leading dimension k, B k×n column-major with leading dimension k, C m×n
// column-major with leading dimension m) in fp32 from the same A and B, and
// compares them with `c`. `result` is device memory, zeroed by the launcher.
cudaError_t LaunchGemmCheck(const void* a, const void* b, const void* c,
                            const GemmCheckParams& params, GemmCheckResult* result,
                            cudaStream_t stream);

// Collective ops as the check kernels know them (mirrors kernels::CollectiveOp).
enum class CollKind : int { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kBroadcast, kReduce };

// The pattern every rank writes and the formula its outputs must meet.
// Reducing ops (all-reduce, reduce-scatter, reduce) use
//   x(r, i) = (r + 3 i) mod (reduce_max + 1)   — small integers whose sums
// over the ranks stay exact in the dtype (caller picks reduce_max so that
// world_size * reduce_max <= 2^mantissa bits); data-moving ops use
//   y(r, i) = (37 r + i) mod 199               — exact in fp32/fp16/bf16.
struct CollectivePattern {
  CollKind op = CollKind::kAllReduce;
  ElemType type = ElemType::kF32;
  int rank = 0;
  int world_size = 1;
  int root = 0;
  int64_t count = 0;  // nccl-tests S in elements (see kernels/backend.h)
  int reduce_max = 1;
};

// Writes this rank's input: `in_count` elements.
cudaError_t LaunchCollectiveFill(void* input, int64_t in_count, const CollectivePattern& p,
                                 cudaStream_t stream);

// Compares all `out_count` output elements with the formula; adds the number
// of mismatches to *wrong (device memory; the caller zeroes it, so that the
// mismatches of several calls add up).
cudaError_t LaunchCollectiveCheck(const void* output, int64_t out_count,
                                  const CollectivePattern& p, unsigned long long* wrong,
                                  cudaStream_t stream);

// y[i] = alpha * x[i] + y[i] for i in [0, count), computed in fp32 and
// stored in `type`: the training step's bandwidth-bound pass (3 accesses of
// an element per index). Vectorised to 16-byte accesses; x and y must be
// 16-byte aligned (cudaMalloc's are).
cudaError_t LaunchAxpy(ElemType type, int64_t count, float alpha, const void* x, void* y,
                       cudaStream_t stream);

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_DEVICE_KERNELS_H_
