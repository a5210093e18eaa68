// The host's side of backend plugins (plugin_abi.h): finding a backend's
// shared library, refusing one that cannot be trusted to work, and wrapping
// what it makes as the C++ types the rest of tokenmeter uses (Backend,
// PowerSource). Backend::Create and its siblings come here for every kind
// but the built-in "cpu".
//
// Finding. A kind with a '/' is a path: that file and no other. Any other
// kind is a name, [a-z0-9_-]+, whose plugin is libtokenmeter-<name>.so,
// looked for in each directory of $TOKENMETER_PLUGIN_PATH (':'-separated),
// beside the executable, in ../lib beside it, and where this build put its
// plugins. The first readable file is the plugin: one that is then refused
// is an error, never passed over for another copy further down the path.
//
// Refusals, each Unavailable naming the file and the reason: it does not
// load (dlopen's message); it has no tokenmeter_backend_plugin entry; the
// entry returns no table (the plugin's message); the table is of another
// ABI version; it lacks a required entry; its initialize fails (its
// message); it names itself another backend than the one asked for.
// A plugin is loaded, checked and initialised once per process and stays
// loaded; a refusal is remembered as well. Thread-safe.
#ifndef TOKENMETER_KERNELS_PLUGIN_PLUGIN_HOST_H_
#define TOKENMETER_KERNELS_PLUGIN_PLUGIN_HOST_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/power.h"

namespace tokenmeter::kernels::plugin {

struct PluginIdentity {
  std::string name;     // the backend's kind, as the plugin names it
  std::string version;  // the plugin's own
  std::string path;     // the file loaded
};

// The plugin of `kind`, loaded (as above). InvalidArgument for a name
// outside [a-z0-9_-]+; Unavailable when none is found (naming every place
// looked in) or it is refused.
absl::StatusOr<PluginIdentity> FindPlugin(std::string_view kind);

// Backend::Create, ListDevices, DescribeEnergy and OpenPowerSource through
// the plugin of `kind`, with their contracts; first FindPlugin's errors.
absl::StatusOr<std::unique_ptr<Backend>> CreatePluginBackend(std::string_view kind,
                                                             const BackendOptions& options);
absl::StatusOr<std::vector<DeviceDescription>> ListPluginDevices(std::string_view kind);
absl::StatusOr<std::string> DescribePluginEnergy(std::string_view kind, const BackendOptions& options);
absl::StatusOr<std::unique_ptr<PowerSource>> OpenPluginPowerSource(std::string_view kind,
                                                                   const PowerSourceOptions& options);

// The names of the plugins on the search path (from their file names; none
// is loaded), sorted, each once.
std::vector<std::string> DiscoverPlugins();

}  // namespace tokenmeter::kernels::plugin

#endif  // TOKENMETER_KERNELS_PLUGIN_PLUGIN_HOST_H_
