// Reduce-scatter on Gloo's transport primitives: a ring, out of place.
//
// Why not Gloo's own: Gloo 0.5.0 has no reduce-scatter in its function API,
// and its class ReduceScatterHalvingDoubling corrupts results at 2 ranks. It
// sends half of its buffer in place; the TCP pair writes what the socket does
// not take later, from the user's buffer; and its distribution phase copies
// the reduced half over that region without waiting for its own send, so the
// peer receives a tail that was already overwritten (docs/building.md, "Known
// defects of the libraries"). Here no buffer is written while a send from it
// may still be in flight: every step waits for its own sends before the
// memory they read is reused.
//
// Algorithm (n ranks, chunk = count / n elements, block b = elements
// [b·chunk, (b+1)·chunk) of the input). n−1 steps; in step s rank r sends the
// partial sum of block (r−s−1) mod n to rank r+1 and receives the partial
// sum of block (r−s−2) mod n from rank r−1, adding its own input block to
// it. Step 0 sends straight from the input; the last step receives into the
// output, which then holds the sum over all ranks of block r. Each rank
// sends and receives (n−1)·chunk elements, the ring's optimum (as nccl's
// ring reduce-scatter). A step's block travels in up to kMaxSegments
// segments, each its own message, so adding a segment overlaps receiving
// the next.
//
// Memory: besides `in` (count) and `out` (chunk), min(n−2, 2)·chunk elements
// of partial sums (none at 2 ranks), owned by this object.
//
// Slots: every message of a run has its own slot, derived from `tag`; runs on
// one context must not overlap in time (Gloo's function-API rule).
#ifndef TOKENMETER_KERNELS_CPU_GLOO_REDUCE_SCATTER_H_
#define TOKENMETER_KERNELS_CPU_GLOO_REDUCE_SCATTER_H_

#include <cstdint>
#include <memory>
#include <vector>

namespace gloo {
class Context;
namespace transport {
class UnboundBuffer;
}
}  // namespace gloo

namespace tokenmeter::kernels::cpu {

// Not thread-safe: one Run at a time, by one thread.
class RingReduceScatter {
 public:
  // The most messages one block is split into, and the smallest segment.
  static constexpr int kMaxSegments = 8;
  static constexpr int64_t kMinSegmentBytes = 256 * 1024;

  // Over `count` fp32 elements of `in` on every rank of `context`, leaving
  // this rank's reduced block (count / size elements) in `out`. `in` is only
  // read. Allocates the partial sums here, never in Run.
  // REQUIRES: count > 0 and divisible by context->size; `in` and `out`
  // outlive this object and do not overlap.
  RingReduceScatter(std::shared_ptr<gloo::Context> context, const float* in, float* out,
                    int64_t count, uint32_t tag);
  ~RingReduceScatter();

  RingReduceScatter(const RingReduceScatter&) = delete;
  RingReduceScatter& operator=(const RingReduceScatter&) = delete;

  // One reduce-scatter; returns once this rank's output is complete and its
  // sends have left the buffers they read. A collective call: every rank of
  // the context runs it. Throws what Gloo throws (a lost peer, the context's
  // timeout), or std::runtime_error when a wait is aborted.
  void Run();

  // Elements of partial sums an instance holds for `count` over `n` ranks.
  static int64_t ScratchElements(int64_t count, int n);

 private:
  // One message's worth of a block: where it lies and its transport handle.
  struct Segment {
    float* data;
    int64_t elements;
    std::unique_ptr<gloo::transport::UnboundBuffer> buffer;
  };
  using Block = std::vector<Segment>;

  Block MakeBlock(float* data);
  uint64_t SlotOf(int step, int segment) const;

  std::shared_ptr<gloo::Context> context_;
  const float* in_;
  float* out_;
  int64_t chunk_;
  int segments_;
  uint64_t slot_base_;
  std::unique_ptr<float[]> partials_;
  std::vector<Block> input_blocks_;  // by block index, sent in step 0
  std::vector<Block> partial_blocks_;  // alternate between steps
  Block output_block_;
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_GLOO_REDUCE_SCATTER_H_
