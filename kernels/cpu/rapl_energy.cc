#include "kernels/cpu/rapl_energy.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include "absl/strings/str_cat.h"

namespace tokenmeter::kernels::cpu {
namespace {

std::optional<int64_t> ReadCounter(const std::string& path) {
  std::ifstream in(path);
  int64_t value = 0;
  if (!(in >> value) || value < 0) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<RaplEnergy> RaplEnergy::Start(const std::string& powercap_dir) {
  // Top-level zones only ("intel-rapl:0"); sub-zones ("intel-rapl:0:0",
  // core/uncore/dram) are already inside their package's count.
  static const std::regex kPackageZone("intel-rapl:[0-9]+");
  RaplEnergy energy;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(powercap_dir, error)) {
    if (!std::regex_match(entry.path().filename().string(), kPackageZone)) continue;
    Package package;
    package.energy_file = (entry.path() / "energy_uj").string();
    std::optional<int64_t> now = ReadCounter(package.energy_file);
    std::optional<int64_t> range = ReadCounter((entry.path() / "max_energy_range_uj").string());
    if (!now) continue;
    package.last_uj = *now;
    package.range_uj = range.value_or(0);
    energy.packages_.push_back(package);
  }
  if (energy.packages_.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        "backend cpu does not report energy on this host (no readable RAPL counter under ",
        powercap_dir, "/intel-rapl:N/energy_uj)"));
  }
  return energy;
}

absl::StatusOr<double> RaplEnergy::Joules() {
  int64_t total_uj = 0;
  for (Package& package : packages_) {
    std::optional<int64_t> now = ReadCounter(package.energy_file);
    if (!now) {
      return absl::UnavailableError(absl::StrCat("could not read ", package.energy_file));
    }
    int64_t delta = *now - package.last_uj;
    if (delta < 0) delta += package.range_uj;  // wrapped since the last read
    package.total_uj += std::max<int64_t>(delta, 0);
    package.last_uj = *now;
    total_uj += package.total_uj;
  }
  return static_cast<double>(total_uj) * 1e-6;
}

}  // namespace tokenmeter::kernels::cpu
