// NVML (the library behind nvidia-smi) loaded at run time with dlopen, so the
// backend builds without nvml.h (the toolkit here has none) and runs where
// the driver's libnvidia-ml.so.1 is absent — energy is then Unimplemented.
#ifndef TOKENMETER_KERNELS_CUDA_NVML_LOADER_H_
#define TOKENMETER_KERNELS_CUDA_NVML_LOADER_H_

#include <string>

#include "absl/status/statusor.h"

namespace tokenmeter::kernels::cuda {

// One GPU as NVML sees it. Thread-safe (NVML's calls are).
class NvmlDevice {
 public:
  // Energy the GPU has used since the driver loaded, in joules (NVML's
  // nvmlDeviceGetTotalEnergyConsumption, in mJ; Volta and newer).
  absl::StatusOr<double> TotalEnergyJoules() const;
  // Current board power draw in watts (nvmlDeviceGetPowerUsage, in mW).
  absl::StatusOr<double> PowerWatts() const;

 private:
  friend class Nvml;
  explicit NvmlDevice(void* handle) : handle_(handle) {}
  void* handle_;  // nvmlDevice_t
};

// The process-wide NVML: dlopen("libnvidia-ml.so.1") and nvmlInit_v2 happen
// once, on first use; the library stays loaded for the process's life.
class Nvml {
 public:
  // Unimplemented "NVML not available: <why>" when the library or one of the
  // functions used is missing or nvmlInit fails.
  static absl::StatusOr<Nvml*> Get();

  // The device with nvidia-smi's UUID ("GPU-…"): robust to
  // CUDA_VISIBLE_DEVICES reordering, unlike an index. NotFound if unknown.
  absl::StatusOr<NvmlDevice> DeviceByUuid(const std::string& uuid) const;

  // The driver version, as nvidia-smi prints it ("570.124.06").
  absl::StatusOr<std::string> DriverVersion() const;
};

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_NVML_LOADER_H_
