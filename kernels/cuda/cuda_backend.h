// The "cuda" backend: GEMM through cuBLASLt, collectives through NCCL (the
// unique id exchanged through kernels::Store), timing with CUDA events, power
// and energy through NVML loaded at run time.
#ifndef TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_
#define TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace tokenmeter::kernels {

// See Backend::Create. Unavailable when no GPU or driver is present.
absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(const BackendOptions& options);

// The GPUs the CUDA runtime sees; an empty list (not an error) without a
// driver or GPU.
absl::StatusOr<std::vector<DeviceDescription>> ListCudaDevices();

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_
