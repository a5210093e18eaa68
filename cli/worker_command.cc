// tokenmeter worker: the daemon that runs tasks on this host's devices.
#include "cli/common_flags.h"
#include "cli/signals.h"
#include "worker/worker.h"

namespace tokenmeter::cli {

int WorkerCommand(const Args& args) {
  FlagSet flags("worker", "--coordinator HOST:PORT [--backend NAME|PATH] [--devices N] [flags]");
  flags.Value("coordinator", "HOST:PORT", "the coordinator to register with (required)");
  flags.Value("backend", "NAME|PATH", "kernels backend: cpu, cuda, opencl, or a plugin's name or path (docs/backends.md)", "cpu");
  flags.Value("devices", "N", "devices to offer; 0 = all the backend sees (cpu: 1)", "0");
  flags.Value("metrics", "HOST:PORT", "serve Prometheus /metrics here (none when absent)");
  flags.Value("setup", "NAME", "name of the setup this worker belongs to", "<hostname>-<backend>");
  flags.Value("price-per-device-hour", "USD", "price of one device-hour; 0 = unknown", "0");
  flags.Value("cpu-threads", "N", "cpu backend: BLAS threads per rank; 0 = cores / devices", "0");
  flags.Value("collective-host", "ADDRESS", "address peers reach this worker's collectives on",
              "the local address routing to the coordinator");
  flags.Value("connect-timeout", "SECONDS", "give up when the coordinator is unreachable at start", "5");
  flags.Value("reconnect-timeout", "SECONDS", "give up when the coordinator stays unreachable later", "60");
  DeclareSysfsRootFlag(flags);
  DeclareClientTlsFlags(flags);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  IgnoreBrokenPipes();  // a peer that dies mid-send must fail the send, not this process

  worker::WorkerOptions options;
  auto address = flags.Require("coordinator");
  if (!address.ok()) return Fail("worker", address.status(), kExitUsage);
  options.coordinator = ClientChannelOptions(flags, *address);
  options.inventory.backend = *flags.Get("backend");
  auto devices = flags.GetInt("devices", 0, 4096);
  if (!devices.ok()) return Fail("worker", devices.status(), kExitUsage);
  options.inventory.devices = static_cast<int>(*devices);
  if (flags.Has("setup")) options.inventory.setup = *flags.Get("setup");
  auto price = flags.GetDouble("price-per-device-hour", 0, 1e6);
  if (!price.ok()) return Fail("worker", price.status(), kExitUsage);
  options.inventory.price_per_device_hour = *price;
  auto threads = flags.GetInt("cpu-threads", 0, 4096);
  if (!threads.ok()) return Fail("worker", threads.status(), kExitUsage);
  options.inventory.cpu_threads_per_rank = static_cast<int>(*threads);
  if (flags.Has("collective-host")) options.inventory.collective_host = *flags.Get("collective-host");
  auto connect = GetSeconds(flags, "connect-timeout", 0.1, 3600);
  if (!connect.ok()) return Fail("worker", connect.status(), kExitUsage);
  auto reconnect = GetSeconds(flags, "reconnect-timeout", 0.1, 86400);
  if (!reconnect.ok()) return Fail("worker", reconnect.status(), kExitUsage);
  options.connect_timeout = *connect;
  options.reconnect_timeout = *reconnect;
  options.metrics_address = flags.Get("metrics").value_or("");
  // Given explicitly, the directory must exist (a typo is an error, not a
  // silent "no energy"); the default /sys is taken as it is.
  if (flags.Has("sysfs-root")) {
    auto sysfs_root = GetDirectory(flags, "sysfs-root");
    if (!sysfs_root.ok()) return Fail("worker", sysfs_root.status(), kExitUsage);
    options.sysfs_root = *sysfs_root;
  }

  std::atomic<worker::Worker*> running{nullptr};
  std::atomic<bool> stop_requested{false};
  HandleShutdownSignals([&](int) {
    stop_requested = true;
    if (auto* w = running.load()) w->Stop();
  });
  auto worker = worker::Worker::Create(options);
  if (!worker.ok()) return Fail("worker", worker.status());
  running = worker->get();
  if (stop_requested) return kExitOk;
  if (auto s = (*worker)->Run(); !s.ok()) return Fail("worker", s);
  return kExitOk;
}

}  // namespace tokenmeter::cli
