// The cpu backend's elementwise pass: one operator between the matmuls as an
// eager framework's CPU kernel runs it (PyTorch eager on OpenBLAS, measured
// in docs/benchmarks.md, "The train step against PyTorch"). Three things make
// such an operator cost what it does on a CPU, and the pass does all three:
//   - it writes a new output, out of place (z = a·x + y, not y += a·x): the
//     core reads each output line before writing it, a quarter more traffic
//     (an operator in place, as AdamW's updates and masked_fill_, does not);
//   - it runs on one thread: an eager operator gets little from a second
//     one on a memory-bound core (torch.add at 25.9 GB/s on one thread,
//     28.2 on two, on the 2-vCPU VM);
//   - it computes what the operator computes: an exponential per element for
//     ElementwiseMath::kExp, vectorised as the framework's own is (Sleef
//     there, glibc's libmvec here);
// and an output larger than the system allocator's mapping threshold is
// fresh memory each time: mapped, faulted in and zeroed page by page, then
// unmapped when freed.
#ifndef TOKENMETER_KERNELS_CPU_EAGER_PASS_H_
#define TOKENMETER_KERNELS_CPU_EAGER_PASS_H_

#include <cstdint>

#include "kernels/step.h"

namespace tokenmeter::kernels::cpu {

// glibc's malloc serves a request of this size or more with a fresh mapping
// and unmaps it on free, however its dynamic mmap threshold has adapted: the
// threshold's ceiling on 64-bit hosts (DEFAULT_MMAP_THRESHOLD_MAX), which a
// chunk of such a request exceeds once malloc's header is added, so the
// threshold is never raised past it. Smaller freed blocks are reused once it
// has adapted. PyTorch's CPU allocator is posix_memalign: a 1024 × 8192 fp32
// tensor (exactly 32 MiB) faulted 8,193 pages per allocation, measured.
inline constexpr int64_t kFreshMappingBytes = int64_t{32} << 20;

// z[i] = a·x[i] + y[i] (kMemory) or exp(a·x[i]) + y[i] (kExp), i < n, on the
// calling thread. z may be y (an op in place); x overlaps neither.
void RunEagerPass(ElementwiseMath math, const float* x, const float* y, float* z, int64_t n,
                  float a);

// Maps `count` anonymous regions of `bytes` one after another, writes one
// byte per page of each (the kernel faults it in and zeroes it) and unmaps
// it: what an allocation of kFreshMappingBytes or more costs before its operator
// writes it. Throws std::bad_alloc when a mapping fails.
void TouchFreshTensors(int64_t bytes, int count);

// Whether an op's new tensors of `bytes` are fresh mappings.
inline bool IsFreshMapping(int64_t bytes) { return bytes >= kFreshMappingBytes; }

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_EAGER_PASS_H_
