#include "kernels/opencl/opencl_backend.h"

#include "kernels/opencl/cl_util.h"

#include <CL/cl_ext.h>
#include <clblast.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/gemm_check.h"
#include "kernels/cpu/gloo_collectives.h"
#include "kernels/opencl/opencl_step.h"

namespace tokenmeter::kernels {
namespace {

using opencl::ClFailure;
using opencl::Context;
using opencl::Memory;
using opencl::Queue;

struct ClDevice {
  cl_platform_id platform;
  cl_device_id device;
};

// Every device of every platform, in platform order.
absl::StatusOr<std::vector<ClDevice>> AllDevices() {
  cl_uint platforms = 0;
  cl_int rc = clGetPlatformIDs(0, nullptr, &platforms);
  // The ICD loader's "no platform" is a host without OpenCL: no devices.
  if (rc == CL_PLATFORM_NOT_FOUND_KHR || platforms == 0) return std::vector<ClDevice>{};
  if (rc != CL_SUCCESS) return absl::UnavailableError(absl::StrCat("opencl: clGetPlatformIDs failed (", rc, ")"));
  std::vector<cl_platform_id> ids(platforms);
  clGetPlatformIDs(platforms, ids.data(), nullptr);
  std::vector<ClDevice> out;
  for (cl_platform_id p : ids) {
    cl_uint n = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &n) != CL_SUCCESS || n == 0) continue;
    std::vector<cl_device_id> devices(n);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n, devices.data(), nullptr);
    for (cl_device_id d : devices) out.push_back({p, d});
  }
  return out;
}

std::string InfoString(cl_device_id d, cl_device_info what) {
  size_t size = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
  std::string s(size, '\0');
  clGetDeviceInfo(d, what, size, s.data(), nullptr);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

template <typename T>
T InfoValue(cl_device_id d, cl_device_info what) {
  T value{};
  clGetDeviceInfo(d, what, sizeof value, &value, nullptr);
  return value;
}

DeviceDescription Describe(const ClDevice& d, int index) {
  DeviceDescription out;
  out.model = InfoString(d.device, CL_DEVICE_NAME);
  const std::string vendor = InfoString(d.device, CL_DEVICE_VENDOR);
  if (!vendor.empty() && out.model.find(vendor) == std::string::npos) out.model = absl::StrCat(vendor, " ", out.model);
  out.uuid = absl::StrCat(cpu::HostName(), "-opencl-", index);
  out.memory_bytes = static_cast<int64_t>(InfoValue<cl_ulong>(d.device, CL_DEVICE_GLOBAL_MEM_SIZE));
  out.compute_units = static_cast<int>(InfoValue<cl_uint>(d.device, CL_DEVICE_MAX_COMPUTE_UNITS));
  out.compute_capability = InfoString(d.device, CL_DEVICE_VERSION);  // "OpenCL 3.0 PoCL …"
  out.driver_version = InfoString(d.device, CL_DRIVER_VERSION);
  return out;
}

// A device buffer that grows to the largest size asked of it.
class StagingBuffer {
 public:
  explicit StagingBuffer(cl_context context) : context_(context) {}
  cl_mem Ensure(size_t bytes) {
    if (bytes > bytes_ && bytes > 0) {
      cl_int rc = CL_SUCCESS;
      cl_mem m = clCreateBuffer(context_, CL_MEM_READ_WRITE, bytes, nullptr, &rc);
      if (rc != CL_SUCCESS) throw std::runtime_error(absl::StrCat("opencl: a staging buffer of ", bytes, " bytes: error ", rc));
      memory_ = Memory(m);
      bytes_ = bytes;
    }
    return memory_.get();
  }

 private:
  cl_context context_;
  Memory memory_;
  size_t bytes_ = 0;
};

class OpenclBackend : public Backend {
 public:
  OpenclBackend(const BackendOptions& options, DeviceDescription device, cl_device_id id, Context context,
                Queue queue, std::unique_ptr<cpu::GlooCommunicator> communicator)
      : options_(options),
        device_(std::move(device)),
        context_(std::move(context)),
        queue_(std::move(queue)),
        communicator_(std::move(communicator)),
        steps_(context_.get(), id, queue_.get(), device_.memory_bytes, communicator_.get()) {}

  std::string_view kind() const override { return "opencl"; }
  const DeviceDescription& device() const override { return device_; }
  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }

  bool SupportsGemm(DType dtype) const override { return dtype == DType::kFp32; }
  bool SupportsCollective(CollectiveOp op, DType dtype) const override {
    return cpu::GlooCommunicator::Supports(op, dtype);
  }

  absl::StatusOr<GemmRun> RunGemm(const GemmProblem& problem, const IterationPlan& plan) override;

  absl::StatusOr<CollectiveRun> RunCollective(CollectiveOp op, int64_t count, DType dtype,
                                              const IterationPlan& plan) override {
    StagingBuffer in(context_.get()), out(context_.get());
    cl_command_queue q = queue_.get();
    cpu::GlooCommunicator::HostStaging staging;
    auto bytes = [](int64_t n) { return static_cast<size_t>(n) * sizeof(float); };
    staging.load = [&](const float* host, int64_t n) {
      opencl::StagingCopy(q, true, in.Ensure(bytes(n)), const_cast<float*>(host), n);
    };
    staging.to_host = [&](float* host, int64_t n) { opencl::StagingCopy(q, false, in.Ensure(bytes(n)), host, n); };
    staging.to_device = [&](const float* host, int64_t n) {
      opencl::StagingCopy(q, true, out.Ensure(bytes(n)), const_cast<float*>(host), n);
    };
    staging.read_back = [&](float* host, int64_t n) { opencl::StagingCopy(q, false, out.Ensure(bytes(n)), host, n); };
    return communicator_->RunStaged(op, count, dtype, plan, staging, "opencl");
  }

  absl::StatusOr<StepRun> RunStep(const StepProgram& program, const IterationPlan& plan) override {
    return steps_.Run(program, plan);
  }

  absl::StatusOr<double> EnergyJoules() override {
    return absl::UnimplementedError("backend opencl: OpenCL reports no device energy");
  }

 private:
  BackendOptions options_;
  DeviceDescription device_;
  Context context_;
  Queue queue_;
  std::unique_ptr<cpu::GlooCommunicator> communicator_;
  opencl::OpenclStepRunner steps_;  // uses the members above: declared after them
};

absl::StatusOr<GemmRun> OpenclBackend::RunGemm(const GemmProblem& p, const IterationPlan& plan) {
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  if (p.m <= 0 || p.n <= 0 || p.k <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gemm m, n and k must be positive, got ", p.m, " ", p.n, " ", p.k));
  }
  if (p.dtype != DType::kFp32) {
    return absl::UnimplementedError(absl::StrCat("backend opencl runs GEMM in fp32 only, not ",
                                                 std::string(DTypeName(p.dtype))));
  }
  const int64_t a_elems = p.m * p.k, b_elems = p.k * p.n, c_elems = p.m * p.n;
  const int64_t bytes = (a_elems + b_elems + c_elems) * static_cast<int64_t>(sizeof(float));
  if (bytes > device_.memory_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("gemm ", p.m, "x", p.n, "x", p.k, " needs ", bytes,
                                                     " bytes of device memory, the device has ",
                                                     device_.memory_bytes));
  }
  // The host keeps A, B and C for the check.
  if (bytes > cpu::HostMemoryAvailableBytes()) {
    return absl::ResourceExhaustedError(absl::StrCat("gemm ", p.m, "x", p.n, "x", p.k, " needs ", bytes,
                                                     " bytes of host memory for its check, only ",
                                                     cpu::HostMemoryAvailableBytes(), " available"));
  }
  std::vector<float> a(a_elems), b(b_elems), c(c_elems, 0.0f);
  const uint64_t seed = cpu::FreshSeed();
  cpu::FillSymmetricUnit(a.data(), a_elems, seed);
  cpu::FillSymmetricUnit(b.data(), b_elems, seed ^ 0x5bd1e9955bd1e995ULL);
  cl_int rc = CL_SUCCESS;
  auto buffer = [&](std::vector<float>& host) {
    return Memory(clCreateBuffer(context_.get(), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                 host.size() * sizeof(float), host.data(), &rc));
  };
  Memory da = buffer(a);
  if (rc != CL_SUCCESS) return ClFailure("allocating A", rc);
  Memory db = buffer(b);
  if (rc != CL_SUCCESS) return ClFailure("allocating B", rc);
  Memory dc = buffer(c);
  if (rc != CL_SUCCESS) return ClFailure("allocating C", rc);
  cl_command_queue q = queue_.get();
  const std::string what = absl::StrCat("gemm ", p.m, "x", p.n, "x", p.k, " fp32");

  // One call, between two markers: its device time.
  auto call = [&]() -> absl::StatusOr<double> {
    return opencl::TimedOnDevice(q, what, [&]() -> absl::Status {
      const clblast::StatusCode status = clblast::Gemm<float>(
          clblast::Layout::kRowMajor, clblast::Transpose::kNo, clblast::Transpose::kNo, p.m, p.n, p.k, 1.0f,
          da.get(), 0, p.k, db.get(), 0, p.n, 0.0f, dc.get(), 0, p.n, &q, nullptr);
      if (status == clblast::StatusCode::kSuccess) return absl::OkStatus();
      return absl::InternalError(absl::StrCat("opencl: CLBlast's Gemm for ", what, " failed (status ",
                                              static_cast<int>(status), ")"));
    });
  };

  GemmRun run;
  // The first call compiles CLBlast's kernels for the shape: never timed.
  const int warmup = std::max(1, plan.warmup);
  for (int i = 0; i < warmup; ++i) {
    if (StopRequested(options_.stop)) return StoppedError(absl::StrCat(what, ", warm-up call ", i));
    NoteIterationBegun(options_.iterations_begun);
    if (auto t = call(); !t.ok()) return t.status();
    if (i == 0) {
      rc = clEnqueueReadBuffer(q, dc.get(), CL_TRUE, 0, c.size() * sizeof(float), c.data(), 0, nullptr, nullptr);
      if (rc != CL_SUCCESS) return ClFailure("reading C back", rc);
      const cpu::GemmCheckResult check = cpu::CheckFp32Gemm(a.data(), b.data(), c.data(), p.m, p.n, p.k);
      run.verified = true;
      run.max_error = check.max_error;
      run.wrong_elements = check.wrong_elements;
    }
  }
  run.iteration_seconds.reserve(plan.timed);
  for (int i = 0; i < plan.timed; ++i) {
    if (StopRequested(options_.stop)) return StoppedError(absl::StrCat(what, ", timed call ", i));
    NoteIterationBegun(options_.iterations_begun);
    absl::StatusOr<double> t = call();
    if (!t.ok()) return t.status();
    run.iteration_seconds.push_back(*t);
  }
  return run;
}

}  // namespace

absl::StatusOr<std::vector<DeviceDescription>> ListOpenclDevices() {
  absl::StatusOr<std::vector<ClDevice>> devices = AllDevices();
  if (!devices.ok()) return devices.status();
  std::vector<DeviceDescription> out;
  for (size_t i = 0; i < devices->size(); ++i) out.push_back(Describe((*devices)[i], static_cast<int>(i)));
  return out;
}

absl::StatusOr<std::unique_ptr<Backend>> NewOpenclBackend(const BackendOptions& options) {
  absl::StatusOr<std::vector<ClDevice>> devices = AllDevices();
  if (!devices.ok()) return devices.status();
  if (devices->empty()) return absl::UnavailableError("backend opencl: no OpenCL device on this host");
  if (options.device_index < 0 || options.device_index >= static_cast<int>(devices->size())) {
    return absl::InvalidArgumentError(absl::StrCat("backend opencl: device_index must be in [0, ",
                                                   devices->size(), "), got ", options.device_index));
  }
  const ClDevice& d = (*devices)[options.device_index];
  cl_int rc = CL_SUCCESS;
  const cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                              reinterpret_cast<cl_context_properties>(d.platform), 0};
  Context context(clCreateContext(properties, 1, &d.device, nullptr, nullptr, &rc));
  if (rc != CL_SUCCESS) return ClFailure("creating a context", rc);
  Queue queue(clCreateCommandQueue(context.get(), d.device, CL_QUEUE_PROFILING_ENABLE, &rc));
  if (rc != CL_SUCCESS) return ClFailure("creating a profiling command queue", rc);
  absl::StatusOr<std::unique_ptr<cpu::GlooCommunicator>> communicator = cpu::GlooCommunicator::Connect(options);
  if (!communicator.ok()) return communicator.status();
  return std::make_unique<OpenclBackend>(options, Describe(d, options.device_index), d.device, std::move(context), std::move(queue), *std::move(communicator));
}

}  // namespace tokenmeter::kernels
