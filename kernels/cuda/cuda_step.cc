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
#include "kernels/step_overlap.h"

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


absl::StatusOr<StepRun> RunStepProgram(const StepProgram& program, const IterationPlan& plan,
                                       const StepDevice& dev) {
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  if (absl::Status s = ValidateStepProgram(program, dev.rank, dev.world_size); !s.ok()) return s;
  const std::string who = absl::StrCat("rank ", dev.rank, " of ", dev.world_size, ", device ",
                                       dev.device_index, " (", dev.device->model, ")");
  const DType act_dtype = StepActivationDType(program.dtype);
  const ElemType act_elem = ElemOf(act_dtype);
  const int64_t act_bytes = DTypeBytes(act_dtype);
  const DType coll_dtype = program.collective_dtype;
  const int64_t coll_bytes = DTypeBytes(coll_dtype);
  const size_t n_ops = program.ops.size();

  // Resolve every op (no device memory yet): dtypes, counts, algorithms.
  std::vector<OpPlan> ops(n_ops);
  int64_t a_max = 0, b_max = 0, c_max = 0, x_max = 0, in_max = 0, out_max = 0;
  // The communication stream's own collective buffers: its collectives run
  // while the main stream's may.
  int64_t async_in_max = 0, async_out_max = 0;
  const bool can_overlap = dev.comm_stream != nullptr && dev.overlap_comms != nullptr;
  bool any_async = false;
  int wait_ops = 0;
  ElemType gemm_in_elem = ElemType::kF32;
  bool gemm_round_tf32 = false;
  int checks = 0;
  for (size_t j = 0; j < n_ops; ++j) {
    const StepOp& op = program.ops[j];
    OpPlan& p = ops[j];
    p.op = &op;
    p.waits = op.waits_for_overlapped;
    wait_ops += p.waits;
    switch (op.kind) {
      case StepOp::Kind::kGemm: {
        const GemmProblem problem{op.m, op.n, op.k, program.dtype};
        p.label = absl::StrCat("step op ", j, " (gemm ", op.m, "x", op.n, "x", op.k, " ",
                               std::string(DTypeName(program.dtype)), ", count ", op.count, ")");
        if (absl::Status s = dev.gemm->Validate(problem); !s.ok()) {
          return absl::Status(s.code(), absl::StrCat(p.label, ": ", s.message()));
        }
        const GemmOperandSizes sizes = GemmOperands(problem);
        if (sizes.a_bytes < 0 || sizes.b_bytes < 0 || sizes.c_bytes < 0) {
          return absl::ResourceExhaustedError(
              absl::StrCat(p.label, ": operand sizes overflow 2^63 bytes"));
        }
        a_max = std::max(a_max, sizes.a_bytes);
        b_max = std::max(b_max, sizes.b_bytes);
        c_max = std::max(c_max, sizes.c_bytes);
        gemm_in_elem = sizes.in_elem;
        gemm_round_tf32 = sizes.round_inputs_to_tf32;
        // cuBLASLt may launch more than one kernel per matmul; 2 is generous.
        p.launches = 2 * op.count + 2;
        p.compute = true;
        break;
      }
      case StepOp::Kind::kElementwise:
        p.elements = std::max<int64_t>(1, op.bytes / (3 * act_bytes));
        p.label = absl::StrCat("step op ", j, " (elementwise y = a*x + y over ", p.elements, " ",
                               std::string(DTypeName(act_dtype)), " elements)");
        x_max = std::max(x_max, p.elements);
        p.launches = 3;
        p.compute = true;
        break;
      case StepOp::Kind::kCollective: {
        const std::vector<int>& members = program.groups[op.group];
        // A group of one overlaps too: NCCL still runs it (a copy), so one GPU
        // exercises the same streams, events and accounting as many.
        p.async = can_overlap && op.overlappable;
        any_async = any_async || p.async;
        p.label = absl::StrCat("step op ", j, " (", std::string(CollectiveOpName(op.op)), " of ",
                               op.count, " ", std::string(DTypeName(coll_dtype)),
                               " elements in group ", ListName(members),
                               p.async ? ", overlapped" : "", ")");
        absl::StatusOr<NcclComm::Counts> counts =
            NcclComm::CountsFor(op.op, op.count, coll_dtype, static_cast<int>(members.size()));
        if (!counts.ok()) {
          return absl::Status(counts.status().code(),
                              absl::StrCat(p.label, ": ", counts.status().message()));
        }
        p.counts = *counts;
        (p.async ? async_in_max : in_max) = std::max(p.async ? async_in_max : in_max, p.counts.in);
        (p.async ? async_out_max : out_max) =
            std::max(p.async ? async_out_max : out_max, p.counts.out);
        p.check_slot = checks++;
        p.what = absl::StrCat(p.label, " (", who, ")");
        p.launches = p.async ? 5 : 3;  // + the event it waits on and the wait
        break;
      }
    }
    if (p.waits) p.launches += 3;  // the main stream's wait and its two marks
  }

  // Communicators, in the order the ops first use them (the same on every
  // rank of a group, like the collectives themselves).
  std::vector<NcclComm*> used;
  for (OpPlan& p : ops) {
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

  // Device memory: check, then allocate everything once.
  const int64_t x_bytes = CheckedBytes(x_max, act_bytes);
  const int64_t in_bytes = CheckedBytes(in_max, coll_bytes);
  const int64_t out_bytes = CheckedBytes(out_max, coll_bytes);
  const int64_t async_in_bytes = CheckedBytes(async_in_max, coll_bytes);
  const int64_t async_out_bytes = CheckedBytes(async_out_max, coll_bytes);
  const int64_t check_bytes = static_cast<int64_t>(sizeof(unsigned long long)) * checks;
  int64_t needed = 0;
  bool overflow = x_bytes < 0 || in_bytes < 0 || out_bytes < 0 || async_in_bytes < 0 ||
                  async_out_bytes < 0;
  for (int64_t part : {a_max, b_max, c_max, x_bytes, x_bytes, in_bytes, out_bytes, async_in_bytes,
                       async_out_bytes, check_bytes, kStepHeadroomBytes}) {
    overflow = overflow || __builtin_add_overflow(needed, part, &needed);
  }
  size_t free_bytes = 0, total_bytes = 0;
  TM_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo (", who, ")");
  if (overflow || needed > static_cast<int64_t>(free_bytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "training step needs ", overflow ? std::string("more than 2^63") : absl::StrCat(needed),
        " bytes of device memory (gemm A ", a_max, ", B ", b_max, ", C ", c_max,
        "; elementwise x and y ", x_bytes, " each; collective input ", in_bytes, ", output ",
        out_bytes, "; overlapped collective input ", async_in_bytes, ", output ", async_out_bytes,
        "; plus ", kStepHeadroomBytes, " headroom) but ", who, " has ", free_bytes,
        " bytes free of ", total_bytes));
  }
  // cuBLASLt's algorithm: one heuristic lookup per distinct shape (cached in
  // CublasLtGemm across steps), none in the loop.
  for (OpPlan& p : ops) {
    if (p.op->kind != StepOp::Kind::kGemm) continue;
    absl::StatusOr<const PreparedGemm*> prepared =
        dev.gemm->Prepare({p.op->m, p.op->n, p.op->k, program.dtype});
    if (!prepared.ok()) {
      return absl::Status(prepared.status().code(),
                          absl::StrCat(p.label, ": ", prepared.status().message()));
    }
    p.gemm = *prepared;
  }

  DeviceBuffer a, b, c, x, y, coll_in, coll_out, async_in, async_out, wrong;
  for (auto [buffer, bytes, what] :
       {std::tuple{&a, a_max, "gemm A"}, std::tuple{&b, b_max, "gemm B"},
        std::tuple{&c, c_max, "gemm C"}, std::tuple{&x, x_bytes, "elementwise x"},
        std::tuple{&y, x_bytes, "elementwise y"}, std::tuple{&coll_in, in_bytes, "collective input"},
        std::tuple{&coll_out, out_bytes, "collective output"},
        std::tuple{&async_in, async_in_bytes, "overlapped collective input"},
        std::tuple{&async_out, async_out_bytes, "overlapped collective output"},
        std::tuple{&wrong, check_bytes, "collective check counters"}}) {
    if (bytes == 0) continue;
    if (absl::Status s = buffer->Allocate(static_cast<size_t>(bytes),
                                          absl::StrCat("training step ", what, " (", who, ")"));
        !s.ok()) {
      return s;
    }
  }
  // Random operands (A and B in the GEMM input type, x and y and the
  // collective input in theirs); sizes in elements of each buffer's type.
  auto fill = [&](const DeviceBuffer& buf, ElemType type, int64_t elem_bytes, bool tf32,
                  const char* what) -> absl::Status {
    if (buf.get() == nullptr) return absl::OkStatus();
    TM_CUDA_RETURN_IF_ERROR(
        LaunchFillUniform(buf.get(), type, static_cast<int64_t>(buf.bytes()) / elem_bytes,
                          FreshSeed(), tf32, dev.stream),
        "filling the training step's ", what, " (", who, ")");
    return absl::OkStatus();
  };
  const int64_t gemm_in_bytes = gemm_in_elem == ElemType::kFp8E4M3 ? 1
                                : gemm_in_elem == ElemType::kF32   ? 4
                                                                   : 2;
  for (absl::Status s :
       {fill(a, gemm_in_elem, gemm_in_bytes, gemm_round_tf32, "gemm A"),
        fill(b, gemm_in_elem, gemm_in_bytes, gemm_round_tf32, "gemm B"),
        fill(x, act_elem, act_bytes, false, "elementwise x"),
        fill(y, act_elem, act_bytes, false, "elementwise y"),
        fill(coll_in, ElemOf(coll_dtype), coll_bytes, false, "collective input"),
        fill(async_in, ElemOf(coll_dtype), coll_bytes, false, "overlapped collective input")}) {
    if (!s.ok()) return s;
  }

  // Events, all before the first iteration: a timing pair per op per timed
  // iteration; per timed iteration its begin and end marks and, with
  // overlapped ops, a pair of marks around each wait of the main stream for
  // the communication stream; a ring of fences for the untimed iterations;
  // and the two events the streams wait on each other through.
  const size_t timed = static_cast<size_t>(plan.timed);
  const size_t wait_slots = any_async ? static_cast<size_t>(wait_ops) + 1 : 0;  // per iteration
  EventPool timing, marks, fences, handoff;
  if (absl::Status s = timing.Create(2 * n_ops * timed, cudaEventDefault, "step timing"); !s.ok()) {
    return s;
  }
  if (absl::Status s = marks.Create((2 + 2 * wait_slots) * timed, cudaEventDefault, "step marks");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = fences.Create(kMaxOpsInFlight + 2, cudaEventDisableTiming, "step fences");
      !s.ok()) {
    return s;
  }
  if (any_async) {
    if (absl::Status s = handoff.Create(2, cudaEventDisableTiming, "stream hand-off"); !s.ok()) {
      return s;
    }
  }
  size_t next_fence = 0;
  auto fence = [&]() { return fences[next_fence++ % fences.size()]; };
  auto start_event = [&](int i, size_t j) { return timing[2 * (static_cast<size_t>(i) * n_ops + j)]; };
  auto stop_event = [&](int i, size_t j) {
    return timing[2 * (static_cast<size_t>(i) * n_ops + j) + 1];
  };
  const size_t marks_per_iteration = 2 + 2 * wait_slots;
  auto begin_mark = [&](int i) { return marks[static_cast<size_t>(i) * marks_per_iteration]; };
  auto end_mark = [&](int i) { return marks[static_cast<size_t>(i) * marks_per_iteration + 1]; };
  auto wait_mark = [&](int i, size_t slot, int edge) {
    return marks[static_cast<size_t>(i) * marks_per_iteration + 2 + 2 * slot + edge];
  };
  std::vector<size_t> waits_in(timed, 0);  // wait slots used, per timed iteration

  const std::string end_what = "the end of a timed iteration of the training step";
  Progress progress(dev.timeout, used, who, dev.stop);
  bool collectives_enqueued = false;
  auto* wrong_counters = static_cast<unsigned long long*>(wrong.get());

  // Enqueues op j on its stream; `check` adds the collective pattern, poison
  // and check.
  auto enqueue = [&](size_t j, bool check) -> absl::Status {
    const OpPlan& p = ops[j];
    const StepOp& op = *p.op;
    switch (op.kind) {
      case StepOp::Kind::kGemm:
        for (int64_t r = 0; r < op.count; ++r) {
          TM_CUBLAS_RETURN_IF_ERROR(dev.gemm->Enqueue(*p.gemm, a.get(), b.get(), c.get()),
                                    "cublasLtMatmul for ", p.label, " (", who, ")");
        }
        return absl::OkStatus();
      case StepOp::Kind::kElementwise:
        TM_CUDA_RETURN_IF_ERROR(
            LaunchAxpy(act_elem, p.elements, kAxpyAlpha, x.get(), y.get(), dev.stream),
            "launching ", p.label, " (", who, ")");
        return absl::OkStatus();
      case StepOp::Kind::kCollective: {
        // An overlapped op: the communication stream (its communicator's)
        // and buffers of its own.
        cudaStream_t stream = p.async ? dev.comm_stream : dev.stream;
        void* in = p.async ? async_in.get() : coll_in.get();
        void* out = p.async ? async_out.get() : coll_out.get();
        const CollectivePattern pattern = p.comm->PatternFor(op.op, op.count, coll_dtype);
        if (check) {
          TM_CUDA_RETURN_IF_ERROR(LaunchCollectiveFill(in, p.counts.in, pattern, stream),
                                  "filling the input of ", p.label, " (", who, ")");
          TM_CUDA_RETURN_IF_ERROR(
              cudaMemsetAsync(out, 0xFF, static_cast<size_t>(p.counts.out * coll_bytes), stream),
              "poisoning the output of ", p.label, " (", who, ")");
        }
        collectives_enqueued = true;
        if (absl::Status s = p.comm->Enqueue(op.op, op.count, coll_dtype, in, out,
                                             Clock::now() + dev.timeout, p.what);
            !s.ok()) {
          return s;
        }
        if (check) {
          // Reduce's result exists only on the group's root.
          const int64_t checked =
              (op.op == CollectiveOp::kReduce && p.comm->rank() != 0) ? 0 : p.counts.out;
          TM_CUDA_RETURN_IF_ERROR(LaunchCollectiveCheck(out, checked, pattern,
                                                        wrong_counters + p.check_slot, stream),
                                  "checking the output of ", p.label, " (", who, ")");
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  };

  // Enqueues one iteration; `t` >= 0 is a timed iteration (its events are
  // recorded), -1 an untimed one (fenced for Progress). An overlapped op is
  // enqueued on the communication stream after an event the main stream
  // records at that point of the program (its gradients' GEMMs are before
  // it); the main stream waits for an event the communication stream records
  // before an op marked `waits` (the optimizer) and at the end of the
  // iteration.
  auto iteration = [&](int t, bool check) -> absl::Status {
    bool pending = false;  // overlapped ops enqueued since the main stream last waited
    size_t slot = 0;
    auto join = [&]() -> absl::Status {
      if (!pending) return absl::OkStatus();
      pending = false;
      if (t >= 0) {
        TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(wait_mark(t, slot, 0), dev.stream),
                                "cudaEventRecord (", who, ")");
      }
      TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(handoff[1], dev.comm_stream),
                              "cudaEventRecord on the communication stream (", who, ")");
      TM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(dev.stream, handoff[1], 0),
                              "cudaStreamWaitEvent for the overlapped collectives (", who, ")");
      if (t >= 0) {
        TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(wait_mark(t, slot, 1), dev.stream),
                                "cudaEventRecord (", who, ")");
        waits_in[static_cast<size_t>(t)] = ++slot;
      }
      return absl::OkStatus();
    };
    if (t >= 0) {
      TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(begin_mark(t), dev.stream),
                              "cudaEventRecord (", who, ")");
    }
    for (size_t j = 0; j < n_ops; ++j) {
      const OpPlan& p = ops[j];
      // The check adds the fill, poison and check launches; in the check
      // iteration an overlapped op is joined at once (below): two more.
      const int64_t launches = p.launches + (check ? 3 : 0) + (check && p.async ? 2 : 0);
      if (absl::Status s = progress.Admit(launches); !s.ok()) return s;
      if (p.waits) {
        if (absl::Status s = join(); !s.ok()) return s;
      }
      cudaStream_t stream = p.async ? dev.comm_stream : dev.stream;
      if (p.async) {
        TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(handoff[0], dev.stream),
                                "cudaEventRecord before ", p.label, " (", who, ")");
        TM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(dev.comm_stream, handoff[0], 0),
                                "cudaStreamWaitEvent before ", p.label, " (", who, ")");
        pending = true;
      }
      if (t >= 0) {
        TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(start_event(t, j), stream),
                                "cudaEventRecord (", who, ")");
      }
      if (absl::Status s = enqueue(j, check); !s.ok()) return s;
      cudaEvent_t done = t >= 0 ? stop_event(t, j) : fence();
      TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(done, stream), "cudaEventRecord (", who, ")");
      progress.Push(done, launches, &p.label);
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
      TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(end_mark(t), dev.stream),
                              "cudaEventRecord (", who, ")");
      // The timings are read after Drain: the end mark is the main stream's
      // last event, after its wait for the communication stream, so waiting
      // for it covers the final join's marks as well as the ops' events.
      progress.Push(end_mark(t), 1, &end_what);
    }
    return absl::OkStatus();
  };

  StepRun run;
  auto body = [&]() -> absl::Status {
    // Untimed iterations; the first one checks the collectives.
    const int untimed = std::max(plan.warmup, 1);
    for (int i = 0; i < untimed; ++i) {
      const bool check = i == 0;
      if (absl::Status s = iteration(-1, check); !s.ok()) return s;
      if (check && checks > 0) {
        // Bounded wait first: a pageable copy would block the host unbounded.
        if (absl::Status s = progress.Drain(); !s.ok()) return s;
        std::vector<unsigned long long> wrong_host(static_cast<size_t>(checks), 0);
        TM_CUDA_RETURN_IF_ERROR(cudaMemcpy(wrong_host.data(), wrong.get(),
                                           static_cast<size_t>(check_bytes), cudaMemcpyDeviceToHost),
                                "copying the collective check counters (", who, ")");
        for (const OpPlan& p : ops) {
          if (p.check_slot < 0 || wrong_host[p.check_slot] == 0) continue;
          return absl::InternalError(absl::StrCat(
              p.label, " (", who, ", rank ", p.comm->rank(), " of ", p.comm->size(),
              " in its communicator): ", wrong_host[p.check_slot], " of ", p.counts.out,
              " output elements wrong in the check iteration (wrong group plumbing or a broken "
              "collective)"));
        }
      }
    }
    if (absl::Status s = progress.Drain(); !s.ok()) return s;

    // Timed iterations: every op between its own event pair; energy around.
    absl::StatusOr<double> energy_before =
        dev.energy ? dev.energy() : absl::StatusOr<double>(absl::UnimplementedError("no energy"));
    for (int i = 0; i < plan.timed; ++i) {
      if (absl::Status s = iteration(i, false); !s.ok()) return s;
    }
    if (absl::Status s = progress.Drain(); !s.ok()) return s;
    absl::StatusOr<double> energy_after =
        dev.energy ? dev.energy() : absl::StatusOr<double>(absl::UnimplementedError("no energy"));
    run.timed_energy_joules =
        energy_before.ok() && energy_after.ok() ? *energy_after - *energy_before : -1.0;

    // Seconds from `from` to `to` (events on either stream).
    auto seconds = [&](cudaEvent_t from, cudaEvent_t to, double* out) -> absl::Status {
      float ms = 0;
      TM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, from, to), "cudaEventElapsedTime (", who,
                              ")");
      *out = static_cast<double>(ms) * 1e-3;
      return absl::OkStatus();
    };
    run.op_seconds.assign(timed, std::vector<double>(n_ops, 0.0));
    run.step_seconds.assign(timed, 0.0);
    if (any_async) run.exposed_seconds.assign(timed, std::vector<double>(n_ops, 0.0));
    for (int i = 0; i < plan.timed; ++i) {
      for (size_t j = 0; j < n_ops; ++j) {
        if (absl::Status s = seconds(start_event(i, j), stop_event(i, j), &run.op_seconds[i][j]);
            !s.ok()) {
          return absl::Status(s.code(), absl::StrCat(s.message(), " for ", ops[j].label,
                                                     " in timed iteration ", i));
        }
      }
      if (absl::Status s = seconds(begin_mark(i), end_mark(i), &run.step_seconds[i]); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(s.message(), " for timed iteration ", i,
                                                   " of the training step"));
      }
      if (!any_async) continue;
      // The iteration's timeline from its begin mark: the main stream's
      // compute ops and its waits (each ascending), and each overlapped op.
      auto span_of = [&](cudaEvent_t from, cudaEvent_t to, StepInterval* out) -> absl::Status {
        if (absl::Status s = seconds(begin_mark(i), from, &out->start); !s.ok()) return s;
        return seconds(begin_mark(i), to, &out->end);
      };
      std::vector<StepInterval> compute_spans, wait_spans(waits_in[static_cast<size_t>(i)]);
      for (size_t w = 0; w < wait_spans.size(); ++w) {
        if (absl::Status s = span_of(wait_mark(i, w, 0), wait_mark(i, w, 1), &wait_spans[w]);
            !s.ok()) {
          return s;
        }
      }
      for (size_t j = 0; j < n_ops; ++j) {
        if (!ops[j].compute) continue;
        StepInterval span;
        if (absl::Status s = span_of(start_event(i, j), stop_event(i, j), &span); !s.ok()) return s;
        compute_spans.push_back(span);
      }
      run.exposed_seconds[i] = run.op_seconds[i];
      for (size_t j = 0; j < n_ops; ++j) {
        if (!ops[j].async) continue;
        StepInterval span;
        if (absl::Status s = span_of(start_event(i, j), stop_event(i, j), &span); !s.ok()) return s;
        run.exposed_seconds[i][j] = std::min(run.op_seconds[i][j], CoveredSeconds(span, wait_spans));
        if (CoveredSeconds(span, compute_spans) > 0) run.overlapped = true;
      }
    }
    return absl::OkStatus();
  };

  if (absl::Status s = body(); !s.ok()) {
    // Work may still be queued behind a collective whose peers are gone or
    // that failed here: abort so that the stream drains before the buffers
    // are freed (cudaFree waits for the device).
    if (collectives_enqueued) progress.AbortAll(s).IgnoreError();
    return s;
  }
  return run;
}

}  // namespace tokenmeter::kernels::cuda
