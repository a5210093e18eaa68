#include "coordinator/ids.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace tokenmeter::coordinator {
namespace {

std::string RandomHex6() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64* rng = nullptr;
  absl::MutexLock lock(&mu);
  if (rng == nullptr) rng = new std::mt19937_64(std::random_device{}());
  return absl::StrFormat("%06x", (*rng)() & 0xffffff);
}

}  // namespace

std::string NewJobId(absl::Time now) {
  return absl::StrCat("job-", absl::FormatTime("%Y%m%d-%H%M%S", now, absl::UTCTimeZone()), "-", RandomHex6());
}

std::string NewWorkerId(const std::string& hostname) {
  return absl::StrCat("w-", hostname.empty() ? "host" : hostname, "-", RandomHex6());
}

}  // namespace tokenmeter::coordinator
