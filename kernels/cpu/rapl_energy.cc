#include "kernels/cpu/rapl_energy.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tokenmeter::kernels::cpu {
namespace {

absl::Status CannotRead(const std::string& path, int error) {
  const std::string message = absl::StrCat("cannot read ", path, ": ", std::strerror(error));
  return error == EACCES || error == EPERM ? absl::PermissionDeniedError(message) : absl::UnavailableError(message);
}

// A small sysfs attribute's text; PermissionDenied or Unavailable with the
// system's reason when it cannot be read.
absl::StatusOr<std::string> ReadAttribute(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return CannotRead(path, errno);
  char buf[128];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  const int error = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (error != 0) return CannotRead(path, error);
  return std::string(absl::StripAsciiWhitespace(absl::string_view(buf, n)));
}

// A counter attribute (energy_uj, max_energy_range_uj): a non-negative
// integer. DataLoss when the file holds something else.
absl::StatusOr<int64_t> ReadCounter(const std::string& path) {
  absl::StatusOr<std::string> text = ReadAttribute(path);
  if (!text.ok()) return text.status();
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || errno == ERANGE || value < 0) {
    return absl::DataLossError(absl::StrCat(path, " does not hold a non-negative counter: '", *text, "'"));
  }
  return static_cast<int64_t>(value);
}

}  // namespace

std::string RaplEnergy::PowercapDir(const std::string& sysfs_root) {
  std::string root = sysfs_root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return absl::StrCat(root == "/" ? "" : root, "/class/powercap");
}

absl::StatusOr<RaplEnergy> RaplEnergy::Start(const std::string& powercap_dir) {
  const std::string unreported = "backend cpu does not report energy on this host: ";
  // Top-level zones only ("intel-rapl:0"); sub-zones ("intel-rapl:0:0",
  // core/uncore/dram) are already inside their package's count, and the
  // control type's own directory ("intel-rapl") is no zone.
  static const std::regex kPackageZone("intel-rapl:[0-9]+");
  RaplEnergy energy;
  std::error_code error;
  std::filesystem::directory_iterator entries(powercap_dir, error);
  if (error) {
    return absl::UnimplementedError(absl::StrCat(unreported, "no RAPL package zone under ", powercap_dir, " (",
                                                 error.message(), ")"));
  }
  for (const auto& entry : entries) {
    const std::string zone = entry.path().filename().string();
    if (!std::regex_match(zone, kPackageZone)) continue;
    // The platform zone ("psys", client Intel CPUs) contains the packages:
    // adding it would count them twice.
    absl::StatusOr<std::string> name = ReadAttribute((entry.path() / "name").string());
    if (name.ok() && *name == "psys") continue;
    Package package;
    package.zone = zone;
    package.energy_file = (entry.path() / "energy_uj").string();
    absl::StatusOr<int64_t> now = ReadCounter(package.energy_file);
    if (!now.ok()) {
      return absl::UnimplementedError(
          absl::StrCat(unreported, now.status().message(),
                       now.status().code() == absl::StatusCode::kPermissionDenied
                           ? " (Linux 5.10 and later let only root read RAPL counters)"
                           : ""));
    }
    package.last_uj = *now;
    // Unknown range (0): a wrap-around then shows as an error, never as a
    // guess.
    package.range_uj = ReadCounter((entry.path() / "max_energy_range_uj").string()).value_or(0);
    energy.packages_.push_back(package);
  }
  if (energy.packages_.empty()) {
    return absl::UnimplementedError(
        absl::StrCat(unreported, "no RAPL package zone under ", powercap_dir, " (intel-rapl:N/energy_uj)"));
  }
  std::sort(energy.packages_.begin(), energy.packages_.end(),
            [](const Package& a, const Package& b) { return a.zone < b.zone; });
  return energy;
}

absl::StatusOr<double> RaplEnergy::Joules() {
  // Every counter is read and checked before any is updated, so an error
  // leaves the state as the last good read left it.
  std::vector<int64_t> deltas(packages_.size());
  std::vector<int64_t> now(packages_.size());
  for (size_t i = 0; i < packages_.size(); ++i) {
    const Package& package = packages_[i];
    absl::StatusOr<int64_t> value = ReadCounter(package.energy_file);
    if (!value.ok()) return absl::UnavailableError(value.status().message());
    now[i] = *value;
    int64_t delta = *value - package.last_uj;
    if (delta < 0) {
      // Wrapped: the counter ran from last_uj up to its maximum, range_uj,
      // then from 0 to now.
      if (package.range_uj <= 0) {
        return absl::DataLossError(absl::StrCat(package.energy_file, " went backwards (", package.last_uj, " to ",
                                                *value, " uJ) and its zone has no readable max_energy_range_uj"));
      }
      delta += package.range_uj + 1;
      if (delta < 0) {
        return absl::DataLossError(absl::StrCat(package.energy_file, " went backwards (", package.last_uj, " to ",
                                                *value, " uJ) by more than max_energy_range_uj (",
                                                package.range_uj, ")"));
      }
    }
    deltas[i] = delta;
  }
  int64_t total_uj = 0;
  for (size_t i = 0; i < packages_.size(); ++i) {
    packages_[i].last_uj = now[i];
    packages_[i].total_uj += deltas[i];
    total_uj += packages_[i].total_uj;
  }
  return static_cast<double>(total_uj) * 1e-6;
}

std::vector<std::string> RaplEnergy::zones() const {
  std::vector<std::string> out;
  for (const auto& p : packages_) out.push_back(p.zone);
  return out;
}

}  // namespace tokenmeter::kernels::cpu
