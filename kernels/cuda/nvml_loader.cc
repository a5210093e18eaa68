#include "kernels/cuda/nvml_loader.h"

#include <dlfcn.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace tokenmeter::kernels::cuda {
namespace {

// The few NVML declarations used, written out because nvml.h is not in the
// toolkit here. They follow NVML's stable C ABI: nvmlReturn_t is an int enum
// (0 = NVML_SUCCESS), nvmlDevice_t an opaque pointer.
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr unsigned int kNvmlDriverVersionBufferSize = 80;

struct NvmlApi {
  nvmlReturn_t (*init)() = nullptr;                                         // nvmlInit_v2
  const char* (*error_string)(nvmlReturn_t) = nullptr;                      // nvmlErrorString
  nvmlReturn_t (*by_uuid)(const char*, nvmlDevice_t*) = nullptr;            // nvmlDeviceGetHandleByUUID
  nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long*) = nullptr;      // ...GetTotalEnergyConsumption
  nvmlReturn_t (*power)(nvmlDevice_t, unsigned int*) = nullptr;             // nvmlDeviceGetPowerUsage
  nvmlReturn_t (*driver_version)(char*, unsigned int) = nullptr;            // nvmlSystemGetDriverVersion
};

NvmlApi g_api;
absl::Status* g_load_status = nullptr;  // set once under g_once; never freed

std::string ErrorText(nvmlReturn_t r) {
  const char* s = g_api.error_string != nullptr ? g_api.error_string(r) : nullptr;
  return s != nullptr ? std::string(s) : absl::StrCat("NVML error ", r);
}

template <typename Fn>
bool Resolve(void* lib, const char* name, Fn* out, std::string* missing) {
  *out = reinterpret_cast<Fn>(dlsym(lib, name));
  if (*out == nullptr) absl::StrAppend(missing, missing->empty() ? "" : ", ", name);
  return *out != nullptr;
}

absl::Status Load() {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return absl::UnimplementedError(
        absl::StrCat("NVML not available: ", why != nullptr ? why : "dlopen(libnvidia-ml.so.1) failed"));
  }
  std::string missing;
  Resolve(lib, "nvmlInit_v2", &g_api.init, &missing);
  Resolve(lib, "nvmlErrorString", &g_api.error_string, &missing);
  Resolve(lib, "nvmlDeviceGetHandleByUUID", &g_api.by_uuid, &missing);
  Resolve(lib, "nvmlDeviceGetTotalEnergyConsumption", &g_api.energy, &missing);
  Resolve(lib, "nvmlDeviceGetPowerUsage", &g_api.power, &missing);
  Resolve(lib, "nvmlSystemGetDriverVersion", &g_api.driver_version, &missing);
  if (!missing.empty()) {
    return absl::UnimplementedError(absl::StrCat("NVML not available: libnvidia-ml.so.1 lacks ", missing));
  }
  if (nvmlReturn_t r = g_api.init(); r != kNvmlSuccess) {
    return absl::UnimplementedError(absl::StrCat("NVML not available: nvmlInit_v2: ", ErrorText(r)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Nvml*> Nvml::Get() {
  static std::once_flag once;
  static Nvml instance;
  std::call_once(once, [] { g_load_status = new absl::Status(Load()); });
  if (!g_load_status->ok()) return *g_load_status;
  return &instance;
}

absl::StatusOr<NvmlDevice> Nvml::DeviceByUuid(const std::string& uuid) const {
  nvmlDevice_t handle = nullptr;
  if (nvmlReturn_t r = g_api.by_uuid(uuid.c_str(), &handle); r != kNvmlSuccess) {
    return absl::NotFoundError(absl::StrCat("nvmlDeviceGetHandleByUUID(", uuid, "): ", ErrorText(r)));
  }
  return NvmlDevice(handle, uuid.rfind("MIG-", 0) == 0);
}

absl::StatusOr<NvmlDevice> Nvml::DeviceByCudaUuid(const std::string& uuid) const {
  absl::StatusOr<NvmlDevice> gpu = DeviceByUuid(uuid);
  if (gpu.ok() || uuid.rfind("GPU-", 0) != 0) return gpu;
  const std::string mig_uuid = absl::StrCat("MIG-", uuid.substr(4));
  absl::StatusOr<NvmlDevice> mig = DeviceByUuid(mig_uuid);
  if (mig.ok()) return mig;
  return absl::NotFoundError(absl::StrCat("NVML knows neither ", uuid, " (",
                                          gpu.status().message(), ") nor the MIG instance ",
                                          mig_uuid, " (", mig.status().message(), ")"));
}

absl::StatusOr<std::string> Nvml::DriverVersion() const {
  char buffer[kNvmlDriverVersionBufferSize] = {};
  if (nvmlReturn_t r = g_api.driver_version(buffer, sizeof(buffer)); r != kNvmlSuccess) {
    return absl::InternalError(absl::StrCat("nvmlSystemGetDriverVersion: ", ErrorText(r)));
  }
  return std::string(buffer);
}

absl::StatusOr<double> NvmlDevice::TotalEnergyJoules() const {
  unsigned long long millijoules = 0;
  if (nvmlReturn_t r = g_api.energy(handle_, &millijoules); r != kNvmlSuccess) {
    return absl::UnimplementedError(
        absl::StrCat("nvmlDeviceGetTotalEnergyConsumption: ", ErrorText(r)));
  }
  return static_cast<double>(millijoules) * 1e-3;
}

absl::StatusOr<double> NvmlDevice::PowerWatts() const {
  unsigned int milliwatts = 0;
  if (nvmlReturn_t r = g_api.power(handle_, &milliwatts); r != kNvmlSuccess) {
    return absl::UnimplementedError(absl::StrCat("nvmlDeviceGetPowerUsage: ", ErrorText(r)));
  }
  return static_cast<double>(milliwatts) * 1e-3;
}

}  // namespace tokenmeter::kernels::cuda
