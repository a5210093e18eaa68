#include "kernels/cpu/cpu_backend.h"

#include <cblas.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/cpu_step.h"
#include "kernels/cpu/gloo_collectives.h"
#include "kernels/cpu/rapl_energy.h"
#include "kernels/cpu/rapl_power.h"

namespace tokenmeter::kernels {
namespace {

DeviceDescription DescribeHost(int compute_units) {
  DeviceDescription device;
  device.model = cpu::CpuModelName();
  // Stable across runs on one host; one CPU "device" per host.
  device.uuid = absl::StrCat(cpu::HostName(), "-cpu");
  device.memory_bytes = cpu::HostMemoryTotalBytes();
  device.compute_units = compute_units;
  // The BLAS build doing the arithmetic, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Zen MAX_THREADS=64".
  device.driver_version = openblas_get_config();
  return device;
}

class CpuBackend : public Backend {
 public:
  CpuBackend(const BackendOptions& options, int threads,
             std::unique_ptr<cpu::GlooCommunicator> communicator,
             absl::StatusOr<cpu::RaplEnergy> energy)
      : options_(options),
        threads_(threads),
        device_(DescribeHost(threads)),
        communicator_(std::move(communicator)),
        energy_(std::move(energy)),
        steps_(communicator_.get(), threads_) {}

  std::string_view kind() const override { return "cpu"; }
  const DeviceDescription& device() const override { return device_; }
  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }

  bool SupportsGemm(DType dtype) const override { return cpu::CpuGemmSupports(dtype); }
  bool SupportsCollective(CollectiveOp op, DType dtype) const override {
    return cpu::GlooCommunicator::Supports(op, dtype);
  }

  absl::StatusOr<GemmRun> RunGemm(const GemmProblem& problem, const IterationPlan& plan) override {
    return cpu::RunCpuGemm(problem, plan, threads_, options_.stop, options_.iterations_begun);
  }

  absl::StatusOr<CollectiveRun> RunCollective(CollectiveOp op, int64_t count, DType dtype,
                                              const IterationPlan& plan) override {
    return communicator_->Run(op, count, dtype, plan);
  }

  absl::StatusOr<StepRun> RunStep(const StepProgram& program, const IterationPlan& plan) override {
    return steps_.Run(program, plan, energy_.ok() ? &*energy_ : nullptr);
  }

  absl::StatusOr<double> EnergyJoules() override {
    if (!energy_.ok()) return energy_.status();
    return energy_->Joules();
  }

 private:
  BackendOptions options_;
  int threads_;
  DeviceDescription device_;
  std::unique_ptr<cpu::GlooCommunicator> communicator_;
  absl::StatusOr<cpu::RaplEnergy> energy_;
  cpu::CpuStepRunner steps_;  // uses communicator_: declared after it
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewCpuBackend(const BackendOptions& options) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", options.rank, " / world_size ",
                                                   options.world_size, " is not a valid placement"));
  }
  if (options.cpu_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu_threads must be >= 0 (0 = every core), got ", options.cpu_threads));
  }
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive, got ", options.timeout.count(), " ms"));
  }
  if (options.collective_host.empty()) {
    return absl::InvalidArgumentError("collective_host must name an address to listen on");
  }
  const int threads = options.cpu_threads > 0 ? options.cpu_threads : cpu::HostCores();
  absl::StatusOr<std::unique_ptr<cpu::GlooCommunicator>> communicator =
      cpu::GlooCommunicator::Connect(options);
  if (!communicator.ok()) return communicator.status();
  return std::make_unique<CpuBackend>(options, threads, *std::move(communicator),
                                      cpu::RaplEnergy::Start(cpu::RaplEnergy::PowercapDir(options.sysfs_root)));
}

absl::StatusOr<std::string> DescribeCpuEnergy(const BackendOptions& options) {
  const std::string dir = cpu::RaplEnergy::PowercapDir(options.sysfs_root);
  absl::StatusOr<cpu::RaplEnergy> energy = cpu::RaplEnergy::Start(dir);
  if (!energy.ok()) return energy.status();
  return absl::StrCat("RAPL counters of ", absl::StrJoin(energy->zones(), ", "), " under ", dir,
                      " (whole-host CPU package energy, shared by every rank on this host)");
}

absl::StatusOr<std::unique_ptr<PowerSource>> OpenCpuPowerSource(const PowerSourceOptions& options) {
  // RAPL is whole-host: several CPU devices would each show the same host
  // figure and a sum over them would count it several times. Device 0 (the
  // only one ListCpuDevices lists today) carries it.
  if (options.device_index != 0) {
    return absl::NotFoundError(absl::StrCat("backend cpu reports RAPL power (whole-host) on device 0 only, not on device ",
                                            options.device_index));
  }
  absl::StatusOr<std::unique_ptr<cpu::RaplPower>> power =
      cpu::RaplPower::Start(cpu::RaplEnergy::PowercapDir(options.sysfs_root));
  if (!power.ok()) return power.status();
  return std::unique_ptr<PowerSource>(*std::move(power));
}

absl::StatusOr<std::vector<DeviceDescription>> ListCpuDevices() {
  return std::vector<DeviceDescription>{DescribeHost(cpu::HostCores())};
}

}  // namespace tokenmeter::kernels
