// Logs and progress go to stderr, one line each, prefixed with the time and
// the component; stdout is kept for results.
#ifndef TOKENMETER_COMMON_LOG_H_
#define TOKENMETER_COMMON_LOG_H_

#include <cstdio>
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tokenmeter {

// Thread-safe: one fwrite per line.
template <typename... Args>
void Log(absl::string_view component, const Args&... args) {
  const std::string line = absl::StrCat(absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()), " ",
                                        component, ": ", args..., "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tokenmeter

#endif  // TOKENMETER_COMMON_LOG_H_
