// The GPU runtime as the device kernels (the .cu files beside this header)
// see it, under CUDA (nvcc) or HIP (hipcc, TOKENMETER_HIP defined): the CUDA
// names they use, mapped to HIP's where HIP builds them. The kernels are
// written once, in CUDA's spelling; this header is the whole port. Host code
// including device_kernels.h reads it too (g++ in a CUDA build).
//
// What differs and how it is met:
//   - runtime types and calls: aliases and macros below (cudaError_t →
//     hipError_t, cudaMemsetAsync → hipMemsetAsync, …);
//   - bf16: CUDA's __nv_bfloat16 ↔ HIP 5's hip_bfloat16 (round-to-nearest-
//     even from float, as __float2bfloat16_rn);
//   - fp8: HIP before 6 has none, and ROCm 6's fp8 on MI300 is the FNUZ
//     variant of e4m3 (another bias, no negative zero), not the OCP e4m3 of
//     CUDA's __nv_fp8_e4m3: TOKENMETER_GPU_FP8 is 0 under HIP, and the
//     kernels refuse fp8 there;
//   - warp shuffles: TM_SHFL_XOR (HIP 5 has no _sync shuffles). The kernels
//     reduce over 32 lanes with xor offsets below 32, which stays inside a
//     32-lane group on CUDA's warps and on AMD's 64-lane wavefronts alike,
//     and count lanes the same way rather than with a ballot (a 64-bit mask
//     on AMD).
#ifndef TOKENMETER_KERNELS_CUDA_GPU_RUNTIME_H_
#define TOKENMETER_KERNELS_CUDA_GPU_RUNTIME_H_

#if defined(TOKENMETER_HIP)
#include <hip/hip_runtime.h>
#if defined(__HIPCC__)
#include <hip/hip_bfloat16.h>
#include <hip/hip_fp16.h>
#endif

using cudaError_t = hipError_t;
using cudaStream_t = hipStream_t;
#define cudaSuccess hipSuccess
#define cudaErrorInvalidValue hipErrorInvalidValue
#define cudaGetLastError hipGetLastError
#define cudaMemsetAsync hipMemsetAsync
#define cudaMalloc hipMalloc
#define TOKENMETER_GPU_FP8 0
#if defined(__HIPCC__)
using __nv_bfloat16 = hip_bfloat16;
__device__ inline float __bfloat162float(hip_bfloat16 v) { return static_cast<float>(v); }
__device__ inline hip_bfloat16 __float2bfloat16_rn(float v) { return hip_bfloat16(v); }
#define TM_SHFL_XOR(value, lane_mask) __shfl_xor(value, lane_mask)
#endif

#else  // CUDA
#include <cuda_runtime_api.h>
#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#define TM_SHFL_XOR(value, lane_mask) __shfl_xor_sync(0xFFFFFFFFu, value, lane_mask)
#endif
#define TOKENMETER_GPU_FP8 1
#endif

#endif  // TOKENMETER_KERNELS_CUDA_GPU_RUNTIME_H_
