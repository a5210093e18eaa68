// CudaBackend: composes the device description, the cuBLASLt GEMM, the NCCL
// communicator and NVML energy behind kernels::Backend. Each part lives in
// its own file; this one owns their lifetimes and the current-device rule.
#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_gemm.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/cuda_step.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/nccl_comm.h"
#include "kernels/cuda/nvml_loader.h"

namespace tokenmeter::kernels {
namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend(const BackendOptions& options, DeviceDescription device)
      : options_(options), device_(std::move(device)) {}

  ~CudaBackend() override {
    // The current device is per thread: make ours current before teardown.
    cudaSetDevice(options_.device_index);
    // The overlapped collectives' communicators, then the groups', then the
    // world's: one order on every rank.
    overlap_groups_.reset();
    groups_.reset();
    comm_.reset();
    gemm_.reset();
    if (comm_stream_ != nullptr) cudaStreamDestroy(comm_stream_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Everything that can fail in construction; see NewCudaBackend.
  absl::Status Init() {
    const int dev = options_.device_index;
    TM_CUDA_RETURN_IF_ERROR(cudaSetDevice(dev), "cudaSetDevice(", dev, ")");
    TM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                            "cudaStreamCreate on device ", dev);
    absl::StatusOr<std::unique_ptr<cuda::CublasLtGemm>> gemm =
        cuda::CublasLtGemm::Create(dev, device_, stream_);
    if (!gemm.ok()) return gemm.status();
    gemm_ = *std::move(gemm);

    // Energy baseline; NVML missing is not an error, only energy is then
    // Unimplemented.
    absl::StatusOr<cuda::Nvml*> nvml = cuda::Nvml::Get();
    if (nvml.ok()) {
      absl::StatusOr<cuda::NvmlDevice> d = (*nvml)->DeviceByCudaUuid(device_.uuid);
      if (d.ok()) {
        absl::StatusOr<double> e0 = d->TotalEnergyJoules();
        if (e0.ok()) {
          nvml_device_ = *d;
          energy_at_start_ = *e0;
        } else {
          energy_status_ = absl::UnimplementedError(absl::StrCat(
              "device ", dev, " (", device_.model, ") does not report energy",
              d->mig() ? " (a MIG instance: NVML reports energy for whole GPUs only)" : "", ": ",
              e0.status().message()));
        }
      } else {
        energy_status_ = absl::UnimplementedError(
            absl::StrCat("NVML does not know device ", dev, ": ", d.status().message()));
      }
    } else {
      energy_status_ = nvml.status();
    }

    // world_size > 1 joins the job now (Backend::Create's contract); a lone
    // rank creates its communicator on first use.
    if (options_.world_size > 1) return EnsureComm();
    return absl::OkStatus();
  }

  std::string_view kind() const override { return "cuda"; }
  const DeviceDescription& device() const override { return device_; }
  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }

  bool SupportsGemm(DType dtype) const override { return gemm_->Supports(dtype); }
  bool SupportsCollective(CollectiveOp op, DType dtype) const override {
    return cuda::NcclComm::Supports(op, dtype);
  }

  absl::StatusOr<GemmRun> RunGemm(const GemmProblem& problem, const IterationPlan& plan) override {
    TM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device_index), "cudaSetDevice(",
                            options_.device_index, ")");
    return gemm_->Run(problem, plan, options_.stop);
  }

  absl::StatusOr<CollectiveRun> RunCollective(CollectiveOp op, int64_t count, DType dtype,
                                              const IterationPlan& plan) override {
    TM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device_index), "cudaSetDevice(",
                            options_.device_index, ")");
    if (absl::Status s = EnsureComm(); !s.ok()) return s;
    return comm_->Run(op, count, dtype, plan, options_.stop);
  }

  absl::StatusOr<StepRun> RunStep(const StepProgram& program, const IterationPlan& plan) override {
    TM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device_index), "cudaSetDevice(",
                            options_.device_index, ")");
    if (groups_ == nullptr) {
      groups_ = std::make_unique<cuda::GroupCommunicators>(
          options_, stream_, [this]() -> absl::StatusOr<cuda::NcclComm*> {
            if (absl::Status s = EnsureComm(); !s.ok()) return s;
            return comm_.get();
          });
    }
    // Overlappable collectives get a stream and communicators of their own,
    // made on the first program that has any.
    const bool overlap = std::any_of(program.ops.begin(), program.ops.end(), [](const StepOp& op) {
      return op.kind == StepOp::Kind::kCollective && op.overlappable;
    });
    if (overlap && overlap_groups_ == nullptr) {
      if (comm_stream_ == nullptr) {
        TM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking),
                                "cudaStreamCreate (communication stream) on device ",
                                options_.device_index);
      }
      BackendOptions overlap_options = options_;
      overlap_options.store_prefix = absl::StrCat(options_.store_prefix, "/overlap");
      overlap_groups_ = std::make_unique<cuda::GroupCommunicators>(overlap_options, comm_stream_, nullptr);
    }
    cuda::StepDevice dev;
    dev.rank = options_.rank;
    dev.world_size = options_.world_size;
    dev.device_index = options_.device_index;
    dev.device = &device_;
    dev.stream = stream_;
    dev.timeout = options_.timeout;
    dev.gemm = gemm_.get();
    dev.comms = groups_.get();
    if (overlap) {
      dev.comm_stream = comm_stream_;
      dev.overlap_comms = overlap_groups_.get();
    }
    dev.energy = [this]() { return EnergyJoules(); };
    dev.stop = options_.stop;
    return cuda::RunStepProgram(program, plan, dev);
  }

  // See DescribeCudaGemmAlgorithm.
  absl::StatusOr<CudaGemmAlgorithm> GemmAlgorithm(const GemmProblem& problem) {
    TM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device_index), "cudaSetDevice(",
                            options_.device_index, ")");
    absl::StatusOr<const cuda::PreparedGemm*> gemm = gemm_->Prepare(problem);
    if (!gemm.ok()) return gemm.status();
    CudaGemmAlgorithm out;
    out.algo_id = (*gemm)->algo_id;
    out.split_k = (*gemm)->split_k;
    out.reduction_scheme = cuda::ReductionSchemeName((*gemm)->reduction_scheme);
    out.check_widened = cuda::SplitKRoundsInOutputType(**gemm);
    return out;
  }

  absl::StatusOr<double> EnergyJoules() override {
    if (!nvml_device_.has_value()) return energy_status_;
    absl::StatusOr<double> now = nvml_device_->TotalEnergyJoules();
    if (!now.ok()) return now.status();
    return *now - energy_at_start_;
  }

 private:
  absl::Status EnsureComm() {
    if (comm_ != nullptr) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<cuda::NcclComm>> comm = cuda::NcclComm::Create(options_, stream_);
    if (!comm.ok()) return comm.status();
    comm_ = *std::move(comm);
    return absl::OkStatus();
  }

  BackendOptions options_;
  DeviceDescription device_;
  cudaStream_t stream_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;  // overlapped collectives (first RunStep with any)
  std::unique_ptr<cuda::CublasLtGemm> gemm_;
  std::unique_ptr<cuda::NcclComm> comm_;
  // The training step's communicators (created on the first RunStep).
  std::unique_ptr<cuda::GroupCommunicators> groups_;
  // Their own set for the overlapped collectives, on comm_stream_.
  std::unique_ptr<cuda::GroupCommunicators> overlap_groups_;
  std::optional<cuda::NvmlDevice> nvml_device_;
  double energy_at_start_ = 0;
  absl::Status energy_status_ = absl::UnimplementedError("NVML not available");
};

// A GPU's power as NVML reports it (nvmlDeviceGetPowerUsage). NVML is
// thread-safe and needs no CUDA context, so this can be read from any thread
// while jobs run.
class NvmlPowerSource final : public PowerSource {
 public:
  NvmlPowerSource(cuda::NvmlDevice device, std::string uuid) : device_(device), uuid_(std::move(uuid)) {}

  absl::StatusOr<double> Watts() override { return device_.PowerWatts(); }

  std::string Describe() const override {
    return absl::StrCat("NVML power usage of ", uuid_,
                        " (nvmlDeviceGetPowerUsage: a 1 s average on Ampere and newer, instantaneous before)");
  }

 private:
  cuda::NvmlDevice device_;
  std::string uuid_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PowerSource>> OpenCudaPowerSource(const PowerSourceOptions& options) {
  absl::StatusOr<cuda::Nvml*> nvml = cuda::Nvml::Get();
  if (!nvml.ok()) return nvml.status();
  absl::StatusOr<cuda::NvmlDevice> device = (*nvml)->DeviceByCudaUuid(options.uuid);
  if (!device.ok()) return device.status();
  // Checked once here, so a GPU that does not report power has no source
  // (and no gauge) rather than an error every sample.
  if (absl::StatusOr<double> watts = device->PowerWatts(); !watts.ok()) {
    if (device->mig()) {
      return absl::UnimplementedError(absl::StrCat(
          "GPU ", options.uuid, " is a MIG instance, whose power NVML does not report (only the "
          "whole GPU's): ", watts.status().message()));
    }
    return absl::UnimplementedError(
        absl::StrCat("GPU ", options.uuid, " does not report power: ", watts.status().message()));
  }
  return std::unique_ptr<PowerSource>(new NvmlPowerSource(*device, options.uuid));
}

absl::StatusOr<CudaGemmAlgorithm> DescribeCudaGemmAlgorithm(Backend& backend,
                                                            const GemmProblem& problem) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (cuda == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DescribeCudaGemmAlgorithm needs a backend made by NewCudaBackend, got kind '",
        std::string(backend.kind()), "'"));
  }
  return cuda->GemmAlgorithm(problem);
}

absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(const BackendOptions& options) {
  // Backend::Create checks these too; NewCudaBackend may be called directly.
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank must be in [0, world_size): rank=",
                                                   options.rank, " world_size=", options.world_size));
  }
  if (options.world_size > 1 && options.store == nullptr) {
    return absl::InvalidArgumentError("a store is required when world_size > 1");
  }
  absl::StatusOr<int> count = cuda::CudaDeviceCount();
  if (!count.ok()) {
    return absl::UnavailableError(absl::StrCat("no CUDA device: ", count.status().message()));
  }
  if (options.device_index < 0 || options.device_index >= *count) {
    return absl::InvalidArgumentError(absl::StrCat("device_index ", options.device_index,
                                                   " is out of range: this host has ", *count,
                                                   " CUDA device(s)"));
  }
  absl::StatusOr<DeviceDescription> device = cuda::DescribeCudaDevice(options.device_index);
  if (!device.ok()) return device.status();
  auto backend = std::make_unique<CudaBackend>(options, *std::move(device));
  if (absl::Status s = backend->Init(); !s.ok()) return s;
  return backend;
}

}  // namespace tokenmeter::kernels
