// Flags several subcommands share, declared and read in one place.
#ifndef TOKENMETER_CLI_COMMON_FLAGS_H_
#define TOKENMETER_CLI_COMMON_FLAGS_H_

#include <iostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "worker/channel.h"

namespace tokenmeter::cli {

// --tls-ca, --tls-cert, --tls-key and --token-file for clients of the coordinator.
void DeclareClientTlsFlags(FlagSet& flags);
worker::ChannelOptions ClientChannelOptions(const FlagSet& flags, const std::string& address);

// --json / --csv.
void DeclareFormatFlags(FlagSet& flags, bool csv);
Format OutputFormat(const FlagSet& flags);

// A duration flag in seconds ("0.5", "30", "1e3"), within [min, max].
absl::StatusOr<absl::Duration> GetSeconds(const FlagSet& flags, absl::string_view name, double min, double max);

// A directory flag's value (given, else its fallback), which must name an
// existing directory; InvalidArgument naming the flag otherwise.
absl::StatusOr<std::string> GetDirectory(const FlagSet& flags, absl::string_view name);

// --sysfs-root DIR: where sysfs is mounted, for the cpu backend's RAPL energy
// counters (DIR/class/powercap). `context` prefixes the help ("--local: the
// workers' ").
void DeclareSysfsRootFlag(FlagSet& flags, absl::string_view context = "");

// Parses flags; prints help (exit 0) or the error (exit 2). Returns -1 when
// the command should go on.
int ParseOrExit(FlagSet& flags, const Args& args);

// Prints "tokenmeter <command>: <message>" on stderr and returns `code`.
int Fail(absl::string_view command, const absl::Status& status, int code = kExitFailed);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_COMMON_FLAGS_H_
