// The rocm backend as a plugin (kernels/plugin/plugin_abi.h).
#include "kernels/plugin/plugin_export.h"
#include "kernels/rocm/rocm_backend.h"

extern "C" TOKENMETER_PLUGIN_EXPORT const tm_backend_plugin* tokenmeter_backend_plugin(
    uint32_t host_abi_version, char* error) {
  namespace k = tokenmeter::kernels;
  static const k::plugin::PluginFactories factories = {
      .name = "rocm",
      .version = TOKENMETER_VERSION,
      .collectives_host_staged = false,
      .initialize = nullptr,
      .new_backend = k::NewRocmBackend,
      .list_devices = k::ListRocmDevices,
      .describe_energy = nullptr,
      .open_power_source = nullptr,
  };
  return k::plugin::ExportBackendPlugin(&factories, host_abi_version, error);
}
