// The "cuda" backend: GEMM through cuBLASLt, collectives through NCCL (the
// unique id exchanged through kernels::Store), timing with CUDA events, power
// and energy through NVML loaded at run time.
#ifndef TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_
#define TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/power.h"

namespace tokenmeter::kernels {

// See Backend::Create. Unavailable when no GPU or driver is present.
absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(const BackendOptions& options);

// The GPUs the CUDA runtime sees; an empty list (not an error) without a
// driver or GPU.
absl::StatusOr<std::vector<DeviceDescription>> ListCudaDevices();

// See Backend::OpenPowerSource: NVML's nvmlDeviceGetPowerUsage of the GPU
// with options.uuid ("GPU-…"; under MIG, the instance "MIG-…" with the same
// bytes), read once here to check the driver reports it. Unimplemented
// naming the reason without NVML or when the GPU does not report power (a
// MIG instance does not: the message says MIG); NotFound when NVML knows
// neither UUID. Needs no CUDA context.
absl::StatusOr<std::unique_ptr<PowerSource>> OpenCudaPowerSource(const PowerSourceOptions& options);

// cuBLASLt's choice for one GEMM problem on a "cuda" backend, for reports
// (tokenmeter_gpu_sweep's): the algorithm RunGemm uses, looked up once per
// shape and dtype and cached.
struct CudaGemmAlgorithm {
  int algo_id = 0;               // CUBLASLT_ALGO_CONFIG_ID
  int split_k = 1;               // CUBLASLT_ALGO_CONFIG_SPLITK_NUM
  std::string reduction_scheme;  // "none", "inplace", "compute_type", "output_type"
  // Whether RunGemm's check allows for split-K partial sums rounded to C's
  // type (split_k > 1 with "inplace" or "output_type").
  bool check_widened = false;
};

// InvalidArgument when `backend` was not made by NewCudaBackend (in this
// binary, not through the plugin); otherwise as RunGemm for a problem it
// refuses. Not thread-safe: the backend's thread, like RunGemm.
absl::StatusOr<CudaGemmAlgorithm> DescribeCudaGemmAlgorithm(Backend& backend,
                                                            const GemmProblem& problem);

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_
