#include "cli/run_jobs.h"

#include <unistd.h>

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/coordinator_client.h"
#include "cli/local_cluster.h"
#include "cli/progress_line.h"
#include "cli/signals.h"
#include "common/log.h"
#include "workload/spec.h"

namespace tokenmeter::cli {
namespace {

int64_t HostMemoryBytes() { return static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE); }

// The specs of specs_for, each checked against the target's bounds; its
// memory only when `check_memory` (a coordinator places a job on workers that
// fit it, so the smallest device of a mixed fleet does not bound the job).
absl::StatusOr<std::vector<v1::WorkloadSpec>> CheckedSpecs(const SpecsFor& specs_for, const RunTarget& target,
                                                           bool check_memory) {
  auto specs = specs_for(target);
  if (!specs.ok()) return specs.status();
  if (specs->empty()) return absl::InvalidArgumentError("no workload to run");
  for (const auto& spec : *specs) {
    if (auto s = workload::ValidateSpec(spec, {target.ranks, check_memory ? target.device_memory_bytes : 0});
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(spec.name(), ": ", s.message()));
    }
  }
  return specs;
}

int64_t SmallestDeviceMemory(const std::vector<v1::WorkerStatus>& workers, const std::string& setup) {
  int64_t smallest = 0;
  for (const auto& w : workers) {
    if (!setup.empty() && w.inventory().setup() != setup) continue;
    for (const auto& d : w.inventory().devices()) {
      if (d.memory_bytes() > 0 && (smallest == 0 || d.memory_bytes() < smallest)) smallest = d.memory_bytes();
    }
  }
  return smallest;
}

}  // namespace

void DeclareRunFlags(FlagSet& flags) {
  flags.Switch("local", "start a coordinator and workers on this machine, run, and stop them");
  flags.Value("workers", "N", "--local: worker processes to start", "2");
  flags.Value("backend", "NAME|PATH", "--local: the workers' backend: cpu, cuda, opencl, or a plugin's name or path", "cpu");
  flags.Value("devices", "N", "--local: devices per worker", "cpu: 1, cuda: every GPU");
  flags.Value("coordinator", "HOST:PORT", "submit to this coordinator instead of --local");
  flags.Value("ranks", "N", "devices to run on", "--local: every worker's device; else every live device");
  // No fallback: Get() would return it as if given.
  flags.Value("setup", "NAME",
              "run only on workers of this setup (default: any one setup); --local: the name of the local "
              "workers' setup (default: local-<backend>)");
  flags.Switch("span-setups", "let one job run on workers of several setups (priced per device); not with --setup");
  flags.Value("attempts", "N",
              "placements a job may have: when a worker is lost or leaves mid-run, the job runs again from the start "
              "on the workers then idle, up to N times in all (1-10)",
              "1");
  flags.Value("store", "FILE.db", "--local: keep results in this SQLite file (default: a temporary one)");
  flags.Value("price-per-device-hour", "USD", "--local: price of one device-hour, for the cost figures", "0");
  flags.Value("catalogue", "FILE", "--local: device catalogue overrides (JSON) for peaks and prices");
  flags.Value("warmup", "N", "override the workload's warm-up iterations");
  flags.Value("iterations", "N", "override the workload's timed iterations");
  flags.Value("max-bytes", "BYTES", "override a collective sweep's largest size (suffixes K, M, G)");
  flags.Value("timeout", "SECONDS", "give up on a job after this long", "1800");
  flags.Value("lost-after", "SECONDS", "--local: a worker silent this long is lost", "5");
  flags.Value("start-timeout", "SECONDS",
              "--local: how long the coordinator and workers may take to start and register (a cuda "
              "worker loads cuBLASLt and NCCL and creates a CUDA context per GPU first)",
              "cpu: 20, cuda: 120");
  DeclareSysfsRootFlag(flags, "--local: the workers' ");
  flags.Switch("verbose", "--local: show the coordinator's and workers' logs on stderr");
  DeclareClientTlsFlags(flags);
}

absl::Status ApplyOverrides(const FlagSet& flags, v1::WorkloadSpec* spec) {
  if (flags.Has("warmup")) {
    auto v = flags.GetInt("warmup", 0, workload::kMaxIterations);
    if (!v.ok()) return v.status();
    spec->set_warmup_iterations(static_cast<int32_t>(*v));
  }
  if (flags.Has("iterations")) {
    auto v = flags.GetInt("iterations", 1, workload::kMaxIterations);
    if (!v.ok()) return v.status();
    spec->set_timed_iterations(static_cast<int32_t>(*v));
  }
  if (flags.Has("max-bytes") && spec->has_collective()) {
    auto v = ParseBytes(*flags.Get("max-bytes"), "--max-bytes", 1, int64_t{1} << 50);
    if (!v.ok()) return v.status();
    spec->mutable_collective()->set_max_bytes(*v);
  }
  return absl::OkStatus();
}

int RunJobs(const FlagSet& flags, const char* command, const SpecsFor& specs_for, const OnJob& on_job,
            bool needs_device_memory, const BeforeJobs& before) {
  const bool local = flags.GetSwitch("local");
  if (local == flags.Has("coordinator")) {
    return Fail(command, absl::InvalidArgumentError("give exactly one of --local and --coordinator HOST:PORT"),
                kExitUsage);
  }
  const bool span_setups = flags.GetSwitch("span-setups");
  auto attempts = flags.GetInt("attempts", 1, 10);
  if (!attempts.ok()) return Fail(command, attempts.status(), kExitUsage);
  if (span_setups && flags.Has("setup")) {
    return Fail(command,
                absl::InvalidArgumentError("--span-setups and --setup exclude each other: a named setup is one setup"),
                kExitUsage);
  }
  if (local) {
    // --local runs its own coordinator on loopback, without TLS or tokens.
    for (const char* client_only : {"tls-ca", "tls-cert", "tls-key", "token-file"}) {
      if (flags.Has(client_only)) {
        return Fail(command,
                    absl::InvalidArgumentError(absl::StrCat("--", client_only,
                                                            " applies to --coordinator only (--local starts its own "
                                                            "coordinator on loopback, without TLS or tokens)")),
                    kExitUsage);
      }
    }
  }
  int workers = 0;
  if (local) {
    auto w = flags.GetInt("workers", 1, 64);
    if (!w.ok()) return Fail(command, w.status(), kExitUsage);
    workers = static_cast<int>(*w);
  }
  int ranks = 0;
  if (flags.Has("ranks")) {
    auto r = flags.GetInt("ranks", 1, workload::kMaxRanks);
    if (!r.ok()) return Fail(command, r.status(), kExitUsage);
    ranks = static_cast<int>(*r);
  }
  const bool local_cpu = local && flags.Get("backend") == "cpu";
  if (local_cpu && ranks > workers) {
    return Fail(command,
                absl::InvalidArgumentError(absl::StrCat("--ranks (", ranks, ") must be at most --workers (", workers,
                                                        ") with --local --backend cpu: one device per worker")),
                kExitUsage);
  }
  // Every spec is made and checked before anything starts where the target
  // is known in advance (local cpu workers: this host's memory); otherwise
  // once the workers are registered.
  std::vector<v1::WorkloadSpec> specs;
  if (local_cpu) {
    auto checked = CheckedSpecs(specs_for, {ranks > 0 ? ranks : workers, HostMemoryBytes()}, /*check_memory=*/true);
    if (!checked.ok()) return Fail(command, checked.status(), kExitUsage);
    specs = *std::move(checked);
  }
  auto timeout = GetSeconds(flags, "timeout", 1, 7 * 86400);
  if (!timeout.ok()) return Fail(command, timeout.status(), kExitUsage);
  auto price = flags.GetDouble("price-per-device-hour", 0, 1e6);
  if (!price.ok()) return Fail(command, price.status(), kExitUsage);
  auto lost_after = GetSeconds(flags, "lost-after", 0.1, 3600);
  if (!lost_after.ok()) return Fail(command, lost_after.status(), kExitUsage);
  absl::Duration start_timeout = absl::ZeroDuration();  // the backend's default (LocalClusterOptions)
  if (flags.Has("start-timeout")) {
    auto t = GetSeconds(flags, "start-timeout", 1, 3600);
    if (!t.ok()) return Fail(command, t.status(), kExitUsage);
    start_timeout = *t;
  }
  std::string sysfs_root;
  if (flags.Has("sysfs-root")) {
    if (!local) {
      return Fail(command,
                  absl::InvalidArgumentError("--sysfs-root applies to --local only (give it to each worker)"),
                  kExitUsage);
    }
    auto dir = GetDirectory(flags, "sysfs-root");
    if (!dir.ok()) return Fail(command, dir.status(), kExitUsage);
    sysfs_root = *dir;
  }

  std::atomic<bool> interrupted{false};
  HandleShutdownSignals([&](int) {
    interrupted = true;
    Log(command, "interrupted: cancelling and shutting down");
  });

  std::unique_ptr<LocalCluster> cluster;
  std::string address;
  if (local) {
    LocalClusterOptions o;
    o.workers = workers;
    o.backend = *flags.Get("backend");
    if (flags.Has("devices")) {
      auto d = flags.GetInt("devices", 1, 4096);
      if (!d.ok()) return Fail(command, d.status(), kExitUsage);
      o.devices_per_worker = static_cast<int>(*d);
    }
    o.store_path = flags.Get("store").value_or("");
    o.setup = flags.Get("setup").value_or("");
    o.price_per_device_hour = *price;
    o.verbose = flags.GetSwitch("verbose");
    o.lost_after = *lost_after;
    o.start_timeout = start_timeout;
    o.catalogue_file = flags.Get("catalogue").value_or("");
    o.sysfs_root = sysfs_root;
    auto c = LocalCluster::Start(o);
    if (!c.ok()) return Fail(command, c.status());
    cluster = *std::move(c);
    address = cluster->address();
  } else {
    address = *flags.Get("coordinator");
  }
  auto client = CoordinatorClient::Connect(ClientChannelOptions(flags, address), absl::Seconds(5));
  if (!client.ok()) return Fail(command, client.status());
  if (ranks == 0 && cluster) ranks = cluster->devices();
  if (!local_cpu) {
    // The fleet is listed only when something depends on it: a job's first
    // call otherwise is its submit, whose refusal (a worker token, say) is
    // the one to report.
    int64_t device_memory = 0;
    if (ranks == 0 || needs_device_memory) {
      auto live = (*client)->ListWorkers(false);
      if (!live.ok()) return Fail(command, live.status());
      device_memory = SmallestDeviceMemory(*live, flags.Get("setup").value_or(""));
      if (ranks == 0) {
        for (const auto& w : *live) ranks += w.inventory().devices_size();
        if (ranks == 0) {
          return Fail(command, absl::FailedPreconditionError(absl::StrCat("no worker is registered with ", address)));
        }
      }
    }
    auto checked = CheckedSpecs(specs_for, {ranks, device_memory}, /*check_memory=*/false);
    if (!checked.ok()) return Fail(command, checked.status(), kExitUsage);
    specs = *std::move(checked);
  }

  int exit_code = kExitOk;
  if (before) exit_code = before(**client, &interrupted);
  for (const auto& spec : specs) {
    if (interrupted) break;
    auto job_id =
        (*client)->Submit(spec, ranks, flags.Get("setup").value_or(""), span_setups, static_cast<int>(*attempts));
    if (!job_id.ok()) {
      exit_code = Fail(command, absl::Status(job_id.status().code(),
                                             absl::StrCat(spec.name(), ": ", job_id.status().message())));
      break;
    }
    Log(command, "job ", *job_id, ": ", spec.name(), " on ", ranks, " ranks");
    absl::StatusOr<v1::JobStatus> job;
    {
      ProgressLine progress(command, *job_id, isatty(STDERR_FILENO) != 0);
      job = (*client)->WaitForJob(*job_id, *timeout, &interrupted,
                                  [&progress](const v1::JobStatus& status) { progress.Show(status); });
    }
    if (!job.ok()) {
      (*client)->Cancel(*job_id).IgnoreError();
      exit_code = Fail(command, job.status());
      break;
    }
    if (job->state() != v1::JOB_SUCCEEDED) {
      exit_code = Fail(command, absl::AbortedError(absl::StrCat("job ", *job_id, " (", spec.name(), ") ",
                                                                v1::JobState_Name(job->state()), ": ", job->error())));
      break;
    }
    for (const auto& earlier : job->attempt_errors()) Log(command, "job ", *job_id, " ", earlier, "; placed again");
    on_job(*job);
    if (!ResultPassed(job->result())) exit_code = kExitFailed;
  }
  if (cluster) {
    if (!flags.Get("store").value_or("").empty()) Log(command, "results stored in ", cluster->store_path());
    cluster->Stop();
  }
  if (interrupted && exit_code == kExitOk) exit_code = 130;
  return exit_code;
}

}  // namespace tokenmeter::cli
