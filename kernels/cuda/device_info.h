// What the CUDA runtime says about the host's GPUs, as kernels::DeviceDescription.
#ifndef TOKENMETER_KERNELS_CUDA_DEVICE_INFO_H_
#define TOKENMETER_KERNELS_CUDA_DEVICE_INFO_H_

#include <cuda_runtime_api.h>

#include <string>

#include "absl/status/statusor.h"
#include "kernels/types.h"

namespace tokenmeter::kernels::cuda {

// The number of GPUs the runtime sees. Without a driver or GPU the runtime
// returns an error (35, cudaErrorInsufficientDriver, on a driverless host);
// that is reported as Unavailable with the runtime's text.
absl::StatusOr<int> CudaDeviceCount();

// Describes device `index` (0 <= index < CudaDeviceCount()); its driver
// version is NVIDIA's (through NVML) where NVML loads, else the CUDA version.
absl::StatusOr<DeviceDescription> DescribeCudaDevice(int index);

// nvidia-smi's spelling of a device UUID: "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
// Always "GPU-": under MIG the CUDA device is an instance, which nvidia-smi
// and NVML call "MIG-" with the same hex (Nvml::DeviceByCudaUuid tries both).
std::string FormatCudaUuid(const cudaUUID_t& uuid);

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_DEVICE_INFO_H_
