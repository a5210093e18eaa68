// tokenmeter workloads: the standard workloads and the model presets.
#include "cli/common_flags.h"
#include "workload/spec.h"

namespace tokenmeter::cli {

int WorkloadsCommand(const Args& args) {
  FlagSet flags("workloads", "[--json]");
  DeclareFormatFlags(flags, /*csv=*/false);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  for (const auto& name : workload::StandardWorkloadNames()) std::cout << name << "\n";
  return kExitOk;
}

}  // namespace tokenmeter::cli
