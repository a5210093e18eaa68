// Collectives between the ranks of a job through Gloo over TCP.
//
// Each op runs the algorithm kernels/cpu/gloo_op.h names for it (one table,
// shared with the training step), every one on the world's one context
// (Gloo's function API), and is checked element by element.
//
// Socket buffers. Only algorithms on Gloo's unbound buffers run here (its
// function API and RingReduceScatter). Its older bound-buffer path, which the
// class API (ReduceScatterHalvingDoubling) takes, sets SO_SNDBUF to a
// message's size whenever a send is larger than the last size it set, ending
// the kernel's auto-tuning: the buffer a size was measured with then depended
// on the sizes sent before it, and a send just over it left a tail waiting
// for the peer's delayed ACK (~44 ms at 131072 B in a doubling sweep). The
// unbound path never sets it, so a sweep's order cannot change what a size
// measures (kernels_cpu_backend_test reads the sockets' buffers to show it).
//
// Timing. Every iteration is timed separately with steady_clock around the
// one blocking Gloo call, after a gloo barrier that aligns the ranks: the
// untimed work between calls (refilling the input, checking the output)
// takes each rank its own time, and without it a rank's call would include
// its wait for a slower peer (a c10d benchmark loop also barriers before each
// call; nccl-tests times a back-to-back loop, having nothing between calls).
// Rooted ops (broadcast, reduce) let the root run up to one socket buffer
// ahead, so per-rank times can differ; the figure takes the slowest rank's
// time per iteration, as nccl-tests reports the slowest rank. A last barrier
// after the timed loop makes sure no rank returns (and perhaps tears down its
// connections) while a peer still waits on it.
//
// Checking: the output of every call, warm-up and timed, is compared exactly
// with its closed-form value (gloo_op.h), untimed, between calls: a fault
// that strikes one call in a hundred is seen. Calls alternate the input's
// round, so an element a call left unwritten fails. checked_elements counts
// this rank's comparisons over all calls.
#ifndef TOKENMETER_KERNELS_CPU_GLOO_COLLECTIVES_H_
#define TOKENMETER_KERNELS_CPU_GLOO_COLLECTIVES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/cpu/gloo_op.h"
#include "kernels/types.h"

namespace gloo {
class Context;
namespace transport {
class Device;
}
}  // namespace gloo

namespace tokenmeter::kernels::cpu {

// Maps the exception being handled to a Status whose message starts with
// `what`: a store failure keeps its code; Gloo's timeouts become
// DeadlineExceeded; a broken connection (a peer that died) Unavailable; a
// failed GLOO_ENFORCE Internal. REQUIRES: called inside a catch handler.
absl::Status GlooExceptionToStatus(const std::string& what);

// One rank's communicator. Used by one thread at a time. After a collective
// fails (a lost peer, a timeout) the communicator is unusable: every later
// call returns Unavailable naming the first failure.
class GlooCommunicator {
 public:
  // Connects this rank to every other (a full TCP mesh on
  // options.collective_host), rendezvousing through options.store under
  // options.store_prefix + "/gloo". world_size 1 needs no store.
  // DeadlineExceeded when a peer does not arrive within options.timeout;
  // Unavailable when the transport cannot be set up.
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Connect(const BackendOptions& options);

  ~GlooCommunicator();

  // fp32 only, every op.
  static bool Supports(CollectiveOp op, DType dtype);

  // Backend::RunCollective's contract (see the header comment for timing
  // and checking). InvalidArgument for a non-positive count, a count not
  // divisible by world_size where the op splits it, or a negative plan;
  // Unimplemented for an unsupported dtype; ResourceExhausted when the
  // buffers exceed available host memory (checked before allocating);
  // DeadlineExceeded / Unavailable when a peer is lost, naming op, size and
  // rank.
  absl::StatusOr<CollectiveRun> Run(CollectiveOp op, int64_t count, DType dtype,
                                    const IterationPlan& plan);

  // A device backend's collectives through host memory (the opencl
  // backend's, which has no device-to-device transport): each call's input
  // lives on the device and its output goes back there. Around every call:
  //   load(in)       untimed: the round's input (just filled) onto the device;
  //                  the host copy is then poisoned (NaN);
  //   to_host(in)    timed: the device's input into the host buffer;
  //   to_device(out) timed: the host output onto the device;
  //   read_back(out) untimed: the host output poisoned, then the device's
  //                  output read into it, for the check.
  // So every timed iteration includes both copies, and what is checked is
  // what reached the device. Each throws on failure (std::runtime_error).
  struct HostStaging {
    std::function<void(const float* in, int64_t elements)> load;
    std::function<void(float* in, int64_t elements)> to_host;
    std::function<void(const float* out, int64_t elements)> to_device;
    std::function<void(float* out, int64_t elements)> read_back;
  };
  // Run, staged through the device as `staging` says; `backend` names the
  // device backend in messages.
  absl::StatusOr<CollectiveRun> RunStaged(CollectiveOp op, int64_t count, DType dtype,
                                          const IterationPlan& plan, const HostStaging& staging,
                                          const std::string& backend);

  // Host bytes Run allocates on `rank` for `op` over `count` fp32 elements.
  static int64_t BytesNeeded(CollectiveOp op, int64_t count, int world_size, int rank);

  // ---- For other runners on the same connections (cpu_step.h) ----
  // They must use Gloo's function API only, and call MarkBroken after a
  // failed collective on a shared context.

  // The options this communicator was connected with.
  const BackendOptions& options() const;

  // The world's context.
  std::shared_ptr<gloo::Context> context() const;

  // Connects a new context among `ranks` (ascending world ranks, this rank
  // among them) on this communicator's transport: this rank is its index in
  // the list, the size is the list's. Rendezvous under options().store_prefix
  // + "/" + suffix, which must be unique per context. A collective call among
  // `ranks`. DeadlineExceeded when a peer does not arrive within the timeout.
  // REQUIRES: ranks is valid (checked by the caller).
  absl::StatusOr<std::shared_ptr<gloo::Context>> ConnectGroup(const std::vector<int>& ranks,
                                                              const std::string& suffix);

  // OK until a collective failed; then the first failure.
  absl::Status broken() const;
  // Records `failure` (the first one wins): every later call is refused.
  void MarkBroken(absl::Status failure);

 private:
  struct Impl;
  explicit GlooCommunicator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_GLOO_COLLECTIVES_H_
