#include "kernels/cuda/nccl_comm.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/device_resources.h"
#include "kernels/cuda/progress.h"

namespace tokenmeter::kernels::cuda {
namespace {

using Clock = std::chrono::steady_clock;

// How long to sleep between polls: short against collectives of microseconds,
// long enough not to starve other ranks' threads on a small host.
constexpr auto kPollInterval = std::chrono::microseconds(50);

ncclDataType_t NcclType(DType dtype) {
  switch (dtype) {
    case DType::kFp16: return ncclFloat16;
    case DType::kBf16: return ncclBfloat16;
    default: return ncclFloat32;
  }
}

ElemType ElemFor(DType dtype) {
  switch (dtype) {
    case DType::kFp16: return ElemType::kF16;
    case DType::kBf16: return ElemType::kBf16;
    default: return ElemType::kF32;
  }
}

CollKind KindFor(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return CollKind::kAllReduce;
    case CollectiveOp::kAllGather: return CollKind::kAllGather;
    case CollectiveOp::kReduceScatter: return CollKind::kReduceScatter;
    case CollectiveOp::kAllToAll: return CollKind::kAllToAll;
    case CollectiveOp::kBroadcast: return CollKind::kBroadcast;
    case CollectiveOp::kReduce: return CollKind::kReduce;
  }
  return CollKind::kAllReduce;
}

// Device work items per iteration of Run, for Progress: the collective's
// kernel, the events around it, its output's check and the poisoning after.
constexpr int64_t kLaunchesPerIteration = 5;

// Aborts a communicator on scope exit unless disarmed: for error returns
// after collectives were enqueued (see NcclComm::Run). Abort keeps the first
// reason, so an error that aborted already is the one later calls report.
class AbortOnErrorReturn {
 public:
  AbortOnErrorReturn(NcclComm* comm, std::string what) : comm_(comm), what_(std::move(what)) {}
  AbortOnErrorReturn(const AbortOnErrorReturn&) = delete;
  AbortOnErrorReturn& operator=(const AbortOnErrorReturn&) = delete;
  ~AbortOnErrorReturn() {
    if (!armed_) return;
    comm_->Abort(absl::InternalError(absl::StrCat(
                     what_, " failed after collectives were enqueued (see the error returned then)")))
        .IgnoreError();
  }
  void Arm() { armed_ = true; }
  void Disarm() { armed_ = false; }

 private:
  NcclComm* comm_;
  std::string what_;
  bool armed_ = false;
};

// Largest integer up to which every integer is exact in the dtype: sums of
// the reducing ops' inputs must stay below it.
int64_t ExactIntegerLimit(DType dtype) {
  switch (dtype) {
    case DType::kFp16: return int64_t{1} << 11;
    case DType::kBf16: return int64_t{1} << 8;
    default: return int64_t{1} << 24;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<NcclComm>> NcclComm::Create(const BackendOptions& options,
                                                           cudaStream_t stream) {
  return Join(options.store, absl::StrCat(options.store_prefix, "/nccl_unique_id"), options.rank,
              options.world_size, options.timeout, stream,
              absl::StrCat("rank ", options.rank, " of ", options.world_size));
}

absl::StatusOr<std::unique_ptr<NcclComm>> NcclComm::Join(Store* store, const std::string& key,
                                                         int rank, int nranks,
                                                         std::chrono::milliseconds timeout,
                                                         cudaStream_t stream,
                                                         const std::string& who) {
  std::unique_ptr<NcclComm> self(new NcclComm(rank, nranks, timeout, stream));
  const Clock::time_point deadline = Clock::now() + timeout;

  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank == 0) {
    if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
      return NcclStatus(r, absl::StrCat("ncclGetUniqueId (", who, ")"));
    }
    if (nranks > 1) {
      if (store == nullptr) {
        return absl::InvalidArgumentError("a store is required when world_size > 1");
      }
      // Hex, so that any store (one backed by text protocols too) carries it.
      absl::Status s = store->Set(
          key, absl::BytesToHexString(absl::string_view(id.internal, sizeof(id.internal))));
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("publishing the NCCL unique id under '", key,
                                                   "' (", who, "): ", s.message()));
      }
    }
  } else {
    if (store == nullptr) {
      return absl::InvalidArgumentError("a store is required when world_size > 1");
    }
    absl::StatusOr<std::string> hex = store->Get(key, timeout);
    if (!hex.ok()) {
      return absl::Status(hex.status().code(),
                          absl::StrCat("waiting for the NCCL unique id under '", key, "' (", who,
                                       ", timeout ", timeout.count(),
                                       " ms): ", hex.status().message()));
    }
    const std::string bytes = absl::HexStringToBytes(*hex);
    if (bytes.size() != sizeof(id.internal)) {
      return absl::InternalError(absl::StrCat("the NCCL unique id under '", key, "' has ",
                                              bytes.size(), " bytes, expected ",
                                              sizeof(id.internal)));
    }
    std::memcpy(id.internal, bytes.data(), sizeof(id.internal));
  }

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // every wait is our poll, so a missing peer cannot hang us
  ncclResult_t r = ncclCommInitRankConfig(&self->comm_, nranks, id, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    if (self->comm_ != nullptr) ncclCommAbort(self->comm_);
    self->comm_ = nullptr;
    return NcclStatus(r, absl::StrCat("ncclCommInitRankConfig (", who, ")"));
  }
  if (absl::Status s = self->WaitComm(deadline, absl::StrCat("NCCL communicator init (", who,
                                                             ", key '", key, "')"));
      !s.ok()) {
    self->comm_ = nullptr;  // aborted by WaitComm
    return s;
  }
  return self;
}

NcclComm::~NcclComm() {
  if (comm_ == nullptr || aborted_) return;
  // Finalize flushes outstanding work; in non-blocking mode it is polled too.
  const Clock::time_point deadline = Clock::now() + timeout_;
  ncclResult_t r = ncclCommFinalize(comm_);
  ncclResult_t state = r;
  while (state == ncclInProgress && Clock::now() < deadline) {
    std::this_thread::sleep_for(kPollInterval);
    if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) break;
  }
  if (state == ncclSuccess) {
    ncclCommDestroy(comm_);
  } else {
    ncclCommAbort(comm_);
  }
}

bool NcclComm::Supports(CollectiveOp op, DType dtype) {
  (void)op;
  return dtype == DType::kFp32 || dtype == DType::kFp16 || dtype == DType::kBf16;
}

absl::Status NcclComm::Abort(absl::Status status) {
  if (comm_ != nullptr && !aborted_) {
    ncclCommAbort(comm_);
    aborted_ = true;
    abort_reason_ = std::string(status.message());
  }
  return status;
}

absl::Status NcclComm::WaitComm(Clock::time_point deadline, const std::string& what) {
  while (true) {
    ncclResult_t state = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
    if (r != ncclSuccess) return Abort(NcclStatus(r, absl::StrCat("ncclCommGetAsyncError during ", what)));
    if (state == ncclSuccess) return absl::OkStatus();
    if (state != ncclInProgress) return Abort(NcclStatus(state, what));
    if (Clock::now() >= deadline) {
      return Abort(absl::DeadlineExceededError(absl::StrCat(
          what, " did not complete within ", timeout_.count(),
          " ms (a peer missing or stuck?); communicator aborted")));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

absl::StatusOr<NcclComm::Counts> NcclComm::CountsFor(CollectiveOp op, int64_t count, DType dtype,
                                                     int nranks) {
  if (count <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("collective count must be positive, got ", count));
  }
  if (!Supports(op, dtype)) {
    return absl::UnimplementedError(absl::StrCat("backend cuda does not support ",
                                                 std::string(CollectiveOpName(op)), " in ", std::string(DTypeName(dtype)),
                                                 " (NCCL collectives run in fp32, fp16, bf16)"));
  }
  const bool split = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter ||
                     op == CollectiveOp::kAllToAll;
  if (split && count % nranks != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(CollectiveOpName(op)), " needs count divisible by world_size: count=", count,
        " world_size=", nranks));
  }
  Counts c;
  c.chunk = count / nranks;
  c.in = op == CollectiveOp::kAllGather ? c.chunk : count;
  c.out = op == CollectiveOp::kReduceScatter ? c.chunk : count;
  return c;
}

CollectivePattern NcclComm::PatternFor(CollectiveOp op, int64_t count, DType dtype) const {
  CollectivePattern pattern;
  pattern.op = KindFor(op);
  pattern.type = ElemFor(dtype);
  pattern.rank = rank_;
  pattern.world_size = world_size_;
  pattern.root = 0;
  pattern.count = count;
  pattern.reduce_max =
      static_cast<int>(std::clamp<int64_t>(ExactIntegerLimit(dtype) / world_size_, 1, 12));
  return pattern;
}

absl::Status NcclComm::CheckAsyncError(const std::string& what) {
  if (aborted_) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": the communicator was aborted earlier (", abort_reason_, ")"));
  }
  ncclResult_t state = ncclSuccess;
  ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
  if (r != ncclSuccess) return Abort(NcclStatus(r, absl::StrCat("ncclCommGetAsyncError during ", what)));
  if (state != ncclSuccess && state != ncclInProgress) {
    return Abort(NcclStatus(state, absl::StrCat(what, " (a peer failed?)")));
  }
  return absl::OkStatus();
}

absl::Status NcclComm::Enqueue(CollectiveOp op, int64_t count, DType dtype, const void* send_ptr,
                               void* recv_ptr, Clock::time_point deadline, const std::string& what) {
  if (aborted_) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": the communicator was aborted earlier (", abort_reason_, "); create a new backend"));
  }
  const int64_t esize = DTypeBytes(dtype);
  const int64_t chunk = count / world_size_;
  const ncclDataType_t type = NcclType(dtype);
  auto* send = static_cast<const char*>(send_ptr);
  auto* recv = static_cast<char*>(recv_ptr);
  auto issue = [&]() -> ncclResult_t {
    switch (op) {
      case CollectiveOp::kAllReduce:
        return ncclAllReduce(send, recv, count, type, ncclSum, comm_, stream_);
      case CollectiveOp::kAllGather:
        return ncclAllGather(send, recv, chunk, type, comm_, stream_);
      case CollectiveOp::kReduceScatter:
        return ncclReduceScatter(send, recv, chunk, type, ncclSum, comm_, stream_);
      case CollectiveOp::kBroadcast:
        return ncclBroadcast(send, recv, count, type, /*root=*/0, comm_, stream_);
      case CollectiveOp::kReduce:
        return ncclReduce(send, recv, count, type, ncclSum, /*root=*/0, comm_, stream_);
      case CollectiveOp::kAllToAll: {
        // Grouped point-to-point, as nccl-tests' alltoall does: available in
        // every NCCL since 2.7 (ncclAlltoAll only since 2.28, and the GPU
        // machine's NCCL may be older than the one built against).
        if (ncclResult_t r = ncclGroupStart(); r != ncclSuccess) return r;
        for (int peer = 0; peer < world_size_; ++peer) {
          const int64_t offset = peer * chunk * esize;
          if (ncclResult_t r = ncclSend(send + offset, chunk, type, peer, comm_, stream_);
              r != ncclSuccess && r != ncclInProgress) {
            ncclGroupEnd();
            return r;
          }
          if (ncclResult_t r = ncclRecv(recv + offset, chunk, type, peer, comm_, stream_);
              r != ncclSuccess && r != ncclInProgress) {
            ncclGroupEnd();
            return r;
          }
        }
        return ncclGroupEnd();
      }
    }
    return ncclInvalidArgument;
  };
  ncclResult_t r = issue();
  if (r == ncclInProgress) return WaitComm(deadline, what);
  if (r != ncclSuccess) return Abort(NcclStatus(r, what));
  return absl::OkStatus();
}

absl::StatusOr<CollectiveRun> NcclComm::Run(CollectiveOp op, int64_t count, DType dtype,
                                            const IterationPlan& plan,
                                            const std::atomic<bool>* stop) {
  const int64_t esize = DTypeBytes(dtype);
  const std::string op_name = absl::StrCat(std::string(CollectiveOpName(op)), " of ", count, " ",
                                           std::string(DTypeName(dtype)), " elements (",
                                           count * esize, " bytes)");
  const std::string rank_name = absl::StrCat("rank ", rank_, " of ", world_size_);
  const std::string what = absl::StrCat(op_name, " on ", rank_name);
  if (aborted_) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": the communicator was aborted earlier (", abort_reason_, "); create a new backend"));
  }
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  absl::StatusOr<Counts> counts = CountsFor(op, count, dtype, world_size_);
  if (!counts.ok()) return counts.status();
  const int64_t in_count = counts->in;
  const int64_t out_count = counts->out;
  const int64_t in_bytes = CheckedBytes(in_count, esize);
  const int64_t out_bytes = CheckedBytes(out_count, esize);

  size_t free_bytes = 0, total_bytes = 0;
  TM_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo for ", what);
  if (in_bytes < 0 || out_bytes < 0 ||
      in_bytes + out_bytes + kHeadroomBytes > static_cast<int64_t>(free_bytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, " needs ", in_bytes, " + ", out_bytes, " bytes of device memory (input + output, plus ",
        kHeadroomBytes, " headroom) but the device has ", free_bytes, " bytes free of ",
        total_bytes));
  }

  DeviceBuffer in, out, wrong;
  if (absl::Status s = in.Allocate(in_bytes, absl::StrCat("input of ", what)); !s.ok()) return s;
  if (absl::Status s = out.Allocate(out_bytes, absl::StrCat("output of ", what)); !s.ok()) return s;
  if (absl::Status s = wrong.Allocate(sizeof(unsigned long long), "collective check"); !s.ok()) {
    return s;
  }

  const CollectivePattern pattern = PatternFor(op, count, dtype);
  TM_CUDA_RETURN_IF_ERROR(LaunchCollectiveFill(in.get(), in_count, pattern, stream_),
                          "filling the input of ", what);
  TM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(wrong.get(), 0, sizeof(unsigned long long), stream_),
                          "clearing the check counter of ", what);
  // Poison the output so that a call that writes nothing cannot pass; after
  // every call again, so that an element one call left unwritten cannot pass
  // on the previous call's value.
  auto poison = [&] { return cudaMemsetAsync(out.get(), 0xFF, out_bytes, stream_); };
  TM_CUDA_RETURN_IF_ERROR(poison(), "clearing the output of ", what);
  // Reduce's result exists only on the root.
  const int64_t checked = (op == CollectiveOp::kReduce && rank_ != 0) ? 0 : out_count;
  int64_t calls = 0;

  // Events first, so that none is created once collectives are queued.
  IterationTimer timer;
  if (absl::Status s = timer.Create(plan.timed); !s.ok()) return s;
  // Ends of untimed iterations, used in turn: Progress keeps fewer than
  // kMaxOpsInFlight + 2 in flight, so a fence is reused only once waited for.
  EventPool fences;
  const size_t untimed = static_cast<size_t>(std::max(plan.warmup, 1));
  if (absl::Status s = fences.Create(std::min<size_t>(kMaxOpsInFlight + 2, untimed),
                                     cudaEventDisableTiming,
                                     absl::StrCat("fences of ", what).c_str());
      !s.ok()) {
    return s;
  }
  size_t next_fence = 0;

  // From the first enqueue on, any error return aborts the communicator: the
  // buffers' destructors call cudaFree, which waits for the device, and so
  // for an NCCL kernel whose peer may be gone. Declared after the buffers,
  // so it runs before their destructors.
  AbortOnErrorReturn abort_guard(this, what);

  // Each iteration's end is waited for in turn, so the timeout bounds the
  // time since the last one finished (since the host queued work, when none
  // was in flight), not a whole loop: a long healthy run is not cut short,
  // and a lost peer is still caught within the timeout.
  Progress progress(timeout_, {this}, rank_name, stop);
  struct Phase {
    std::string label;  // for Progress, which adds the rank
    std::string what;   // for Enqueue
  };
  auto phase = [&](const char* name) -> Phase {
    const std::string label = absl::StrCat(op_name, " (", name, ")");
    return {label, absl::StrCat(label, " on ", rank_name)};
  };
  const Phase warmup = phase("warm-up"), timed = phase("timed");
  // Enqueues one iteration; `t` >= 0 is timed iteration t (its event pair),
  // -1 an untimed one (a fence).
  auto iteration = [&](const Phase& ph, int t) -> absl::Status {
    // Host waits happen here, before the start event, so they are not timed.
    if (absl::Status s = progress.Admit(kLaunchesPerIteration); !s.ok()) return s;
    cudaEvent_t done = fences[next_fence++ % fences.size()];
    if (t >= 0) {
      TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(timer.start(t), stream_), "cudaEventRecord for ",
                              ph.what);
      done = timer.stop(t);
    }
    if (calls == skip_call_for_testing_) {
      skip_call_for_testing_ = -1;
    } else if (absl::Status s = Enqueue(op, count, dtype, in.get(), out.get(),
                                        Clock::now() + timeout_, ph.what);
               !s.ok()) {
      return s;  // Enqueue aborted the communicator
    }
    abort_guard.Arm();
    TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(done, stream_), "cudaEventRecord for ", ph.what);
    // Every call's output is checked on the device, every element, after its
    // stop event: untimed, and the same work on every rank, so the ranks stay
    // aligned (an intermittent fault shows in the call it happens in, not
    // only if it hits the last one).
    TM_CUDA_RETURN_IF_ERROR(LaunchCollectiveCheck(out.get(), checked, pattern,
                                                  static_cast<unsigned long long*>(wrong.get()),
                                                  stream_),
                            "checking the output of ", ph.what);
    TM_CUDA_RETURN_IF_ERROR(poison(), "clearing the output of ", ph.what);
    ++calls;
    progress.Push(done, kLaunchesPerIteration, &ph.label);
    return absl::OkStatus();
  };

  for (int i = 0; i < plan.warmup; ++i) {
    if (absl::Status s = iteration(warmup, -1); !s.ok()) return s;
  }
  for (int i = 0; i < plan.timed; ++i) {
    if (absl::Status s = iteration(timed, i); !s.ok()) return s;
  }
  if (absl::Status s = progress.Drain(); !s.ok()) return s;

  CollectiveRun run;
  if (absl::Status s = timer.Read(&run.iteration_seconds); !s.ok()) return s;

  // The stream is drained: the copy waits for nothing but itself.
  unsigned long long wrong_host = 0;
  TM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(&wrong_host, wrong.get(), sizeof(wrong_host),
                                          cudaMemcpyDeviceToHost, stream_),
                          "copying the check result of ", what);
  TM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "checking the output of ", what);
  run.checked_elements = checked * calls;
  run.wrong_elements = static_cast<int64_t>(wrong_host);
  abort_guard.Disarm();
  return run;
}

}  // namespace tokenmeter::kernels::cuda
