// The CUDA backend as a plugin (kernels/plugin/plugin_abi.h): its factories
// behind the C ABI's one entry point.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/plugin/plugin_export.h"

namespace {

absl::StatusOr<std::string> DescribeCudaEnergy(const tokenmeter::kernels::BackendOptions&) {
  // NVML is loaded with the backend, on the first job; its per-GPU energy
  // counter is checked then.
  return std::string("NVML's per-GPU energy counter, where the driver reports it");
}

}  // namespace

extern "C" TOKENMETER_PLUGIN_EXPORT const tm_backend_plugin* tokenmeter_backend_plugin(
    uint32_t host_abi_version, char* error) {
  namespace k = tokenmeter::kernels;
  static const k::plugin::PluginFactories factories = {
      .name = "cuda",
      .version = TOKENMETER_VERSION,
      .collectives_host_staged = false,
      .initialize = nullptr,
      .new_backend = k::NewCudaBackend,
      .list_devices = k::ListCudaDevices,
      .describe_energy = DescribeCudaEnergy,
      .open_power_source = k::OpenCudaPowerSource,
  };
  return k::plugin::ExportBackendPlugin(&factories, host_abi_version, error);
}
