// Host energy from Linux's powercap RAPL counters
// (/sys/class/powercap/intel-rapl:N/energy_uj, one per CPU package; AMD Zen
// exposes the same files). Most kernels since 5.10 make them readable by root
// only, so this is often unavailable.
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
class RaplEnergy {
 public:
  // Reads the counters' starting values; Unimplemented naming the reason
  // when no package counter is readable.
  static absl::StatusOr<RaplEnergy> Start(const std::string& powercap_dir = "/sys/class/powercap");

  // Joules since Start(), counting counter wrap-arounds seen between calls
  // (call at least once per wrap period — minutes to hours — to see all).
  absl::StatusOr<double> Joules();

 private:
  struct Package {
    std::string energy_file;
    int64_t range_uj = 0;  // the counter wraps to 0 at this value
    int64_t last_uj = 0;
    int64_t total_uj = 0;  // accumulated since Start()
  };
  std::vector<Package> packages_;
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_RAPL_ENERGY_H_
