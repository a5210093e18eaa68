// Host energy from Linux's powercap RAPL counters
// (<sysfs>/class/powercap/intel-rapl:N/energy_uj, one per CPU package; AMD
// Zen exposes the same files). Most kernels since 5.10 make them readable by
// root only, so this is often unavailable. In a container the host's sysfs
// may be mounted elsewhere (the worker's --sysfs-root, as node_exporter's
// --path.sysfs): pass that mount's class/powercap.
#ifndef TOKENMETER_KERNELS_CPU_RAPL_ENERGY_H_
#define TOKENMETER_KERNELS_CPU_RAPL_ENERGY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tokenmeter::kernels::cpu {

// Energy of every CPU package of the host since Start(). Counts the whole
// package — every rank and process on it — so several ranks on one host each
// report the host's figure. Not thread-safe.
//
// Zones counted: the top-level ones, intel-rapl:N, whose `name` is not
// "psys" (the platform zone of client Intel CPUs, which already contains the
// packages). Sub-zones (intel-rapl:N:M: core, uncore, dram) are inside their
// package's count and are not added again.
class RaplEnergy {
 public:
  // The powercap directory under a sysfs mount: sysfs_root + "/class/powercap".
  static std::string PowercapDir(const std::string& sysfs_root);

  // Reads the counters' starting values. Unimplemented naming the reason when
  // the host does not report energy here: no package zone under
  // powercap_dir, or a package zone whose energy_uj cannot be read (named,
  // with the system's reason — usually root-only permissions). Counting only
  // the readable packages would understate the host's energy, so one
  // unreadable package makes the whole host unreported.
  static absl::StatusOr<RaplEnergy> Start(const std::string& powercap_dir = "/sys/class/powercap");

  // Joules since Start(), summed over the packages. A counter lower than at
  // the previous call has wrapped: it counts max_energy_range_uj + 1 − last +
  // now. Call at least once per wrap period (minutes to hours, depending on
  // the package's power) or a whole wrap goes unseen. Unavailable when a
  // counter cannot be read any more; DataLoss when a counter went backwards
  // and its zone has no readable max_energy_range_uj. On error nothing is
  // updated, so a later successful call still counts from the last good read.
  absl::StatusOr<double> Joules();

  // The package zones counted ("intel-rapl:0", ...), sorted.
  std::vector<std::string> zones() const;

 private:
  struct Package {
    std::string zone;         // "intel-rapl:0"
    std::string energy_file;  // <powercap_dir>/intel-rapl:0/energy_uj
    int64_t range_uj = 0;     // max_energy_range_uj: the counter's largest value; 0 = unknown
    int64_t last_uj = 0;      // the counter at the previous read
    int64_t total_uj = 0;     // accumulated since Start()
  };
  std::vector<Package> packages_;
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_RAPL_ENERGY_H_
