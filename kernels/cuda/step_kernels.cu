// The training step's elementwise pass: y = a·x + y, bandwidth-bound. Each
// thread moves 16 bytes of x and of y per access (a vector of 4 fp32 or 8
// fp16/bf16), with a scalar tail, so that the pass runs near the memory
// system's bandwidth like the fused elementwise kernels of a real step.
#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/elem_access.cuh"

namespace tokenmeter::kernels::cuda {
namespace {

template <ElemType T>
__global__ void AxpyKernel(int64_t count, float alpha, const typename Elem<T>::type* x,
                           typename Elem<T>::type* y) {
  using E = typename Elem<T>::type;
  constexpr int kPerVec = static_cast<int>(sizeof(uint4) / sizeof(E));
  const int64_t vecs = count / kPerVec;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const uint4* xv = reinterpret_cast<const uint4*>(x);
  uint4* yv = reinterpret_cast<uint4*>(y);
  for (int64_t v = first; v < vecs; v += stride) {
    uint4 xs = xv[v];
    uint4 ys = yv[v];
    const E* xe = reinterpret_cast<const E*>(&xs);
    E* ye = reinterpret_cast<E*>(&ys);
#pragma unroll
    for (int e = 0; e < kPerVec; ++e) {
      Elem<T>::Store(ye, e, alpha * Elem<T>::Load(xe, e) + Elem<T>::Load(ye, e));
    }
    yv[v] = ys;
  }
  for (int64_t i = vecs * kPerVec + first; i < count; i += stride) {
    Elem<T>::Store(y, i, alpha * Elem<T>::Load(x, i) + Elem<T>::Load(y, i));
  }
}

}  // namespace

cudaError_t LaunchAxpy(ElemType type, int64_t count, float alpha, const void* x, void* y,
                       cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  constexpr int kBlock = 256;
  return DispatchElem(type, [&](auto tag) {
    constexpr ElemType T = decltype(tag)::value;
    using E = typename Elem<T>::type;
    const int64_t per_vec = static_cast<int64_t>(sizeof(uint4) / sizeof(E));
    const int64_t vecs = count / per_vec;
    AxpyKernel<T><<<GridFor(vecs > 0 ? vecs : count, kBlock), kBlock, 0, stream>>>(
        count, alpha, static_cast<const E*>(x), static_cast<E*>(y));
    return cudaGetLastError();
  });
}

}  // namespace tokenmeter::kernels::cuda
