// Loading the CUDA backend at run time. The "cuda" backend is built as a
// plugin (libtokenmeter-cuda.so) that Backend::Create loads with dlopen on
// first use, so that:
//   - the tokenmeter binary starts on hosts without the CUDA toolkit or a
//     driver, and says why the cuda backend is unavailable when asked for it;
//   - processes that never use CUDA (the coordinator, CPU workers) do not
//     carry the CUDA libraries: linked in, cuBLASLt's 94 KB of static TLS
//     is taken from every thread's stack (it made civetweb's 100 KiB threads,
//     which served /metrics before common/metrics_server.h, fail to start).
#ifndef TOKENMETER_KERNELS_CUDA_PLUGIN_H_
#define TOKENMETER_KERNELS_CUDA_PLUGIN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/power.h"

namespace tokenmeter::kernels {

using CudaBackendOrError = absl::StatusOr<std::unique_ptr<Backend>>;
using CudaDevicesOrError = absl::StatusOr<std::vector<DeviceDescription>>;
using CudaPowerSourceOrError = absl::StatusOr<std::unique_ptr<PowerSource>>;

// The plugin and the binary loading it pass C++ objects to each other (the
// options and results above), so they must come from the same sources: the
// plugin exports tokenmeter_cuda_abi(), and a plugin whose value differs
// from the binary's is refused rather than called. The sizes of what crosses
// catch most changes; bump kCudaPluginAbiVersion for one that keeps them.
inline constexpr uint64_t kCudaPluginAbiVersion = 3;
constexpr uint64_t CudaPluginAbi() {
  return kCudaPluginAbiVersion << 56 ^ uint64_t{sizeof(BackendOptions)} << 40 ^
         uint64_t{sizeof(PowerSourceOptions)} << 28 ^ uint64_t{sizeof(DeviceDescription)} << 16 ^
         uint64_t{sizeof(CudaBackendOrError)} << 8 ^ uint64_t{sizeof(CudaDevicesOrError)} ^
         uint64_t{sizeof(CudaPowerSourceOrError)} << 4;
}

// Through the plugin: NewCudaBackend and ListCudaDevices of
// kernels/cuda/cuda_backend.h. Unavailable naming every place looked in when
// the plugin cannot be loaded. The plugin is looked for in
// $TOKENMETER_CUDA_PLUGIN, beside the executable, in ../lib beside it, and
// where the build put it; the first that loads with this binary's ABI is
// used, except that a $TOKENMETER_CUDA_PLUGIN that does not is an error (the
// one asked for, not another). Thread-safe; the plugin stays loaded.
CudaBackendOrError LoadCudaBackend(const BackendOptions& options);
CudaDevicesOrError LoadCudaDevices();
// Through the plugin: OpenCudaPowerSource of kernels/cuda/cuda_backend.h.
// Unavailable as above when there is no plugin. The source's code lives in
// the plugin, which stays loaded.
CudaPowerSourceOrError LoadCudaPowerSource(const PowerSourceOptions& options);

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_CUDA_PLUGIN_H_
