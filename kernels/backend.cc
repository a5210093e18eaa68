#include "kernels/backend.h"

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/plugin/plugin_host.h"

namespace tokenmeter::kernels {

absl::StatusOr<std::unique_ptr<Backend>> Backend::Create(std::string_view kind,
                                                         const BackendOptions& options) {
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("world_size must be >= 1, got ", options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank must be in [0, ", options.world_size,
                                                   "), got ", options.rank));
  }
  if (options.world_size > 1 && options.store == nullptr) {
    return absl::InvalidArgumentError("a store is required when world_size > 1");
  }
  if (kind == "cpu") return NewCpuBackend(options);
  return plugin::CreatePluginBackend(kind, options);
}

absl::StatusOr<std::vector<DeviceDescription>> Backend::ListDevices(std::string_view kind) {
  if (kind == "cpu") return ListCpuDevices();
  return plugin::ListPluginDevices(kind);
}

absl::StatusOr<std::string> Backend::DescribeEnergy(std::string_view kind, const BackendOptions& options) {
  if (kind == "cpu") return DescribeCpuEnergy(options);
  return plugin::DescribePluginEnergy(kind, options);
}

absl::StatusOr<std::unique_ptr<PowerSource>> Backend::OpenPowerSource(std::string_view kind,
                                                                      const PowerSourceOptions& options) {
  if (kind == "cpu") return OpenCpuPowerSource(options);
  return plugin::OpenPluginPowerSource(kind, options);
}

std::vector<std::string> Backend::AvailableKinds() {
  std::vector<std::string> kinds = {"cpu"};
  for (std::string& name : plugin::DiscoverPlugins()) {
    if (name != "cpu") kinds.push_back(std::move(name));
  }
  return kinds;
}

}  // namespace tokenmeter::kernels
