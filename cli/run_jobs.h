// What `run` and `suite` share: the flags that say where jobs run (a local
// cluster they start with --local, or a coordinator) and how, and the loop
// that submits each workload, shows its progress, waits for it and hands its
// result on. The two commands differ only in which workloads they send and
// what they print.
#ifndef TOKENMETER_CLI_RUN_JOBS_H_
#define TOKENMETER_CLI_RUN_JOBS_H_

#include <atomic>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/coordinator_client.h"
#include "cli/flags.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::cli {

// --local, --workers, --backend, --devices, --coordinator, --ranks, --setup,
// --span-setups, --attempts, --store, --price-per-device-hour, --catalogue,
// --warmup, --iterations, --max-bytes, --timeout, --lost-after,
// --start-timeout, --sysfs-root, --verbose and the client TLS flags.
void DeclareRunFlags(FlagSet& flags);

// --warmup, --iterations and --max-bytes applied to a spec (collectives only
// take --max-bytes); the result is checked by ValidateSpec like any spec.
absl::Status ApplyOverrides(const FlagSet& flags, v1::WorkloadSpec* spec);

// What the jobs will run on, once it is known: the ranks each job gets and
// the smallest device memory among the workers (0 = unknown).
struct RunTarget {
  int ranks = 0;
  int64_t device_memory_bytes = 0;
};

// The workloads to run on `target`; an error ends the command before any job.
using SpecsFor = std::function<absl::StatusOr<std::vector<v1::WorkloadSpec>>(const RunTarget& target)>;
// Called with each succeeded job, in order.
using OnJob = std::function<void(const v1::JobStatus& job)>;

// Run once connected, before the first workload (the suite's fleet check);
// returns an exit code (non-zero counts as a failure, the jobs still run).
using BeforeJobs = std::function<int(CoordinatorClient& client, const std::atomic<bool>* interrupted)>;

// Parses and checks the run flags, starts the local cluster or connects,
// then runs `before`, then `specs_for`'s workloads one after the other. Returns the exit
// code: 0, 1 when a job failed or a check in a result did not pass (it goes
// on to the next only after a pass), 2 for bad usage, 130 when interrupted.
// `needs_device_memory`: specs_for reads RunTarget::device_memory_bytes
// (without it, and with --ranks given, the fleet is not listed first).
// REQUIRES: flags were declared by DeclareRunFlags and parsed.
int RunJobs(const FlagSet& flags, const char* command, const SpecsFor& specs_for, const OnJob& on_job,
            bool needs_device_memory = false, const BeforeJobs& before = nullptr);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_RUN_JOBS_H_
