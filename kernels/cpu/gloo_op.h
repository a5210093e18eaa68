// One collective on Gloo, as both of the cpu backend's runners use it: the
// collective sweep (gloo_collectives.h) and the training step (cpu_step.h).
// For each CollectiveOp: the Gloo algorithm that runs it, what a rank's
// buffers must hold, and the value every output element must then have. One
// table, so an op means the same algorithm and the same check in both.
//
// Algorithms are Gloo's own: gloo::allreduce (ring), gloo::allgather (ring),
// gloo::alltoall (pairwise), gloo::broadcast (binomial tree, root 0),
// gloo::reduce (ring reduce-scatter, then gather to root 0), and for
// reduce-scatter the class gloo::ReduceScatterHalvingDoubling (Gloo 0.5.0 has
// none in its function API), which reduces in place in the input buffer,
// this rank's block landing at its front, and indexes with int.
//
// Checking. Input element i of the rank with index r in its group holds
// (r+1) + (i mod 13): small integers, so fp32 sums over any number of ranks
// up to ~10^6 are exact in any order and every output element has a
// closed-form expected value. Outputs start as NaN so that an element Gloo
// never wrote cannot pass. A rank checks the output elements it owns: count
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
template <typename T>
class ReduceScatterHalvingDoubling;
}  // namespace gloo

namespace tokenmeter::kernels::cpu {

// Input element i of the rank with index `rank` in its group.
inline float CollectiveInputValue(int rank, int64_t i) {
  return static_cast<float>(rank + 1 + i % 13);
}

// Σ_r CollectiveInputValue(r, i) over n ranks: exact in fp32 in any order.
inline float CollectiveSumValue(int n, int64_t i) {
  return static_cast<float>(int64_t{n} * (n + 1) / 2 + int64_t{n} * (i % 13));
}

// Writes CollectiveInputValue(rank, i) to data[i] for i < elements.
void FillCollectiveInput(float* data, int64_t elements, int rank);

// What `op` over `count` elements reads and writes on the rank with index
// `me` of a group of `n` (count divisible by n where the op splits it).
struct GlooOpBuffers {
  int64_t input_elements;   // read from `in`, filled by FillCollectiveInput
  int64_t output_elements;  // written to `out`; 0 for reduce-scatter (in place in `in`)
  int64_t checked_elements;  // output elements this rank owns and checks
};
GlooOpBuffers BuffersOf(CollectiveOp op, int64_t count, int n, int me);

// A group's two contexts: Gloo's function API and its class API must not
// share one (docs/building.md "Gloo": mixing them made later calls 100x slower).
struct GlooGroup {
  std::shared_ptr<gloo::Context> function_api;  // every op but reduce-scatter
  std::shared_ptr<gloo::Context> class_api;     // reduce-scatter only
  int size = 1;
  int me = 0;
};

// The blocking call that runs `op` once over `in` and `out` (sized per
// BuffersOf), tagged `tag`. Reduce-scatter runs *reduce_scatter, made here on
// first use over `in` (the caller keeps it: a class-API algorithm takes
// context slots when made, so every rank makes its ones in the same order).
// Throws what Gloo throws.
std::function<void()> MakeGlooCall(CollectiveOp op, const GlooGroup& group, float* in, float* out,
                                   int64_t count, uint32_t tag,
                                   std::unique_ptr<gloo::ReduceScatterHalvingDoubling<float>>* reduce_scatter);

// How many of this rank's checked output elements (out, or the front of `in`
// for reduce-scatter) do not hold their expected value after one run of `op`
// over freshly filled inputs.
int64_t CountWrongOutputs(CollectiveOp op, const float* in, const float* out, int64_t count, int n, int me);

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_GLOO_OP_H_
