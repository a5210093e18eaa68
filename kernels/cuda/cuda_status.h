// Turns CUDA runtime, cuBLAS(Lt) and NCCL error codes into absl::Status with
// the context the caller gives (which call, which op, which shape, which rank),
// so that every failure the cuda backend reports says where it happened.
#ifndef TOKENMETER_KERNELS_CUDA_CUDA_STATUS_H_
#define TOKENMETER_KERNELS_CUDA_CUDA_STATUS_H_

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <string_view>

#include "absl/status/status.h"

namespace tokenmeter::kernels::cuda {

// OkStatus for cudaSuccess. Otherwise a status whose code follows the error
// (cudaErrorMemoryAllocation → ResourceExhausted; no driver/device →
// Unavailable; invalid value → InvalidArgument; else Internal) and whose
// message is "<context>: <cuda error name>: <cuda error string>".
absl::Status CudaStatus(cudaError_t error, const std::string& context);

// OkStatus for CUBLAS_STATUS_SUCCESS; else "<context>: <cublasLt status string>".
absl::Status CublasStatus(cublasStatus_t status, const std::string& context);

// OkStatus for ncclSuccess; else "<context>: <ncclGetErrorString>". NCCL keeps
// a more detailed last-error text per thread; it is appended when present.
absl::Status NcclStatus(ncclResult_t result, const std::string& context);

}  // namespace tokenmeter::kernels::cuda

// Evaluates `expr` (a cudaError_t / cublasStatus_t / ncclResult_t expression)
// and returns the mapped status from the enclosing function when it failed.
// `context` is anything absl::StrCat accepts, evaluated only on failure.
#define TM_CUDA_RETURN_IF_ERROR(expr, ...)                                                       \
  do {                                                                                           \
    cudaError_t tm_cuda_err_ = (expr);                                                           \
    if (tm_cuda_err_ != cudaSuccess) {                                                           \
      return ::tokenmeter::kernels::cuda::CudaStatus(tm_cuda_err_, absl::StrCat(__VA_ARGS__));   \
    }                                                                                            \
  } while (0)

#define TM_CUBLAS_RETURN_IF_ERROR(expr, ...)                                                     \
  do {                                                                                           \
    cublasStatus_t tm_cublas_st_ = (expr);                                                       \
    if (tm_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                                \
      return ::tokenmeter::kernels::cuda::CublasStatus(tm_cublas_st_, absl::StrCat(__VA_ARGS__)); \
    }                                                                                            \
  } while (0)

#endif  // TOKENMETER_KERNELS_CUDA_CUDA_STATUS_H_
