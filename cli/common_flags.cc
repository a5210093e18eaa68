#include "cli/common_flags.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace tokenmeter::cli {

void DeclareClientTlsFlags(FlagSet& flags) {
  flags.Value("tls-ca", "FILE", "verify the coordinator's TLS certificate with this CA (PEM); enables TLS");
  flags.Value("tls-cert", "FILE", "client certificate (PEM) for mutual TLS");
  flags.Value("tls-key", "FILE", "client private key (PEM) for mutual TLS");
  flags.Value("token-file", "FILE", "a file holding this client's bearer token (for a coordinator run with --token-file)");
}

worker::ChannelOptions ClientChannelOptions(const FlagSet& flags, const std::string& address) {
  worker::ChannelOptions o;
  o.address = address;
  o.tls_ca_file = flags.Get("tls-ca").value_or("");
  o.tls_cert_file = flags.Get("tls-cert").value_or("");
  o.tls_key_file = flags.Get("tls-key").value_or("");
  o.token_file = flags.Get("token-file").value_or("");
  return o;
}

void DeclareFormatFlags(FlagSet& flags, bool csv) {
  flags.Switch("json", "print JSON Lines (one object per line, with a \"schema\" field) instead of tables");
  if (csv) flags.Switch("csv", "print CSV instead of tables");
}

Format OutputFormat(const FlagSet& flags) {
  if (flags.GetSwitch("json")) return Format::kJson;
  if (flags.GetSwitch("csv")) return Format::kCsv;
  return Format::kTable;
}

absl::StatusOr<absl::Duration> GetSeconds(const FlagSet& flags, absl::string_view name, double min, double max) {
  auto v = flags.GetDouble(name, min, max);
  if (!v.ok()) return v.status();
  return absl::Seconds(*v);
}

absl::StatusOr<std::string> GetDirectory(const FlagSet& flags, absl::string_view name) {
  const std::string dir = flags.Get(name).value_or("");
  std::error_code error;
  if (dir.empty() || !std::filesystem::is_directory(dir, error)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", dir, "' is not a directory",
                                                   error ? absl::StrCat(" (", error.message(), ")") : ""));
  }
  return dir;
}

void DeclareSysfsRootFlag(FlagSet& flags, absl::string_view context) {
  flags.Value("sysfs-root", "DIR",
              absl::StrCat(context,
                           "sysfs mount: the cpu backend reads RAPL energy counters (whole-host CPU package "
                           "energy) under DIR/class/powercap; in a container, the host's /sys mounted read-only, "
                           "e.g. /host/sys"),
              "/sys");
}

int ParseOrExit(FlagSet& flags, const Args& args) {
  auto s = flags.Parse(args);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return kExitOk;
  }
  if (!s.ok()) {
    std::cerr << "tokenmeter: " << s.message() << "\n";
    return kExitUsage;
  }
  if (flags.GetSwitch("json") && flags.GetSwitch("csv")) {
    std::cerr << "tokenmeter: --json and --csv exclude each other\n";
    return kExitUsage;
  }
  return -1;
}

int Fail(absl::string_view command, const absl::Status& status, int code) {
  std::cerr << "tokenmeter " << command << ": " << status.message() << "\n";
  return code;
}

}  // namespace tokenmeter::cli
