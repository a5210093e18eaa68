#include "kernels/cuda_plugin.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tokenmeter::kernels {
namespace {

constexpr char kPluginName[] = "libtokenmeter-cuda.so";

struct Plugin {
  void* (*new_backend)(const BackendOptions*) = nullptr;
  void* (*list_devices)() = nullptr;
  void* (*open_power_source)(const PowerSourceOptions*) = nullptr;
  std::string path;   // the plugin loaded
  std::string error;  // why it could not be loaded
};

std::string ExecutableDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

const Plugin& Load() {
  static Plugin plugin;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    // Set but empty (a container passing the variable through) counts as unset.
    const char* env = std::getenv("TOKENMETER_CUDA_PLUGIN");
    const bool asked = env != nullptr && *env != '\0';
    if (asked) candidates.push_back(env);
    const std::string dir = ExecutableDir();
    candidates.push_back(absl::StrCat(dir, "/", kPluginName));
    candidates.push_back(absl::StrCat(dir, "/../lib/", kPluginName));
#ifdef TOKENMETER_CUDA_PLUGIN_BUILD_PATH
    candidates.push_back(TOKENMETER_CUDA_PLUGIN_BUILD_PATH);
#endif
    // A plugin refused below stays loaded, never called: unloading a library
    // whose C++ static state has been constructed is not reliably safe.
    std::vector<std::string> failures;
    for (size_t c = 0; c < candidates.size(); ++c) {
      const std::string& path = candidates[c];
      // The plugin asked for by name, or nothing: never another in its place.
      const bool only = asked && c == 0;
      if (access(path.c_str(), R_OK) != 0) {
        if (!only) continue;
        failures.push_back(absl::StrCat(path, " (TOKENMETER_CUDA_PLUGIN): cannot be read"));
        break;
      }
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        failures.push_back(absl::StrCat(path, ": ", dlerror()));
      } else if (auto abi = reinterpret_cast<uint64_t (*)()>(dlsym(handle, "tokenmeter_cuda_abi"));
                 abi == nullptr) {
        failures.push_back(absl::StrCat(path, ": not a tokenmeter CUDA plugin of this version (no ABI mark)"));
      } else if (const uint64_t theirs = abi(); theirs != CudaPluginAbi()) {
        failures.push_back(absl::StrFormat(
            "%s: built from other tokenmeter sources than this binary (plugin ABI %#x, binary %#x); "
            "rebuild it, or set TOKENMETER_CUDA_PLUGIN to the one built with this binary",
            path, theirs, CudaPluginAbi()));
      } else {
        plugin.new_backend = reinterpret_cast<void* (*)(const BackendOptions*)>(dlsym(handle, "tokenmeter_cuda_new_backend"));
        plugin.list_devices = reinterpret_cast<void* (*)()>(dlsym(handle, "tokenmeter_cuda_list_devices"));
        plugin.open_power_source = reinterpret_cast<void* (*)(const PowerSourceOptions*)>(
            dlsym(handle, "tokenmeter_cuda_open_power_source"));
        if (plugin.new_backend != nullptr && plugin.list_devices != nullptr && plugin.open_power_source != nullptr) {
          plugin.path = path;
          return;
        }
        plugin = Plugin{};
        failures.push_back(absl::StrCat(path, ": not a tokenmeter CUDA plugin (entry points missing)"));
      }
      if (only) break;
    }
    plugin.error = failures.empty()
                       ? absl::StrCat("backend cuda: ", kPluginName, " not found in ", absl::StrJoin(candidates, ", "))
                       : absl::StrCat("backend cuda: cannot load ", absl::StrJoin(failures, "; "));
  });
  return plugin;
}

}  // namespace

CudaBackendOrError LoadCudaBackend(const BackendOptions& options) {
  const Plugin& p = Load();
  if (p.new_backend == nullptr) return absl::UnavailableError(p.error);
  std::unique_ptr<CudaBackendOrError> result(static_cast<CudaBackendOrError*>(p.new_backend(&options)));
  return std::move(*result);
}

CudaDevicesOrError LoadCudaDevices() {
  const Plugin& p = Load();
  if (p.list_devices == nullptr) return absl::UnavailableError(p.error);
  std::unique_ptr<CudaDevicesOrError> result(static_cast<CudaDevicesOrError*>(p.list_devices()));
  return std::move(*result);
}

CudaPowerSourceOrError LoadCudaPowerSource(const PowerSourceOptions& options) {
  const Plugin& p = Load();
  if (p.new_backend == nullptr) return absl::UnavailableError(p.error);
  std::unique_ptr<CudaPowerSourceOrError> result(static_cast<CudaPowerSourceOrError*>(p.open_power_source(&options)));
  return std::move(*result);
}

}  // namespace tokenmeter::kernels
