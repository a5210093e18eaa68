#include "kernels/cuda/cuda_step.h"

#include <algorithm>
#include <random>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/device_resources.h"
#include "kernels/cuda/progress.h"
#include "kernels/cuda/step_events.h"

namespace tokenmeter::kernels::cuda {
namespace {

using Clock = std::chrono::steady_clock;

// y = a·x + y with a small a keeps y bounded over thousands of passes.
constexpr float kAxpyAlpha = 0x1p-10f;

ElemType ElemOf(DType dtype) {
  switch (dtype) {
    case DType::kFp32:
    case DType::kTf32: return ElemType::kF32;
    case DType::kFp16: return ElemType::kF16;
    case DType::kBf16: return ElemType::kBf16;
    case DType::kFp8E4M3: return ElemType::kFp8E4M3;
  }
  return ElemType::kF32;
}

uint64_t FreshSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

std::string ListName(const std::vector<int>& members) {
  return absl::StrCat("[", absl::StrJoin(members, ","), "]");
}

// One op, resolved before the first iteration.
struct OpPlan {
  const StepOp* op = nullptr;
  std::string label;                   // "step op 3 (gemm 64x64x64 bf16, count 2)"
  std::string what;                    // label and this rank, for NCCL's messages
  const PreparedGemm* gemm = nullptr;  // kGemm
  int64_t elements = 0;                // kElementwise: elements of x and y
  NcclComm* comm = nullptr;            // kCollective
  NcclComm::Counts counts;             // kCollective
  int check_slot = -1;                 // kCollective: index into the wrong counters
  int64_t launches = 0;                // device work items, for Progress
  bool compute = false;                // kGemm, kElementwise
  bool async = false;                  // kCollective on the communication stream
  bool waits = false;                  // the main stream first waits for the async ops
};

// Everything about a program that is known before the device is touched.
struct StepPlan {
  std::vector<OpPlan> ops;
  DType act_dtype = DType::kFp32;  // of the elementwise passes
  ElemType act_elem = ElemType::kF32;
  int64_t act_bytes = 0;
  DType coll_dtype = DType::kFp32;
  int64_t coll_bytes = 0;
  // The largest of each operand: bytes for A, B and C, elements for the rest.
  int64_t a_max = 0, b_max = 0, c_max = 0, x_max = 0, in_max = 0, out_max = 0;
  // The communication stream's own collective buffers: its collectives run
  // while the main stream's may.
  int64_t async_in_max = 0, async_out_max = 0;
  ElemType gemm_in_elem = ElemType::kF32;
  bool gemm_round_tf32 = false;
  bool any_async = false;
  int wait_ops = 0;  // ops marked waits_for_overlapped
  int checks = 0;    // collectives, each with a wrong-element counter

  // The most waits of the main stream for the communication stream in one
  // iteration: one before each waiting op and one at the end.
  size_t wait_slots() const { return any_async ? static_cast<size_t>(wait_ops) + 1 : 0; }
};

// Resolves every op (no device memory yet): labels, dtypes, sizes, counts,
// which stream. Errors name the op.
absl::StatusOr<StepPlan> PlanStep(const StepProgram& program, const StepDevice& dev,
                                  const std::string& who) {
  StepPlan plan;
  plan.act_dtype = StepActivationDType(program.dtype);
  plan.act_elem = ElemOf(plan.act_dtype);
  plan.act_bytes = DTypeBytes(plan.act_dtype);
  plan.coll_dtype = program.collective_dtype;
  plan.coll_bytes = DTypeBytes(plan.coll_dtype);
  plan.ops.resize(program.ops.size());
  const bool can_overlap = dev.comm_stream != nullptr && dev.overlap_comms != nullptr;
  for (size_t j = 0; j < program.ops.size(); ++j) {
    const StepOp& op = program.ops[j];
    OpPlan& p = plan.ops[j];
    p.op = &op;
    p.waits = op.waits_for_overlapped;
    plan.wait_ops += p.waits;
    switch (op.kind) {
      case StepOp::Kind::kGemm: {
        const GemmProblem problem{op.m, op.n, op.k, program.dtype};
        p.label = absl::StrCat("step op ", j, " (gemm ", op.m, "x", op.n, "x", op.k, " ",
                               std::string(DTypeName(program.dtype)),
                               op.transpose_a ? ", transpose_a" : "",
                               op.transpose_b ? ", transpose_b" : "", ", count ", op.count, ")");
        if (absl::Status s = dev.gemm->Validate(problem); !s.ok()) {
          return absl::Status(s.code(), absl::StrCat(p.label, ": ", s.message()));
        }
        // The transposes change the layout, not the sizes.
        const GemmOperandSizes sizes = GemmOperands(problem);
        if (sizes.a_bytes < 0 || sizes.b_bytes < 0 || sizes.c_bytes < 0) {
          return absl::ResourceExhaustedError(
              absl::StrCat(p.label, ": operand sizes overflow 2^63 bytes"));
        }
        plan.a_max = std::max(plan.a_max, sizes.a_bytes);
        plan.b_max = std::max(plan.b_max, sizes.b_bytes);
        plan.c_max = std::max(plan.c_max, sizes.c_bytes);
        plan.gemm_in_elem = sizes.in_elem;
        plan.gemm_round_tf32 = sizes.round_inputs_to_tf32;
        // cuBLASLt may launch more than one kernel per matmul; 2 is generous.
        p.launches = 2 * op.count + 2;
        p.compute = true;
        break;
      }
      case StepOp::Kind::kElementwise:
        p.elements = std::max<int64_t>(1, op.bytes / (3 * plan.act_bytes));
        p.label = absl::StrCat("step op ", j, " (elementwise y = a*x + y over ", p.elements, " ",
                               std::string(DTypeName(plan.act_dtype)), " elements)");
        plan.x_max = std::max(plan.x_max, p.elements);
        p.launches = 3;
        p.compute = true;
        break;
      case StepOp::Kind::kCollective: {
        const std::vector<int>& members = program.groups[op.group];
        // A group of one overlaps too: NCCL still runs it (a copy), so one GPU
        // exercises the same streams, events and accounting as many.
        p.async = can_overlap && op.overlappable;
        plan.any_async = plan.any_async || p.async;
        p.label = absl::StrCat("step op ", j, " (", std::string(CollectiveOpName(op.op)), " of ",
                               op.count, " ", std::string(DTypeName(plan.coll_dtype)),
                               " elements in group ", ListName(members),
                               p.async ? ", overlapped" : "", ")");
        absl::StatusOr<NcclComm::Counts> counts = NcclComm::CountsFor(
            op.op, op.count, plan.coll_dtype, static_cast<int>(members.size()));
        if (!counts.ok()) {
          return absl::Status(counts.status().code(),
                              absl::StrCat(p.label, ": ", counts.status().message()));
        }
        p.counts = *counts;
        int64_t& in_max = p.async ? plan.async_in_max : plan.in_max;
        int64_t& out_max = p.async ? plan.async_out_max : plan.out_max;
        in_max = std::max(in_max, p.counts.in);
        out_max = std::max(out_max, p.counts.out);
        p.check_slot = plan.checks++;
        p.what = absl::StrCat(p.label, " (", who, ")");
        p.launches = p.async ? 5 : 3;  // + the event it waits on and the wait
        break;
      }
    }
    if (p.waits) p.launches += 3;  // the main stream's wait and its two marks
  }
  return plan;
}

// The communicator of every collective, in the order the ops first use them
// (the same on every rank of a group, like the collectives themselves).
// Returns the distinct ones, for Progress to poll and abort.
absl::StatusOr<std::vector<NcclComm*>> ConnectCommunicators(const StepProgram& program,
                                                            const StepDevice& dev,
                                                            std::vector<OpPlan>* ops) {
  std::vector<NcclComm*> used;
  for (OpPlan& p : *ops) {
    if (p.op->kind != StepOp::Kind::kCollective) continue;
    absl::StatusOr<NcclComm*> comm =
        (p.async ? dev.overlap_comms : dev.comms)->For(program.groups[p.op->group]);
    if (!comm.ok()) {
      return absl::Status(comm.status().code(),
                          absl::StrCat(p.label, ": communicator: ", comm.status().message()));
    }
    p.comm = *comm;
    if (std::find(used.begin(), used.end(), p.comm) == used.end()) used.push_back(p.comm);
  }
  return used;
}

// cuBLASLt's algorithm for every GEMM, in its row-major storage: one
// heuristic lookup per distinct shape (cached in CublasLtGemm across steps),
// none in the loop.
absl::Status PrepareGemms(const StepProgram& program, CublasLtGemm* gemm,
                          std::vector<OpPlan>* ops) {
  for (OpPlan& p : *ops) {
    if (p.op->kind != StepOp::Kind::kGemm) continue;
    const GemmStorage storage{
        .row_major = true, .transpose_a = p.op->transpose_a, .transpose_b = p.op->transpose_b};
    absl::StatusOr<const PreparedGemm*> prepared =
        gemm->Prepare({p.op->m, p.op->n, p.op->k, program.dtype}, storage);
    if (!prepared.ok()) {
      return absl::Status(prepared.status().code(),
                          absl::StrCat(p.label, ": ", prepared.status().message()));
    }
    p.gemm = *prepared;
  }
  return absl::OkStatus();
}

// The step's device memory: every buffer sized to the largest op using it,
// checked against the free memory first, allocated once, freed on scope exit
// (cudaFree waits for the device, so the streams must have drained or been
// aborted by then).
class StepBuffers {
 public:
  explicit StepBuffers(const StepPlan& plan)
      : plan_(plan),
        x_bytes_(CheckedBytes(plan.x_max, plan.act_bytes)),
        in_bytes_(CheckedBytes(plan.in_max, plan.coll_bytes)),
        out_bytes_(CheckedBytes(plan.out_max, plan.coll_bytes)),
        async_in_bytes_(CheckedBytes(plan.async_in_max, plan.coll_bytes)),
        async_out_bytes_(CheckedBytes(plan.async_out_max, plan.coll_bytes)),
        check_bytes_(static_cast<int64_t>(sizeof(unsigned long long)) * plan.checks) {}

  // ResourceExhausted, with every buffer's bytes and the device's free
  // memory, when they do not fit beside kStepHeadroomBytes.
  absl::Status CheckFits(const std::string& who) const {
    int64_t needed = 0;
    bool overflow = x_bytes_ < 0 || in_bytes_ < 0 || out_bytes_ < 0 || async_in_bytes_ < 0 ||
                    async_out_bytes_ < 0;
    for (int64_t part : {plan_.a_max, plan_.b_max, plan_.c_max, x_bytes_, x_bytes_, in_bytes_,
                         out_bytes_, async_in_bytes_, async_out_bytes_, check_bytes_,
                         kStepHeadroomBytes}) {
      overflow = overflow || __builtin_add_overflow(needed, part, &needed);
    }
    size_t free_bytes = 0, total_bytes = 0;
    TM_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo (", who,
                            ")");
    if (overflow || needed > static_cast<int64_t>(free_bytes)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "training step needs ", overflow ? std::string("more than 2^63") : absl::StrCat(needed),
          " bytes of device memory (gemm A ", plan_.a_max, ", B ", plan_.b_max, ", C ",
          plan_.c_max, "; elementwise x and y ", x_bytes_, " each; collective input ", in_bytes_,
          ", output ", out_bytes_, "; overlapped collective input ", async_in_bytes_,
          ", output ", async_out_bytes_, "; plus ", kStepHeadroomBytes, " headroom) but ", who,
          " has ", free_bytes, " bytes free of ", total_bytes));
    }
    return absl::OkStatus();
  }

  // Allocates every buffer some op uses. REQUIRES: CheckFits passed.
  absl::Status Allocate(const std::string& who) {
    for (auto [buffer, bytes, what] :
         {std::tuple{&a, plan_.a_max, "gemm A"}, std::tuple{&b, plan_.b_max, "gemm B"},
          std::tuple{&c, plan_.c_max, "gemm C"}, std::tuple{&x, x_bytes_, "elementwise x"},
          std::tuple{&y, x_bytes_, "elementwise y"},
          std::tuple{&coll_in, in_bytes_, "collective input"},
          std::tuple{&coll_out, out_bytes_, "collective output"},
          std::tuple{&async_in, async_in_bytes_, "overlapped collective input"},
          std::tuple{&async_out, async_out_bytes_, "overlapped collective output"},
          std::tuple{&wrong, check_bytes_, "collective check counters"}}) {
      if (bytes == 0) continue;
      if (absl::Status s = buffer->Allocate(static_cast<size_t>(bytes),
                                            absl::StrCat("training step ", what, " (", who, ")"));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  // Random operands on `stream`: A and B in the GEMM input type, x and y and
  // the collective inputs in theirs. Every fill is launched; the first
  // error is returned.
  absl::Status Fill(cudaStream_t stream, const std::string& who) const {
    auto fill = [&](const DeviceBuffer& buf, ElemType type, int64_t elem_bytes, bool tf32,
                    const char* what) -> absl::Status {
      if (buf.get() == nullptr) return absl::OkStatus();
      TM_CUDA_RETURN_IF_ERROR(
          LaunchFillUniform(buf.get(), type, static_cast<int64_t>(buf.bytes()) / elem_bytes,
                            FreshSeed(), tf32, stream),
          "filling the training step's ", what, " (", who, ")");
      return absl::OkStatus();
    };
    const ElemType in = plan_.gemm_in_elem;
    const int64_t in_bytes = in == ElemType::kFp8E4M3 ? 1 : in == ElemType::kF32 ? 4 : 2;
    const ElemType coll = ElemOf(plan_.coll_dtype);
    for (absl::Status s :
         {fill(a, in, in_bytes, plan_.gemm_round_tf32, "gemm A"),
          fill(b, in, in_bytes, plan_.gemm_round_tf32, "gemm B"),
          fill(x, plan_.act_elem, plan_.act_bytes, false, "elementwise x"),
          fill(y, plan_.act_elem, plan_.act_bytes, false, "elementwise y"),
          fill(coll_in, coll, plan_.coll_bytes, false, "collective input"),
          fill(async_in, coll, plan_.coll_bytes, false, "overlapped collective input")}) {
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  int64_t check_bytes() const { return check_bytes_; }

  DeviceBuffer a, b, c, x, y, coll_in, coll_out, async_in, async_out, wrong;

 private:
  const StepPlan& plan_;
  const int64_t x_bytes_, in_bytes_, out_bytes_, async_in_bytes_, async_out_bytes_, check_bytes_;
};

// Enqueues and waits for the iterations, never more than Progress allows in
// flight. After a failure the caller calls AbortIfEnqueued before the
// buffers go.
class StepIterations {
 public:
  StepIterations(const StepPlan& plan, const StepBuffers& buffers, StepEvents& events,
                 const StepDevice& dev, std::vector<NcclComm*> used, std::string who)
      : plan_(plan),
        buf_(buffers),
        events_(events),
        dev_(dev),
        who_(std::move(who)),
        progress_(dev.timeout, std::move(used), who_, dev.stop) {}

  // max(warmup, 1) untimed iterations, the first of them the check iteration
  // (cuda_step.h); Internal for a wrong collective output element.
  absl::Status RunUntimed(int warmup) {
    const int untimed = std::max(warmup, 1);
    for (int i = 0; i < untimed; ++i) {
      const bool check = i == 0;
      if (absl::Status s = Iteration(-1, check); !s.ok()) return s;
      if (check && plan_.checks > 0) {
        if (absl::Status s = ReadChecks(); !s.ok()) return s;
      }
    }
    return progress_.Drain();
  }

  // `timed` iterations, every op between its own event pair (read afterwards
  // by StepEvents::Read); the device energy around them into
  // run->timed_energy_joules.
  absl::Status RunTimed(int timed, StepRun* run) {
    absl::StatusOr<double> energy_before = Energy();
    for (int i = 0; i < timed; ++i) {
      if (absl::Status s = Iteration(i, false); !s.ok()) return s;
    }
    if (absl::Status s = progress_.Drain(); !s.ok()) return s;
    absl::StatusOr<double> energy_after = Energy();
    run->timed_energy_joules =
        energy_before.ok() && energy_after.ok() ? *energy_after - *energy_before : -1.0;
    return absl::OkStatus();
  }

  // Work may still be queued behind a collective whose peers are gone or
  // that failed here: abort so that the stream drains before the buffers are
  // freed (cudaFree waits for the device). Nothing to abort before the
  // first collective was enqueued.
  void AbortIfEnqueued(const absl::Status& error) {
    if (collectives_enqueued_) progress_.AbortAll(error).IgnoreError();
  }

 private:
  absl::StatusOr<double> Energy() const {
    return dev_.energy ? dev_.energy()
                       : absl::StatusOr<double>(absl::UnimplementedError("no energy"));
  }

  // Enqueues one iteration; `t` >= 0 is a timed iteration (its events are
  // recorded), -1 an untimed one (fenced for Progress). An overlapped op is
  // enqueued on the communication stream after the main stream's work so far
  // (its gradients' GEMMs are before it); the main stream waits for the
  // communication stream before an op marked `waits` (the optimizer) and at
  // the end of the iteration.
  absl::Status Iteration(int t, bool check) {
    bool pending = false;  // overlapped ops enqueued since the main stream last waited
    auto join = [&]() -> absl::Status {
      if (!pending) return absl::OkStatus();
      pending = false;
      return events_.MainWaitsForComm(t, dev_.stream, dev_.comm_stream);
    };
    if (absl::Status s = events_.RecordBegin(t, dev_.stream); !s.ok()) return s;
    for (size_t j = 0; j < plan_.ops.size(); ++j) {
      const OpPlan& p = plan_.ops[j];
      // The check adds the fill, poison and check launches; in the check
      // iteration an overlapped op is joined at once (below): two more.
      const int64_t launches = p.launches + (check ? 3 : 0) + (check && p.async ? 2 : 0);
      if (absl::Status s = progress_.Admit(launches); !s.ok()) return s;
      if (p.waits) {
        if (absl::Status s = join(); !s.ok()) return s;
      }
      cudaStream_t stream = p.async ? dev_.comm_stream : dev_.stream;
      if (p.async) {
        if (absl::Status s = events_.CommWaitsForMain(dev_.stream, dev_.comm_stream, p.label);
            !s.ok()) {
          return s;
        }
        pending = true;
      }
      if (absl::Status s = events_.RecordOpStart(t, j, stream); !s.ok()) return s;
      if (absl::Status s = Enqueue(p, check); !s.ok()) return s;
      absl::StatusOr<cudaEvent_t> done = events_.RecordOpDone(t, j, stream);
      if (!done.ok()) return done.status();
      progress_.Push(*done, launches, &p.label);
      // The check iteration launches every kernel for the first time. Under
      // CUDA's lazy module loading (the default since 12.2) a first launch
      // may load a module, which can need the context to synchronise, and so
      // wait for an overlapped NCCL kernel that is spinning for a peer
      // (CUDA programming guide, Lazy Loading, possible hazards; NCCL guide,
      // using multiple communicators concurrently). So in that iteration the
      // main stream waits for each overlapped op at once: nothing overlaps
      // while kernels load. Its timing is not used.
      if (check && p.async) {
        if (absl::Status s = join(); !s.ok()) return s;
      }
    }
    if (absl::Status s = join(); !s.ok()) return s;
    if (t >= 0) {
      absl::StatusOr<cudaEvent_t> end = events_.RecordEnd(t, dev_.stream);
      if (!end.ok()) return end.status();
      progress_.Push(*end, 1, &end_what_);
    }
    return absl::OkStatus();
  }

  // Enqueues op `p` on its stream; `check` adds the collective pattern,
  // poison and check.
  absl::Status Enqueue(const OpPlan& p, bool check) {
    const StepOp& op = *p.op;
    switch (op.kind) {
      case StepOp::Kind::kGemm:
        for (int64_t r = 0; r < op.count; ++r) {
          TM_CUBLAS_RETURN_IF_ERROR(dev_.gemm->Enqueue(*p.gemm, buf_.a.get(), buf_.b.get(),
                                                       buf_.c.get()),
                                    "cublasLtMatmul for ", p.label, " (", who_, ")");
        }
        return absl::OkStatus();
      case StepOp::Kind::kElementwise:
        TM_CUDA_RETURN_IF_ERROR(LaunchAxpy(plan_.act_elem, p.elements, kAxpyAlpha, buf_.x.get(),
                                           buf_.y.get(), dev_.stream),
                                "launching ", p.label, " (", who_, ")");
        return absl::OkStatus();
      case StepOp::Kind::kCollective: {
        // An overlapped op: the communication stream (its communicator's)
        // and buffers of its own.
        cudaStream_t stream = p.async ? dev_.comm_stream : dev_.stream;
        void* in = p.async ? buf_.async_in.get() : buf_.coll_in.get();
        void* out = p.async ? buf_.async_out.get() : buf_.coll_out.get();
        const DType dtype = plan_.coll_dtype;
        const CollectivePattern pattern = p.comm->PatternFor(op.op, op.count, dtype);
        if (check) {
          TM_CUDA_RETURN_IF_ERROR(LaunchCollectiveFill(in, p.counts.in, pattern, stream),
                                  "filling the input of ", p.label, " (", who_, ")");
          TM_CUDA_RETURN_IF_ERROR(
              cudaMemsetAsync(out, 0xFF, static_cast<size_t>(p.counts.out * plan_.coll_bytes),
                              stream),
              "poisoning the output of ", p.label, " (", who_, ")");
        }
        // Before the call: a failed enqueue may still have left NCCL work
        // on the stream.
        collectives_enqueued_ = true;
        if (absl::Status s = p.comm->Enqueue(op.op, op.count, dtype, in, out,
                                             Clock::now() + dev_.timeout, p.what);
            !s.ok()) {
          return s;
        }
        if (check) {
          // Reduce's result exists only on the group's root.
          const int64_t checked =
              (op.op == CollectiveOp::kReduce && p.comm->rank() != 0) ? 0 : p.counts.out;
          auto* wrong = static_cast<unsigned long long*>(buf_.wrong.get()) + p.check_slot;
          TM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(wrong, 0, sizeof(*wrong), stream),
                                  "clearing the check counter of ", p.label, " (", who_, ")");
          TM_CUDA_RETURN_IF_ERROR(LaunchCollectiveCheck(out, checked, pattern, wrong, stream),
                                  "checking the output of ", p.label, " (", who_, ")");
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

  // After the check iteration: Internal naming the first collective with a
  // wrong output element.
  absl::Status ReadChecks() {
    // Bounded wait first: a pageable copy would block the host unbounded.
    if (absl::Status s = progress_.Drain(); !s.ok()) return s;
    std::vector<unsigned long long> wrong(static_cast<size_t>(plan_.checks), 0);
    TM_CUDA_RETURN_IF_ERROR(cudaMemcpy(wrong.data(), buf_.wrong.get(),
                                       static_cast<size_t>(buf_.check_bytes()),
                                       cudaMemcpyDeviceToHost),
                            "copying the collective check counters (", who_, ")");
    for (const OpPlan& p : plan_.ops) {
      if (p.check_slot < 0 || wrong[p.check_slot] == 0) continue;
      return absl::InternalError(absl::StrCat(
          p.label, " (", who_, ", rank ", p.comm->rank(), " of ", p.comm->size(),
          " in its communicator): ", wrong[p.check_slot], " of ", p.counts.out,
          " output elements wrong in the check iteration (wrong group plumbing or a broken "
          "collective)"));
    }
    return absl::OkStatus();
  }

  const StepPlan& plan_;
  const StepBuffers& buf_;
  StepEvents& events_;
  const StepDevice& dev_;
  const std::string who_;
  const std::string end_what_ = "the end of a timed iteration of the training step";
  Progress progress_;
  bool collectives_enqueued_ = false;
};

// How StepEvents::Read sees each op.
std::vector<StepEvents::Op> TimedOps(const StepPlan& plan) {
  std::vector<StepEvents::Op> out;
  out.reserve(plan.ops.size());
  for (const OpPlan& p : plan.ops) out.push_back({&p.label, p.compute, p.async});
  return out;
}

}  // namespace

GroupCommunicators::~GroupCommunicators() {
  // std::map's own destructor gives no order guarantee: walk it ascending.
  for (auto& [members, comm] : groups_) comm.reset();
}

std::string GroupCommunicators::KeyFor(const std::string& store_prefix,
                                       const std::vector<int>& members) {
  return absl::StrCat(store_prefix, "/group-", absl::StrJoin(members, "-"));
}

absl::StatusOr<NcclComm*> GroupCommunicators::For(const std::vector<int>& members) {
  if (world_ && static_cast<int>(members.size()) == options_.world_size) {
    return world_();  // ascending, so all
  }
  if (auto it = groups_.find(members); it != groups_.end()) return it->second.get();
  const int index = static_cast<int>(std::find(members.begin(), members.end(), options_.rank) -
                                     members.begin());
  const std::string who = absl::StrCat("world rank ", options_.rank, ", rank ", index, " of group ",
                                       ListName(members));
  absl::StatusOr<std::unique_ptr<NcclComm>> comm =
      NcclComm::Join(options_.store, KeyFor(options_.store_prefix, members), index,
                     static_cast<int>(members.size()), options_.timeout, stream_, who);
  if (!comm.ok()) return comm.status();
  NcclComm* out = comm->get();
  groups_.emplace(members, *std::move(comm));
  return out;
}

DType StepActivationDType(DType gemm_dtype) {
  switch (gemm_dtype) {
    case DType::kFp16: return DType::kFp16;
    case DType::kBf16:
    case DType::kFp8E4M3: return DType::kBf16;
    case DType::kFp32:
    case DType::kTf32: return DType::kFp32;
  }
  return DType::kFp32;
}


// The phases of cuda_step.h's comment, in its order.
absl::StatusOr<StepRun> RunStepProgram(const StepProgram& program, const IterationPlan& iterations,
                                       const StepDevice& dev) {
  if (absl::Status valid = ValidateIterationPlan(iterations); !valid.ok()) return valid;
  if (absl::Status s = ValidateStepProgram(program, dev.rank, dev.world_size); !s.ok()) return s;
  const std::string who = absl::StrCat("rank ", dev.rank, " of ", dev.world_size, ", device ",
                                       dev.device_index, " (", dev.device->model, ")");
  absl::StatusOr<StepPlan> plan = PlanStep(program, dev, who);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<std::vector<NcclComm*>> used = ConnectCommunicators(program, dev, &plan->ops);
  if (!used.ok()) return used.status();

  StepBuffers buffers(*plan);
  if (absl::Status s = buffers.CheckFits(who); !s.ok()) return s;
  if (absl::Status s = PrepareGemms(program, dev.gemm, &plan->ops); !s.ok()) return s;
  if (absl::Status s = buffers.Allocate(who); !s.ok()) return s;
  if (absl::Status s = buffers.Fill(dev.stream, who); !s.ok()) return s;
  StepEvents events(who);
  if (absl::Status s = events.Create(plan->ops.size(), iterations.timed, plan->wait_slots());
      !s.ok()) {
    return s;
  }

  StepIterations run_iterations(*plan, buffers, events, dev, *std::move(used), who);
  StepRun run;
  absl::Status s = run_iterations.RunUntimed(iterations.warmup);
  if (s.ok()) s = run_iterations.RunTimed(iterations.timed, &run);
  if (s.ok()) s = events.Read(TimedOps(*plan), &run);
  if (!s.ok()) {
    run_iterations.AbortIfEnqueued(s);
    return s;
  }
  return run;
}

}  // namespace tokenmeter::kernels::cuda
