// libFuzzer target: the workload-spec reader (JSON, protobuf's reader with
// unknown fields refused), then validation of whatever parses, at a few rank
// counts and device sizes. Whatever the input, an error or a spec; never a
// crash, a hang or a leak.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "workload/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenmeter::workload;
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  auto spec = ParseSpecJson(json);
  if (!spec.ok()) return 0;
  for (const Placement& placement : {Placement{1, 0}, Placement{3, int64_t{80} << 30}, Placement{kMaxRanks, 1 << 20}}) {
    ValidateSpec(*spec, placement).IgnoreError();
  }
  CanonicalWorkloadName(spec->name());
  return 0;
}
