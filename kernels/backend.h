// One Backend interface, several implementations behind it (as c10d's
// Backend with ProcessGroupNCCL and ProcessGroupGloo):
//   "cpu"  — OpenBLAS GEMM, Gloo collectives over TCP (kernels/cpu/), built in;
//   "cuda" — cuBLASLt GEMM, NCCL collectives, CUDA events (kernels/cuda/), a
//            plugin: libtokenmeter-cuda.so;
//   any other name or path — a plugin behind the C ABI of
//            kernels/plugin/plugin_abi.h, found and checked as
//            kernels/plugin/plugin_host.h says (docs/backends.md).
// Callers never name an implementation.
#ifndef TOKENMETER_KERNELS_BACKEND_H_
#define TOKENMETER_KERNELS_BACKEND_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/power.h"
#include "kernels/step.h"
#include "kernels/store.h"
#include "kernels/types.h"

namespace tokenmeter::kernels {

struct BackendOptions {
  // This rank's place in its job. world_size 1 needs no store.
  int rank = 0;
  int world_size = 1;
  // Which of the host's devices this rank runs on (ignored by "cpu").
  int device_index = 0;
  // Rendezvous for the communicator; required when world_size > 1. Not owned;
  // must outlive the backend. Keys are written under store_prefix, which must
  // be unique per communicator (a job id and an attempt).
  Store* store = nullptr;
  std::string store_prefix = "tokenmeter";
  // Bound on every rendezvous wait and every collective: a peer that dies
  // makes the collective fail within this time, never hang.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  // "cpu": BLAS threads for this rank; 0 = every core of the host.
  int cpu_threads = 0;
  // "cpu": the address this rank's Gloo transport listens on; peers must be
  // able to reach it.
  std::string collective_host = "127.0.0.1";
  // "cpu": where sysfs is mounted; RAPL energy counters are read under
  // sysfs_root/class/powercap. A container that mounts the host's /sys
  // elsewhere (e.g. /host/sys) passes that path (node_exporter's --path.sysfs).
  std::string sysfs_root = "/sys";
  // The caller's stop request (the worker's: the coordinator ended the job),
  // or null. Once it reads true a run returns Aborted:
  //   cpu:  read before each call or step iteration (one is never cut short;
  //         a Gloo wait ends only with its peer or at `timeout`). A peer
  //         inside a collective with a rank that stopped fails when that
  //         rank's backend is destroyed and its connections close.
  //   cuda: read before each call or op is queued and while the host waits
  //         for the device; the NCCL communicators are then aborted (as c10d's
  //         ProcessGroupNCCL::abort), so a collective blocked on a lost peer
  //         ends now rather than at `timeout`. A peer's NCCL kernel waits for
  //         its own stop request (the job's every rank gets one) or `timeout`.
  // Not owned; must outlive the backend.
  const std::atomic<bool>* stop = nullptr;
  // The caller's progress counter, or null: "cpu" adds one as each warm-up
  // or timed call or step iteration begins (the worker's progress line reads
  // it). "cuda" queues an entry's iterations at once, so it does not count.
  // Not owned; must outlive the backend.
  std::atomic<int64_t>* iterations_begun = nullptr;
};

// Whether BackendOptions::stop is set and reads true; cheap enough to call
// between any two iterations.
inline bool StopRequested(const std::atomic<bool>* stop) {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}
// Counts one iteration begun on BackendOptions::iterations_begun, if set.
inline void NoteIterationBegun(std::atomic<int64_t>* counter) {
  if (counter != nullptr) counter->fetch_add(1, std::memory_order_relaxed);
}
// The Aborted status a run returns when it stops on request before `where`.
inline absl::Status StoppedError(const std::string& where) {
  return absl::AbortedError(absl::StrCat("stopped on request, before ", where));
}

// A rank's compute device and its communicator to the other ranks of the job.
// A Backend is used by one thread at a time.
class Backend {
 public:
  // Creates a backend of `kind` ("cpu", a plugin's name or path) and, when
  // world_size > 1, connects it to the other ranks through options.store.
  // InvalidArgument for a malformed kind or bad options; Unavailable when
  // the kind's plugin is not found or refused (plugin_host.h), or it has no
  // device; DeadlineExceeded when the peers did not arrive within
  // options.timeout.
  static absl::StatusOr<std::unique_ptr<Backend>> Create(std::string_view kind,
                                                         const BackendOptions& options);

  // The devices `kind` sees on this host, without creating a communicator.
  static absl::StatusOr<std::vector<DeviceDescription>> ListDevices(std::string_view kind);

  // How `kind` measures energy on this host with `options`, in words, for a
  // start-up log line ("cpu": which RAPL package zones, under which
  // directory). Unimplemented naming the reason where it reports none (cpu:
  // no readable RAPL counter); a plugin's errors as Create's.
  static absl::StatusOr<std::string> DescribeEnergy(std::string_view kind, const BackendOptions& options);

  // A live power reading of one device of `kind` on this host, usable without
  // a job (the worker's power gauge samples it). "cpu": RAPL package power
  // under options.sysfs_root — whole-host, so on device 0 only (NotFound for
  // another); "cuda": NVML's power usage of the GPU with options.uuid, through
  // the plugin. Unimplemented naming the reason where the device reports no
  // power (no readable RAPL counter; no NVML, or a GPU whose driver does not
  // report power; a plugin without power entries); Unavailable when the
  // kind's plugin is not found or refused.
  static absl::StatusOr<std::unique_ptr<PowerSource>> OpenPowerSource(std::string_view kind,
                                                                      const PowerSourceOptions& options);

  // "cpu" and the plugins on the search path (by file name, not loaded).
  static std::vector<std::string> AvailableKinds();

  virtual ~Backend() = default;

  virtual std::string_view kind() const = 0;
  virtual const DeviceDescription& device() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Whether RunGemm accepts dtype / RunCollective accepts op and dtype. A
  // backend that lacks one says so with Unimplemented, naming both.
  virtual bool SupportsGemm(DType dtype) const = 0;
  virtual bool SupportsCollective(CollectiveOp op, DType dtype) const = 0;

  // Multiplies fresh random operands of `problem`, checks the result once
  // against a reference at a tolerance fit for the dtype, then runs
  // plan.warmup untimed and plan.timed timed iterations, timed on the device.
  // InvalidArgument for non-positive sizes; ResourceExhausted when the
  // operands do not fit in device memory (checked before any allocation).
  virtual absl::StatusOr<GemmRun> RunGemm(const GemmProblem& problem, const IterationPlan& plan) = 0;

  // Runs `op` on `count` elements, counted as nccl-tests counts its size S:
  // the buffer for all-reduce, broadcast and reduce; the whole gathered output
  // for all-gather; the whole input for reduce-scatter and all-to-all (these
  // three need count divisible by world_size: InvalidArgument otherwise).
  // Runs plan.warmup untimed and plan.timed timed iterations, then checks
  // every output element against its expected value. Collective across all
  // ranks of the job: every rank calls it with the same arguments. A peer
  // lost mid-way gives an error within options.timeout.
  virtual absl::StatusOr<CollectiveRun> RunCollective(CollectiveOp op, int64_t count, DType dtype,
                                                      const IterationPlan& plan) = 0;

  // Runs `program` plan.warmup untimed and plan.timed timed times, timing
  // every op of every timed iteration on the device. Operands are allocated
  // once (sized to the largest op) with random data before the first
  // iteration. InvalidArgument for a malformed program (a group without this
  // rank, a bad index); ResourceExhausted when the buffers do not fit;
  // Unimplemented when the backend lacks a dtype or op, naming both.
  // Collective across the ranks of every group used.
  virtual absl::StatusOr<StepRun> RunStep(const StepProgram& program, const IterationPlan& plan) {
    return absl::UnimplementedError(absl::StrCat("backend ", std::string(kind()), " does not run training steps yet"));
  }

  // Whether RunCollective's (and a step's collectives') times include copies
  // between the device and host memory around the transfer (a backend with
  // no device-to-device transport, as opencl's): reports say so.
  virtual bool CollectivesHostStaged() const { return false; }

  // Energy the device has used since the backend was created, in joules;
  // Unimplemented where the device does not report it.
  virtual absl::StatusOr<double> EnergyJoules() = 0;
};

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_BACKEND_H_
