// The one command-line parser of the tokenmeter binary. Each subcommand
// declares its flags (name, help, default) and parses its arguments; errors
// name the flag and the bound. Numbers accept plain and scientific forms
// ("14.8e12", "2.664e6").
#ifndef TOKENMETER_CLI_FLAGS_H_
#define TOKENMETER_CLI_FLAGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tokenmeter::cli {

// Flags of one subcommand. Not thread-safe; used on the main thread.
class FlagSet {
 public:
  FlagSet(std::string command, std::string synopsis);

  // Declares a flag taking a value ("--name VALUE" or "--name=VALUE").
  // `fallback` is shown in --help and returned when the flag is absent; an
  // empty fallback means "no default".
  void Value(std::string name, std::string value_name, std::string help, std::string fallback = "");
  // Declares a boolean switch ("--name").
  void Switch(std::string name, std::string help);
  // Declares the one positional argument the command takes ("FILE"); without
  // it a positional argument is an error. "-" is a positional, not a flag.
  void Positional(std::string value_name, std::string help);

  // Parses args (without the program and subcommand names). InvalidArgument
  // for an unknown flag, a missing value or a stray positional argument.
  // Sets help_requested() for --help / -h.
  absl::Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  std::string Help() const;

  bool Has(absl::string_view name) const;  // given on the command line
  // The positional argument; nullopt when none was given.
  const std::optional<std::string>& positional() const { return positional_; }
  bool GetSwitch(absl::string_view name) const;
  // The value given, else the fallback; nullopt when neither.
  std::optional<std::string> Get(absl::string_view name) const;
  // Required value: InvalidArgument "--name is required" when absent.
  absl::StatusOr<std::string> Require(absl::string_view name) const;
  // Every value of a repeated flag, in order; the fallback alone when absent.
  std::vector<std::string> GetAll(absl::string_view name) const;

  // Numeric values, with bounds checked and named in the error:
  // "--ranks must be an integer in [1, 4096], got '0'".
  absl::StatusOr<int64_t> GetInt(absl::string_view name, int64_t min, int64_t max) const;
  absl::StatusOr<double> GetDouble(absl::string_view name, double min, double max) const;

 private:
  struct Flag {
    std::string name;
    std::string value_name;  // empty for switches
    std::string help;
    std::string fallback;
  };
  const Flag* Find(absl::string_view name) const;

  std::string command_;
  std::string synopsis_;
  std::vector<Flag> flags_;
  std::map<std::string, std::string, std::less<>> values_;
  std::string positional_name_, positional_help_;  // empty name: none declared
  std::optional<std::string> positional_;
  bool help_requested_ = false;
};

// Parses a number in plain or scientific form ("8", "1e9", "14.8e12") that
// must be a whole number within [min, max]; the error names `what`.
absl::StatusOr<int64_t> ParseInt(absl::string_view text, absl::string_view what, int64_t min, int64_t max);
absl::StatusOr<double> ParseDouble(absl::string_view text, absl::string_view what, double min, double max);

// Parses a size with an optional binary suffix: "8", "64K", "1M", "8G" (KiB,
// MiB, GiB). InvalidArgument naming `what` otherwise.
absl::StatusOr<int64_t> ParseBytes(absl::string_view text, absl::string_view what, int64_t min, int64_t max);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_FLAGS_H_
