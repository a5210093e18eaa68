// The memory traffic of a training step's non-matmul operations under each
// framework profile: how many bytes one operation reads and writes, forward
// and backward (docs/workloads.md, "Bytes per operation"). The step plan puts
// each in as an op of its own; the backends run passes that move those bytes.
//
// Bytes count tensors as the framework's operators touch them: each input an
// operator reads once, each output it writes once (an operator's internal
// re-reads, such as softmax's max, sum and normalise sweeps, are its own
// business and not counted). Small per-row vectors (a norm's T rsqrt values,
// a weight of `width` elements) are left out; they are below 1% of every op.
//
// `eager` is PyTorch eager (what torch 1.13 to 2.x run without compilation):
//   norm       RMSNorm as x·rsqrt(mean(x²)+eps)·w: pow, mean, add, rsqrt,
//              mul, mul → 7 tensor accesses per element forward; backward the
//              six operators' gradients and the accumulation of two paths
//              into dx → 19.
//   residual   x + y: 3 (read 2, write 1); backward the accumulation of the
//              gradient of the fork: 3.
//   rotary     q·cos + rotate_half(q)·sin on q and k: mul, neg, cat, mul,
//              add → 10; backward 8.
//   layout     making q, k, v contiguous for bmm (k and v repeated to every
//              query head, GQA's repeat_kv) and the output back: copies,
//              read + write each; backward the same.
//   scores     over the B·H·s² scores, each its own op: scale (2 accesses);
//              masked_fill (2, plus 1 byte per element of the bool mask);
//              softmax computed in fp32 as Llama's and Hugging Face's eager
//              code ask (`softmax(x, dtype=float32)`): read a, write 4, and
//              for 16-bit activations the cast back (read 4, write a).
//              Backward: mul (2), masked_fill (2 + mask), the gradient's
//              cast up (16-bit: read a, write 4) and softmax_backward (read
//              4 + 4, write a). Per element with a = 4: 8 + 9 + 8 forward,
//              8 + 9 + 12 backward; with a = 2: 8 + 5 + 12 and 8 + 5 + 16.
//   activation gated: silu (2) then mul (3) over the T×f gate → 5; backward
//              mul's two gradients (3 + 3) and silu_backward (3) → 9.
//              Not gated: gelu (2); backward 3.
//   loss       log_softmax (2) + nll over the fp32 T×V logits; backward the
//              zero-filled gradient (1), nll's scatter, log_softmax_backward
//              (3) → 4.
//   optimizer  single-tensor AdamW: mul_ (decay), mul_ + add_ (first
//              moment), mul_ + addcmul_ (second), sqrt, div, add_ (denominator)
//              and addcdiv_ (update): 23 accesses of 4-byte elements per
//              parameter (mixed precision keeps fp32 parameters under autocast)
//              — and autocast casts every matmul weight to 16 bits each
//              forward (read 4, write 2) and its gradient back (read 2,
//              write 4).
// `fused` is a Megatron / torch.compile class stack:
//   norm       fused add + RMSNorm: read x and the residual, write both → 4;
//              backward 4. (The residual add is inside it: no op of its own.)
//   rotary     one kernel on q and k: 2; backward 2.
//   layout     none: the projections write the layout attention reads.
//   scores     none: flash attention never writes the s² scores.
//   activation gated: one swiglu kernel, read 2 write 1 → 3; backward 5.
//              Not gated: 2; backward 3.
//   loss       fused cross entropy: read the logits (1); backward write the
//              gradient in place (2).
//   optimizer  one multi-tensor AdamW pass reading weights, gradients, master
//              weights and both moments and writing them back: 28 bytes per
//              parameter (4-byte elements; 16-bit weights and gradients with
//              fp32 master weights come to the same 28).
// Both: the embedding lookup gathers T rows (read + write, 2 accesses per
// element); its backward zero-fills the V×h gradient and index-adds T rows
// (3 per element), in the gradient's element size; a tied head adds its
// gradient into the embedding's (3 per table element). Mixture-of-experts
// layers permute tokens to their experts and back (read T·h, write T·k·h;
// and the reverse), both profiles.
#ifndef TOKENMETER_WORKLOAD_STEP_PASSES_H_
#define TOKENMETER_WORKLOAD_STEP_PASSES_H_

#include <cstdint>

#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// What an operator computes per element besides moving its bytes. On a GPU
// a pass is bandwidth-bound either way; on a CPU core an exp per element
// (softmax, log-softmax, SiLU and GELU, forward and backward) costs about
// as much again as the bytes.
enum class PassMath { kMemory, kExp };

// The output tensors an operator allocates anew each step, each `bytes`
// (an eager framework allocates every operator's output; a CPU framework gets
// the large ones from the system allocator as fresh pages, docs/workloads.md).
struct NewTensors {
  int64_t bytes = 0;
  int count = 0;
};

// Bytes of one op forward and of its backward (0: the op has none), what it
// computes and what it allocates. The allocation rule: one output tensor of
// the op's main operand each way (the output forward, the input's gradient
// backward); the loss's backward two (the zero-filled gradient nll writes
// into, then log-softmax's); an in-place op (eager's masked_fill_) none.
// Weight casts and the optimizer allocate per parameter tensor, which the
// plan does not list: none are counted for them.
struct PassBytes {
  int64_t forward = 0;
  int64_t backward = 0;
  PassMath forward_math = PassMath::kMemory;
  PassMath backward_math = PassMath::kMemory;
  NewTensors forward_new;
  NewTensors backward_new;
  // Both ways the op updates its operand in place (eager's masked_fill_):
  // no output of its own to write.
  bool in_place = false;
};

// Each takes element counts and the element size in bytes.
PassBytes NormPass(v1::FrameworkProfile profile, int64_t elements, int64_t element_bytes);
// The residual add of eager; {0, 0} under fused (inside the fused norm).
PassBytes ResidualPass(v1::FrameworkProfile profile, int64_t elements, int64_t element_bytes);
// q_elements and k_elements: the rotated part of the queries and keys.
PassBytes RotaryPass(v1::FrameworkProfile profile, int64_t q_elements, int64_t k_elements,
                     int64_t element_bytes);
// Eager's copies for bmm: q (q_elements), k and v (kv_elements each, before
// repetition) repeated `group` times, and the output (out_elements) back.
PassBytes AttentionLayoutPass(v1::FrameworkProfile profile, int64_t q_elements, int64_t k_elements,
                              int64_t v_elements, int64_t group, int64_t out_elements,
                              int64_t element_bytes);
// The three eager passes over the materialised scores, in forward order.
struct ScoresPasses {
  PassBytes scale, mask, softmax;
};
ScoresPasses ScoresPass(v1::FrameworkProfile profile, int64_t score_elements, int64_t element_bytes);
// `elements`: the activation's input width × rows (the gate's T×f when gated).
PassBytes ActivationPass(v1::FrameworkProfile profile, bool gated, int64_t elements,
                         int64_t element_bytes);
// Over `logits` fp32 elements.
PassBytes LossPass(v1::FrameworkProfile profile, int64_t logits);
PassBytes EmbeddingPass(int64_t tokens, int64_t hidden, int64_t vocab, bool tied,
                        int64_t element_bytes);
// Mixture of experts: tokens × hidden in, pairs × hidden out (and back).
PassBytes PermutePass(int64_t token_elements, int64_t pair_elements, int64_t element_bytes);
// The optimizer update of `params` parameters (the same for fp32 and 16-bit
// runs: see `optimizer` above).
int64_t OptimizerBytes(v1::FrameworkProfile profile, double params);
// Eager mixed precision only: autocast's casts of `params` matmul weights
// forward and of their gradients backward; {0, 0} otherwise.
PassBytes WeightCastPass(v1::FrameworkProfile profile, double params, int64_t element_bytes);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_STEP_PASSES_H_
