// Workload specs: resolving a name to its standard spec, reading a spec a
// user wrote, and validating a spec against bounds before anything runs.
#ifndef TOKENMETER_WORKLOAD_SPEC_H_
#define TOKENMETER_WORKLOAD_SPEC_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// The standard workload called `name` ("gemm", "collective",
// "collective/all-reduce", "train-step/<model>/<profile>") at its current
// version. "train-step/<model>" is the preset under its own profile; the
// spec's name is always the canonical one, with the profile. InvalidArgument
// naming the known names when `name` is unknown.
absl::StatusOr<v1::WorkloadSpec> ResolveWorkload(absl::string_view name);

// The name results of `name` are stored under: ResolveWorkload's spec name
// for a standard workload ("train-step/tiny" -> "train-step/tiny/eager"),
// `name` itself otherwise (a spec file's own name).
std::string CanonicalWorkloadName(absl::string_view name);

// Every canonical standard workload name ResolveWorkload accepts.
std::vector<std::string> StandardWorkloadNames();

// The train-step workload's version: 2 since the plan follows a framework
// profile (separate or fused projections, its non-matmul passes, transposed
// operands). Results of different versions are not the same measurement.
inline constexpr int kTrainStepVersion = 2;

// Reads a spec from a JSON file (protobuf's JSON reader; unknown fields are
// errors). The error names the file and the offending field.
absl::StatusOr<v1::WorkloadSpec> LoadSpecFile(const std::string& path);

// Parses a spec from JSON text (as LoadSpecFile, without the file).
absl::StatusOr<v1::WorkloadSpec> ParseSpecJson(absl::string_view json);

// What the spec will run on; bounds the sizes it may ask for.
struct Placement {
  int ranks = 1;
  int64_t device_memory_bytes = 0;  // smallest device memory; 0 = unknown (not checked)
};

// Checks the spec for bounds: positive counts and sizes, iteration counts in
// range, sizes that fit in device memory, sizes that divide among ranks.
// InvalidArgument naming the field (e.g. "gemm.shapes[2].m") and the bound.
absl::Status ValidateSpec(const v1::WorkloadSpec& spec, const Placement& placement);

// Bounds applied by ValidateSpec.
inline constexpr int kMaxRanks = 4096;
inline constexpr int kMaxIterations = 100000;
inline constexpr int64_t kMaxGemmDim = 1 << 20;

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_SPEC_H_
