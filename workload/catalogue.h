// The device catalogue: datasheet dense peaks per dtype, bandwidths and
// default prices per device model (docs/cost-model.md lists every figure and
// its source). Built in as data (catalogue.cc, JSON in the DeviceCatalogue
// schema of proto/tokenmeter/v1/catalogue.proto); a user's JSON file of the
// same schema adds devices or overrides fields.
//
// A name resolves only to the device it names: an unknown device has no
// peak, and no other device's peak is ever used in its place.
#ifndef TOKENMETER_WORKLOAD_CATALOGUE_H_
#define TOKENMETER_WORKLOAD_CATALOGUE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tokenmeter/v1/catalogue.pb.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

struct DeviceSpec {
  std::string model;  // canonical, e.g. "NVIDIA H100 SXM"
  std::map<v1::DType, double> peak_dense_flops;  // FLOP/s, dense (no 2:4 sparsity)
  double memory_bandwidth_bytes_per_s = 0;
  double interconnect_bytes_per_s = 0;  // per device, scale-up fabric
  double price_per_device_hour = 0;     // USD; a default (docs/cost-model.md)
  std::string source;                   // datasheet the figures come from
  std::vector<std::string> aliases;     // normalised (see NormalizeDeviceName)
  int64_t memory_bytes = 0;

  // Dense peak FLOP/s for `dtype`; 0 when the datasheet gives none (A100 fp8).
  double PeakFlops(v1::DType dtype) const;
};

// Lower case, '-' and '_' as spaces, spaces collapsed, a leading "nvidia",
// "amd" or "amd instinct" dropped: "NVIDIA A100-SXM4-80GB" → "a100 sxm4 80gb".
std::string NormalizeDeviceName(std::string_view name);

// An immutable set of devices; safe for concurrent use.
class DeviceCatalogue {
 public:
  // The catalogue shipped with tokenmeter.
  static const DeviceCatalogue& BuiltIn();

  // From the schema. InvalidArgument naming the field
  // ("catalogue.devices[1].peak_dense_flops: unknown dtype \"bf17\"") for an
  // empty model, an unknown dtype key, a negative or non-positive figure, or a
  // name that already resolves to another entry.
  static absl::StatusOr<DeviceCatalogue> FromProto(const v1::DeviceCatalogue& proto);

  // From JSON text of DeviceCatalogue (unknown fields are errors).
  static absl::StatusOr<DeviceCatalogue> ParseJson(std::string_view json);

  // This catalogue with `overrides` applied: an entry whose model (or an
  // alias) names an existing device changes only the fields it sets (non-zero
  // numbers, non-empty strings; peaks per dtype; aliases added); any other
  // entry is a new device. Same errors as FromProto.
  absl::StatusOr<DeviceCatalogue> WithOverrides(const v1::DeviceCatalogue& overrides) const;

  // The device `name` resolves to (canonical model or an alias, after
  // NormalizeDeviceName); nullptr when none. The pointer lives as long as the
  // catalogue.
  const DeviceSpec* Find(std::string_view name) const;

  const std::vector<DeviceSpec>& devices() const { return devices_; }
  v1::DeviceCatalogue ToProto() const;

 private:
  std::vector<DeviceSpec> devices_;
};

// BuiltIn().Find(model_name).
const DeviceSpec* FindDevice(std::string_view model_name);

// The built-in catalogue with the JSON file at `path` applied as overrides.
// NotFound when the file cannot be read; InvalidArgument naming the file and
// the field when it does not parse or check.
absl::StatusOr<DeviceCatalogue> LoadCatalogueFile(const std::string& path);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_CATALOGUE_H_
