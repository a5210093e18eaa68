// tokenmeter claim: check a training-cost claim.
#include "cli/common_flags.h"

namespace tokenmeter::cli {

int ClaimCommand(const Args& args) {
  FlagSet flags("claim", "(--model NAME | --spec FILE) --tokens N --device-hours H --device MODEL [flags]");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  return Fail("claim", absl::UnimplementedError("claim is not implemented yet"));
}

}  // namespace tokenmeter::cli
