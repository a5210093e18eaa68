// Backend::RunStep for the "cuda" backend: a training step's flat program of
// cuBLASLt GEMMs, elementwise passes and NCCL collectives, enqueued on the
// rank's one stream and timed op by op with CUDA events.
//
// How a run goes (every rank of every group used runs the same sequence;
// each step is a function or class of its own in cuda_step.cc, named here):
//  1. Validate the program (groups, op fields, dtypes; ValidateStepProgram,
//     then PlanStep) — nothing touches the device before the program is
//     known to be well formed.
//  2. Communicators (ConnectCommunicators): for every distinct rank list, in
//     the order the ops first use them, the world communicator (a list of
//     every rank) or the list's own (GroupCommunicators, created once and
//     kept for the backend's life).
//  3. Device memory (StepBuffers): A, B, C sized to the largest GEMM (m·k,
//     k·n, m·n: the transposes change the layout, not the sizes), x and y to
//     the largest elementwise pass, the collective input and output to the
//     largest collective; cudaMemGetInfo first (ResourceExhausted with bytes
//     needed and free).
//  4. cuBLASLt (PrepareGemms): every GEMM row-major as kernels/step.h stores
//     it, with its transposes (GemmStorage, gemm_layout.h; where cuBLASLt's
//     fp8 takes only TN, an fp8 GEMM runs as x·Wᵀ whatever its transposes,
//     as Transformer Engine runs it: Fp8Storage). One heuristic lookup per
//     distinct shape and storage (cached by CublasLtGemm::Prepare across
//     steps), none in the loop. Then allocate and random-fill every buffer,
//     and create every event (StepEvents, step_events.h).
//  5. The first untimed iteration is the check iteration: before each
//     collective its input gets the pattern of device_kernels.h and its output
//     is poisoned, after it a device kernel compares every output element with
//     the formula (group rank and size, so a wrong group is caught). A wrong
//     element is Internal, naming the op. With plan.warmup == 0 one untimed
//     iteration still runs for this check. It runs without overlap (the main
//     stream waits for each overlapped collective at once), because it is
//     where kernels are first loaded (see cuda_step.cc).
//  6. The rest of the warm-up, then plan.timed iterations, each op between its
//     own pre-created event pair (StepIterations); then the events are read
//     into the StepRun (StepEvents::Read).
//
// Overlap (as PyTorch DDP/FSDP run gradient buckets on the process group's
// own stream). Given a communication stream and its communicators, a
// collective marked `overlappable` (in any group; in a group of one rank,
// where NCCL runs it as a copy, too) is enqueued on that stream, with
// collective buffers of its own: it first waits (cudaStreamWaitEvent) on an
// event the main stream records where the op stands in the program, after
// the GEMMs that produce its gradients; the main stream goes on with the ops
// after it. Before an op marked `waits_for_overlapped` (the optimizer) and at
// the end of every iteration the main stream waits on an event recorded on
// the communication stream. The overlapped collectives have communicators of
// their own (one NCCL communicator's collectives must not be issued to two
// streams), created in program order like the others. Timing (StepEvents):
// an overlapped op's own event pair is on the communication stream; the main
// stream records a mark before and after each wait; exposed_seconds of an
// overlapped op is the part of its run inside those waits, and `overlapped`
// is set when one ran while a GEMM or elementwise op did
// (kernels/step_overlap.h). step_seconds is from a mark before the first op
// to one after the last wait.
//
// Never hang: the host keeps at most a bounded amount of work queued ahead of
// the device (kMaxLaunchesInFlight launches, kMaxOpsInFlight ops), waiting on
// the oldest op's event by polling, so it never blocks inside a CUDA launch
// behind a stuck collective. Every wait is bounded by options.timeout since
// the device last made progress (an op finished); while waiting, NCCL's
// asynchronous errors are polled. On a deadline or an error every
// communicator the step uses is aborted (ncclCommAbort stops NCCL's kernels so
// the stream drains) and DeadlineExceeded (or the error) is returned, naming
// the op waited on and the rank. Aborted communicators stay unusable: later
// collectives on them fail with FailedPrecondition.
#ifndef TOKENMETER_KERNELS_CUDA_CUDA_STEP_H_
#define TOKENMETER_KERNELS_CUDA_CUDA_STEP_H_

#include <cuda_runtime_api.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_gemm.h"
#include "kernels/cuda/nccl_comm.h"
#include "kernels/cuda/progress.h"
#include "kernels/step.h"

namespace tokenmeter::kernels::cuda {

// One rank's communicators for the rank lists of training steps. The world
// list (every rank) maps to the backend's world communicator (when `world` is
// empty, as for the overlapped collectives' set, it gets one of its own like
// any other list); any other list
// gets its own NCCL communicator, created on first use: the list's first rank
// publishes a fresh unique id under "<store_prefix>/group-<r0>-<r1>-...", the
// members join with rank = their index in the list (non-blocking init bounded
// by options.timeout). Not thread-safe: the backend's thread only, with the
// rank's device current.
class GroupCommunicators {
 public:
  // `world` returns the world communicator (creating it on first use); empty:
  // the world list gets a communicator of its own. Every communicator is
  // created on `stream`, which must outlive this object.
  GroupCommunicators(const BackendOptions& options, cudaStream_t stream,
                     std::function<absl::StatusOr<NcclComm*>()> world)
      : options_(options), stream_(stream), world_(std::move(world)) {}
  // Destroys the group communicators in ascending order of their lists — one
  // order on every rank, so that finalizing cannot wait in a cycle.
  ~GroupCommunicators();

  // The communicator of `members`. REQUIRES: members ascending, within the
  // world, containing this rank (ValidateStepProgram checks). Errors as
  // NcclComm::Join.
  absl::StatusOr<NcclComm*> For(const std::vector<int>& members);

  // The store key a list's unique id goes under.
  static std::string KeyFor(const std::string& store_prefix, const std::vector<int>& members);

 private:
  BackendOptions options_;
  cudaStream_t stream_;
  std::function<absl::StatusOr<NcclComm*>()> world_;
  std::map<std::vector<int>, std::unique_ptr<NcclComm>> groups_;
};

// What RunStepProgram runs on: the backend's parts, borrowed.
struct StepDevice {
  int rank = 0;
  int world_size = 1;
  int device_index = 0;
  const DeviceDescription* device = nullptr;  // for messages
  cudaStream_t stream = nullptr;
  std::chrono::milliseconds timeout{30000};
  CublasLtGemm* gemm = nullptr;
  GroupCommunicators* comms = nullptr;
  // The overlapped collectives' stream and their communicators (created on
  // that stream, under a store prefix of their own). Either null: overlappable
  // ops run in line on `stream`.
  cudaStream_t comm_stream = nullptr;
  GroupCommunicators* overlap_comms = nullptr;
  // Device energy counter in joules (any origin); an error where the device
  // does not report it (timed_energy_joules is then -1).
  std::function<absl::StatusOr<double>()> energy;
  // BackendOptions::stop (may be null): read while the host waits for the
  // device; once set, the communicators are aborted and the run returns
  // Aborted.
  const std::atomic<bool>* stop = nullptr;
};

// kMaxLaunchesInFlight and kMaxOpsInFlight (progress.h) bound the work queued
// ahead of the device (see above).

// Device memory left free beyond the step's buffers.
inline constexpr int64_t kStepHeadroomBytes = int64_t{256} << 20;

// The element type of the elementwise pass for a GEMM dtype: bf16/fp16 for
// those, fp32 for fp32/tf32, bf16 for fp8.
DType StepActivationDType(DType gemm_dtype);

// See Backend::RunStep and the comment at the top of this file.
// REQUIRES: device.device_index is current; every part of `device` set.
absl::StatusOr<StepRun> RunStepProgram(const StepProgram& program, const IterationPlan& plan,
                                       const StepDevice& device);

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_CUDA_STEP_H_
