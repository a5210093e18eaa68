// A backend written in C++ against kernels/backend.h, exported as a plugin
// (plugin_abi.h): its factories become the C table, its Backend a tm_backend,
// the host's tm_store a kernels::Store. The CUDA plugin is this and one
// entry point (kernels/cuda/plugin.cc):
//
//   extern "C" TOKENMETER_PLUGIN_EXPORT const tm_backend_plugin*
//   tokenmeter_backend_plugin(uint32_t host_abi_version, char* error) {
//     static const PluginFactories factories = {...};
//     return ExportBackendPlugin(&factories, host_abi_version, error);
//   }
//
// Linked into the plugin, not the host: the C++ objects stay on the
// plugin's side of the boundary, built by its compiler and libraries.
#ifndef TOKENMETER_KERNELS_PLUGIN_PLUGIN_EXPORT_H_
#define TOKENMETER_KERNELS_PLUGIN_PLUGIN_EXPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/plugin/plugin_abi.h"
#include "kernels/power.h"

#define TOKENMETER_PLUGIN_EXPORT __attribute__((visibility("default")))

namespace tokenmeter::kernels::plugin {

// The backend's factories; the optional ones may be null (the host then
// answers Unimplemented for them).
struct PluginFactories {
  const char* name;     // the backend's kind, as --backend names it
  const char* version;  // the plugin's own version
  bool collectives_host_staged;  // Backend::CollectivesHostStaged of its backends
  absl::Status (*initialize)();  // optional: once, when the host loads it
  absl::StatusOr<std::unique_ptr<Backend>> (*new_backend)(const BackendOptions& options);
  absl::StatusOr<std::vector<DeviceDescription>> (*list_devices)();
  absl::StatusOr<std::string> (*describe_energy)(const BackendOptions& options);  // optional
  absl::StatusOr<std::unique_ptr<PowerSource>> (*open_power_source)(
      const PowerSourceOptions& options);  // optional
};

// The table for `factories`, which must outlive it (a static); null with a
// message in `error` for a host of another ABI version. One plugin per
// shared library: the first call's factories are the library's.
const tm_backend_plugin* ExportBackendPlugin(const PluginFactories* factories,
                                             uint32_t host_abi_version, char* error);

}  // namespace tokenmeter::kernels::plugin

#endif  // TOKENMETER_KERNELS_PLUGIN_PLUGIN_EXPORT_H_
