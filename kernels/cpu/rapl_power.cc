#include "kernels/cpu/rapl_power.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tokenmeter::kernels::cpu {

RaplPower::RaplPower(RaplEnergy energy, std::string powercap_dir, Clock clock)
    : energy_(std::move(energy)), powercap_dir_(std::move(powercap_dir)), clock_(std::move(clock)) {
  last_time_ = clock_();
}

absl::StatusOr<std::unique_ptr<RaplPower>> RaplPower::Start(const std::string& powercap_dir, Clock clock) {
  if (!clock) clock = [] { return std::chrono::steady_clock::now(); };
  absl::StatusOr<RaplEnergy> energy = RaplEnergy::Start(powercap_dir);
  if (!energy.ok()) return energy.status();
  // The clock is read right after the counters (in the constructor), as in
  // Watts(), so both ends of an interval pair a reading with its time alike.
  return std::unique_ptr<RaplPower>(new RaplPower(*std::move(energy), powercap_dir, std::move(clock)));
}

absl::StatusOr<double> RaplPower::Watts() {
  absl::StatusOr<double> joules = energy_.Joules();
  if (!joules.ok()) return joules.status();
  const auto now = clock_();
  const double seconds = std::chrono::duration<double>(now - last_time_).count();
  if (seconds <= 0) {
    // RaplEnergy has already moved on to this reading; its energy joins the
    // next interval (last_joules_ and last_time_ are left as they were).
    return absl::FailedPreconditionError("RAPL power sampled twice at the same instant: no interval to average over");
  }
  const double watts = (*joules - last_joules_) / seconds;
  last_joules_ = *joules;
  last_time_ = now;
  return watts;
}

std::string RaplPower::Describe() const {
  return absl::StrCat("RAPL average package power (energy counter delta / time) of ",
                      absl::StrJoin(energy_.zones(), ", "), " under ", powercap_dir_, " (whole-host CPU packages)");
}

}  // namespace tokenmeter::kernels::cpu
