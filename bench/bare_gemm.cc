// The reference tokenmeter's GEMM figures are held to: a bare OpenBLAS loop,
// timed the same way (steady_clock around each cblas_sgemm after warm-up).
// usage: bare_gemm THREADS WARMUP ITERATIONS M N K [M N K ...]
// prints one line per shape: m n k median_seconds tflops
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

extern "C" void openblas_set_num_threads(int);

int main(int argc, char** argv) {
  if (argc < 7 || (argc - 4) % 3 != 0) {
    std::fprintf(stderr, "usage: bare_gemm THREADS WARMUP ITERATIONS M N K [M N K ...]\n");
    return 2;
  }
  openblas_set_num_threads(std::atoi(argv[1]));
  const int warmup = std::atoi(argv[2]);
  const int iterations = std::atoi(argv[3]);
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int i = 4; i < argc; i += 3) {
    const long m = std::atol(argv[i]), n = std::atol(argv[i + 1]), k = std::atol(argv[i + 2]);
    std::vector<float> a(m * k), b(k * n), c(m * n);
    for (auto& x : a) x = dist(rng);
    for (auto& x : b) x = dist(rng);
    std::vector<double> times;
    for (int it = 0; it < warmup + iterations; ++it) {
      const auto start = std::chrono::steady_clock::now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(),
                  n);
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (it >= warmup) times.push_back(t);
    }
    std::sort(times.begin(), times.end());
    const size_t h = times.size() / 2;
    const double median = times.size() % 2 ? times[h] : (times[h - 1] + times[h]) / 2;
    std::printf("%ld %ld %ld %.9g %.9g\n", m, n, k, median, 2.0 * m * n * k / median / 1e12);
  }
  return 0;
}
