#include "kernels/cpu/eager_pass.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <new>

// Built with -O3 -ffast-math -fopenmp-simd (kernels/cpu/CMakeLists.txt, this
// file only): GCC then vectorises std::exp through libmvec, and compiles one
// clone of each loop per instruction set, picked at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TOKENMETER_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TOKENMETER_CLONES
#endif
// GCC needs the simd pragma to call libmvec; clang (the fuzz and
// thread-safety builds) warns that it cannot honour it, so it is GCC's only.
#if defined(__GNUC__) && !defined(__clang__)
#define TOKENMETER_SIMD _Pragma("omp simd")
#else
#define TOKENMETER_SIMD
#endif

namespace tokenmeter::kernels::cpu {
namespace {

TOKENMETER_CLONES void AxpyOutOfPlace(const float* __restrict x, const float* __restrict y,
                                      float* __restrict z, int64_t n, float a) {
TOKENMETER_SIMD
  for (int64_t i = 0; i < n; ++i) z[i] = a * x[i] + y[i];
}

TOKENMETER_CLONES void AxpyInPlace(const float* __restrict x, float* __restrict y, int64_t n,
                                   float a) {
TOKENMETER_SIMD
  for (int64_t i = 0; i < n; ++i) y[i] = a * x[i] + y[i];
}

TOKENMETER_CLONES void ExpInPlace(const float* __restrict x, float* __restrict y, int64_t n,
                                  float a) {
TOKENMETER_SIMD
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(a * x[i]) + y[i];
}

TOKENMETER_CLONES void ExpOutOfPlace(const float* __restrict x, const float* __restrict y,
                                     float* __restrict z, int64_t n, float a) {
TOKENMETER_SIMD
  for (int64_t i = 0; i < n; ++i) z[i] = std::exp(a * x[i]) + y[i];
}

}  // namespace

void RunEagerPass(ElementwiseMath math, const float* x, const float* y, float* z, int64_t n,
                  float a) {
  const bool exp = math == ElementwiseMath::kExp;
  if (z == y) {
    exp ? ExpInPlace(x, z, n, a) : AxpyInPlace(x, z, n, a);
  } else {
    exp ? ExpOutOfPlace(x, y, z, n, a) : AxpyOutOfPlace(x, y, z, n, a);
  }
}

void TouchFreshTensors(int64_t bytes, int count) {
  static const int64_t page = sysconf(_SC_PAGESIZE);
  const auto length = static_cast<size_t>(bytes);
  for (int i = 0; i < count; ++i) {
    void* mapped = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) throw std::bad_alloc();
    auto* bytes_of = static_cast<volatile char*>(mapped);
    for (int64_t offset = 0; offset < bytes; offset += page) bytes_of[offset] = 1;
    munmap(mapped, length);
  }
}

}  // namespace tokenmeter::kernels::cpu
