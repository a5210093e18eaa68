// What the opencl backend's parts share: OpenCL objects held and released,
// errors as Status, and device timing between two markers. Private to
// kernels/opencl.
#ifndef TOKENMETER_KERNELS_OPENCL_CL_UTIL_H_
#define TOKENMETER_KERNELS_OPENCL_CL_UTIL_H_

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tokenmeter::kernels::opencl {

// Owns one OpenCL object, released with `release`.
template <typename T, cl_int (*release)(T)>
class Held {
 public:
  Held() = default;
  explicit Held(T object) : object_(object) {}
  Held(Held&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  Held& operator=(Held&& other) noexcept {
    std::swap(object_, other.object_);
    return *this;
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  ~Held() {
    if (object_ != nullptr) release(object_);
  }
  T get() const { return object_; }

 private:
  T object_ = nullptr;
};
using Context = Held<cl_context, clReleaseContext>;
using Queue = Held<cl_command_queue, clReleaseCommandQueue>;
using Memory = Held<cl_mem, clReleaseMemObject>;
using Event = Held<cl_event, clReleaseEvent>;
using Program = Held<cl_program, clReleaseProgram>;
using Kernel = Held<cl_kernel, clReleaseKernel>;

// `what` failed with OpenCL error `rc`: ResourceExhausted for the allocation
// failures, Internal otherwise.
inline absl::Status ClFailure(const std::string& what, cl_int rc) {
  const std::string message = absl::StrCat("opencl: ", what, " failed (OpenCL error ", rc, ")");
  if (rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES || rc == CL_OUT_OF_HOST_MEMORY) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

// Runs `enqueue` (which enqueues commands on `queue` and returns OK or why
// not) between two markers and waits; its device time, from the end of the
// first marker to the end of the second, on the queue's profiling clock, so
// it spans every command `enqueue` issued. REQUIRES: a profiling queue.
template <typename Enqueue>
absl::StatusOr<double> TimedOnDevice(cl_command_queue queue, const std::string& what, Enqueue enqueue) {
  cl_event e0 = nullptr, e1 = nullptr;
  if (cl_int rc = clEnqueueMarkerWithWaitList(queue, 0, nullptr, &e0); rc != CL_SUCCESS) {
    return ClFailure("a marker", rc);
  }
  Event before(e0);
  if (absl::Status s = enqueue(); !s.ok()) return s;
  if (cl_int rc = clEnqueueMarkerWithWaitList(queue, 0, nullptr, &e1); rc != CL_SUCCESS) {
    return ClFailure("a marker", rc);
  }
  Event after(e1);
  if (cl_int rc = clWaitForEvents(1, &e1); rc != CL_SUCCESS) return ClFailure(what, rc);
  cl_ulong start = 0, end = 0;
  cl_int rc = clGetEventProfilingInfo(e0, CL_PROFILING_COMMAND_END, sizeof start, &start, nullptr);
  if (rc == CL_SUCCESS) rc = clGetEventProfilingInfo(e1, CL_PROFILING_COMMAND_END, sizeof end, &end, nullptr);
  if (rc != CL_SUCCESS) return ClFailure("reading the queue's profiling clock", rc);
  return static_cast<double>(end - start) * 1e-9;
}

// A blocking copy of `elements` floats between `host` and the device buffer
// `m` (nothing for 0: a rank with no input or output of its own). Throws
// std::runtime_error on failure: the staged collectives' callers catch it
// with Gloo's exceptions (cpu::GlooExceptionToStatus).
inline void StagingCopy(cl_command_queue queue, bool to_device, cl_mem m, float* host, int64_t elements) {
  if (elements <= 0) return;
  const size_t bytes = static_cast<size_t>(elements) * sizeof(float);
  const cl_int rc = to_device ? clEnqueueWriteBuffer(queue, m, CL_TRUE, 0, bytes, host, 0, nullptr, nullptr)
                              : clEnqueueReadBuffer(queue, m, CL_TRUE, 0, bytes, host, 0, nullptr, nullptr);
  if (rc != CL_SUCCESS) {
    throw std::runtime_error(absl::StrCat("opencl: a staging copy of ", bytes, " bytes: error ", rc));
  }
}

}  // namespace tokenmeter::kernels::opencl

#endif  // TOKENMETER_KERNELS_OPENCL_CL_UTIL_H_
