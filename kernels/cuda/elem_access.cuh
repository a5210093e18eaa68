// Device helpers shared by the backend's .cu files: load/store of every
// storage type through float, and a counter-based hash for reproducible
// pseudo-random values without curand.
#ifndef TOKENMETER_KERNELS_CUDA_ELEM_ACCESS_CUH_
#define TOKENMETER_KERNELS_CUDA_ELEM_ACCESS_CUH_

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/gpu_runtime.h"

namespace tokenmeter::kernels::cuda {

// splitmix64's finaliser: a good 64-bit mix, enough for test data.
__host__ __device__ inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

template <ElemType T>
struct Elem;
template <>
struct Elem<ElemType::kF32> {
  using type = float;
  __device__ static float Load(const float* p, int64_t i) { return p[i]; }
  __device__ static void Store(float* p, int64_t i, float v) { p[i] = v; }
};
template <>
struct Elem<ElemType::kF16> {
  using type = __half;
  __device__ static float Load(const __half* p, int64_t i) { return __half2float(p[i]); }
  __device__ static void Store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
};
template <>
struct Elem<ElemType::kBf16> {
  using type = __nv_bfloat16;
  __device__ static float Load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
  __device__ static void Store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
};
#if TOKENMETER_GPU_FP8
template <>
struct Elem<ElemType::kFp8E4M3> {
  using type = __nv_fp8_e4m3;
  __device__ static float Load(const __nv_fp8_e4m3* p, int64_t i) { return static_cast<float>(p[i]); }
  // Round-to-nearest with saturation to the finite range (±448).
  __device__ static void Store(__nv_fp8_e4m3* p, int64_t i, float v) { p[i] = __nv_fp8_e4m3(v); }
};
#endif

template <ElemType T>
using ElemTag = std::integral_constant<ElemType, T>;

// Calls f(ElemTag<T>{}) for the runtime type `t` (CUDA C++ is C++17 here:
// no template lambdas, so the type travels as a tag).
template <typename F>
inline cudaError_t DispatchElem(ElemType t, F&& f) {
  switch (t) {
    case ElemType::kF32: return f(ElemTag<ElemType::kF32>{});
    case ElemType::kF16: return f(ElemTag<ElemType::kF16>{});
    case ElemType::kBf16: return f(ElemTag<ElemType::kBf16>{});
    case ElemType::kFp8E4M3:
#if TOKENMETER_GPU_FP8
      return f(ElemTag<ElemType::kFp8E4M3>{});
#else
      break;  // no OCP e4m3 on this runtime (gpu_runtime.h)
#endif
  }
  return cudaErrorInvalidValue;
}

// A grid that covers `count` with grid-stride loops without oversubscribing.
inline unsigned int GridFor(int64_t count, int block) {
  int64_t blocks = (count + block - 1) / block;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned int>(blocks);
}

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_ELEM_ACCESS_CUH_
