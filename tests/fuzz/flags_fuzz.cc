// libFuzzer target: the command-line parser. The input is an argument list
// (arguments separated by NUL bytes) given to the subcommands that run
// without a network — `claim` and `workloads`, which parse every kind of
// flag the binary has (numbers in plain and scientific form, sizes, names,
// switches) — and to a FlagSet's numeric and size readers directly. Flags
// that reach outside the process (a store to open, a coordinator to dial, a
// file to read) are dropped, so that a run touches nothing but memory.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"

namespace {

bool ReachesOutside(const std::string& arg) {
  for (const char* flag : {"--store", "--coordinator", "--spec", "--catalogue", "--token-file", "--tls-"}) {
    if (arg.rfind(flag, 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> SplitOnNul(const uint8_t* data, size_t size) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.emplace_back();
    } else {
      args.back().push_back(static_cast<char>(data[i]));
    }
  }
  return args;
}

void ReadEveryKind(const std::vector<std::string>& args) {
  using namespace tokenmeter::cli;
  FlagSet flags("fuzz", "fuzz");
  flags.Value("int", "N", "an integer");
  flags.Value("double", "X", "a number");
  flags.Value("bytes", "SIZE", "a size");
  flags.Value("name", "NAME", "a name", "fallback");
  flags.Switch("switch", "a switch");
  if (!flags.Parse(args).ok()) return;
  flags.GetInt("int", -1000, 1000).IgnoreError();
  flags.GetDouble("double", -1e300, 1e300).IgnoreError();
  if (auto b = flags.Get("bytes")) ParseBytes(*b, "--bytes", 1, int64_t{1} << 40).IgnoreError();
  flags.GetAll("name");
  flags.GetSwitch("switch");
  flags.Help();
}

}  // namespace


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenmeter::cli;
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::vector<std::string> args;
  for (auto& arg : SplitOnNul(data + 1, size - 1)) {
    if (!ReachesOutside(arg)) args.push_back(std::move(arg));
  }
  switch (selector % 3) {
    case 0:
      ClaimCommand(args);
      break;
    case 1:
      WorkloadsCommand(args);
      break;
    default:
      ReadEveryKind(args);
  }
  return 0;
}
