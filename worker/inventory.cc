#include "worker/inventory.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/plugin/plugin_abi.h"
#include "kernels/plugin/plugin_host.h"

namespace tokenmeter::worker {
namespace {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

constexpr v1::DType kAllDTypes[] = {v1::DTYPE_FP32, v1::DTYPE_TF32, v1::DTYPE_FP16, v1::DTYPE_BF16,
                                    v1::DTYPE_FP8_E4M3};
constexpr v1::CollectiveOp kAllOps[] = {v1::ALL_REDUCE, v1::ALL_GATHER, v1::REDUCE_SCATTER,
                                        v1::ALL_TO_ALL, v1::BROADCAST,  v1::REDUCE};

}  // namespace

absl::StatusOr<kernels::DType> ToKernels(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FP32: return kernels::DType::kFp32;
    case v1::DTYPE_TF32: return kernels::DType::kTf32;
    case v1::DTYPE_FP16: return kernels::DType::kFp16;
    case v1::DTYPE_BF16: return kernels::DType::kBf16;
    case v1::DTYPE_FP8_E4M3: return kernels::DType::kFp8E4M3;
    default: return absl::InvalidArgumentError(absl::StrCat("unknown dtype ", static_cast<int>(dtype)));
  }
}

absl::StatusOr<kernels::CollectiveOp> ToKernels(v1::CollectiveOp op) {
  switch (op) {
    case v1::ALL_REDUCE: return kernels::CollectiveOp::kAllReduce;
    case v1::ALL_GATHER: return kernels::CollectiveOp::kAllGather;
    case v1::REDUCE_SCATTER: return kernels::CollectiveOp::kReduceScatter;
    case v1::ALL_TO_ALL: return kernels::CollectiveOp::kAllToAll;
    case v1::BROADCAST: return kernels::CollectiveOp::kBroadcast;
    case v1::REDUCE: return kernels::CollectiveOp::kReduce;
    default: return absl::InvalidArgumentError(absl::StrCat("unknown collective ", static_cast<int>(op)));
  }
}

std::string LocalAddressToward(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  const std::string host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  const std::string port = colon == std::string::npos ? "7070" : host_port.substr(colon + 1);
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return "127.0.0.1";
  std::string local = "127.0.0.1";
  // A connected UDP socket sends nothing but makes the kernel pick the route.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_in addr = {};
    socklen_t len = sizeof(addr);
    char buf[INET_ADDRSTRLEN] = {};
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof(buf)) != nullptr) {
      local = buf;
    }
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return local;
}

absl::StatusOr<v1::WorkerInventory> BuildInventory(const InventoryOptions& options) {
  auto devices = kernels::Backend::ListDevices(options.backend);
  if (!devices.ok()) return devices.status();
  if (devices->empty()) {
    return absl::UnavailableError(absl::StrCat("backend ", options.backend, " sees no device on this host"));
  }
  if (options.devices < 0 || options.devices > static_cast<int>(devices->size())) {
    return absl::InvalidArgumentError(absl::StrCat("--devices must be in [0, ", devices->size(), "] for backend ",
                                                   options.backend, " here, got ", options.devices));
  }
  const int count = options.devices == 0 ? static_cast<int>(devices->size()) : options.devices;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  v1::WorkerInventory inv;
  inv.set_hostname(Hostname());
  inv.set_backend(options.backend);
  if (options.backend != "cpu") {
    // A plugin named by its path is listed by the backend's own name.
    auto plugin = kernels::plugin::FindPlugin(options.backend);
    if (!plugin.ok()) return plugin.status();
    inv.set_backend(plugin->name);
    inv.set_backend_plugin(absl::StrCat(plugin->path, " ", plugin->version, " (plugin ABI ",
                                        TOKENMETER_PLUGIN_ABI_VERSION, ")"));
  }
  inv.set_cpu_cores(cores);
  inv.set_host_memory_bytes(static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE));
  inv.set_setup(options.setup.empty() ? absl::StrCat(inv.hostname(), "-", inv.backend()) : options.setup);
  inv.set_price_per_device_hour(options.price_per_device_hour);
  inv.set_collective_host(options.collective_host);
  inv.set_pid(static_cast<int32_t>(getpid()));
  if (const char* slurm_job = std::getenv("SLURM_JOB_ID"); slurm_job != nullptr && *slurm_job != '\0') {
    inv.set_batch_job(absl::StrCat("slurm:", slurm_job));
  }
  inv.set_interconnect(options.collective_host.rfind("127.", 0) == 0 ? "loopback" : "tcp");
  (*inv.mutable_software_versions())["tokenmeter"] = TOKENMETER_VERSION;
  int threads = options.cpu_threads_per_rank;
  if (options.backend == "cpu") {
    if (threads <= 0) threads = std::max(1, cores / count);
    inv.set_cpu_threads_per_rank(threads);
  }
  for (int i = 0; i < count; ++i) {
    const auto& d = (*devices)[i];
    auto* out = inv.add_devices();
    out->set_index(i);
    out->set_model(d.model);
    out->set_uuid(d.uuid);
    out->set_memory_bytes(d.memory_bytes);
    out->set_compute_units(options.backend == "cpu" ? threads : d.compute_units);
    out->set_compute_capability(d.compute_capability);
    out->set_driver_version(d.driver_version);
  }
  if (inv.cpu_model().empty() && options.backend == "cpu") inv.set_cpu_model(devices->front().model);

  // What the backend can run, probed on a single-rank instance of device 0.
  kernels::BackendOptions probe;
  probe.cpu_threads = threads;
  auto backend = kernels::Backend::Create(options.backend, probe);
  if (!backend.ok()) return backend.status();
  inv.set_collectives_host_staged((*backend)->CollectivesHostStaged());
  for (auto d : kAllDTypes) {
    const auto kd = *ToKernels(d);
    if ((*backend)->SupportsGemm(kd)) inv.add_gemm_dtypes(d);
    bool all_ops = true;
    for (auto op : kAllOps) all_ops = all_ops && (*backend)->SupportsCollective(*ToKernels(op), kd);
    if (all_ops) inv.add_collective_dtypes(d);
  }
  return inv;
}

}  // namespace tokenmeter::worker
