#include "kernels/cpu/cpu_gemm.h"

#include <cblas.h>

#include <chrono>
#include <climits>
#include <limits>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/gemm_check.h"

namespace tokenmeter::kernels::cpu {
namespace {

// splitmix64: fast enough to fill GiB-sized operands in well under a second
// per GiB, which std::mt19937 + uniform_real_distribution is not.
class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed) {}
  // Uniform in [-1, 1) on a 2^-23 grid.
  float NextSymmetricUnit() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<float>(static_cast<int64_t>(z >> 40) - (int64_t{1} << 23)) * 0x1p-23f;
  }

 private:
  uint64_t state_;
};

// a*b + c*d + e*f with overflow reported as INT64_MAX.
int64_t SaturatingElements(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f) {
  int64_t ab, cd, ef, sum;
  if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(c, d, &cd) ||
      __builtin_mul_overflow(e, f, &ef) || __builtin_add_overflow(ab, cd, &sum) ||
      __builtin_add_overflow(sum, ef, &sum)) {
    return std::numeric_limits<int64_t>::max();
  }
  return sum;
}

void Sgemm(const GemmProblem& p, const float* a, const float* b, float* c) {
  const auto m = static_cast<blasint>(p.m), n = static_cast<blasint>(p.n),
             k = static_cast<blasint>(p.k);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}

void Fill(float* data, int64_t count, uint64_t seed) { FillSymmetricUnit(data, count, seed); }

}  // namespace

uint64_t FreshSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

void FillSymmetricUnit(float* data, int64_t count, uint64_t seed) {
  FastRandom random(seed);
  for (int64_t i = 0; i < count; ++i) data[i] = random.NextSymmetricUnit();
}

void StepGemm(const StepOp& op, const float* a, const float* b, float* c) {
  const auto m = static_cast<blasint>(op.m), n = static_cast<blasint>(op.n),
             k = static_cast<blasint>(op.k);
  // Row-major: a leading dimension is the stored row's length, so a
  // transposed operand's is the other dimension of the product.
  const blasint lda = op.transpose_a ? m : k;
  const blasint ldb = op.transpose_b ? k : n;
  const CBLAS_TRANSPOSE trans_a = op.transpose_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE trans_b = op.transpose_b ? CblasTrans : CblasNoTrans;
  cblas_sgemm(CblasRowMajor, trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
}

bool CpuGemmSupports(DType dtype) { return dtype == DType::kFp32; }

int64_t CpuGemmBytes(const GemmProblem& p) {
  int64_t elements = SaturatingElements(p.m, p.k, p.k, p.n, p.m, p.n);
  int64_t bytes;
  if (__builtin_mul_overflow(elements, int64_t{sizeof(float)}, &bytes) ||
      __builtin_add_overflow(bytes, CheckFp32GemmScratchBytes(p.n, p.k), &bytes)) {
    return std::numeric_limits<int64_t>::max();
  }
  return bytes;
}

absl::StatusOr<GemmRun> RunCpuGemm(const GemmProblem& problem, const IterationPlan& plan,
                                   int threads, const std::atomic<bool>* stop,
                                   std::atomic<int64_t>* iterations_begun) {
  for (auto [name, value] : {std::pair{"m", problem.m}, {"n", problem.n}, {"k", problem.k}}) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("GEMM dimension ", name, " must be positive, got ", value));
    }
    if (value > INT_MAX) {
      return absl::InvalidArgumentError(absl::StrCat("GEMM dimension ", name, " = ", value,
                                                     " exceeds OpenBLAS's 32-bit index (",
                                                     INT_MAX, ")"));
    }
  }
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  if (!CpuGemmSupports(problem.dtype)) {
    return absl::UnimplementedError(
        absl::StrCat("backend cpu does not support GEMM in ", std::string(DTypeName(problem.dtype))));
  }
  const int64_t needed = CpuGemmBytes(problem);
  const int64_t available = HostMemoryAvailableBytes();
  if (needed > available) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "GEMM m=", problem.m, " n=", problem.n, " k=", problem.k, " in fp32 needs ", needed,
        " bytes of host memory (A, B, C and the check's scratch), only ", available, " available"));
  }

  // make_unique_for_overwrite: the fill writes every element, so skip zeroing.
  auto a = std::make_unique_for_overwrite<float[]>(problem.m * problem.k);
  auto b = std::make_unique_for_overwrite<float[]>(problem.k * problem.n);
  auto c = std::make_unique_for_overwrite<float[]>(problem.m * problem.n);
  const uint64_t seed = FreshSeed();
  Fill(a.get(), problem.m * problem.k, seed);
  Fill(b.get(), problem.k * problem.n, seed ^ 0x5bd1e9955bd1e995ULL);

  openblas_set_num_threads(threads);

  GemmRun run;
  Sgemm(problem, a.get(), b.get(), c.get());
  GemmCheckOptions check;
  check.seed = seed;
  GemmCheckResult checked = CheckFp32Gemm(a.get(), b.get(), c.get(), problem.m, problem.n,
                                          problem.k, check);
  run.verified = true;
  run.max_error = checked.max_error;
  run.wrong_elements = checked.wrong_elements;

  for (int i = 0; i < plan.warmup; ++i) {
    if (StopRequested(stop)) return StoppedError(absl::StrCat("GEMM warm-up call ", i));
    NoteIterationBegun(iterations_begun);
    Sgemm(problem, a.get(), b.get(), c.get());
  }
  run.iteration_seconds.reserve(plan.timed);
  for (int i = 0; i < plan.timed; ++i) {
    if (StopRequested(stop)) return StoppedError(absl::StrCat("GEMM timed call ", i));
    NoteIterationBegun(iterations_begun);
    const auto start = std::chrono::steady_clock::now();
    Sgemm(problem, a.get(), b.get(), c.get());
    const auto end = std::chrono::steady_clock::now();
    run.iteration_seconds.push_back(std::chrono::duration<double>(end - start).count());
  }
  return run;
}

}  // namespace tokenmeter::kernels::cpu
