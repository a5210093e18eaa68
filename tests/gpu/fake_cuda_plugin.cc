// A CUDA plugin "built from other sources": the right entry points and the
// wrong ABI mark (kernels/cuda_plugin.h). cuda_plugin_abi_test points
// TOKENMETER_CUDA_PLUGIN at it; every entry point traps, so a loader that
// called one instead of refusing the plugin would crash the test.
#include <cstdint>

#include "kernels/cuda_plugin.h"

extern "C" {

__attribute__((visibility("default"))) uint64_t tokenmeter_cuda_abi() {
  return tokenmeter::kernels::CudaPluginAbi() ^ 1;
}
__attribute__((visibility("default"))) void* tokenmeter_cuda_new_backend(const void*) { __builtin_trap(); }
__attribute__((visibility("default"))) void* tokenmeter_cuda_list_devices() { __builtin_trap(); }
__attribute__((visibility("default"))) void* tokenmeter_cuda_open_power_source(const void*) { __builtin_trap(); }

}  // extern "C"
