// The "opencl" backend: any OpenCL device — AMD, Intel and ARM GPUs through
// their vendors' ICDs, CPUs through PoCL — as a plugin
// (libtokenmeter-opencl.so, kernels/plugin/plugin_abi.h).
//
// Devices: every device of every platform the ICD loader lists, in platform
// order; name, vendor, memory, compute units and driver version from
// clGetDeviceInfo.
//
// GEMM: CLBlast's row-major SGEMM (fp32; the other dtypes are Unimplemented)
// on fresh random operands, the first warm-up call's result checked against
// a double-precision reference (kernels/cpu/gemm_check.h). The first call
// also compiles CLBlast's kernels for the shape (about 3 s on PoCL): it is
// always a warm-up call, never timed; a plan without warm-up gets one. Each
// timed call is timed on the device by the command queue's profiling clock:
// from the end of a marker enqueued before CLBlast's commands to the end of
// one after them, so the time spans every kernel CLBlast runs for the call.
//
// Collectives: Gloo over TCP between the ranks' hosts, staged through host
// memory (GlooCommunicator::RunStaged): each timed iteration reads the input
// from the device, runs the Gloo call and writes the output back, all three
// inside the time; the output checked is read back from the device. A table
// of its figures says "host-staged" (docs/backends.md).
//
// Training steps: opencl_step.h. Energy: none (OpenCL has no energy counter).
#ifndef TOKENMETER_KERNELS_OPENCL_OPENCL_BACKEND_H_
#define TOKENMETER_KERNELS_OPENCL_OPENCL_BACKEND_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace tokenmeter::kernels {

absl::StatusOr<std::unique_ptr<Backend>> NewOpenclBackend(const BackendOptions& options);
absl::StatusOr<std::vector<DeviceDescription>> ListOpenclDevices();

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_OPENCL_OPENCL_BACKEND_H_
