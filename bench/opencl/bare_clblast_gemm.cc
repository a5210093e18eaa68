// The reference tokenmeter's opencl GEMM figures are held to: the same
// CLBlast SGEMM in a bare loop, on the first OpenCL device, after one
// untimed call (CLBlast compiles its kernels then) and WARMUP more. Each call
// is timed twice: on the device, from the end of a marker before it to the
// end of one after it (tokenmeter's method, kernels/opencl/opencl_backend.h),
// and on the host, steady_clock around the call and a clFinish.
// usage: bare_clblast_gemm WARMUP ITERATIONS M N K [M N K ...]
// prints one line per shape: m n k device_median_s host_median_s device_tflops
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

void Check(cl_int rc, const char* what) {
  if (rc != CL_SUCCESS) {
    std::fprintf(stderr, "bare_clblast_gemm: %s failed (%d)\n", what, rc);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6 || (argc - 3) % 3 != 0) {
    std::fprintf(stderr, "usage: bare_clblast_gemm WARMUP ITERATIONS M N K [M N K ...]\n");
    return 2;
  }
  const int warmup = std::atoi(argv[1]), iterations = std::atoi(argv[2]);
  cl_platform_id platform;
  cl_device_id device;
  Check(clGetPlatformIDs(1, &platform, nullptr), "clGetPlatformIDs");
  Check(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, nullptr), "clGetDeviceIDs");
  cl_int rc;
  cl_context context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &rc);
  Check(rc, "clCreateContext");
  cl_command_queue queue = clCreateCommandQueue(context, device, CL_QUEUE_PROFILING_ENABLE, &rc);
  Check(rc, "clCreateCommandQueue");
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int i = 3; i < argc; i += 3) {
    const size_t m = std::atol(argv[i]), n = std::atol(argv[i + 1]), k = std::atol(argv[i + 2]);
    std::vector<float> a(m * k), b(k * n), c(m * n);
    for (auto& x : a) x = dist(rng);
    for (auto& x : b) x = dist(rng);
    auto buffer = [&](std::vector<float>& v) {
      cl_mem mem = clCreateBuffer(context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, v.size() * sizeof(float),
                                  v.data(), &rc);
      Check(rc, "clCreateBuffer");
      return mem;
    };
    cl_mem da = buffer(a), db = buffer(b), dc = buffer(c);
    std::vector<double> device_s, host_s;
    for (int it = 0; it < 1 + warmup + iterations; ++it) {
      cl_event before, after;
      const auto start = std::chrono::steady_clock::now();
      Check(clEnqueueMarkerWithWaitList(queue, 0, nullptr, &before), "a marker");
      if (clblast::Gemm<float>(clblast::Layout::kRowMajor, clblast::Transpose::kNo, clblast::Transpose::kNo, m, n,
                               k, 1.0f, da, 0, k, db, 0, n, 0.0f, dc, 0, n, &queue, nullptr) !=
          clblast::StatusCode::kSuccess) {
        std::fprintf(stderr, "bare_clblast_gemm: Gemm failed\n");
        return 1;
      }
      Check(clEnqueueMarkerWithWaitList(queue, 0, nullptr, &after), "a marker");
      Check(clFinish(queue), "clFinish");
      const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      cl_ulong t0, t1;
      Check(clGetEventProfilingInfo(before, CL_PROFILING_COMMAND_END, sizeof t0, &t0, nullptr), "profiling");
      Check(clGetEventProfilingInfo(after, CL_PROFILING_COMMAND_END, sizeof t1, &t1, nullptr), "profiling");
      clReleaseEvent(before);
      clReleaseEvent(after);
      if (it > warmup) {
        device_s.push_back((t1 - t0) * 1e-9);
        host_s.push_back(host);
      }
    }
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    const double d = Median(device_s);
    std::printf("%zu %zu %zu %.9g %.9g %.9g\n", m, n, k, d, Median(host_s), 2.0 * m * n * k / d / 1e12);
  }
  clReleaseCommandQueue(queue);
  clReleaseContext(context);
  return 0;
}
