#include "kernels/cpu/cpu_step.h"

#include <cblas.h>
#include <gloo/barrier.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/comm_thread.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/eager_pass.h"
#include "kernels/cpu/gloo_collectives.h"
#include "kernels/cpu/gloo_op.h"
#include "kernels/cpu/prepared_op.h"
#include "kernels/cpu/rapl_energy.h"
#include "kernels/step_overlap.h"

// CpuStepRunner::Run in phases, each a function (or class) below, in the
// order Run calls them:
//   ValidateForCpu       the program and plan, before anything is allocated
//   StepLayout           the rank lists (GroupRun) and every buffer's size
//   CheckHostMemory      those sizes against the host's available memory
//   ConnectGroups        a Gloo context per rank list, in first-use order
//   AllocateBuffers      the operands, allocated and filled once
//   PrepareOps           each op as a PreparedOp: its call, check and name
//   StepIterations       the check pass or warm-up, the barriers, the timed
//                        loop and its energy
//   CheckFailures        the checked collectives' wrong outputs, as one error

namespace tokenmeter::kernels::cpu {
namespace {

using Buffer = std::unique_ptr<float[]>;
using Clock = std::chrono::steady_clock;
// The backend's contexts for groups other than the world (CpuStepRunner::groups_).
using ContextCache = std::map<std::pair<std::vector<int>, bool>, std::shared_ptr<gloo::Context>>;

constexpr int64_t kFloat = sizeof(float);
// The elementwise pass's a in z = a·x + y (or exp(a·x) + y): with x and y in
// [-1, 1), z stays finite and normal.
constexpr float kPassScale = 0.5f;
// Gloo tag of the barriers around the timed loop (ops use their index).
constexpr uint32_t kBarrierTag = 0x7fffffff;
// What a collective's output holds before it runs: an element it never
// writes cannot pass the check.
constexpr float kUnwritten = std::numeric_limits<float>::quiet_NaN();

std::string ListName(const std::vector<int>& ranks) {
  return absl::StrCat("[", absl::StrJoin(ranks, ","), "]");
}

// Saturating a*b and a+b: sizes come from users.
int64_t Mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}
int64_t Add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}

bool Splits(CollectiveOp op) {
  return op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter ||
         op == CollectiveOp::kAllToAll;
}

// Elements of the elementwise pass over `bytes`: 3 fp32 accesses each.
int64_t ElementwiseElements(int64_t bytes) { return std::max<int64_t>(1, bytes / (3 * kFloat)); }

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- Validation: nothing allocated, nothing sent ----

// A GEMM the cpu backend cannot run: a dtype other than fp32, or a dimension
// over OpenBLAS's 32-bit index.
absl::Status CheckCpuGemm(const StepProgram& program, size_t j) {
  const StepOp& op = program.ops[j];
  if (!CpuGemmSupports(program.dtype)) {
    return absl::UnimplementedError(absl::StrCat("backend cpu does not support GEMM in ",
                                                 std::string(DTypeName(program.dtype)),
                                                 " (step op ", j, ")"));
  }
  for (auto [dim, value] : {std::pair{"m", op.m}, {"n", op.n}, {"k", op.k}}) {
    if (value > INT_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          "step op ", j, " (GEMM): dimension ", dim, " must be in [1, ", INT_MAX,
          "] (OpenBLAS's 32-bit index), got ", value));
    }
  }
  return absl::OkStatus();
}

// A collective the cpu backend cannot run: a dtype Gloo is not given here,
// or a count its group cannot split evenly.
absl::Status CheckCpuCollective(const StepProgram& program, size_t j) {
  const StepOp& op = program.ops[j];
  const std::string name(CollectiveOpName(op.op));
  if (!GlooCommunicator::Supports(op.op, program.collective_dtype)) {
    return absl::UnimplementedError(absl::StrCat("backend cpu does not support ", name, " in ",
                                                 std::string(DTypeName(program.collective_dtype)),
                                                 " (step op ", j, ")"));
  }
  const int64_t size = static_cast<int64_t>(program.groups[op.group].size());
  if (Splits(op.op) && op.count % size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("step op ", j, " (", name, "): count ", op.count,
                                                   " is not divisible by the size ", size,
                                                   " of its group ",
                                                   ListName(program.groups[op.group])));
  }
  return absl::OkStatus();
}

// The plan, the rule every backend applies (kernels/step.h), then what this
// backend supports, op by op: the first failure in program order.
absl::Status ValidateForCpu(const StepProgram& program, const IterationPlan& plan, int rank,
                            int world) {
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  if (absl::Status valid = ValidateStepProgram(program, rank, world); !valid.ok()) return valid;
  for (size_t j = 0; j < program.ops.size(); ++j) {
    absl::Status supported;
    switch (program.ops[j].kind) {
      case StepOp::Kind::kGemm:
        supported = CheckCpuGemm(program, j);
        break;
      case StepOp::Kind::kElementwise:
        break;
      case StepOp::Kind::kCollective:
        supported = CheckCpuCollective(program, j);
        break;
    }
    if (!supported.ok()) return supported;
  }
  return absl::OkStatus();
}

// ---- Sizes and groups ----

// One distinct rank list of the program, as used by the ops in line or by
// the overlapped ops (a second set: contexts and buffers the communication
// thread alone touches), and what this Run holds for it.
struct GroupRun {
  std::vector<int> ranks;
  bool overlap = false;  // the communication thread's
  std::string name;  // "[0,2]"
  int me = 0;        // this rank's index in ranks
  int size = 0;
  std::shared_ptr<gloo::Context> context;
  int64_t in_elements = 0, out_elements = 0;
  int64_t scratch_elements = 0;  // held by the ops' calls, summed over them
  Buffer in, out;
};

// What one Run needs, decided from the program alone: the GroupRun table and
// the compute buffers' sizes (elements). Later phases fill in the groups'
// contexts and buffers. Neither copyable nor movable: group_of points into
// groups.
class StepLayout {
 public:
  // REQUIRES: ValidateForCpu(program, ...) is OK.
  StepLayout(const StepProgram& program, int rank) {
    AddGroups(program, rank);
    SizeBuffers(program);
  }
  StepLayout(const StepLayout&) = delete;
  StepLayout& operator=(const StepLayout&) = delete;

  int64_t GemmElements() const { return Add(Add(gemm_a, gemm_b), gemm_c); }
  // Everything the Run allocates, the collectives' own scratch included.
  int64_t NeededBytes() const {
    int64_t elements = Add(Add(gemm_a, gemm_b), Add(gemm_c, Mul(axpy_elements, 3)));
    elements = Add(elements, fresh_bytes / kFloat);
    for (const auto& [key, group] : groups) {
      elements = Add(elements,
                     Add(Add(group.in_elements, group.out_elements), group.scratch_elements));
    }
    return Mul(elements, kFloat);
  }

  // GEMM A, B and C hold the largest m·k, k·n and m·n (however stored: a
  // transposed operand has as many elements); x, y and z the largest pass;
  // fresh_bytes the largest fresh mapping an op makes (one at a time).
  int64_t gemm_a = 0, gemm_b = 0, gemm_c = 0, axpy_elements = 0, fresh_bytes = 0;
  // By rank list (indices may repeat a list) and whether the communication
  // thread's: an overlapped op never shares a context or a buffer with the
  // ops in line, which may run at the same time in the same group.
  std::map<std::pair<std::vector<int>, bool>, GroupRun> groups;
  std::vector<GroupRun*> group_of;  // by op: a collective's group, else null
  bool any_async = false;           // some op runs on the communication thread

 private:
  // One GroupRun per distinct (list, overlapped); an overlappable op in a
  // group of one runs in line (it does nothing).
  void AddGroups(const StepProgram& program, int rank) {
    group_of.assign(program.ops.size(), nullptr);
    for (size_t j = 0; j < program.ops.size(); ++j) {
      const StepOp& op = program.ops[j];
      if (op.kind != StepOp::Kind::kCollective) continue;
      const std::vector<int>& ranks = program.groups[op.group];
      const bool overlap = op.overlappable && ranks.size() > 1;
      any_async = any_async || overlap;
      GroupRun& group = groups[{ranks, overlap}];
      if (group.ranks.empty()) {
        group.ranks = ranks;
        group.overlap = overlap;
        group.name = ListName(group.ranks);
        group.size = static_cast<int>(group.ranks.size());
        group.me = static_cast<int>(std::lower_bound(group.ranks.begin(), group.ranks.end(), rank) -
                                    group.ranks.begin());
      }
      group_of[j] = &group;
    }
  }

  // Buffers are shared by the ops that use them, one at a time: each is
  // sized to its largest user.
  void SizeBuffers(const StepProgram& program) {
    for (size_t j = 0; j < program.ops.size(); ++j) {
      const StepOp& op = program.ops[j];
      switch (op.kind) {
        case StepOp::Kind::kGemm:
          gemm_a = std::max(gemm_a, op.m * op.k);  // each <= INT_MAX: no overflow
          gemm_b = std::max(gemm_b, op.k * op.n);
          gemm_c = std::max(gemm_c, op.m * op.n);
          if (IsFreshMapping(op.new_tensor_bytes)) fresh_bytes = std::max(fresh_bytes, op.new_tensor_bytes);
          break;
        case StepOp::Kind::kElementwise:
          axpy_elements = std::max(axpy_elements, ElementwiseElements(op.bytes));
          if (IsFreshMapping(op.new_tensor_bytes)) fresh_bytes = std::max(fresh_bytes, op.new_tensor_bytes);
          break;
        case StepOp::Kind::kCollective: {
          GroupRun& group = *group_of[j];
          if (group.size == 1) break;  // skipped: no buffers
          const GlooOpBuffers buffers = BuffersOf(op.op, op.count, group.size, group.me);
          group.in_elements = std::max(group.in_elements, buffers.input_elements);
          group.out_elements = std::max(group.out_elements, buffers.output_elements);
          // Each call owns its scratch for the Run's life: they add up.
          group.scratch_elements = Add(group.scratch_elements, buffers.scratch_elements);
          break;
        }
      }
    }
  }
};

// Refuses a program whose buffers exceed the host's available memory, before
// anything is allocated or connected: a swapping host times nothing useful.
absl::Status CheckHostMemory(const StepLayout& layout, size_t op_count, const std::string& where) {
  const int64_t needed = layout.NeededBytes();
  const int64_t available = HostMemoryAvailableBytes();
  if (needed <= available) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "step program of ", op_count, " ops needs ", needed, " bytes of host memory on ", where,
      " (GEMM ", Mul(layout.GemmElements(), kFloat), ", elementwise ",
      Add(Mul(layout.axpy_elements, 3 * kFloat), layout.fresh_bytes),
      ", the rest collectives), only ", available,
      " available"));
}

// ---- Contexts ----

// The context `group` runs on: the world's own for the whole world in line;
// otherwise the backend's, connected on first use and kept, so a later Run
// does not rendezvous again under the same key (which would never complete).
absl::StatusOr<std::shared_ptr<gloo::Context>> ContextOf(const GroupRun& group,
                                                         GlooCommunicator& world,
                                                         ContextCache& cache) {
  // Ascending, distinct and in range: a list as long as the world is [0, world).
  const bool whole_world = group.size == world.options().world_size;
  if (whole_world && !group.overlap) return world.context();
  std::shared_ptr<gloo::Context>& cached = cache[{group.ranks, group.overlap}];
  if (cached != nullptr) return cached;
  std::string suffix = group.overlap ? "overlap-group" : "group";
  for (int r : group.ranks) absl::StrAppend(&suffix, "-", r);
  absl::StatusOr<std::shared_ptr<gloo::Context>> context = world.ConnectGroup(group.ranks, suffix);
  if (context.ok()) cached = *context;
  return context;
}

// Gives every group of more than one rank its context before the first
// iteration, so connecting is never timed. Connecting is a collective among
// the group: in the order of each group's first use, the program's own
// collective order, it deadlocks only where the program would.
absl::Status ConnectGroups(const StepProgram& program, StepLayout& layout, GlooCommunicator& world,
                           ContextCache& cache, const std::string& where) {
  for (size_t j = 0; j < program.ops.size(); ++j) {
    GroupRun* group = layout.group_of[j];
    if (group == nullptr || group->size == 1 || group->context != nullptr) continue;
    absl::StatusOr<std::shared_ptr<gloo::Context>> context = ContextOf(*group, world, cache);
    if (!context.ok()) {
      return absl::Status(
          context.status().code(),
          absl::StrCat("connecting group ", group->name, " for step op ", j, " (",
                       std::string(CollectiveOpName(program.ops[j].op)), ") on ", where,
                       ", timeout ", world.options().timeout.count(),
                       " ms: ", context.status().message()));
    }
    group->context = *std::move(context);
  }
  return absl::OkStatus();
}

// ---- Buffers ----

// The GEMM operands (A, B, C) and the elementwise pass's x, y and output z.
struct ComputeBuffers {
  Buffer a, b, c, x, y, z;
};

// Allocates every buffer once per Run, before the first iteration, and fills
// it: the compute operands random in [-1, 1) (fresh each Run: no op is timed
// on data a cache or a previous run could have shaped), each group's input
// with the collective input pattern and its output with kUnwritten.
ComputeBuffers AllocateBuffers(StepLayout& layout) {
  ComputeBuffers buffers;
  const uint64_t seed = FreshSeed();
  buffers.a = std::make_unique_for_overwrite<float[]>(layout.gemm_a);
  buffers.b = std::make_unique_for_overwrite<float[]>(layout.gemm_b);
  buffers.c = std::make_unique_for_overwrite<float[]>(layout.gemm_c);
  FillSymmetricUnit(buffers.a.get(), layout.gemm_a, seed);
  FillSymmetricUnit(buffers.b.get(), layout.gemm_b, seed ^ 0x5bd1e9955bd1e995ULL);
  std::fill_n(buffers.c.get(), layout.gemm_c, 0.0f);
  buffers.x = std::make_unique_for_overwrite<float[]>(layout.axpy_elements);
  buffers.y = std::make_unique_for_overwrite<float[]>(layout.axpy_elements);
  FillSymmetricUnit(buffers.x.get(), layout.axpy_elements, seed ^ 0x2545f4914f6cdd1dULL);
  FillSymmetricUnit(buffers.y.get(), layout.axpy_elements, seed ^ 0x9e3779b97f4a7c15ULL);
  buffers.z = std::make_unique_for_overwrite<float[]>(layout.axpy_elements);
  std::fill_n(buffers.z.get(), layout.axpy_elements, 0.0f);
  for (auto& [key, group] : layout.groups) {
    group.in = std::make_unique_for_overwrite<float[]>(group.in_elements);
    group.out = std::make_unique_for_overwrite<float[]>(group.out_elements);
    FillCollectiveInput(group.in.get(), group.in_elements, group.me);
    std::fill_n(group.out.get(), group.out_elements, kUnwritten);
  }
  return buffers;
}

// ---- The ops ----

// `count` GEMMs one after another, all on the same A, B and C, after the
// fresh mapping of its output when the plan lists one (the logits).
PreparedOp PrepareGemm(const StepOp& op, size_t j, const ComputeBuffers& buffers) {
  PreparedOp p;
  p.what = absl::StrCat("step op ", j, " (", op.count, " GEMM of m=", op.m, " n=", op.n,
                        " k=", op.k, " in fp32)");
  p.compute = true;
  const float *pa = buffers.a.get(), *pb = buffers.b.get();
  float* pc = buffers.c.get();
  const int fresh = IsFreshMapping(op.new_tensor_bytes) ? op.new_tensors : 0;
  p.run = [op, pa, pb, pc, fresh] {
    if (fresh > 0) TouchFreshTensors(op.new_tensor_bytes, fresh);
    for (int64_t i = 0; i < op.count; ++i) StepGemm(op, pa, pb, pc);
  };
  return p;
}

// One operator as eager_pass.h runs it: its fresh output mappings, if any,
// then z = a·x + y (or exp(a·x) + y) over its bytes.
PreparedOp PrepareElementwise(const StepOp& op, size_t j, const ComputeBuffers& buffers) {
  PreparedOp p;
  p.what = absl::StrCat("step op ", j, " (elementwise over ", op.bytes, " bytes)");
  p.compute = true;
  const int64_t elements = ElementwiseElements(op.bytes);
  const float *px = buffers.x.get(), *py = buffers.y.get();
  // In place, the pass writes y itself: z = y. y drifts by at most
  // exp(|a|) per iteration, far from overflow in any run's iterations.
  float* pz = op.in_place ? buffers.y.get() : buffers.z.get();
  const ElementwiseMath math = op.math;
  const int fresh = IsFreshMapping(op.new_tensor_bytes) ? op.new_tensors : 0;
  const int64_t fresh_bytes = op.new_tensor_bytes;
  p.run = [=] {
    if (fresh > 0) TouchFreshTensors(fresh_bytes, fresh);
    RunEagerPass(math, px, py, pz, elements, kPassScale);
  };
  return p;
}

// The Gloo call on `group`'s context and buffers, and its check. Tagged with
// the op's index: every rank of the group runs the same op sequence, so the
// tag matches across ranks and no two ops of a Run share one. Throws what
// MakeGlooCall throws.
PreparedOp PrepareCollective(const StepOp& op, size_t j, const GroupRun& group) {
  PreparedOp p;
  const int64_t count = op.count;
  p.what = absl::StrCat("step op ", j, " (", std::string(CollectiveOpName(op.op)), " of ", count,
                        " fp32 elements in group ", group.name, group.overlap ? ", overlapped" : "",
                        ")");
  p.collective = true;
  if (group.size == 1) {
    p.trivial = true;
    return p;
  }
  p.async = group.overlap;
  const int gn = group.size, me = group.me;
  const GlooOpBuffers buffers = BuffersOf(op.op, count, gn, me);
  float* in = group.in.get();
  float* out = buffers.in_place ? in : group.out.get();
  p.run = MakeGlooCall(op.op, GlooGroup{group.context, gn, me}, in, out, count,
                       static_cast<uint32_t>(j));
  // Before the checked execution: a fresh input, an output no one wrote.
  p.refresh = [=] {
    FillCollectiveInput(in, buffers.input_elements, me);
    if (!buffers.in_place) std::fill_n(out, buffers.output_elements, kUnwritten);
  };
  p.checked = buffers.checked_elements;
  const CollectiveOp which = op.op;
  p.wrong = [=] { return CountWrongOutputs(which, out, count, gn, me); };
  return p;
}

// Every op of the program, ready to run, in program order.
absl::StatusOr<std::vector<PreparedOp>> PrepareOps(const StepProgram& program,
                                                   const StepLayout& layout,
                                                   const ComputeBuffers& buffers,
                                                   const std::string& where) {
  std::vector<PreparedOp> ops;
  ops.reserve(program.ops.size());
  try {
    for (size_t j = 0; j < program.ops.size(); ++j) {
      const StepOp& op = program.ops[j];
      switch (op.kind) {
        case StepOp::Kind::kGemm:
          ops.push_back(PrepareGemm(op, j, buffers));
          break;
        case StepOp::Kind::kElementwise:
          ops.push_back(PrepareElementwise(op, j, buffers));
          break;
        case StepOp::Kind::kCollective:
          ops.push_back(PrepareCollective(op, j, *layout.group_of[j]));
          break;
      }
      ops.back().waits = op.waits_for_overlapped;
    }
  } catch (...) {
    return GlooExceptionToStatus(absl::StrCat("setting up the step's collectives on ", where));
  }
  return ops;
}

// ---- Running ----

// Runs the prepared ops of one Run, iteration after iteration, as cpu_step.h
// says: the check (in the first warm-up iteration, or with no warm-up in a
// pass of the collectives alone), the warm-up, a world barrier, the timed
// loop with its energy, and a barrier after it. Overlapped ops go to a
// communication thread of its own, created here and joined on destruction:
// declare it after the buffers and ops it reads.
//
// Failures come back as a Status: a Gloo failure in line names the op and
// phase it happened in; one on the communication thread is reported when
// the main thread next waits for it. Either way the caller must treat the
// connections as broken. Which checked outputs were wrong is wrong_of(), a
// matter for after the run: failing at once would leave the peers waiting.
class StepIterations {
 public:
  StepIterations(std::vector<PreparedOp>& ops, StepLayout& layout, GlooCommunicator& world,
                 const std::string& where)
      : ops_(ops),
        layout_(layout),
        world_(world),
        bound_(absl::StrCat(" on ", where, ", timeout ", world.options().timeout.count(), " ms")),
        wrong_of_(ops.size(), 0) {
    if (layout.any_async) comm_ = std::make_unique<CommThread>();
  }
  StepIterations(const StepIterations&) = delete;
  StepIterations& operator=(const StepIterations&) = delete;

  absl::StatusOr<StepRun> Run(const IterationPlan& plan, RaplEnergy* energy) {
    try {
      if (absl::Status s = WarmUp(plan); !s.ok()) return s;
      gloo::BarrierOptions barrier(world_.context());
      barrier.setTag(kBarrierTag);
      // World-wide: no rank starts timing while a peer still warms up.
      Barrier(barrier, "the barrier before the timed loop");
      if (absl::Status s = TimedLoop(plan, energy); !s.ok()) return s;
      // No rank leaves (and may close its connections) while a peer still times.
      Barrier(barrier, "the barrier after the timed loop");
    } catch (...) {
      return GlooExceptionToStatus(InLineFailureContext());
    }
    return std::move(result_);
  }

  // By op: the checked pass's wrong output elements. REQUIRES: Run returned OK.
  const std::vector<int64_t>& wrong_of() const { return wrong_of_; }

 private:
  // Where one iteration's times go; all null for an untimed one.
  struct Times {
    std::vector<double>* op_seconds = nullptr;
    std::vector<double>* exposed_seconds = nullptr;  // null when nothing runs overlapped
    double* step_seconds = nullptr;
  };

  // The untimed iterations: plan.warmup of them, the first checked, or with
  // none a checked pass of the collectives alone (so a GEMM never runs
  // untimed when the plan asked for no warm-up).
  absl::Status WarmUp(const IterationPlan& plan) {
    for (int i = 0; i < plan.warmup; ++i) {
      phase_ = absl::StrCat("warm-up iteration ", i);
      if (StopRequested(world_.options().stop)) return StoppedError(absl::StrCat("step ", phase_));
      NoteIterationBegun(world_.options().iterations_begun);
      if (absl::Status s = Iterate(i == 0, false, {}); !s.ok()) return s;
      if (i == 0) ZeroCollectiveInputs();
    }
    if (plan.warmup == 0) {
      phase_ = "the check pass";
      if (absl::Status s = Iterate(true, true, {}); !s.ok()) return s;
      ZeroCollectiveInputs();
    }
    return absl::OkStatus();
  }

  // plan.timed iterations, each timed op by op, with the device energy over
  // all of them (when `energy` reads).
  absl::Status TimedLoop(const IterationPlan& plan, RaplEnergy* energy) {
    std::optional<double> joules_before;
    if (energy != nullptr) {
      absl::StatusOr<double> joules = energy->Joules();
      if (joules.ok()) joules_before = *joules;
    }
    const size_t n = ops_.size();
    result_.op_seconds.assign(plan.timed, std::vector<double>(n, 0.0));
    if (layout_.any_async) result_.exposed_seconds.assign(plan.timed, std::vector<double>(n, 0.0));
    result_.step_seconds.assign(plan.timed, 0.0);
    for (int i = 0; i < plan.timed; ++i) {
      phase_ = absl::StrCat("timed iteration ", i);
      if (StopRequested(world_.options().stop)) return StoppedError(absl::StrCat("step ", phase_));
      NoteIterationBegun(world_.options().iterations_begun);
      Times times{&result_.op_seconds[i],
                  layout_.any_async ? &result_.exposed_seconds[i] : nullptr,
                  &result_.step_seconds[i]};
      if (absl::Status s = Iterate(false, false, times); !s.ok()) return s;
    }
    if (joules_before.has_value()) {
      absl::StatusOr<double> joules = energy->Joules();
      if (joules.ok()) result_.timed_energy_joules = *joules - *joules_before;
    }
    return absl::OkStatus();
  }

  // A world barrier (between ops: a failure names no op). Throws what Gloo throws.
  void Barrier(gloo::BarrierOptions& barrier, const char* phase) {
    current_ = ops_.size();
    phase_ = phase;
    gloo::barrier(barrier);
  }

  // Runs every op once (only the collectives with `collectives_only`):
  // overlapped ones handed to the communication thread, the rest in line.
  // With `check`, each collective's output is compared (into wrong_of_). A
  // Gloo failure in line throws; one on the communication thread is returned.
  absl::Status Iterate(bool check, bool collectives_only, const Times& times) {
    compute_spans_.clear();
    wait_spans_.clear();
    launched_.clear();
    if (comm_ != nullptr) comm_->Reset();
    origin_ = Clock::now();
    for (current_ = 0; current_ < ops_.size(); ++current_) {
      PreparedOp& p = ops_[current_];
      if (p.waits) {
        if (absl::Status s = WaitOverlapped(); !s.ok()) return s;
      }
      if (p.trivial || (collectives_only && !p.collective)) continue;
      if (p.async) {
        launched_.emplace_back(current_, comm_->Submit({&p, check, &wrong_of_[current_]}));
        pending_ = true;
        continue;
      }
      RunInLine(current_, check, times.op_seconds);
    }
    current_ = ops_.size();
    // An iteration ends only once its overlapped ops have completed.
    if (absl::Status s = WaitOverlapped(); !s.ok()) return s;
    if (times.step_seconds != nullptr) *times.step_seconds = Seconds(Clock::now() - origin_);
    if (times.op_seconds != nullptr) RecordOverlapped(times);
    return absl::OkStatus();
  }

  // Op j on this thread, timed around its call alone (a check's refresh and
  // comparison are outside the span).
  void RunInLine(size_t j, bool check, std::vector<double>* op_seconds) {
    PreparedOp& p = ops_[j];
    if (check && p.collective) p.refresh();
    const Clock::time_point start = Clock::now();
    p.run();
    const Clock::time_point end = Clock::now();
    if (check && p.collective) wrong_of_[j] = p.wrong();
    if (op_seconds != nullptr) (*op_seconds)[j] = Seconds(end - start);
    // Only compute beside an overlapped op in flight can hide it.
    if (p.compute && !launched_.empty()) compute_spans_.push_back({Since(start), Since(end)});
  }

  // Waits for every overlapped op issued so far; their failure is the step's.
  absl::Status WaitOverlapped() {
    if (!pending_) return absl::OkStatus();
    pending_ = false;
    const Clock::time_point start = Clock::now();
    absl::Status status = comm_->WaitAll();
    wait_spans_.push_back({Since(start), Since(Clock::now())});
    if (status.ok()) return status;
    return absl::Status(status.code(),
                        absl::StrCat(status.message(), " (on the communication thread, in ", phase_,
                                     bound_, ")"));
  }

  // The overlapped ops' times, from when each ran on the communication
  // thread; the part of each the main thread waited for (exposed); and
  // whether any ran beside the iteration's compute.
  void RecordOverlapped(const Times& times) {
    if (times.exposed_seconds != nullptr) *times.exposed_seconds = *times.op_seconds;
    for (const auto& [j, ticket] : launched_) {
      const CommThread::Record record = comm_->record(ticket);
      const StepInterval span{Since(record.start), Since(record.end)};
      (*times.op_seconds)[j] = span.end - span.start;
      if (times.exposed_seconds != nullptr) {
        (*times.exposed_seconds)[j] = CoveredSeconds(span, wait_spans_);
      }
      if (CoveredSeconds(span, compute_spans_) > 0) result_.overlapped = true;
    }
  }

  // After the checked pass, in-place ops would reduce their last result again
  // and again; zeros keep the unchecked iterations finite (an fp32 sum and a
  // TCP transfer cost the same for any non-denormal data).
  void ZeroCollectiveInputs() {
    for (auto& [key, group] : layout_.groups) std::fill_n(group.in.get(), group.in_elements, 0.0f);
  }

  // What an in-line Gloo failure's message starts with: the op it happened
  // in, or between ops (a barrier) the phase alone.
  std::string InLineFailureContext() const {
    return current_ < ops_.size() ? absl::StrCat(ops_[current_].what, " in ", phase_, bound_)
                                  : absl::StrCat("step: ", phase_, bound_);
  }

  double Since(Clock::time_point t) const { return Seconds(t - origin_); }

  std::vector<PreparedOp>& ops_;
  StepLayout& layout_;
  GlooCommunicator& world_;
  const std::string bound_;  // " on rank 0 of 2, timeout 1000 ms", for failures
  std::vector<int64_t> wrong_of_;  // by op, from the checked iteration
  std::string phase_;              // where a failure happened, for its message
  size_t current_ = 0;             // the op running in line; ops_.size() between ops
  StepRun result_;

  // One iteration's timeline, in seconds from origin_: the main thread's
  // compute ops (while overlapped ones are in flight) and its waits for the
  // communication thread, each ascending.
  Clock::time_point origin_;
  std::vector<StepInterval> compute_spans_, wait_spans_;
  std::vector<std::pair<size_t, size_t>> launched_;  // (op, ticket), this iteration
  bool pending_ = false;  // overlapped ops issued since the last wait

  std::unique_ptr<CommThread> comm_;  // last: joined before the state above goes
};

// ---- Checking ----

// Internal naming the first op, in program order, whose checked output was
// wrong (and how many more were); OK when none was.
absl::Status CheckFailures(const std::vector<PreparedOp>& ops, const std::vector<int64_t>& wrong_of,
                           const std::string& where) {
  int wrong_ops = 0;
  std::string check_failure;
  for (size_t j = 0; j < ops.size(); ++j) {
    if (wrong_of[j] == 0) continue;
    if (wrong_ops++ == 0) {
      check_failure = absl::StrCat(ops[j].what, " produced ", wrong_of[j], " wrong elements of ",
                                   ops[j].checked, " checked on ", where);
    }
  }
  if (wrong_ops == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      check_failure, wrong_ops > 1 ? absl::StrCat(" (and ", wrong_ops - 1, " more ops)") : ""));
}

}  // namespace

CpuStepRunner::CpuStepRunner(GlooCommunicator* world, int threads)
    : world_(world), threads_(threads) {}

CpuStepRunner::~CpuStepRunner() = default;

absl::StatusOr<StepRun> CpuStepRunner::Run(const StepProgram& program, const IterationPlan& plan,
                                           RaplEnergy* energy) {
  const BackendOptions& options = world_->options();
  const std::string where = absl::StrCat("rank ", options.rank, " of ", options.world_size);

  // Refusals come before anything is allocated or sent: the backend stays usable.
  if (absl::Status valid = ValidateForCpu(program, plan, options.rank, options.world_size);
      !valid.ok()) {
    return valid;
  }
  StepLayout layout(program, options.rank);
  if (absl::Status fits = CheckHostMemory(layout, program.ops.size(), where); !fits.ok()) {
    return fits;
  }
  if (absl::Status broken = world_->broken(); !broken.ok()) {
    return absl::UnavailableError(absl::StrCat("gloo communicator of ", where,
                                               " is unusable after an earlier failure: ",
                                               broken.message()));
  }

  // Any failure from here on may leave the connections mid-collective.
  auto fail = [&](absl::Status status) {
    world_->MarkBroken(status);
    return status;
  };
  if (absl::Status connected = ConnectGroups(program, layout, *world_, groups_, where);
      !connected.ok()) {
    return fail(connected);
  }
  const ComputeBuffers buffers = AllocateBuffers(layout);
  openblas_set_num_threads(threads_);
  absl::StatusOr<std::vector<PreparedOp>> ops = PrepareOps(program, layout, buffers, where);
  if (!ops.ok()) return fail(ops.status());

  // Declared after every buffer and op it reads: destroyed (joined) first.
  StepIterations iterations(*ops, layout, *world_, where);
  absl::StatusOr<StepRun> run = iterations.Run(plan, energy);
  if (!run.ok()) return fail(run.status());
  // A wrong output is the data's fault, not the connections': not broken.
  if (absl::Status checked = CheckFailures(*ops, iterations.wrong_of(), where); !checked.ok()) {
    return checked;
  }
  return run;
}

}  // namespace tokenmeter::kernels::cpu
