#include "kernels/opencl/opencl_step.h"

#include <clblast.h>
#include <gloo/barrier.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "absl/strings/str_join.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/gloo_op.h"

namespace tokenmeter::kernels::opencl {
namespace {

using Clock = std::chrono::steady_clock;

// The elementwise pass, on the device (opencl_step.h).
constexpr char kPassSource[] = R"CL(
__kernel void axpy(const float a, __global const float* x, __global float* y) {
  const size_t i = get_global_id(0);
  y[i] = a * x[i] + y[i];
}
__kernel void exp_axpy(const float a, __global const float* x, __global float* y) {
  const size_t i = get_global_id(0);
  y[i] = exp(a * x[i]) + y[i];
}
)CL";
// a in y = a·x + y: y drifts by at most exp(|a|) per iteration, far from
// overflow in any run's iterations.
constexpr float kPassScale = 0.5f;
constexpr uint32_t kBarrierTag = 0x7fffffff;
constexpr int64_t kFloat = sizeof(float);

std::string ListName(const std::vector<int>& ranks) { return absl::StrCat("[", absl::StrJoin(ranks, ","), "]"); }

bool Splits(CollectiveOp op) {
  return op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter || op == CollectiveOp::kAllToAll;
}

absl::Status Validate(const StepProgram& program, const IterationPlan& plan, int rank, int world) {
  if (absl::Status s = ValidateIterationPlan(plan); !s.ok()) return s;
  if (absl::Status s = ValidateStepProgram(program, rank, world); !s.ok()) return s;
  if (program.dtype != DType::kFp32) {
    return absl::UnimplementedError(absl::StrCat("backend opencl runs training steps in fp32 only, not ",
                                                 std::string(DTypeName(program.dtype))));
  }
  for (size_t j = 0; j < program.ops.size(); ++j) {
    const StepOp& op = program.ops[j];
    if (op.kind != StepOp::Kind::kCollective) continue;
    if (!cpu::GlooCommunicator::Supports(op.op, program.collective_dtype)) {
      return absl::UnimplementedError(absl::StrCat("backend opencl does not support ",
                                                   std::string(CollectiveOpName(op.op)), " in ",
                                                   std::string(DTypeName(program.collective_dtype)),
                                                   " (step op ", j, ")"));
    }
    const int64_t size = static_cast<int64_t>(program.groups[op.group].size());
    if (Splits(op.op) && op.count % size != 0) {
      return absl::InvalidArgumentError(absl::StrCat("step op ", j, " (", std::string(CollectiveOpName(op.op)),
                                                     "): count ", op.count, " is not divisible by the size ",
                                                     size, " of its group ", ListName(program.groups[op.group])));
    }
  }
  return absl::OkStatus();
}

// One collective op's group and buffers, host and device.
struct Staged {
  cpu::GlooGroup group;
  cpu::GlooOpBuffers buffers{};
  std::vector<float> in, out;  // host
  Memory device_in, device_out;
  float* host_out() { return buffers.in_place ? in.data() : out.data(); }
  cl_mem device_out_mem() const { return buffers.in_place ? device_in.get() : device_out.get(); }
  int64_t out_elements() const { return buffers.in_place ? buffers.input_elements : buffers.output_elements; }
};

absl::StatusOr<Memory> DeviceBuffer(cl_context context, int64_t elements, const float* fill) {
  cl_int rc = CL_SUCCESS;
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(elements, 1)) * sizeof(float);
  const cl_mem_flags flags = CL_MEM_READ_WRITE | (fill != nullptr ? CL_MEM_COPY_HOST_PTR : 0);
  Memory m(clCreateBuffer(context, flags, bytes, const_cast<float*>(fill), &rc));
  if (rc != CL_SUCCESS) return ClFailure(absl::StrCat("allocating ", bytes, " bytes of device memory"), rc);
  return m;
}

}  // namespace

OpenclStepRunner::OpenclStepRunner(cl_context context, cl_device_id device, cl_command_queue queue,
                                   int64_t device_memory, cpu::GlooCommunicator* world)
    : context_(context), device_(device), queue_(queue), device_memory_(device_memory), world_(world) {}

OpenclStepRunner::~OpenclStepRunner() = default;

absl::Status OpenclStepRunner::BuildKernels() {
  if (axpy_.get() != nullptr) return absl::OkStatus();
  const char* source = kPassSource;
  cl_int rc = CL_SUCCESS;
  program_ = Program(clCreateProgramWithSource(context_, 1, &source, nullptr, &rc));
  if (rc != CL_SUCCESS) return ClFailure("creating the elementwise program", rc);
  if (rc = clBuildProgram(program_.get(), 1, &device_, "", nullptr, nullptr); rc != CL_SUCCESS) {
    return ClFailure("building the elementwise program", rc);
  }
  axpy_ = Kernel(clCreateKernel(program_.get(), "axpy", &rc));
  if (rc != CL_SUCCESS) return ClFailure("the axpy kernel", rc);
  exp_axpy_ = Kernel(clCreateKernel(program_.get(), "exp_axpy", &rc));
  if (rc != CL_SUCCESS) return ClFailure("the exp_axpy kernel", rc);
  return absl::OkStatus();
}

absl::StatusOr<StepRun> OpenclStepRunner::Run(const StepProgram& program, const IterationPlan& plan) {
  const BackendOptions& options = world_->options();
  const std::string where = absl::StrCat("rank ", options.rank, " of ", options.world_size);
  if (absl::Status s = Validate(program, plan, options.rank, options.world_size); !s.ok()) return s;
  if (absl::Status broken = world_->broken(); !broken.ok()) {
    return absl::UnavailableError(absl::StrCat("gloo communicator of ", where,
                                               " is unusable after an earlier failure: ", broken.message()));
  }

  // Sizes, each buffer to its largest user.
  int64_t a = 1, b = 1, c = 1, pass = 1, staged_bytes = 0;
  for (const StepOp& op : program.ops) {
    if (op.kind == StepOp::Kind::kGemm) {
      a = std::max(a, op.m * op.k);
      b = std::max(b, op.k * op.n);
      c = std::max(c, op.m * op.n);
    } else if (op.kind == StepOp::Kind::kElementwise) {
      pass = std::max(pass, std::max<int64_t>(1, op.bytes / (3 * kFloat)));
    }
  }
  std::vector<Staged> staged(program.ops.size());
  for (size_t j = 0; j < program.ops.size(); ++j) {
    const StepOp& op = program.ops[j];
    if (op.kind != StepOp::Kind::kCollective) continue;
    const std::vector<int>& ranks = program.groups[op.group];
    Staged& s = staged[j];
    s.group.size = static_cast<int>(ranks.size());
    s.group.me = static_cast<int>(std::lower_bound(ranks.begin(), ranks.end(), options.rank) - ranks.begin());
    s.buffers = cpu::BuffersOf(op.op, op.count, s.group.size, s.group.me);
    staged_bytes += (s.buffers.input_elements + s.buffers.output_elements) * kFloat;
  }
  const int64_t device_bytes = (a + b + c + 2 * pass) * kFloat + staged_bytes;
  if (device_bytes > device_memory_) {
    return absl::ResourceExhaustedError(absl::StrCat("step program of ", program.ops.size(), " ops needs ",
                                                     device_bytes, " bytes of device memory on ", where,
                                                     ", the device has ", device_memory_));
  }
  if (absl::Status s = BuildKernels(); !s.ok()) return s;

  // Contexts, before anything is timed, in first-use order (a collective
  // among each group: it deadlocks only where the program would).
  for (size_t j = 0; j < program.ops.size(); ++j) {
    Staged& s = staged[j];
    if (program.ops[j].kind != StepOp::Kind::kCollective || s.group.size == 1) continue;
    const std::vector<int>& ranks = program.groups[program.ops[j].group];
    if (s.group.size == options.world_size) {
      s.group.context = world_->context();
      continue;
    }
    std::shared_ptr<gloo::Context>& cached = groups_[ranks];
    if (cached == nullptr) {
      std::string suffix = "opencl-group";
      for (int r : ranks) absl::StrAppend(&suffix, "-", r);
      auto context = world_->ConnectGroup(ranks, suffix);
      if (!context.ok()) {
        world_->MarkBroken(context.status());
        return context.status();
      }
      cached = *context;
    }
    s.group.context = cached;
  }

  // Operands, random, once.
  const uint64_t seed = cpu::FreshSeed();
  std::vector<float> host(std::max({a, b, c, pass}));
  auto random_buffer = [&](int64_t elements, uint64_t salt) {
    cpu::FillSymmetricUnit(host.data(), elements, seed ^ salt);
    return DeviceBuffer(context_, elements, host.data());
  };
  absl::StatusOr<Memory> da = random_buffer(a, 1), db = random_buffer(b, 2), dc = random_buffer(c, 3);
  absl::StatusOr<Memory> dx = random_buffer(pass, 4), dy = random_buffer(pass, 5);
  for (auto* m : {&da, &db, &dc, &dx, &dy}) {
    if (!m->ok()) return m->status();
  }
  for (size_t j = 0; j < staged.size(); ++j) {
    Staged& s = staged[j];
    if (program.ops[j].kind != StepOp::Kind::kCollective || s.group.size == 1) continue;
    s.in.assign(s.buffers.input_elements, 0.0f);
    s.out.assign(s.buffers.output_elements, 0.0f);
    auto in = DeviceBuffer(context_, s.buffers.input_elements, s.in.data());
    if (!in.ok()) return in.status();
    s.device_in = *std::move(in);
    if (!s.buffers.in_place) {
      auto out = DeviceBuffer(context_, s.buffers.output_elements, s.out.data());
      if (!out.ok()) return out.status();
      s.device_out = *std::move(out);
    }
  }

  cl_command_queue q = queue_;
  std::vector<int64_t> wrong(program.ops.size(), 0);
  // One op; its time. `check`: a collective's fresh input before, its
  // output read back and compared after (untimed).
  auto run_op = [&](size_t j, bool check) -> absl::StatusOr<double> {
    const StepOp& op = program.ops[j];
    const std::string what = absl::StrCat("step op ", j, " on ", where);
    switch (op.kind) {
      case StepOp::Kind::kGemm:
        return TimedOnDevice(q, what, [&]() -> absl::Status {
          using clblast::Transpose;
          const size_t lda = op.transpose_a ? op.m : op.k, ldb = op.transpose_b ? op.k : op.n;
          for (int64_t i = 0; i < op.count; ++i) {
            const clblast::StatusCode status = clblast::Gemm<float>(
                clblast::Layout::kRowMajor, op.transpose_a ? Transpose::kYes : Transpose::kNo,
                op.transpose_b ? Transpose::kYes : Transpose::kNo, op.m, op.n, op.k, 1.0f, da->get(), 0, lda,
                db->get(), 0, ldb, 0.0f, dc->get(), 0, op.n, &q, nullptr);
            if (status != clblast::StatusCode::kSuccess) {
              return absl::InternalError(absl::StrCat("opencl: CLBlast's Gemm for ", what, " (m=", op.m, " n=", op.n,
                                                      " k=", op.k, ") failed (status ", static_cast<int>(status), ")"));
            }
          }
          return absl::OkStatus();
        });
      case StepOp::Kind::kElementwise:
        return TimedOnDevice(q, what, [&]() -> absl::Status {
          cl_kernel k = op.math == ElementwiseMath::kExp ? exp_axpy_.get() : axpy_.get();
          const cl_mem x = dx->get(), y = dy->get();
          const float scale = kPassScale;
          cl_int rc = clSetKernelArg(k, 0, sizeof scale, &scale);
          if (rc == CL_SUCCESS) rc = clSetKernelArg(k, 1, sizeof x, &x);
          if (rc == CL_SUCCESS) rc = clSetKernelArg(k, 2, sizeof y, &y);
          const size_t global = static_cast<size_t>(std::max<int64_t>(1, op.bytes / (3 * kFloat)));
          if (rc == CL_SUCCESS) rc = clEnqueueNDRangeKernel(q, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr);
          return rc == CL_SUCCESS ? absl::OkStatus() : ClFailure(absl::StrCat("the elementwise pass of ", what), rc);
        });
      case StepOp::Kind::kCollective: {
        Staged& s = staged[j];
        if (s.group.size == 1) return 0.0;  // a group of one: nothing to do
        if (check) {
          cpu::FillCollectiveInput(s.in.data(), s.buffers.input_elements, s.group.me);
          StagingCopy(q, true, s.device_in.get(), s.in.data(), s.buffers.input_elements);
          if (!s.buffers.in_place) {
            std::fill(s.out.begin(), s.out.end(), std::numeric_limits<float>::quiet_NaN());
            StagingCopy(q, true, s.device_out.get(), s.out.data(), s.buffers.output_elements);
          }
          std::fill(s.in.begin(), s.in.end(), std::numeric_limits<float>::quiet_NaN());
        }
        auto call = cpu::MakeGlooCall(op.op, s.group, s.in.data(), s.host_out(), op.count, static_cast<uint32_t>(j));
        const Clock::time_point start = Clock::now();
        StagingCopy(q, false, s.device_in.get(), s.in.data(), s.buffers.input_elements);
        call();
        StagingCopy(q, true, s.device_out_mem(), s.host_out(), s.out_elements());
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (check) {
          std::fill_n(s.host_out(), s.out_elements(), std::numeric_limits<float>::quiet_NaN());
          StagingCopy(q, false, s.device_out_mem(), s.host_out(), s.out_elements());
          wrong[j] = cpu::CountWrongOutputs(op.op, s.host_out(), op.count, s.group.size, s.group.me);
          // Later iterations reduce zeros: an in-place sum stays finite.
          std::fill(s.in.begin(), s.in.end(), 0.0f);
          StagingCopy(q, true, s.device_in.get(), s.in.data(), s.buffers.input_elements);
        }
        return seconds;
      }
    }
    return absl::InternalError("unknown step op kind");
  };

  StepRun result;
  size_t current = program.ops.size();
  std::string phase;
  auto iterate = [&](bool check, std::vector<double>* op_seconds, double* step_seconds) -> absl::Status {
    const Clock::time_point start = Clock::now();
    for (current = 0; current < program.ops.size(); ++current) {
      absl::StatusOr<double> t = run_op(current, check);
      if (!t.ok()) return t.status();
      if (op_seconds != nullptr) (*op_seconds)[current] = *t;
    }
    current = program.ops.size();
    if (cl_int rc = clFinish(q); rc != CL_SUCCESS) return ClFailure("finishing the step", rc);
    if (step_seconds != nullptr) *step_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return absl::OkStatus();
  };
  try {
    // At least one warm-up iteration: CLBlast compiles each GEMM shape's
    // kernels on its first call.
    const int warmup = std::max(1, plan.warmup);
    for (int i = 0; i < warmup; ++i) {
      phase = absl::StrCat("warm-up iteration ", i);
      if (StopRequested(options.stop)) return StoppedError(absl::StrCat("step ", phase));
      NoteIterationBegun(options.iterations_begun);
      if (absl::Status s = iterate(i == 0, nullptr, nullptr); !s.ok()) return s;
    }
    gloo::BarrierOptions barrier(world_->context());
    barrier.setTag(kBarrierTag);
    phase = "the barrier before the timed loop";
    gloo::barrier(barrier);
    result.op_seconds.assign(plan.timed, std::vector<double>(program.ops.size(), 0.0));
    result.step_seconds.assign(plan.timed, 0.0);
    for (int i = 0; i < plan.timed; ++i) {
      phase = absl::StrCat("timed iteration ", i);
      if (StopRequested(options.stop)) return StoppedError(absl::StrCat("step ", phase));
      NoteIterationBegun(options.iterations_begun);
      if (absl::Status s = iterate(false, &result.op_seconds[i], &result.step_seconds[i]); !s.ok()) return s;
    }
    phase = "the barrier after the timed loop";
    gloo::barrier(barrier);
  } catch (...) {
    const std::string context = current < program.ops.size()
                                    ? absl::StrCat("step op ", current, " in ", phase, " on ", where)
                                    : absl::StrCat("step: ", phase, " on ", where);
    absl::Status failure = cpu::GlooExceptionToStatus(context);
    world_->MarkBroken(failure);
    return failure;
  }
  for (size_t j = 0; j < wrong.size(); ++j) {
    if (wrong[j] > 0) {
      return absl::InternalError(absl::StrCat("step op ", j, " (", std::string(CollectiveOpName(program.ops[j].op)),
                                              ") produced ", wrong[j], " wrong elements of ",
                                              staged[j].buffers.checked_elements, " checked on ", where));
    }
  }
  return result;
}

}  // namespace tokenmeter::kernels::opencl
