// The "rocm" backend for AMD GPUs, as a plugin (libtokenmeter-rocm.so,
// kernels/plugin/plugin_abi.h) — laid out, not finished (docs/backends.md,
// "ROCm"). What it does today, through the HIP runtime alone:
//   - lists the host's AMD GPUs (hipGetDeviceProperties: name, memory,
//     compute units, gfx target; hipDeviceGetUuid; the driver's version);
//     a host without one (no /dev/kfd, hipErrorNoDevice) lists none;
//   - creates a rank on one of them.
// What it does not: GEMM (hipBLASLt, which Debian 12 lacks), collectives
// (RCCL, likewise), training steps and energy (rocm-smi). It says so:
// SupportsGemm and SupportsCollective are false for every dtype, so the
// scheduler sends it nothing it would refuse, and the runs answer
// Unimplemented naming the library. A job of more than one rank is refused
// at Create (no communicator without RCCL).
#ifndef TOKENMETER_KERNELS_ROCM_ROCM_BACKEND_H_
#define TOKENMETER_KERNELS_ROCM_ROCM_BACKEND_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace tokenmeter::kernels {

absl::StatusOr<std::unique_ptr<Backend>> NewRocmBackend(const BackendOptions& options);
absl::StatusOr<std::vector<DeviceDescription>> ListRocmDevices();

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_ROCM_ROCM_BACKEND_H_
