// Random GEMM operands: uniform in [-1, 1), already rounded to the storage
// type, so that the GEMM and the reference read identical values and the
// check only has to allow for accumulation and output rounding.
#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/elem_access.cuh"

namespace tokenmeter::kernels::cuda {
namespace {

template <ElemType T>
__global__ void FillUniformKernel(typename Elem<T>::type* data, int64_t count, uint64_t seed,
                                  bool round_to_tf32) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const uint64_t h = Mix64(seed ^ Mix64(static_cast<uint64_t>(i)));
    // 24 random bits → a float in [-1, 1) exactly representable in fp32.
    float v = static_cast<float>(h >> 40) * (1.0f / 8388608.0f) - 1.0f;
    if (round_to_tf32) {
      // tf32 keeps 10 mantissa bits: clear the low 13 of fp32's 23, so the
      // tensor cores' own tf32 conversion (rounding or truncation) is exact.
      v = __uint_as_float(__float_as_uint(v) & 0xFFFFE000u);
    }
    Elem<T>::Store(data, i, v);
  }
}

}  // namespace

cudaError_t LaunchFillUniform(void* data, ElemType type, int64_t count, uint64_t seed,
                              bool round_to_tf32, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  constexpr int kBlock = 256;
  return DispatchElem(type, [&](auto tag) {
    constexpr ElemType T = decltype(tag)::value;
    FillUniformKernel<T><<<GridFor(count, kBlock), kBlock, 0, stream>>>(
        static_cast<typename Elem<T>::type*>(data), count, seed, round_to_tf32);
    return cudaGetLastError();
  });
}

}  // namespace tokenmeter::kernels::cuda
