// The "cpu" backend: GEMM through OpenBLAS, collectives through Gloo's own
// algorithms over TCP, rendezvous through kernels::Store.
#ifndef TOKENMETER_KERNELS_CPU_CPU_BACKEND_H_
#define TOKENMETER_KERNELS_CPU_CPU_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/power.h"

namespace tokenmeter::kernels {

// See Backend::Create.
absl::StatusOr<std::unique_ptr<Backend>> NewCpuBackend(const BackendOptions& options);

// See Backend::DescribeEnergy: the RAPL package zones read under
// options.sysfs_root, or why there are none.
absl::StatusOr<std::string> DescribeCpuEnergy(const BackendOptions& options);

// See Backend::OpenPowerSource: RAPL package power (whole-host) under
// options.sysfs_root, on device 0 only; NotFound for another device,
// Unimplemented naming the reason where the host has no readable RAPL counter.
absl::StatusOr<std::unique_ptr<PowerSource>> OpenCpuPowerSource(const PowerSourceOptions& options);

// One entry: the host's CPU (model name, host memory, cores).
absl::StatusOr<std::vector<DeviceDescription>> ListCpuDevices();

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_CPU_CPU_BACKEND_H_
