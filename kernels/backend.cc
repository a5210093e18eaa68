#include "kernels/backend.h"

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#ifdef TOKENMETER_HAVE_CUDA
#include "kernels/cuda_plugin.h"
#endif

namespace tokenmeter::kernels {

absl::StatusOr<std::unique_ptr<Backend>> Backend::Create(std::string_view kind,
                                                         const BackendOptions& options) {
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("world_size must be >= 1, got ", options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank must be in [0, ", options.world_size,
                                                   "), got ", options.rank));
  }
  if (options.world_size > 1 && options.store == nullptr) {
    return absl::InvalidArgumentError("a store is required when world_size > 1");
  }
  if (kind == "cpu") return NewCpuBackend(options);
#ifdef TOKENMETER_HAVE_CUDA
  if (kind == "cuda") return LoadCudaBackend(options);
#else
  if (kind == "cuda") {
    return absl::UnavailableError("backend cuda was not built into this binary (TOKENMETER_WITH_CUDA=OFF)");
  }
#endif
  return absl::InvalidArgumentError(absl::StrCat("unknown backend '", std::string(kind), "' (known: cpu, cuda)"));
}

absl::StatusOr<std::vector<DeviceDescription>> Backend::ListDevices(std::string_view kind) {
  if (kind == "cpu") return ListCpuDevices();
#ifdef TOKENMETER_HAVE_CUDA
  if (kind == "cuda") return LoadCudaDevices();
#else
  if (kind == "cuda") {
    return absl::UnavailableError("backend cuda was not built into this binary (TOKENMETER_WITH_CUDA=OFF)");
  }
#endif
  return absl::InvalidArgumentError(absl::StrCat("unknown backend '", std::string(kind), "' (known: cpu, cuda)"));
}

absl::StatusOr<std::string> Backend::DescribeEnergy(std::string_view kind, const BackendOptions& options) {
  if (kind == "cpu") return DescribeCpuEnergy(options);
  // NVML is loaded with the plugin, on the first job; its per-GPU energy
  // counter is checked then.
  if (kind == "cuda") return std::string("NVML's per-GPU energy counter, where the driver reports it");
  return absl::InvalidArgumentError(absl::StrCat("unknown backend '", std::string(kind), "' (known: cpu, cuda)"));
}

absl::StatusOr<std::unique_ptr<PowerSource>> Backend::OpenPowerSource(std::string_view kind,
                                                                      const PowerSourceOptions& options) {
  if (kind == "cpu") return OpenCpuPowerSource(options);
#ifdef TOKENMETER_HAVE_CUDA
  if (kind == "cuda") return LoadCudaPowerSource(options);
#else
  if (kind == "cuda") {
    return absl::UnavailableError("backend cuda was not built into this binary (TOKENMETER_WITH_CUDA=OFF)");
  }
#endif
  return absl::InvalidArgumentError(absl::StrCat("unknown backend '", std::string(kind), "' (known: cpu, cuda)"));
}

std::vector<std::string> Backend::AvailableKinds() {
#ifdef TOKENMETER_HAVE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

}  // namespace tokenmeter::kernels
