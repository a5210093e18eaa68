// A device's live power draw, read without a job running: what the worker's
// `tokenmeter_device_power_watts` gauge shows (docs/metrics.md). One
// PowerSource per device, opened with Backend::OpenPowerSource; a device with
// no power counter has no source (the gauge is then absent, never 0).
#ifndef TOKENMETER_KERNELS_POWER_H_
#define TOKENMETER_KERNELS_POWER_H_

#include <string>

#include "absl/status/statusor.h"

namespace tokenmeter::kernels {

struct PowerSourceOptions {
  // The device's index on its host (the worker inventory's), and its UUID as
  // the backend lists it ("GPU-…" for cuda; "<hostname>-cpu" for cpu). cuda
  // finds the GPU by UUID (robust to CUDA_VISIBLE_DEVICES reordering).
  int device_index = 0;
  std::string uuid;
  // "cpu": where sysfs is mounted; RAPL counters are read under
  // sysfs_root/class/powercap (as BackendOptions::sysfs_root).
  std::string sysfs_root = "/sys";
};

// Reads one device's power. Used by one thread at a time.
class PowerSource {
 public:
  virtual ~PowerSource() = default;

  // The device's power draw in watts, from the device's own counter:
  //   cpu  — RAPL package energy: Δenergy / Δt since the previous successful
  //          call (the first call: since the source was opened);
  //   cuda — NVML's nvmlDeviceGetPowerUsage (a 1 s average on Ampere and
  //          newer, except GA100; instantaneous on older GPUs).
  // An error (the counter stopped being readable, or a wrap that cannot be
  // accounted for) names the reason; a figure is never made up.
  virtual absl::StatusOr<double> Watts() = 0;

  // Where the figure comes from, in words, for a start-up log line.
  virtual std::string Describe() const = 0;
};

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_POWER_H_
