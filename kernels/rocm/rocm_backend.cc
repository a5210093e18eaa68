#include "kernels/rocm/rocm_backend.h"

#include <hip/hip_runtime_api.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tokenmeter::kernels {
namespace {

std::string HipError(hipError_t e) { return absl::StrCat(hipGetErrorName(e), " (", hipGetErrorString(e), ")"); }

std::string UuidString(const hipUUID& uuid) {
  std::string out = "GPU-";
  for (int i = 0; i < 16; ++i) {
    absl::StrAppendFormat(&out, "%02x", static_cast<unsigned char>(uuid.bytes[i]));
    if (i == 3 || i == 5 || i == 7 || i == 9) out += '-';
  }
  return out;
}

absl::StatusOr<DeviceDescription> Describe(int index) {
  hipDeviceProp_t props{};
  if (hipError_t e = hipGetDeviceProperties(&props, index); e != hipSuccess) {
    return absl::UnavailableError(absl::StrCat("backend rocm: hipGetDeviceProperties(", index, "): ", HipError(e)));
  }
  DeviceDescription d;
  d.model = props.name;
  d.memory_bytes = static_cast<int64_t>(props.totalGlobalMem);
  d.compute_units = props.multiProcessorCount;
  d.compute_capability = props.gcnArchName;  // "gfx90a:sramecc+:xnack-"
  hipUUID uuid{};
  d.uuid = hipDeviceGetUuid(&uuid, index) == hipSuccess ? UuidString(uuid) : absl::StrCat("rocm-", index);
  int driver = 0;
  if (hipDriverGetVersion(&driver) == hipSuccess) d.driver_version = absl::StrCat("HIP driver ", driver);
  return d;
}

// The number of AMD GPUs; 0 where the runtime finds none.
absl::StatusOr<int> DeviceCount() {
  int count = 0;
  const hipError_t e = hipGetDeviceCount(&count);
  if (e == hipErrorNoDevice) return 0;
  if (e != hipSuccess) return absl::UnavailableError(absl::StrCat("backend rocm: hipGetDeviceCount: ", HipError(e)));
  return count;
}

class RocmBackend : public Backend {
 public:
  RocmBackend(const BackendOptions& options, DeviceDescription device)
      : options_(options), device_(std::move(device)) {}

  std::string_view kind() const override { return "rocm"; }
  const DeviceDescription& device() const override { return device_; }
  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }

  bool SupportsGemm(DType) const override { return false; }
  bool SupportsCollective(CollectiveOp, DType) const override { return false; }

  absl::StatusOr<GemmRun> RunGemm(const GemmProblem&, const IterationPlan&) override {
    return absl::UnimplementedError("backend rocm: GEMM needs hipBLASLt, which this build does not have");
  }
  absl::StatusOr<CollectiveRun> RunCollective(CollectiveOp, int64_t, DType, const IterationPlan&) override {
    return absl::UnimplementedError("backend rocm: collectives need RCCL, which this build does not have");
  }
  absl::StatusOr<double> EnergyJoules() override {
    return absl::UnimplementedError("backend rocm: energy needs rocm-smi, which this build does not read");
  }

 private:
  BackendOptions options_;
  DeviceDescription device_;
};

}  // namespace

absl::StatusOr<std::vector<DeviceDescription>> ListRocmDevices() {
  absl::StatusOr<int> count = DeviceCount();
  if (!count.ok()) return count.status();
  std::vector<DeviceDescription> out;
  for (int i = 0; i < *count; ++i) {
    absl::StatusOr<DeviceDescription> d = Describe(i);
    if (!d.ok()) return d.status();
    out.push_back(*std::move(d));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Backend>> NewRocmBackend(const BackendOptions& options) {
  if (options.world_size > 1) {
    return absl::UnimplementedError(absl::StrCat("backend rocm: a job of ", options.world_size,
                                                 " ranks needs RCCL, which this build does not have"));
  }
  absl::StatusOr<int> count = DeviceCount();
  if (!count.ok()) return count.status();
  if (*count == 0) return absl::UnavailableError("backend rocm: no AMD GPU on this host (hipErrorNoDevice)");
  if (options.device_index < 0 || options.device_index >= *count) {
    return absl::InvalidArgumentError(absl::StrCat("backend rocm: device_index must be in [0, ", *count, "), got ",
                                                   options.device_index));
  }
  if (hipError_t e = hipSetDevice(options.device_index); e != hipSuccess) {
    return absl::UnavailableError(absl::StrCat("backend rocm: hipSetDevice(", options.device_index, "): ", HipError(e)));
  }
  absl::StatusOr<DeviceDescription> device = Describe(options.device_index);
  if (!device.ok()) return device.status();
  return std::make_unique<RocmBackend>(options, *std::move(device));
}

}  // namespace tokenmeter::kernels
