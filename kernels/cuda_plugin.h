// Loading the CUDA backend at run time. The "cuda" backend is built as a
// plugin (libtokenmeter-cuda.so) that Backend::Create loads with dlopen on
// first use, so that:
//   - the tokenmeter binary starts on hosts without the CUDA toolkit or a
//     driver, and says why the cuda backend is unavailable when asked for it;
//   - processes that never use CUDA (the coordinator, CPU workers) do not
//     carry the CUDA libraries: linked in, cuBLASLt's static TLS made threads
//     with small stacks (civetweb's, serving /metrics) fail to start.
#ifndef TOKENMETER_KERNELS_CUDA_PLUGIN_H_
#define TOKENMETER_KERNELS_CUDA_PLUGIN_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/power.h"

namespace tokenmeter::kernels {

using CudaBackendOrError = absl::StatusOr<std::unique_ptr<Backend>>;
using CudaDevicesOrError = absl::StatusOr<std::vector<DeviceDescription>>;
using CudaPowerSourceOrError = absl::StatusOr<std::unique_ptr<PowerSource>>;

// Through the plugin: NewCudaBackend and ListCudaDevices of
// kernels/cuda/cuda_backend.h. Unavailable naming every place looked in when
// the plugin cannot be loaded. The plugin is looked for in
// $TOKENMETER_CUDA_PLUGIN, beside the executable, in ../lib beside it, and
// where the build put it. Thread-safe; the plugin stays loaded.
CudaBackendOrError LoadCudaBackend(const BackendOptions& options);
CudaDevicesOrError LoadCudaDevices();
// Through the plugin: OpenCudaPowerSource of kernels/cuda/cuda_backend.h.
// Unimplemented when the plugin loaded lacks that entry point (one built
// before it), Unavailable as above when there is no plugin. The source's code
// lives in the plugin, which stays loaded.
CudaPowerSourceOrError LoadCudaPowerSource(const PowerSourceOptions& options);

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_CUDA_PLUGIN_H_
