// Host CPU power from RAPL: the average power of every CPU package over the
// interval between two readings, Δenergy / Δt of the same package zones
// RaplEnergy counts (kernels/cpu/rapl_energy.h: packages summed, sub-zones
// and psys left out, wrap-around handled).
#ifndef TOKENMETER_KERNELS_CPU_RAPL_POWER_H_
#define TOKENMETER_KERNELS_CPU_RAPL_POWER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/cpu/rapl_energy.h"
#include "kernels/power.h"

namespace tokenmeter::kernels::cpu {

// Whole-host power: every package, every process on it. Not thread-safe.
class RaplPower final : public PowerSource {
 public:
  // The time base of Δt; steady_clock::now unless a test supplies its own.
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // Reads the counters' starting values and the time (see RaplEnergy::Start:
  // Unimplemented naming the reason when the host reports no RAPL package
  // energy under powercap_dir).
  static absl::StatusOr<std::unique_ptr<RaplPower>> Start(const std::string& powercap_dir, Clock clock = nullptr);

  // Average watts since the previous successful call (the first call: since
  // Start). Errors of RaplEnergy::Joules pass through and leave the previous
  // reading in place, so the next success averages over the whole gap;
  // FailedPrecondition when no time passed on the clock. RAPL counters tick
  // about every millisecond: call at least ~100 ms apart for a figure within
  // a few per cent, and at least once per counter wrap (minutes).
  absl::StatusOr<double> Watts() override;

  std::string Describe() const override;

 private:
  RaplPower(RaplEnergy energy, std::string powercap_dir, Clock clock);

  RaplEnergy energy_;
  std::string powercap_dir_;
  Clock clock_;
  double last_joules_ = 0;  // RaplEnergy's total at the previous reading
  std::chrono::steady_clock::time_point last_time_;
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_RAPL_POWER_H_
