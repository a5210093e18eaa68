// Inputs and the every-element output check of the collectives. Values are
// small integers, exact in fp32/fp16/bf16, so the expected output is exact:
// any difference is a wrong element, no tolerance needed.
#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/elem_access.cuh"

namespace tokenmeter::kernels::cuda {
namespace {

// Reducing ops' input value of rank r at index i (see device_kernels.h).
__device__ inline float ReduceValue(int r, int64_t i, int reduce_max) {
  const int64_t period = reduce_max + 1;
  return static_cast<float>((r + 3 * (i % period)) % period);
}

// Data-moving ops' value of rank r at index i.
__device__ inline float MoveValue(int r, int64_t i) {
  return static_cast<float>((37 * static_cast<int64_t>(r) + i) % 199);
}

__device__ inline float InputValue(const CollectivePattern& p, int64_t i) {
  switch (p.op) {
    case CollKind::kAllReduce:
    case CollKind::kReduceScatter:
    case CollKind::kReduce: return ReduceValue(p.rank, i, p.reduce_max);
    default: return MoveValue(p.rank, i);
  }
}

__device__ inline float ExpectedValue(const CollectivePattern& p, int64_t idx) {
  const int64_t chunk = p.count / p.world_size;
  switch (p.op) {
    case CollKind::kAllReduce:
    case CollKind::kReduce:
    case CollKind::kReduceScatter: {
      const int64_t src = p.op == CollKind::kReduceScatter ? p.rank * chunk + idx : idx;
      float sum = 0.0f;  // integers <= 2^mantissa: every partial sum is exact
      for (int q = 0; q < p.world_size; ++q) sum += ReduceValue(q, src, p.reduce_max);
      return sum;
    }
    case CollKind::kAllGather: return MoveValue(static_cast<int>(idx / chunk), idx % chunk);
    case CollKind::kAllToAll:
      return MoveValue(static_cast<int>(idx / chunk), p.rank * chunk + idx % chunk);
    case CollKind::kBroadcast: return MoveValue(p.root, idx);
  }
  return -1.0f;
}

template <ElemType T>
__global__ void FillKernel(typename Elem<T>::type* in, int64_t n, CollectivePattern p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    Elem<T>::Store(in, i, InputValue(p, i));
  }
}

template <ElemType T>
__global__ void CheckKernel(const typename Elem<T>::type* out, int64_t n, CollectivePattern p,
                            unsigned long long* wrong) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  unsigned long long local = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if (Elem<T>::Load(out, i) != ExpectedValue(p, i)) ++local;
  }
  if (local > 0) atomicAdd(wrong, local);
}

}  // namespace

cudaError_t LaunchCollectiveFill(void* input, int64_t in_count, const CollectivePattern& p,
                                 cudaStream_t stream) {
  if (in_count <= 0) return cudaSuccess;
  constexpr int kBlock = 256;
  return DispatchElem(p.type, [&](auto tag) {
    constexpr ElemType T = decltype(tag)::value;
    FillKernel<T><<<GridFor(in_count, kBlock), kBlock, 0, stream>>>(
        static_cast<typename Elem<T>::type*>(input), in_count, p);
    return cudaGetLastError();
  });
}

cudaError_t LaunchCollectiveCheck(const void* output, int64_t out_count,
                                  const CollectivePattern& p, unsigned long long* wrong,
                                  cudaStream_t stream) {
  if (out_count <= 0) return cudaSuccess;
  constexpr int kBlock = 256;
  return DispatchElem(p.type, [&](auto tag) {
    constexpr ElemType T = decltype(tag)::value;
    CheckKernel<T><<<GridFor(out_count, kBlock), kBlock, 0, stream>>>(
        static_cast<const typename Elem<T>::type*>(output), out_count, p, wrong);
    return cudaGetLastError();
  });
}

}  // namespace tokenmeter::kernels::cuda
