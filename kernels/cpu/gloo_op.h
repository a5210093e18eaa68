// One collective on Gloo, as both of the cpu backend's runners use it: the
// collective sweep (gloo_collectives.h) and the training step (cpu_step.h).
// For each CollectiveOp: the Gloo algorithm that runs it, what a rank's
// buffers must hold, and the value every output element must then have. One
// table, so an op means the same algorithm and the same check in both.
//
// Algorithms are Gloo's own, but for one: gloo::allreduce (ring),
// gloo::allgather (ring), gloo::alltoall (pairwise), gloo::broadcast
// (binomial tree, root 0), gloo::reduce (ring reduce-scatter, then gather to
// root 0); reduce-scatter is RingReduceScatter (gloo_reduce_scatter.h) on
// Gloo's transport, since Gloo's own corrupts results at 2 ranks. All run on
// one context per group (Gloo's function API), out of place.
//
// Checking. Input element i of the rank with index r in its group, in round
// t, holds (r+1) + ((i+t) mod 13): small integers, so fp32 sums over any number of ranks
// up to ~10^6 are exact in any order and every output element has a
// closed-form expected value. Outputs start as NaN so that an element Gloo
// never wrote cannot pass; a caller that checks call after call on the same
// output alternates the round, so an element a call left unwritten holds
// the previous round's value and fails too. A rank checks the output elements it owns: count
// for all-reduce, all-gather, all-to-all and broadcast; count/n for
// reduce-scatter; count on the root and none elsewhere for reduce.
#ifndef TOKENMETER_KERNELS_CPU_GLOO_OP_H_
#define TOKENMETER_KERNELS_CPU_GLOO_OP_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "kernels/types.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace tokenmeter::kernels::cpu {

// Input element i of the rank with index `rank` in its group, in `round`.
inline float CollectiveInputValue(int rank, int64_t i, int round = 0) {
  return static_cast<float>(rank + 1 + (i + round) % 13);
}

// Σ_r CollectiveInputValue(r, i, round) over n ranks: exact in fp32 in any order.
inline float CollectiveSumValue(int n, int64_t i, int round = 0) {
  return static_cast<float>(int64_t{n} * (n + 1) / 2 + int64_t{n} * ((i + round) % 13));
}

// Writes CollectiveInputValue(rank, i, round) to data[i] for i < elements.
void FillCollectiveInput(float* data, int64_t elements, int rank, int round = 0);

// What `op` over `count` elements reads and writes on the rank with index
// `me` of a group of `n` (count divisible by n where the op splits it).
struct GlooOpBuffers {
  int64_t input_elements;   // read from `in`, filled by FillCollectiveInput
  int64_t output_elements;  // written to `out`
  int64_t checked_elements;  // output elements this rank owns and checks
  int64_t scratch_elements;  // held by the call MakeGlooCall makes
  // The op reads and writes one buffer: `out` is `in` (all-reduce, as c10d's
  // and nccl-tests' in-place runs: an out-of-place gloo::allreduce first
  // copies its input, a pass over the buffer that no framework pays).
  bool in_place = false;
};
GlooOpBuffers BuffersOf(CollectiveOp op, int64_t count, int n, int me);

// A group's context (Gloo's function API) and this rank's index in it.
struct GlooGroup {
  std::shared_ptr<gloo::Context> context;
  int size = 1;
  int me = 0;
};

// The blocking call that runs `op` once over `in` and `out` (sized per
// BuffersOf; for an in-place op, out == in), tagged `tag`; the call owns any scratch it needs, allocated
// here. Throws what Gloo throws.
std::function<void()> MakeGlooCall(CollectiveOp op, const GlooGroup& group, float* in, float* out,
                                   int64_t count, uint32_t tag);

// How many of this rank's checked output elements do not hold their expected
// value after one run of `op` over inputs filled for `round`.
int64_t CountWrongOutputs(CollectiveOp op, const float* out, int64_t count, int n, int me,
                          int round = 0);

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_GLOO_OP_H_
