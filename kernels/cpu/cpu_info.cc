#include "kernels/cpu/cpu_info.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tokenmeter::kernels::cpu {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// cgroup v2 limit minus current usage; nullopt outside a limited cgroup.
std::optional<int64_t> CgroupAvailableBytes() {
  std::string max = std::string(absl::StripAsciiWhitespace(ReadFile("/sys/fs/cgroup/memory.max")));
  int64_t limit = 0;
  if (max.empty() || max == "max" || !absl::SimpleAtoi(max, &limit)) return std::nullopt;
  int64_t current = 0;
  std::string used = std::string(absl::StripAsciiWhitespace(ReadFile("/sys/fs/cgroup/memory.current")));
  if (!absl::SimpleAtoi(used, &current)) current = 0;
  return std::max<int64_t>(0, limit - current);
}

}  // namespace

// Debian's abseil keeps its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), so std::string_view arguments are converted at the boundary.
absl::string_view AbslView(std::string_view text) { return absl::string_view(text.data(), text.size()); }

std::optional<std::string> ParseCpuModelName(std::string_view cpuinfo) {
  for (absl::string_view line : absl::StrSplit(AbslView(cpuinfo), '\n')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (absl::StripAsciiWhitespace(kv.first) != "model name") continue;
    absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (!value.empty()) return std::string(value);
  }
  return std::nullopt;
}

std::optional<int64_t> ParseMeminfoBytes(std::string_view meminfo, std::string_view field) {
  for (absl::string_view line : absl::StrSplit(AbslView(meminfo), '\n')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (kv.first != AbslView(field)) continue;
    absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    // The kernel always prints kB (meaning KiB) for these fields.
    bool kib = absl::ConsumeSuffix(&value, "kB");
    int64_t number = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &number) || number < 0) {
      return std::nullopt;
    }
    return kib ? number * 1024 : number;
  }
  return std::nullopt;
}

std::string CpuModelName() {
  return ParseCpuModelName(ReadFile("/proc/cpuinfo")).value_or("unknown CPU");
}

int64_t HostMemoryTotalBytes() {
  if (auto total = ParseMeminfoBytes(ReadFile("/proc/meminfo"), "MemTotal")) return *total;
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
}

int64_t HostMemoryAvailableBytes() {
  std::string meminfo = ReadFile("/proc/meminfo");
  std::optional<int64_t> available = ParseMeminfoBytes(meminfo, "MemAvailable");
  if (!available) available = ParseMeminfoBytes(meminfo, "MemTotal");
  int64_t bytes = available.value_or(HostMemoryTotalBytes());
  if (auto cgroup = CgroupAvailableBytes()) bytes = std::min(bytes, *cgroup);
  return bytes;
}

int HostCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace tokenmeter::kernels::cpu
