#include "kernels/cuda/device_info.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/nvml_loader.h"

namespace tokenmeter::kernels::cuda {

absl::StatusOr<int> CudaDeviceCount() {
  int count = 0;  // left unwritten when the call fails (no driver)
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-less error so later calls start clean
    return absl::UnavailableError(absl::StrCat(cudaGetErrorName(err), ": ", cudaGetErrorString(err)));
  }
  if (count == 0) return absl::UnavailableError("the CUDA runtime sees 0 devices");
  return count;
}

std::string FormatCudaUuid(const cudaUUID_t& uuid) {
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  std::string out = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    absl::StrAppendFormat(&out, "%02x", b[i]);
  }
  return out;
}

absl::StatusOr<DeviceDescription> DescribeCudaDevice(int index) {
  cudaDeviceProp prop{};
  TM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties(device ",
                          index, ")");
  DeviceDescription d;
  d.model = prop.name;
  d.uuid = FormatCudaUuid(prop.uuid);
  d.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  d.compute_units = prop.multiProcessorCount;
  d.compute_capability = absl::StrCat(prop.major, ".", prop.minor);
  // NVIDIA's driver version (nvidia-smi's "Driver Version", "580.65.06")
  // where NVML is present; else the CUDA version the driver supports
  // (13000 → "cuda 13.0").
  if (absl::StatusOr<Nvml*> nvml = Nvml::Get(); nvml.ok()) {
    if (absl::StatusOr<std::string> v = (*nvml)->DriverVersion(); v.ok() && !v->empty()) {
      d.driver_version = *v;
      return d;
    }
  }
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) {
    d.driver_version = absl::StrCat("cuda ", driver / 1000, ".", (driver % 1000) / 10);
  }
  return d;
}

}  // namespace tokenmeter::kernels::cuda

namespace tokenmeter::kernels {

absl::StatusOr<std::vector<DeviceDescription>> ListCudaDevices() {
  std::vector<DeviceDescription> devices;
  absl::StatusOr<int> count = cuda::CudaDeviceCount();
  if (!count.ok()) return devices;  // no driver or GPU: an empty list, not an error
  for (int i = 0; i < *count; ++i) {
    absl::StatusOr<DeviceDescription> d = cuda::DescribeCudaDevice(i);
    if (!d.ok()) return d.status();
    devices.push_back(*std::move(d));
  }
  return devices;
}

}  // namespace tokenmeter::kernels
