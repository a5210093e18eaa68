// GEMM on the CPU through OpenBLAS's cblas_sgemm (fp32 only: the Debian 12
// OpenBLAS declares cblas_sbgemm but does not export it).
#ifndef TOKENMETER_KERNELS_CPU_CPU_GEMM_H_
#define TOKENMETER_KERNELS_CPU_CPU_GEMM_H_

#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"
#include "kernels/step.h"
#include "kernels/types.h"

namespace tokenmeter::kernels::cpu {

// Whether RunCpuGemm accepts dtype (fp32 only).
bool CpuGemmSupports(DType dtype);

// Bytes RunCpuGemm allocates for `problem`: A, B, C and the checker's
// scratch. ResourceExhausted-style overflow gives INT64_MAX.
int64_t CpuGemmBytes(const GemmProblem& problem);

// A seed from std::random_device, for FillSymmetricUnit.
uint64_t FreshSeed();

// Fills data[0, count) with pseudo-random values uniform in [-1, 1) on a
// 2^-23 grid (splitmix64 from `seed`: ~1 s per GiB or better).
void FillSymmetricUnit(float* data, int64_t count, uint64_t seed);

// Runs Backend::RunGemm's contract on the host: fresh random operands in
// [-1, 1), one checked multiplication (gemm_check.h), plan.warmup untimed and
// plan.timed timed calls, each timed with steady_clock around the one
// synchronous cblas_sgemm call.
// InvalidArgument for non-positive sizes (naming m, n or k), sizes over
// OpenBLAS's 32-bit index, or a negative plan; Unimplemented for any dtype but
// fp32; ResourceExhausted when the buffers exceed the host's available memory
// (checked before any allocation).
// `threads` is passed to openblas_set_num_threads, which is process-global:
// it is set again at each call, so ranks that share a process and call in
// turn each get their own count, but ranks running GEMMs concurrently in one
// process would share the last one set (one rank per process avoids this).
// `stop` (BackendOptions::stop, may be null) is read before each call;
// Aborted once it is set. `iterations_begun` (may be null) counts each call.
absl::StatusOr<GemmRun> RunCpuGemm(const GemmProblem& problem, const IterationPlan& plan,
                                   int threads, const std::atomic<bool>* stop = nullptr,
                                   std::atomic<int64_t>* iterations_begun = nullptr);

// One GEMM of a training step (cpu_step.h): C = op(A)·op(B) in fp32, one
// cblas_sgemm call, with the operands stored row-major as StepOp's comment
// says (kernels/step.h): A is m×k, or k×m with transpose_a; B is k×n, or n×k
// with transpose_b; C is m×n. op.count is the caller's (this is one of them).
// Its own function so that the transposes can be tested against a naive
// product: the step runner times GEMMs but does not check them.
// REQUIRES: op.kind is kGemm, with m, n and k in [1, INT_MAX].
void StepGemm(const StepOp& op, const float* a, const float* b, float* c);

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_CPU_GEMM_H_
