// One rank's NCCL communicator and the collectives Backend::RunCollective
// runs on it.
//
// Rendezvous: rank 0 calls ncclGetUniqueId and publishes it (hex) under
// "<store_prefix>/nccl_unique_id" in the job's Store; the other ranks Get it
// with options.timeout. World size 1 needs no store.
//
// Never hang: the communicator is created non-blocking (config.blocking = 0)
// so that every wait is a poll this class bounds itself. Initialisation is
// bounded by options.timeout; so is each enqueue, and in Run each iteration's
// wait, measured from the last progress (the previous iteration finished), so
// that a long run on a slow fabric is not cut short (progress.h). While
// waiting it polls the stream and ncclCommGetAsyncError; on a deadline or an
// asynchronous error it calls ncclCommAbort (which stops NCCL's kernels) and
// returns DeadlineExceeded (or the error) naming the op, the size and the
// rank. Run aborts the communicator on any error after its first enqueue, so
// that freeing its buffers cannot wait behind a stuck collective. An aborted
// communicator stays unusable: later calls fail with FailedPrecondition, and
// the job must create a new backend.
#ifndef TOKENMETER_KERNELS_CUDA_NCCL_COMM_H_
#define TOKENMETER_KERNELS_CUDA_NCCL_COMM_H_

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/cuda/device_kernels.h"
#include "kernels/store.h"
#include "kernels/types.h"

namespace tokenmeter::kernels::cuda {

// Not thread-safe: one thread at a time, with the rank's device current.
class NcclComm {
 public:
  // Device memory left free beyond the buffers of a collective.
  static constexpr int64_t kHeadroomBytes = int64_t{256} << 20;

  // Joins the job's communicator. REQUIRES: options.world_size >= 1,
  // 0 <= options.rank < world_size, options.store set when world_size > 1,
  // and the rank's device current. DeadlineExceeded when the unique id or the
  // peers do not arrive within options.timeout.
  static absl::StatusOr<std::unique_ptr<NcclComm>> Create(const BackendOptions& options,
                                                          cudaStream_t stream);

  // Joins a communicator of `nranks` ranks in which this one is `rank`: rank 0
  // of it creates the unique id and publishes it under `key` in `store`, the
  // others read it from there (store may be null only when nranks is 1).
  // Same non-blocking init and timeout discipline as Create; `who` names this
  // rank in messages ("world rank 3, rank 1 of group [2,3]").
  static absl::StatusOr<std::unique_ptr<NcclComm>> Join(Store* store, const std::string& key,
                                                        int rank, int nranks,
                                                        std::chrono::milliseconds timeout,
                                                        cudaStream_t stream,
                                                        const std::string& who);
  // Finalizes and destroys the communicator (aborts it if that does not
  // finish within the timeout).
  ~NcclComm();

  // Whether `op` runs in `dtype`: fp32, fp16 and bf16 for every op (tf32 is
  // a compute mode, not a wire type; fp8 collectives are not offered).
  static bool Supports(CollectiveOp op, DType dtype);

  // See Backend::RunCollective: runs out of place, times every timed
  // iteration with its own event pair, and checks every output element of
  // every call (warm-up and timed) on the device against the formula in
  // device_kernels.h, untimed, re-poisoning the output after each. `stop`
  // (BackendOptions::stop, may be null) is read while the host waits for the
  // device: once set, the communicator is aborted and Run returns Aborted.
  absl::StatusOr<CollectiveRun> Run(CollectiveOp op, int64_t count, DType dtype,
                                    const IterationPlan& plan,
                                    const std::atomic<bool>* stop = nullptr);

  // For tests of the check: call `call` (0-based, warm-up calls first) of
  // the next Run enqueues nothing, as a collective that silently wrote
  // nothing would; Run must then count its every output element wrong.
  void SkipCallForTesting(int call) { skip_call_for_testing_ = call; }

  // ---- Building blocks for callers that enqueue their own sequences (the
  // training step, cuda_step.h). ----

  // This rank's index in the communicator and the communicator's size.
  int rank() const { return rank_; }
  int size() const { return world_size_; }
  bool aborted() const { return aborted_; }

  // Element counts of `op` on S = `count` elements among `nranks` ranks:
  // this rank's input, its output, and the per-rank chunk. InvalidArgument
  // for count <= 0 or (all-gather, reduce-scatter, all-to-all) count not
  // divisible by nranks; Unimplemented for a dtype NCCL is not run in.
  struct Counts {
    int64_t in = 0, out = 0, chunk = 0;
  };
  static absl::StatusOr<Counts> CountsFor(CollectiveOp op, int64_t count, DType dtype, int nranks);

  // The input pattern and output formula of `op` on this communicator (the
  // check of Run, device_kernels.h), with root 0.
  CollectivePattern PatternFor(CollectiveOp op, int64_t count, DType dtype) const;

  // Enqueues one `op` on the stream, out of place (`send`, `recv` sized as
  // CountsFor says), without waiting for it. A non-blocking call that reports
  // ncclInProgress is polled to completion of the enqueue, bounded by
  // `deadline`. On any error the communicator is aborted; `what` names the
  // op in the message. FailedPrecondition if it was aborted before.
  absl::Status Enqueue(CollectiveOp op, int64_t count, DType dtype, const void* send, void* recv,
                       std::chrono::steady_clock::time_point deadline, const std::string& what);

  // OK while NCCL reports no asynchronous error; otherwise aborts the
  // communicator and returns the error, naming `what`.
  absl::Status CheckAsyncError(const std::string& what);

  // Aborts the communicator (stopping its kernels, so the stream can drain)
  // and returns `status`. Later calls fail with FailedPrecondition.
  absl::Status Abort(absl::Status status);

 private:
  NcclComm(int rank, int nranks, std::chrono::milliseconds timeout, cudaStream_t stream)
      : rank_(rank), world_size_(nranks), timeout_(timeout), stream_(stream) {}

  // Polls until the communicator is no longer ncclInProgress (after a
  // non-blocking call), aborting it at `deadline`.
  absl::Status WaitComm(std::chrono::steady_clock::time_point deadline, const std::string& what);

  int rank_;
  int world_size_;
  std::chrono::milliseconds timeout_;
  cudaStream_t stream_;
  ncclComm_t comm_ = nullptr;
  bool aborted_ = false;
  int skip_call_for_testing_ = -1;
  std::string abort_reason_;
};

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_NCCL_COMM_H_
