// What the "cpu" backend knows about its host: CPU model, memory, cores.
// Read from /proc and sysconf; every function is thread-safe and cheap enough
// to call once per run (they re-read /proc each time, so memory figures are
// current).
#ifndef TOKENMETER_KERNELS_CPU_CPU_INFO_H_
#define TOKENMETER_KERNELS_CPU_CPU_INFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tokenmeter::kernels::cpu {

// The first "model name" value of a /proc/cpuinfo text, trimmed; nullopt when
// there is none (some ARM kernels do not print one).
std::optional<std::string> ParseCpuModelName(std::string_view cpuinfo);

// `field` ("MemTotal", "MemAvailable") of a /proc/meminfo text, in bytes;
// nullopt when absent or malformed.
std::optional<int64_t> ParseMeminfoBytes(std::string_view meminfo, std::string_view field);

// The CPU model name of this host; "unknown CPU" when /proc/cpuinfo names none.
std::string CpuModelName();

// Physical memory of this host in bytes (MemTotal, else sysconf).
int64_t HostMemoryTotalBytes();

// Memory a new allocation can use without swapping: MemAvailable (MemTotal on
// kernels without it), capped by a cgroup v2 memory.max limit when one is set.
int64_t HostMemoryAvailableBytes();

// Cores this process may run on (its affinity mask), at least 1.
int HostCores();

// The host's name; "localhost" when gethostname fails.
std::string HostName();

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_CPU_INFO_H_
