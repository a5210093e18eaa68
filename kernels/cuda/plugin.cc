// The entry points of the CUDA plugin (kernels/cuda_plugin.h says why it is
// one). Each returns a heap object the caller owns.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda_plugin.h"

extern "C" {

__attribute__((visibility("default"))) uint64_t tokenmeter_cuda_abi() {
  return tokenmeter::kernels::CudaPluginAbi();
}

__attribute__((visibility("default"))) void* tokenmeter_cuda_new_backend(
    const tokenmeter::kernels::BackendOptions* options) {
  return new tokenmeter::kernels::CudaBackendOrError(tokenmeter::kernels::NewCudaBackend(*options));
}

__attribute__((visibility("default"))) void* tokenmeter_cuda_list_devices() {
  return new tokenmeter::kernels::CudaDevicesOrError(tokenmeter::kernels::ListCudaDevices());
}

__attribute__((visibility("default"))) void* tokenmeter_cuda_open_power_source(
    const tokenmeter::kernels::PowerSourceOptions* options) {
  return new tokenmeter::kernels::CudaPowerSourceOrError(tokenmeter::kernels::OpenCudaPowerSource(*options));
}

}  // extern "C"
