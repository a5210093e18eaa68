// The OpenCL backend as a plugin (kernels/plugin/plugin_abi.h).
#include "kernels/opencl/opencl_backend.h"
#include "kernels/plugin/plugin_export.h"

extern "C" TOKENMETER_PLUGIN_EXPORT const tm_backend_plugin* tokenmeter_backend_plugin(
    uint32_t host_abi_version, char* error) {
  namespace k = tokenmeter::kernels;
  static const k::plugin::PluginFactories factories = {
      .name = "opencl",
      .version = TOKENMETER_VERSION,
      .collectives_host_staged = true,  // through Gloo (opencl_backend.h)
      .initialize = nullptr,
      .new_backend = k::NewOpenclBackend,
      .list_devices = k::ListOpenclDevices,
      .describe_energy = nullptr,
      .open_power_source = nullptr,
  };
  return k::plugin::ExportBackendPlugin(&factories, host_abi_version, error);
}
