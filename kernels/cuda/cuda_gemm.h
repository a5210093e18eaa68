// GEMM on one GPU through cuBLASLt, with the one-time reference check and
// per-iteration CUDA-event timing that Backend::RunGemm promises.
//
// Layout convention of Run (one for every dtype, because fp8 on Hopper allows
// only this one): column-major, C = op(A)·B with op(A) = Aᵀ ("TN"). In memory:
//   A (m×k): each row contiguous,    A[i,p] = a[i*k + p]  (lda = k)
//   B (k×n): each column contiguous, B[p,j] = b[j*k + p]  (ldb = k)
//   C (m×n): column-major,           C[i,j] = c[j*m + i]  (ldc = m)
// i.e. both operands are K-contiguous, as a transformer's weights and
// activations usually are, and the FLOPs are the same 2·m·n·k. Prepare also
// takes row-major storage with either operand transposed, as the training
// step's ops are stored (GemmStorage, gemm_layout.h); where fp8 takes only TN
// (Fp8NeedsTn) those fp8 GEMMs run as row-major x·Wᵀ, which is TN
// (Fp8Storage says why).
//
// Storage and compute per dtype (scale type fp32, α = 1, β = 0):
//   fp32      A,B,C fp32, CUBLAS_COMPUTE_32F
//   tf32      A,B,C fp32, CUBLAS_COMPUTE_32F_FAST_TF32
//   fp16      A,B,C fp16, CUBLAS_COMPUTE_32F (fp32 accumulation)
//   bf16      A,B,C bf16, CUBLAS_COMPUTE_32F
//   fp8_e4m3  A,B e4m3, C bf16, CUBLAS_COMPUTE_32F, scales left at 1, no fast
//             accumulation; needs compute capability >= 8.9 and m, n, k
//             multiples of 16 (cuBLASLt's 16-byte alignment of fp8 operands).
#ifndef TOKENMETER_KERNELS_CUDA_CUDA_GEMM_H_
#define TOKENMETER_KERNELS_CUDA_CUDA_GEMM_H_

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "kernels/cuda/device_kernels.h"
#include "kernels/cuda/device_resources.h"
#include "kernels/cuda/gemm_layout.h"
#include "kernels/types.h"

namespace tokenmeter::kernels::cuda {

// Owners for cuBLASLt descriptors.
struct LtDescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
  void operator()(cublasLtMatrixLayoutOpaque_t* d) const { cublasLtMatrixLayoutDestroy(d); }
  void operator()(cublasLtMatmulPreferenceOpaque_t* d) const { cublasLtMatmulPreferenceDestroy(d); }
};
using LtMatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, LtDescDeleter>;
using LtLayout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LtDescDeleter>;

// Bytes of each operand of one GEMM in the storage types of cuda_gemm.h's
// table; -1 where the count overflows int64.
struct GemmOperandSizes {
  int64_t a_elems = 0, b_elems = 0, c_elems = 0;
  int64_t a_bytes = 0, b_bytes = 0, c_bytes = 0;
  ElemType in_elem = ElemType::kF32;  // storage type of A and B
  bool round_inputs_to_tf32 = false;  // what LaunchFillUniform needs for A and B
};
GemmOperandSizes GemmOperands(const GemmProblem& problem);

// One GEMM shape, dtype and storage, described and with cuBLASLt's algorithm
// chosen once (CublasLtGemm::Prepare); enqueued any number of times on any
// operands of at least its sizes (256-byte aligned, as cudaMalloc gives).
struct PreparedGemm {
  GemmProblem problem;
  std::string shape;     // "MxNxK dtype", for messages
  GemmStorage storage;   // as run (Fp8Storage may differ from the one asked)
  LtGemmLayout layout;   // what cuBLASLt is told
  LtMatmulDesc desc;
  LtLayout a_layout, b_layout, c_layout;
  cublasLtMatmulHeuristicResult_t heuristic{};
  // The heuristic's choice, read back from heuristic.algo: the check's
  // tolerance depends on how split-K reduces, and reports show it.
  int32_t algo_id = 0;                                          // CUBLASLT_ALGO_CONFIG_ID
  int32_t split_k = 1;                                          // CUBLASLT_ALGO_CONFIG_SPLITK_NUM
  uint32_t reduction_scheme = CUBLASLT_REDUCTION_SCHEME_NONE;  // ..._REDUCTION_SCHEME
};

// Whether `gemm` splits k and keeps the partial sums in C's type (reduction
// scheme INPLACE or OUTPUT_TYPE), so that each is rounded to it (cublasLt.h,
// cublasLtReductionScheme_t); COMPUTE_TYPE keeps them in fp32.
bool SplitKRoundsInOutputType(const PreparedGemm& gemm);

// "none", "inplace", "compute_type", "output_type", else the bits in hex.
std::string ReductionSchemeName(uint32_t scheme);

// Not thread-safe: one thread at a time, with the owning device current.
class CublasLtGemm {
 public:
  // cuBLASLt's workspace: 32 MiB is what NVIDIA recommends for Hopper (and
  // is ample for earlier parts, which ask for 4 MiB).
  static constexpr size_t kWorkspaceBytes = size_t{32} << 20;
  // Device memory left free beyond the operands, for cuBLASLt's internals
  // and the CUDA context's growth.
  static constexpr int64_t kHeadroomBytes = int64_t{256} << 20;
  // Elements of C the reference recomputes: all of C up to this many (2048²),
  // else a sample of this size (4096 tiles of 32×32 at random places).
  static constexpr int64_t kMaxCheckedElements = int64_t{1} << 22;

  // REQUIRES: `device_index` is the current device; `stream` outlives this.
  // `device` is used in messages and for the fp8 capability check.
  static absl::StatusOr<std::unique_ptr<CublasLtGemm>> Create(int device_index,
                                                              const DeviceDescription& device,
                                                              cudaStream_t stream);
  ~CublasLtGemm();

  // Whether this device runs `dtype` (fp8_e4m3 needs compute capability 8.9+).
  bool Supports(DType dtype) const;

  // See Backend::RunGemm. InvalidArgument for non-positive sizes, negative
  // iteration counts or fp8 sizes off the 16-multiple; Unimplemented for a
  // dtype the device lacks or a shape cuBLASLt has no algorithm for;
  // ResourceExhausted (bytes needed and free) before any allocation.
  // `stop` (BackendOptions::stop, may be null) is read before each call is
  // queued (the host blocks there once CUDA's launch queue is full); once
  // set, Run waits for what is queued and returns Aborted.
  absl::StatusOr<GemmRun> Run(const GemmProblem& problem, const IterationPlan& plan,
                              const std::atomic<bool>* stop = nullptr);

  // The descriptors and algorithm of `problem` stored as `storage` (by
  // default Run's convention), looked up once per distinct (m, n, k, dtype,
  // storage run) and cached for this object's life; the pointer stays valid
  // as long as this object. InvalidArgument / Unimplemented as Run.
  absl::StatusOr<const PreparedGemm*> Prepare(const GemmProblem& problem,
                                              GemmStorage storage = {});

  // Enqueues C = op(A)·op(B) of `gemm` on the stream (α = 1, β = 0), A, B
  // and C as the caller stores them, with this object's workspace. Returns
  // the launch status only.
  cublasStatus_t Enqueue(const PreparedGemm& gemm, const void* a, const void* b, void* c);

  // InvalidArgument (sizes, fp8 alignment) / Unimplemented (dtype) for a
  // problem Run would refuse; touches nothing on the device.
  absl::Status Validate(const GemmProblem& problem) const;

 private:

  CublasLtGemm(int device_index, const DeviceDescription& device, cudaStream_t stream)
      : device_index_(device_index), device_(device), stream_(stream) {}

  int device_index_;
  DeviceDescription device_;
  int cc_major_ = 0;
  int cc_minor_ = 0;
  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<std::tuple<int64_t, int64_t, int64_t, DType, bool, bool, bool>,
           std::unique_ptr<PreparedGemm>>
      prepared_;
};

}  // namespace tokenmeter::kernels::cuda

#endif  // TOKENMETER_KERNELS_CUDA_CUDA_GEMM_H_
