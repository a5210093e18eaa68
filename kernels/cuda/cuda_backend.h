// The "cuda" backend: GEMM through cuBLASLt, collectives through NCCL (the
// unique id exchanged through kernels::Store), timing with CUDA events, power
// and energy through NVML loaded at run time.
#ifndef TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_
#define TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_

#include <memory>
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
// with options.uuid, read once here to check the driver reports it.
// Unimplemented naming the reason without NVML or when the GPU does not
// report power; NotFound when NVML does not know the UUID. Needs no CUDA
// context.
absl::StatusOr<std::unique_ptr<PowerSource>> OpenCudaPowerSource(const PowerSourceOptions& options);

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_CUDA_CUDA_BACKEND_H_
