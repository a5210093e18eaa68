#include "kernels/cpu/cpu_step.h"

#include <cblas.h>
#include <gloo/barrier.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/gloo_collectives.h"
#include "kernels/cpu/gloo_op.h"
#include "kernels/cpu/rapl_energy.h"
#include "kernels/step_overlap.h"

namespace tokenmeter::kernels::cpu {
namespace {

using Buffer = std::unique_ptr<float[]>;
using Clock = std::chrono::steady_clock;

constexpr int64_t kFloat = sizeof(float);
// The most elements one cblas_saxpy call is given (its n is a 32-bit blasint).
constexpr int64_t kSaxpyChunk = int64_t{1} << 30;
// The elementwise pass's a in y = a·x + y. y drifts by at most |a| per
// iteration: no overflow, and never denormal (x is on a 2^-23 grid).
constexpr float kAxpyScale = 0.5f;
// Gloo tag of the barriers around the timed loop (ops use their index).
constexpr uint32_t kBarrierTag = 0x7fffffff;

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

// One op, ready to run.
struct PreparedOp {
  std::string what;  // "step op 3 (all_reduce of 4800 fp32 elements in group [0,1])"
  bool collective = false;
  bool trivial = false;          // a collective in a group of one: skipped, timed 0
  bool compute = false;          // a GEMM or elementwise op
  bool async = false;            // runs on the communication thread (overlapped)
  bool waits = false;            // waits for the overlapped ops issued before it
  std::function<void()> run;     // one execution; Gloo failures throw
  std::function<void()> refresh;  // before the checked execution: inputs, NaN outputs
  std::function<int64_t()> wrong;  // after it: output elements off their expected value
  int64_t checked = 0;             // output elements `wrong` compares
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The communication thread of one Run, as DDP hands its gradient buckets to
// the process group's own thread: runs the overlapped ops one at a time, in
// the order they were submitted (the program's order, the same on every
// rank, as Gloo needs), and records when each ran. After an op fails, the ops
// queued behind it are skipped. Thread-safe; destroying it skips the queued
// ops and waits for the one running (Gloo bounds it by the timeout).
class CommThread {
 public:
  // One op to run: with `check`, its inputs are refreshed before and its
  // wrong output elements counted into *wrong after.
  struct Task {
    const PreparedOp* op = nullptr;
    bool check = false;
    int64_t* wrong = nullptr;
  };
  // When a task ran; start == end for a skipped one.
  struct Record {
    Clock::time_point start, end;
  };

  CommThread() : thread_([this] { Loop(); }) {}
  ~CommThread() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  // Queues `task`; returns its ticket: 0, 1, ... since the last Reset.
  size_t Submit(Task task) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(task);
    records_.emplace_back();
    return records_.size() - 1;
  }

  // Blocks until every task submitted has finished (or been skipped). OK, or
  // the first failure, its message starting with the op's `what`.
  absl::Status WaitAll() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](CommThread* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu_) {
          return t->finished_ == t->records_.size();
        },
        this));
    return failure_;
  }

  // REQUIRES: WaitAll returned since the task with `ticket` was submitted.
  Record record(size_t ticket) {
    absl::MutexLock lock(&mu_);
    return records_[ticket];
  }

  // Tickets restart from 0. REQUIRES: WaitAll returned after the last Submit.
  void Reset() {
    absl::MutexLock lock(&mu_);
    records_.clear();
    finished_ = 0;
  }

 private:
  void Loop() {
    absl::MutexLock lock(&mu_);
    while (true) {
      mu_.Await(absl::Condition(
          +[](CommThread* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu_) {
            return t->stopping_ || !t->queue_.empty();
          },
          this));
      if (stopping_) return;
      const Task task = queue_.front();
      queue_.pop_front();
      const size_t ticket = finished_;  // one at a time, in order
      const bool skip = !failure_.ok();
      Record record;
      absl::Status status;
      mu_.Unlock();
      record.start = Clock::now();
      if (!skip) {
        try {
          if (task.check) task.op->refresh();
          task.op->run();
          if (task.check) *task.wrong = task.op->wrong();
        } catch (...) {
          status = GlooExceptionToStatus(task.op->what);
        }
      }
      record.end = skip ? record.start : Clock::now();
      mu_.Lock();
      records_[ticket] = record;
      if (!status.ok() && failure_.ok()) failure_ = status;
      ++finished_;
    }
  }

  absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Record> records_ ABSL_GUARDED_BY(mu_);  // by ticket
  size_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

CpuStepRunner::CpuStepRunner(GlooCommunicator* world, int threads)
    : world_(world), threads_(threads) {}

CpuStepRunner::~CpuStepRunner() = default;

absl::StatusOr<StepRun> CpuStepRunner::Run(const StepProgram& program, const IterationPlan& plan,
                                           RaplEnergy* energy) {
  const BackendOptions& options = world_->options();
  const int world = options.world_size;
  const int rank = options.rank;
  const std::string where = absl::StrCat("rank ", rank, " of ", world);

  // ---- Validation: nothing allocated, nothing sent ----
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  if (absl::Status valid = ValidateStepProgram(program, rank, world); !valid.ok()) return valid;
  const std::string dtype_name(DTypeName(program.dtype));
  const std::string collective_dtype_name(DTypeName(program.collective_dtype));
  for (size_t j = 0; j < program.ops.size(); ++j) {
    const StepOp& op = program.ops[j];
    switch (op.kind) {
      case StepOp::Kind::kGemm:
        if (!CpuGemmSupports(program.dtype)) {
          return absl::UnimplementedError(
              absl::StrCat("backend cpu does not support GEMM in ", dtype_name, " (step op ", j, ")"));
        }
        for (auto [dim, value] : {std::pair{"m", op.m}, {"n", op.n}, {"k", op.k}}) {
          if (value > INT_MAX) {
            return absl::InvalidArgumentError(absl::StrCat(
                "step op ", j, " (GEMM): dimension ", dim, " must be in [1, ", INT_MAX,
                "] (OpenBLAS's 32-bit index), got ", value));
          }
        }
        break;
      case StepOp::Kind::kElementwise:
        break;
      case StepOp::Kind::kCollective: {
        const std::string name(CollectiveOpName(op.op));
        if (!GlooCommunicator::Supports(op.op, program.collective_dtype)) {
          return absl::UnimplementedError(absl::StrCat("backend cpu does not support ", name,
                                                       " in ", collective_dtype_name,
                                                       " (step op ", j, ")"));
        }
        const int64_t size = static_cast<int64_t>(program.groups[op.group].size());
        if (Splits(op.op) && op.count % size != 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("step op ", j, " (", name, "): count ", op.count,
                           " is not divisible by the size ", size, " of its group ",
                           ListName(program.groups[op.group])));
        }
        break;
      }
    }
  }

  // ---- Sizes, and the memory check ----
  int64_t gemm_a = 0, gemm_b = 0, gemm_c = 0, axpy_elements = 0;
  // By rank list (indices may repeat a list) and whether the communication
  // thread's: an overlapped op never shares a context or a buffer with the
  // ops in line, which may run at the same time in the same group.
  std::map<std::pair<std::vector<int>, bool>, GroupRun> groups;
  std::vector<GroupRun*> group_of(program.ops.size(), nullptr);  // collectives' groups, by op
  bool any_async = false;
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
  for (size_t j = 0; j < program.ops.size(); ++j) {
    const StepOp& op = program.ops[j];
    switch (op.kind) {
      case StepOp::Kind::kGemm:
        gemm_a = std::max(gemm_a, op.m * op.k);  // each <= INT_MAX: no overflow
        gemm_b = std::max(gemm_b, op.k * op.n);
        gemm_c = std::max(gemm_c, op.m * op.n);
        break;
      case StepOp::Kind::kElementwise:
        axpy_elements = std::max(axpy_elements, ElementwiseElements(op.bytes));
        break;
      case StepOp::Kind::kCollective: {
        GroupRun& group = *group_of[j];
        if (group.size == 1) break;  // skipped: no buffers
        const int64_t c = op.count;
        const GlooOpBuffers buffers = BuffersOf(op.op, c, group.size, group.me);
        group.in_elements = std::max(group.in_elements, buffers.input_elements);
        group.out_elements = std::max(group.out_elements, buffers.output_elements);
        group.scratch_elements = Add(group.scratch_elements, buffers.scratch_elements);
        break;
      }
    }
  }
  int64_t needed_elements = Add(Add(gemm_a, gemm_b), Add(gemm_c, Mul(axpy_elements, 2)));
  for (const auto& [key, group] : groups) {
    needed_elements = Add(needed_elements, Add(Add(group.in_elements, group.out_elements),
                                               group.scratch_elements));
  }
  const int64_t needed = Mul(needed_elements, kFloat);
  const int64_t available = HostMemoryAvailableBytes();
  if (needed > available) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "step program of ", program.ops.size(), " ops needs ", needed,
        " bytes of host memory on ", where, " (GEMM ", Mul(Add(Add(gemm_a, gemm_b), gemm_c), kFloat),
        ", elementwise ", Mul(axpy_elements, 2 * kFloat), ", the rest collectives), only ",
        available, " available"));
  }

  absl::Status broken = world_->broken();
  if (!broken.ok()) {
    return absl::UnavailableError(absl::StrCat("gloo communicator of ", where,
                                               " is unusable after an earlier failure: ",
                                               broken.message()));
  }
  // Any failure from here on may leave the connections mid-collective.
  auto fail = [&](absl::Status status) {
    world_->MarkBroken(status);
    return status;
  };

  // ---- Contexts, in the order of each group's first use ----
  for (size_t j = 0; j < program.ops.size(); ++j) {
    const StepOp& op = program.ops[j];
    if (op.kind != StepOp::Kind::kCollective) continue;
    GroupRun& group = *group_of[j];
    if (group.size == 1) continue;
    if (group.context != nullptr) continue;
    const bool whole_world = group.size == world;  // ascending, distinct, in range: [0, world)
    absl::StatusOr<std::shared_ptr<gloo::Context>> context;
    if (whole_world && !group.overlap) {
      context = world_->context();
    } else {
      std::shared_ptr<gloo::Context>& cached = groups_[{group.ranks, group.overlap}];
      if (cached == nullptr) {
        std::string suffix = group.overlap ? "overlap-group" : "group";
        for (int r : group.ranks) absl::StrAppend(&suffix, "-", r);
        context = world_->ConnectGroup(group.ranks, suffix);
        if (context.ok()) cached = *context;
      } else {
        context = cached;
      }
    }
    if (!context.ok()) {
      return fail(absl::Status(
          context.status().code(),
          absl::StrCat("connecting group ", group.name, " for step op ", j, " (",
                       std::string(CollectiveOpName(op.op)), ") on ", where, ", timeout ",
                       options.timeout.count(), " ms: ", context.status().message())));
    }
    group.context = *std::move(context);
  }

  // ---- Buffers: allocated and filled once ----
  const uint64_t seed = FreshSeed();
  Buffer a = std::make_unique_for_overwrite<float[]>(gemm_a);
  Buffer b = std::make_unique_for_overwrite<float[]>(gemm_b);
  Buffer c = std::make_unique_for_overwrite<float[]>(gemm_c);
  FillSymmetricUnit(a.get(), gemm_a, seed);
  FillSymmetricUnit(b.get(), gemm_b, seed ^ 0x5bd1e9955bd1e995ULL);
  std::fill_n(c.get(), gemm_c, 0.0f);
  Buffer x = std::make_unique_for_overwrite<float[]>(axpy_elements);
  Buffer y = std::make_unique_for_overwrite<float[]>(axpy_elements);
  FillSymmetricUnit(x.get(), axpy_elements, seed ^ 0x2545f4914f6cdd1dULL);
  FillSymmetricUnit(y.get(), axpy_elements, seed ^ 0x9e3779b97f4a7c15ULL);
  const float kUnwritten = std::nanf("");
  for (auto& [key, group] : groups) {
    group.in = std::make_unique_for_overwrite<float[]>(group.in_elements);
    group.out = std::make_unique_for_overwrite<float[]>(group.out_elements);
    FillCollectiveInput(group.in.get(), group.in_elements, group.me);
    std::fill_n(group.out.get(), group.out_elements, kUnwritten);
  }

  openblas_set_num_threads(threads_);

  // ---- The ops ----
  std::vector<PreparedOp> ops(program.ops.size());
  try {
    for (size_t j = 0; j < program.ops.size(); ++j) {
      const StepOp& op = program.ops[j];
      PreparedOp& p = ops[j];
      p.waits = op.waits_for_overlapped;
      switch (op.kind) {
        case StepOp::Kind::kGemm: {
          p.what = absl::StrCat("step op ", j, " (", op.count, " GEMM of m=", op.m, " n=", op.n,
                                " k=", op.k, " in fp32)");
          const auto m = static_cast<blasint>(op.m), n = static_cast<blasint>(op.n),
                     k = static_cast<blasint>(op.k);
          const int64_t count = op.count;
          float *pa = a.get(), *pb = b.get(), *pc = c.get();
          p.compute = true;
          p.run = [=] {
            for (int64_t i = 0; i < count; ++i) {
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, pa, k, pb, n,
                          0.0f, pc, n);
            }
          };
          break;
        }
        case StepOp::Kind::kElementwise: {
          const int64_t elements = ElementwiseElements(op.bytes);
          p.what = absl::StrCat("step op ", j, " (elementwise over ", op.bytes, " bytes)");
          float *px = x.get(), *py = y.get();
          p.compute = true;
          p.run = [=] {
            for (int64_t done = 0; done < elements; done += kSaxpyChunk) {
              const auto n = static_cast<blasint>(std::min(kSaxpyChunk, elements - done));
              cblas_saxpy(n, kAxpyScale, px + done, 1, py + done, 1);
            }
          };
          break;
        }
        case StepOp::Kind::kCollective: {
          GroupRun& group = *group_of[j];
          const std::string name(CollectiveOpName(op.op));
          const int64_t count = op.count;
          p.what = absl::StrCat("step op ", j, " (", name, " of ", count, " fp32 elements in group ",
                                group.name, group.overlap ? ", overlapped" : "", ")");
          p.collective = true;
          if (group.size == 1) {
            p.trivial = true;
            break;
          }
          p.async = group.overlap;
          const int gn = group.size, me = group.me;
          const uint32_t tag = static_cast<uint32_t>(j);
          const GlooOpBuffers buffers = BuffersOf(op.op, count, gn, me);
          float* in = group.in.get();
          float* out = buffers.in_place ? in : group.out.get();
          p.run = MakeGlooCall(op.op, GlooGroup{group.context, gn, me}, in, out, count, tag);
          // Before the checked execution: a fresh input, an output no one wrote.
          p.refresh = [=] {
            FillCollectiveInput(in, buffers.input_elements, me);
            if (!buffers.in_place) std::fill_n(out, buffers.output_elements, kUnwritten);
          };
          p.checked = buffers.checked_elements;
          const CollectiveOp which = op.op;
          p.wrong = [=] { return CountWrongOutputs(which, out, count, gn, me); };
          break;
        }
      }
    }
  } catch (...) {
    return fail(GlooExceptionToStatus(absl::StrCat("setting up the step's collectives on ", where)));
  }

  // ---- Running ----
  const std::string bound = absl::StrCat(" on ", where, ", timeout ", options.timeout.count(), " ms");
  std::vector<int64_t> wrong_of(ops.size(), 0);  // by op, from the checked iteration
  std::string phase;  // where a failure happened, for its message
  size_t current = 0;
  StepRun result;
  // Declared after every buffer and op it reads: destroyed (joined) first.
  std::unique_ptr<CommThread> comm;
  if (any_async) comm = std::make_unique<CommThread>();

  // One iteration's timeline, in seconds from its start: the main thread's
  // compute ops and its waits for the communication thread, each ascending.
  Clock::time_point origin;
  std::vector<StepInterval> compute_spans, wait_spans;
  std::vector<std::pair<size_t, size_t>> launched;  // (op, ticket), this iteration
  bool pending = false;  // overlapped ops issued since the last wait
  auto since = [&](Clock::time_point t) { return Seconds(t - origin); };
  // Waits for every overlapped op issued so far; their failure is the step's.
  auto wait_overlapped = [&]() -> absl::Status {
    if (!pending) return absl::OkStatus();
    pending = false;
    const Clock::time_point start = Clock::now();
    absl::Status status = comm->WaitAll();
    wait_spans.push_back({since(start), since(Clock::now())});
    if (status.ok()) return status;
    return absl::Status(status.code(), absl::StrCat(status.message(), " (on the communication thread, in ",
                                                    phase, bound, ")"));
  };
  // Runs every op once (only the collectives with `collectives_only`):
  // overlapped ones handed to the communication thread, the rest in line.
  // With `check`, each collective's output is compared (into wrong_of). With
  // `times` (and `exposed`, when ops run overlapped) each op's seconds are
  // stored, and *step_seconds gets the iteration's wall time. A Gloo failure
  // in line throws; one on the communication thread is returned.
  auto iterate = [&](bool check, bool collectives_only, std::vector<double>* times,
                     std::vector<double>* exposed, double* step_seconds) -> absl::Status {
    compute_spans.clear();
    wait_spans.clear();
    launched.clear();
    if (comm != nullptr) comm->Reset();
    origin = Clock::now();
    for (current = 0; current < ops.size(); ++current) {
      PreparedOp& p = ops[current];
      if (p.waits) {
        if (absl::Status s = wait_overlapped(); !s.ok()) return s;
      }
      if (p.trivial || (collectives_only && !p.collective)) continue;
      if (p.async) {
        launched.emplace_back(current, comm->Submit({&p, check, &wrong_of[current]}));
        pending = true;
        continue;
      }
      if (check && p.collective) p.refresh();
      const Clock::time_point start = Clock::now();
      p.run();
      const Clock::time_point end = Clock::now();
      if (check && p.collective) wrong_of[current] = p.wrong();
      if (times != nullptr) (*times)[current] = Seconds(end - start);
      if (p.compute && !launched.empty()) compute_spans.push_back({since(start), since(end)});
    }
    current = ops.size();
    if (absl::Status s = wait_overlapped(); !s.ok()) return s;
    if (step_seconds != nullptr) *step_seconds = Seconds(Clock::now() - origin);
    if (times == nullptr) return absl::OkStatus();
    if (exposed != nullptr) *exposed = *times;
    for (const auto& [j, ticket] : launched) {
      const CommThread::Record record = comm->record(ticket);
      const StepInterval span{since(record.start), since(record.end)};
      (*times)[j] = span.end - span.start;
      if (exposed != nullptr) (*exposed)[j] = CoveredSeconds(span, wait_spans);
      if (CoveredSeconds(span, compute_spans) > 0) result.overlapped = true;
    }
    return absl::OkStatus();
  };

  // After the checked pass, in-place ops would reduce their last result again
  // and again; zeros keep the unchecked iterations finite (an fp32 sum and a
  // TCP transfer cost the same for any non-denormal data).
  auto zero_inputs = [&] {
    for (auto& [key, group] : groups) std::fill_n(group.in.get(), group.in_elements, 0.0f);
  };
  try {
    const std::atomic<bool>* stop = options.stop;
    for (int i = 0; i < plan.warmup; ++i) {
      phase = absl::StrCat("warm-up iteration ", i);
      if (StopRequested(stop)) return fail(StoppedError(absl::StrCat("step ", phase)));
      if (absl::Status s = iterate(i == 0, false, nullptr, nullptr, nullptr); !s.ok()) return fail(s);
      if (i == 0) zero_inputs();
    }
    if (plan.warmup == 0) {
      phase = "the check pass";
      if (absl::Status s = iterate(true, true, nullptr, nullptr, nullptr); !s.ok()) return fail(s);
      zero_inputs();
    }

    current = ops.size();
    phase = "the barrier before the timed loop";
    gloo::BarrierOptions barrier(world_->context());
    barrier.setTag(kBarrierTag);
    gloo::barrier(barrier);

    std::optional<double> joules_before;
    if (energy != nullptr) {
      absl::StatusOr<double> joules = energy->Joules();
      if (joules.ok()) joules_before = *joules;
    }
    result.op_seconds.assign(plan.timed, std::vector<double>(ops.size(), 0.0));
    if (any_async) result.exposed_seconds.assign(plan.timed, std::vector<double>(ops.size(), 0.0));
    result.step_seconds.assign(plan.timed, 0.0);
    for (int i = 0; i < plan.timed; ++i) {
      phase = absl::StrCat("timed iteration ", i);
      if (StopRequested(stop)) return fail(StoppedError(absl::StrCat("step ", phase)));
      if (absl::Status s = iterate(false, false, &result.op_seconds[i],
                                   any_async ? &result.exposed_seconds[i] : nullptr,
                                   &result.step_seconds[i]);
          !s.ok()) {
        return fail(s);
      }
    }
    if (joules_before.has_value()) {
      absl::StatusOr<double> joules = energy->Joules();
      if (joules.ok()) result.timed_energy_joules = *joules - *joules_before;
    }

    current = ops.size();
    phase = "the barrier after the timed loop";
    gloo::barrier(barrier);
  } catch (...) {
    const std::string what = current < ops.size()
                                 ? absl::StrCat(ops[current].what, " in ", phase, bound)
                                 : absl::StrCat("step: ", phase, bound);
    return fail(GlooExceptionToStatus(what));
  }

  int wrong_ops = 0;
  std::string check_failure;  // the first wrong op, in program order
  for (size_t j = 0; j < ops.size(); ++j) {
    if (wrong_of[j] == 0) continue;
    if (wrong_ops++ == 0) {
      check_failure = absl::StrCat(ops[j].what, " produced ", wrong_of[j], " wrong elements of ",
                                   ops[j].checked, " checked on ", where);
    }
  }
  if (wrong_ops > 0) {
    return absl::InternalError(absl::StrCat(
        check_failure, wrong_ops > 1 ? absl::StrCat(" (and ", wrong_ops - 1, " more ops)") : ""));
  }
  return result;
}

}  // namespace tokenmeter::kernels::cpu
