// libFuzzer target: the device-catalogue reader (JSON), then the catalogue
// built from it, applied as overrides to the built-in one, and looked up by
// every model and alias it names.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "workload/catalogue.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tokenmeter::workload::DeviceCatalogue;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto catalogue = DeviceCatalogue::ParseJson(json);
  if (!catalogue.ok()) return 0;
  const auto proto = catalogue->ToProto();
  auto merged = DeviceCatalogue::BuiltIn().WithOverrides(proto);
  if (!merged.ok()) return 0;
  for (const auto& entry : proto.devices()) {
    merged->Find(entry.model());
    for (const auto& alias : entry.aliases()) merged->Find(alias);
  }
  return 0;
}
