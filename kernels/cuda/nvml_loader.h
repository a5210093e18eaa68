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
  // Whether this is a MIG instance (found as "MIG-…"): NVML reports power
  // and energy for whole GPUs, not for MIG instances.
  bool mig() const { return mig_; }

 private:
  friend class Nvml;
  NvmlDevice(void* handle, bool mig) : handle_(handle), mig_(mig) {}
  void* handle_;  // nvmlDevice_t
  bool mig_;
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

  // The device of a CUDA UUID as FormatCudaUuid spells it ("GPU-…"). Under
  // MIG the CUDA device is a MIG instance, which NVML knows as "MIG-…" with
  // the same bytes: tried when "GPU-…" is unknown. NotFound naming both.
  absl::StatusOr<NvmlDevice> DeviceByCudaUuid(const std::string& uuid) const;

  // The driver version, as nvidia-smi prints it ("570.124.06").
  absl::StatusOr<std::string> DriverVersion() const;
};

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_NVML_LOADER_H_
