#include "kernels/cuda/cuda_gemm.h"

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/device_kernels.h"

namespace tokenmeter::kernels::cuda {
namespace {

// How one dtype is stored and computed (see cuda_gemm.h), and its check.
struct DTypeRecipe {
  cudaDataType_t in_type;
  cudaDataType_t out_type;
  cublasComputeType_t compute;
  ElemType in_elem;
  ElemType out_elem;
  int64_t in_bytes;
  int64_t out_bytes;
  bool round_inputs_to_tf32;
  // Unit roundoff of the output type: the result is rounded once to it.
  double out_unit_roundoff;
  // Extra error allowed relative to S = Σ|a·b| beyond fp32 accumulation.
  double extra_sum_rel;
};

DTypeRecipe RecipeFor(DType dtype) {
  switch (dtype) {
    case DType::kFp32:
      return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, ElemType::kF32, ElemType::kF32, 4, 4,
              false, 0x1p-24, 0};
    case DType::kTf32:
      return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, ElemType::kF32, ElemType::kF32,
              4, 4, true, 0x1p-24, 0};
    case DType::kFp16:
      return {CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, ElemType::kF16, ElemType::kF16, 2, 2,
              false, 0x1p-11, 0};
    case DType::kBf16:
      return {CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, ElemType::kBf16, ElemType::kBf16, 2, 2,
              false, 0x1p-8, 0};
    case DType::kFp8E4M3:
      // Hopper's fp8 tensor cores accumulate with ~14 significant bits inside
      // a k-chunk before cuBLASLt promotes to fp32 (DeepSeek-V3 report, §3.3);
      // 2^-9·S bounds that with margin and still fails any wrong layout.
      return {CUDA_R_8F_E4M3, CUDA_R_16BF, CUBLAS_COMPUTE_32F, ElemType::kFp8E4M3, ElemType::kBf16,
              1, 2, false, 0x1p-8, 0x1p-9};
  }
  return {};
}

// Tolerance model (why these numbers). The fill kernel writes inputs already
// rounded to the storage type (tf32 inputs to 10 mantissa bits), so cuBLASLt
// and the reference read identical values; every product a·b is exact in
// fp32 for fp16/bf16/tf32/fp8 (≤ 11+11 significant bits) and off by at most
// u32·|a·b| for fp32 (covered by the doubling below). What remains:
//  1. fp32 accumulation in some order/tree: |err| <= (k−1)·u32·S with
//     S = Σ|a·b| (the classical worst-case bound for any summation order);
//     doubled, because tensor cores truncate rather than round inside an MMA.
//  2. one rounding of the result to the output type: <= u_out·|ref|.
//  3. fp8 only: reduced-precision accumulation (extra_sum_rel above).
//  4. split-K whose partial sums are kept in the output type (the algorithm
//     the heuristic chose, SplitKRoundsInOutputType): each of the split_k
//     partial sums is rounded to it, and so is each step of their reduction:
//     <= split_k·u_out·S more.
// So tol = u_out·|ref| + (2·k·2^-24 + extra [+ split_k·u_out])·S + 1e-6. For
// uniform[-1,1) data |ref| ~ √k/3 and S ~ k/4: at k = 8192 bf16 allows
// ~0.2 + 1 (+ 8 per split) while a wrong element is off by ~30, so the check
// still bites.
GemmCheckParams CheckParamsFor(const PreparedGemm& gemm, const DTypeRecipe& r, uint64_t seed) {
  const GemmProblem& p = gemm.problem;
  GemmCheckParams c;
  c.m = p.m;
  c.n = p.n;
  c.k = p.k;
  c.in_type = r.in_elem;
  c.out_type = r.out_elem;
  c.out_rel = r.out_unit_roundoff;
  c.sum_rel = 2.0 * static_cast<double>(p.k) * 0x1p-24 + r.extra_sum_rel;
  if (SplitKRoundsInOutputType(gemm)) {
    c.sum_rel += static_cast<double>(gemm.split_k) * r.out_unit_roundoff;
  }
  c.abs_floor = 1e-6;
  c.max_checked = CublasLtGemm::kMaxCheckedElements;
  c.seed = seed;
  return c;
}

uint64_t FreshSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

std::string Shape(const GemmProblem& p) {
  return absl::StrCat(p.m, "x", p.n, "x", p.k, " ", std::string(DTypeName(p.dtype)));
}

// `what`: which of cuBLASLt's matrices ("A" is the caller's B when the
// layout swaps the operands).
absl::StatusOr<LtLayout> MakeLayout(cudaDataType_t type, const LtMatrix& m, const char* what) {
  cublasLtMatrixLayout_t raw = nullptr;
  TM_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&raw, type, static_cast<uint64_t>(m.rows),
                                                       static_cast<uint64_t>(m.cols), m.ld),
                            "cublasLtMatrixLayoutCreate for ", what);
  return LtLayout(raw);
}

using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, LtDescDeleter>;

}  // namespace

bool SplitKRoundsInOutputType(const PreparedGemm& gemm) {
  return gemm.split_k > 1 && (gemm.reduction_scheme & (CUBLASLT_REDUCTION_SCHEME_INPLACE |
                                                       CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE)) != 0;
}

std::string ReductionSchemeName(uint32_t scheme) {
  switch (scheme) {
    case CUBLASLT_REDUCTION_SCHEME_NONE: return "none";
    case CUBLASLT_REDUCTION_SCHEME_INPLACE: return "inplace";
    case CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE: return "compute_type";
    case CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE: return "output_type";
  }
  return absl::StrCat("0x", absl::Hex(scheme));
}

GemmOperandSizes GemmOperands(const GemmProblem& problem) {
  const DTypeRecipe r = RecipeFor(problem.dtype);
  GemmOperandSizes s;
  s.in_elem = r.in_elem;
  s.round_inputs_to_tf32 = r.round_inputs_to_tf32;
  const bool overflow = __builtin_mul_overflow(problem.m, problem.k, &s.a_elems) ||
                        __builtin_mul_overflow(problem.k, problem.n, &s.b_elems) ||
                        __builtin_mul_overflow(problem.m, problem.n, &s.c_elems);
  s.a_bytes = overflow ? -1 : CheckedBytes(s.a_elems, r.in_bytes);
  s.b_bytes = overflow ? -1 : CheckedBytes(s.b_elems, r.in_bytes);
  s.c_bytes = overflow ? -1 : CheckedBytes(s.c_elems, r.out_bytes);
  return s;
}

absl::StatusOr<std::unique_ptr<CublasLtGemm>> CublasLtGemm::Create(int device_index,
                                                                   const DeviceDescription& device,
                                                                   cudaStream_t stream) {
  std::unique_ptr<CublasLtGemm> gemm(new CublasLtGemm(device_index, device, stream));
  TM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&gemm->cc_major_, cudaDevAttrComputeCapabilityMajor,
                                                 device_index),
                          "cudaDeviceGetAttribute(compute capability) on device ", device_index);
  TM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&gemm->cc_minor_, cudaDevAttrComputeCapabilityMinor,
                                                 device_index),
                          "cudaDeviceGetAttribute(compute capability) on device ", device_index);
  TM_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&gemm->handle_), "cublasLtCreate on device ",
                            device_index);
  if (absl::Status s = gemm->workspace_.Allocate(kWorkspaceBytes, "cuBLASLt workspace"); !s.ok()) {
    return s;
  }
  return gemm;
}

CublasLtGemm::~CublasLtGemm() {
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

bool CublasLtGemm::Supports(DType dtype) const {
  if (dtype == DType::kFp8E4M3) return cc_major_ * 10 + cc_minor_ >= 89;
  return true;
}

absl::Status CublasLtGemm::Validate(const GemmProblem& problem) const {
  if (problem.m <= 0 || problem.n <= 0 || problem.k <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gemm sizes must be positive: m=", problem.m, " n=", problem.n, " k=", problem.k));
  }
  if (!Supports(problem.dtype)) {
    return absl::UnimplementedError(absl::StrCat(
        "backend cuda does not support gemm in ", std::string(DTypeName(problem.dtype)), " on device ",
        device_index_, " (", device_.model, ", compute capability ", device_.compute_capability,
        "): it needs compute capability >= 8.9"));
  }
  if (problem.dtype == DType::kFp8E4M3 &&
      (problem.m % 16 != 0 || problem.n % 16 != 0 || problem.k % 16 != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gemm in fp8_e4m3 needs m, n and k to be multiples of 16 (cuBLASLt's 16-byte operand "
        "alignment), got ", Shape(problem)));
  }
  return absl::OkStatus();
}

absl::StatusOr<const PreparedGemm*> CublasLtGemm::Prepare(const GemmProblem& problem,
                                                          GemmStorage storage) {
  if (problem.dtype == DType::kFp8E4M3) {
    storage = Fp8Storage(storage, Fp8NeedsTn(cc_major_, cc_minor_));
  }
  const auto key = std::make_tuple(problem.m, problem.n, problem.k, problem.dtype,
                                   storage.row_major, storage.transpose_a, storage.transpose_b);
  if (auto it = prepared_.find(key); it != prepared_.end()) return it->second.get();
  if (absl::Status s = Validate(problem); !s.ok()) return s;
  const DTypeRecipe r = RecipeFor(problem.dtype);
  auto p = std::make_unique<PreparedGemm>();
  p->problem = problem;
  p->shape = Shape(problem);
  p->storage = storage;
  p->layout = LayoutFor(problem.m, problem.n, problem.k, storage);
  const std::string& shape = p->shape;
  const LtGemmLayout& l = p->layout;

  // Descriptors (gemm_layout.h).
  cublasLtMatmulDesc_t raw_desc = nullptr;
  TM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&raw_desc, r.compute, CUDA_R_32F),
                            "cublasLtMatmulDescCreate for gemm ", shape);
  p->desc.reset(raw_desc);
  const cublasOperation_t trans_a = l.transa ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t trans_b = l.transb ? CUBLAS_OP_T : CUBLAS_OP_N;
  TM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(p->desc.get(), CUBLASLT_MATMUL_DESC_TRANSA,
                                                           &trans_a, sizeof(trans_a)),
                            "setting TRANSA for gemm ", shape);
  TM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(p->desc.get(), CUBLASLT_MATMUL_DESC_TRANSB,
                                                           &trans_b, sizeof(trans_b)),
                            "setting TRANSB for gemm ", shape);
  absl::StatusOr<LtLayout> a_layout = MakeLayout(r.in_type, l.a, "A");
  if (!a_layout.ok()) return a_layout.status();
  absl::StatusOr<LtLayout> b_layout = MakeLayout(r.in_type, l.b, "B");
  if (!b_layout.ok()) return b_layout.status();
  absl::StatusOr<LtLayout> c_layout = MakeLayout(r.out_type, l.c, "C");
  if (!c_layout.ok()) return c_layout.status();
  p->a_layout = *std::move(a_layout);
  p->b_layout = *std::move(b_layout);
  p->c_layout = *std::move(c_layout);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  TM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&raw_pref),
                            "cublasLtMatmulPreferenceCreate");
  Preference pref(raw_pref);
  const size_t workspace_bytes = workspace_.bytes();
  TM_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace_bytes, sizeof(workspace_bytes)),
      "setting max workspace");
  int found = 0;
  TM_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulAlgoGetHeuristic(handle_, p->desc.get(), p->a_layout.get(), p->b_layout.get(),
                                     p->c_layout.get(), p->c_layout.get(), pref.get(), 1,
                                     &p->heuristic, &found),
      "cublasLtMatmulAlgoGetHeuristic for gemm ", shape, " on ", device_.model);
  if (found == 0) {
    return absl::UnimplementedError(absl::StrCat("cuBLASLt has no algorithm for gemm ", shape,
                                                 " (", l.Name(), " layout) on ", device_.model));
  }
  // The default preference allows every reduction scheme, so split-K may
  // round partial sums in C's type: the check must know (CheckParamsFor).
  auto read_config = [&](cublasLtMatmulAlgoConfigAttributes_t attr, auto* value,
                         const char* name) -> absl::Status {
    size_t written = 0;
    TM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulAlgoConfigGetAttribute(&p->heuristic.algo, attr, value,
                                                                   sizeof(*value), &written),
                              "reading ", name, " of cuBLASLt's algorithm for gemm ", shape);
    return absl::OkStatus();
  };
  for (absl::Status s :
       {read_config(CUBLASLT_ALGO_CONFIG_ID, &p->algo_id, "CUBLASLT_ALGO_CONFIG_ID"),
        read_config(CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &p->split_k, "CUBLASLT_ALGO_CONFIG_SPLITK_NUM"),
        read_config(CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &p->reduction_scheme,
                    "CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME")}) {
    if (!s.ok()) return s;
  }
  const PreparedGemm* out = p.get();
  prepared_.emplace(key, std::move(p));
  return out;
}

cublasStatus_t CublasLtGemm::Enqueue(const PreparedGemm& gemm, const void* a, const void* b,
                                     void* c) {
  const float alpha = 1.0f, beta = 0.0f;
  if (gemm.layout.swap_operands) std::swap(a, b);
  return cublasLtMatmul(handle_, gemm.desc.get(), &alpha, a, gemm.a_layout.get(), b,
                        gemm.b_layout.get(), &beta, c, gemm.c_layout.get(), c,
                        gemm.c_layout.get(), &gemm.heuristic.algo, workspace_.get(),
                        workspace_.bytes(), stream_);
}

absl::StatusOr<GemmRun> CublasLtGemm::Run(const GemmProblem& problem, const IterationPlan& plan,
                                          const std::atomic<bool>* stop) {
  const std::string shape = Shape(problem);
  if (absl::Status s = Validate(problem); !s.ok()) return s;
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  const DTypeRecipe r = RecipeFor(problem.dtype);

  // Size check before any allocation.
  const GemmOperandSizes sizes = GemmOperands(problem);
  const int64_t a_elems = sizes.a_elems, b_elems = sizes.b_elems;
  const int64_t a_bytes = sizes.a_bytes, b_bytes = sizes.b_bytes, c_bytes = sizes.c_bytes;
  size_t free_bytes = 0, total_bytes = 0;
  TM_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo on device ",
                          device_index_);
  int64_t needed = -1;
  if (a_bytes >= 0 && b_bytes >= 0 && c_bytes >= 0 &&
      !__builtin_add_overflow(a_bytes, b_bytes, &needed) &&
      !__builtin_add_overflow(needed, c_bytes, &needed)) {
    // needed holds A + B + C.
  } else {
    needed = -1;
  }
  if (needed < 0 || needed + kHeadroomBytes > static_cast<int64_t>(free_bytes)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "gemm ", shape, " needs ",
        needed < 0 ? std::string("more than 2^63") : absl::StrCat(needed), " bytes of device memory (A ",
        a_bytes, ", B ", b_bytes, ", C ", c_bytes, ", plus ", kHeadroomBytes,
        " headroom) but device ", device_index_, " (", device_.model, ") has ", free_bytes,
        " bytes free of ", total_bytes));
  }

  DeviceBuffer a, b, c, check;
  if (absl::Status s = a.Allocate(a_bytes, absl::StrCat("gemm A of ", shape)); !s.ok()) return s;
  if (absl::Status s = b.Allocate(b_bytes, absl::StrCat("gemm B of ", shape)); !s.ok()) return s;
  if (absl::Status s = c.Allocate(c_bytes, absl::StrCat("gemm C of ", shape)); !s.ok()) return s;
  if (absl::Status s = check.Allocate(sizeof(GemmCheckResult), "gemm check result"); !s.ok()) {
    return s;
  }
  TM_CUDA_RETURN_IF_ERROR(LaunchFillUniform(a.get(), r.in_elem, a_elems, FreshSeed(),
                                            r.round_inputs_to_tf32, stream_),
                          "filling A of gemm ", shape);
  TM_CUDA_RETURN_IF_ERROR(LaunchFillUniform(b.get(), r.in_elem, b_elems, FreshSeed(),
                                            r.round_inputs_to_tf32, stream_),
                          "filling B of gemm ", shape);

  absl::StatusOr<const PreparedGemm*> prepared = Prepare(problem);
  if (!prepared.ok()) return prepared.status();
  auto matmul = [&]() { return Enqueue(**prepared, a.get(), b.get(), c.get()); };

  // Check once, on the first product.
  TM_CUBLAS_RETURN_IF_ERROR(matmul(), "cublasLtMatmul for gemm ", shape);
  const uint64_t check_seed = FreshSeed();
  TM_CUDA_RETURN_IF_ERROR(
      LaunchGemmCheck(a.get(), b.get(), c.get(), CheckParamsFor(**prepared, r, check_seed),
                      static_cast<GemmCheckResult*>(check.get()), stream_),
      "launching the reference check of gemm ", shape);
  GemmCheckResult result{};
  TM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(&result, check.get(), sizeof(result),
                                          cudaMemcpyDeviceToHost, stream_),
                          "copying the check result of gemm ", shape);
  TM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "gemm ", shape, " (first run and check)");
  GemmRun run;
  run.verified = result.checked > 0;
  float max_error = 0;
  static_assert(sizeof(max_error) == sizeof(result.max_error_bits));
  __builtin_memcpy(&max_error, &result.max_error_bits, sizeof(max_error));
  run.max_error = max_error;
  run.wrong_elements = static_cast<int64_t>(result.wrong);

  // Warm-up, then each timed iteration between its own pair of events.
  IterationTimer timer;
  if (absl::Status s = timer.Create(plan.timed); !s.ok()) return s;
  // Nothing of this stream may be in flight when the buffers are freed.
  auto stopped = [&](const std::string& where) -> absl::Status {
    TM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "gemm ", shape, " (stopping)");
    return StoppedError(absl::StrCat(where, " of gemm ", shape));
  };
  for (int i = 0; i < plan.warmup; ++i) {
    if (StopRequested(stop)) return stopped(absl::StrCat("warm-up call ", i));
    TM_CUBLAS_RETURN_IF_ERROR(matmul(), "cublasLtMatmul (warm-up) for gemm ", shape);
  }
  for (int i = 0; i < plan.timed; ++i) {
    if (StopRequested(stop)) return stopped(absl::StrCat("timed call ", i));
    TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(timer.start(i), stream_), "cudaEventRecord");
    TM_CUBLAS_RETURN_IF_ERROR(matmul(), "cublasLtMatmul (timed) for gemm ", shape);
    TM_CUDA_RETURN_IF_ERROR(cudaEventRecord(timer.stop(i), stream_), "cudaEventRecord");
  }
  TM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "gemm ", shape, " (timed iterations)");
  if (absl::Status s = timer.Read(&run.iteration_seconds); !s.ok()) return s;
  return run;
}

}  // namespace tokenmeter::kernels::cuda
