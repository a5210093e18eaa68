#include "workload/step_passes.h"

#include <algorithm>
#include <cmath>

namespace tokenmeter::workload {
namespace {

bool Eager(v1::FrameworkProfile profile) { return profile == v1::FRAMEWORK_PROFILE_EAGER; }

// `accesses` tensor accesses of `elements` elements of `bytes` each.
int64_t Bytes(int64_t accesses, int64_t elements, int64_t bytes) { return accesses * elements * bytes; }

// Bytes only: memory passes that allocate nothing.
PassBytes Traffic(int64_t forward, int64_t backward) {
  PassBytes pass;
  pass.forward = forward;
  pass.backward = backward;
  return pass;
}

// An op over `elements` that writes one new tensor of them each way.
PassBytes Pass(int64_t forward_accesses, int64_t backward_accesses, int64_t elements, int64_t bytes,
               PassMath math = PassMath::kMemory) {
  PassBytes pass = Traffic(Bytes(forward_accesses, elements, bytes), Bytes(backward_accesses, elements, bytes));
  pass.forward_math = pass.backward_math = math;
  pass.forward_new = pass.backward_new = {elements * bytes, 1};
  return pass;
}

constexpr int64_t kFp32 = 4;

}  // namespace

PassBytes NormPass(v1::FrameworkProfile profile, int64_t elements, int64_t element_bytes) {
  return Eager(profile) ? Pass(7, 19, elements, element_bytes) : Pass(4, 4, elements, element_bytes);
}

PassBytes ResidualPass(v1::FrameworkProfile profile, int64_t elements, int64_t element_bytes) {
  return Eager(profile) ? Pass(3, 3, elements, element_bytes) : PassBytes{};
}

PassBytes RotaryPass(v1::FrameworkProfile profile, int64_t q_elements, int64_t k_elements,
                     int64_t element_bytes) {
  const int64_t elements = q_elements + k_elements;
  return Eager(profile) ? Pass(10, 8, elements, element_bytes) : Pass(2, 2, elements, element_bytes);
}

PassBytes AttentionLayoutPass(v1::FrameworkProfile profile, int64_t q_elements, int64_t k_elements,
                              int64_t v_elements, int64_t group, int64_t out_elements,
                              int64_t element_bytes) {
  if (!Eager(profile)) return {};
  const int64_t accesses =
      2 * q_elements + (1 + group) * (k_elements + v_elements) + 2 * out_elements;
  PassBytes pass = Traffic(accesses * element_bytes, accesses * element_bytes);
  // The largest copy: k or v repeated to every query head.
  const int64_t largest = std::max({q_elements, group * std::max(k_elements, v_elements), out_elements});
  pass.forward_new = pass.backward_new = {largest * element_bytes, 1};
  return pass;
}

ScoresPasses ScoresPass(v1::FrameworkProfile profile, int64_t score_elements, int64_t element_bytes) {
  if (!Eager(profile)) return {};
  const int64_t a = element_bytes;
  constexpr int64_t kMaskBytes = 1;  // the bool causal mask, read beside the scores
  // Softmax in fp32 (`softmax(x, dtype=float32)`): fp32 probabilities, cast
  // back to the activation type when that is narrower; backward the cast of
  // the gradient up and softmax_backward over fp32 gradient and output.
  const int64_t cast = a < kFp32 ? a + kFp32 : 0;
  const int64_t softmax_fwd = a + kFp32 + cast;
  const int64_t softmax_bwd = cast + 2 * kFp32 + a;
  ScoresPasses passes{Pass(2, 2, score_elements, a),
                      Traffic((2 * a + kMaskBytes) * score_elements, (2 * a + kMaskBytes) * score_elements),
                      Traffic(softmax_fwd * score_elements, softmax_bwd * score_elements)};
  // masked_fill_ works in place; softmax writes fp32 probabilities (and its
  // backward an fp32 gradient), exponentials forward only.
  passes.mask.in_place = true;
  passes.softmax.forward_math = PassMath::kExp;
  passes.softmax.forward_new = passes.softmax.backward_new = {kFp32 * score_elements, 1};
  return passes;
}

PassBytes ActivationPass(v1::FrameworkProfile profile, bool gated, int64_t elements,
                         int64_t element_bytes) {
  constexpr PassMath kExp = PassMath::kExp;  // silu's sigmoid, gelu's erf
  if (!gated) return Pass(2, 3, elements, element_bytes, kExp);
  return Eager(profile) ? Pass(5, 9, elements, element_bytes, kExp)
                        : Pass(3, 5, elements, element_bytes, kExp);
}

PassBytes LossPass(v1::FrameworkProfile profile, int64_t logits) {
  PassBytes pass = Eager(profile) ? Pass(2, 4, logits, kFp32, PassMath::kExp)
                                  : Pass(1, 2, logits, kFp32, PassMath::kExp);
  // Eager's backward: the zero-filled gradient, then log_softmax_backward's
  // output; fused cross entropy writes its gradient in place of the logits.
  if (Eager(profile)) pass.backward_new.count = 2;
  else pass.backward_new = {};
  return pass;
}

PassBytes EmbeddingPass(int64_t tokens, int64_t hidden, int64_t vocab, bool tied,
                        int64_t element_bytes) {
  const int64_t rows = tokens * hidden, table = vocab * hidden;
  PassBytes pass = Traffic(Bytes(2, rows, element_bytes),
                           Bytes(1, table, element_bytes) + Bytes(3, rows, element_bytes) +
                               (tied ? Bytes(3, table, element_bytes) : 0));
  // The gathered rows forward; the zero-filled table gradient backward.
  pass.forward_new = {rows * element_bytes, 1};
  pass.backward_new = {table * element_bytes, 1};
  return pass;
}

PassBytes PermutePass(int64_t token_elements, int64_t pair_elements, int64_t element_bytes) {
  const int64_t bytes = (token_elements + pair_elements) * element_bytes;
  PassBytes pass = Traffic(bytes, bytes);
  pass.forward_new = {pair_elements * element_bytes, 1};
  pass.backward_new = {token_elements * element_bytes, 1};
  return pass;
}

int64_t OptimizerBytes(v1::FrameworkProfile profile, double params) {
  const int64_t per_param = Eager(profile) ? 23 * kFp32 : 28;
  return static_cast<int64_t>(std::llround(params)) * per_param;
}

PassBytes WeightCastPass(v1::FrameworkProfile profile, double params, int64_t element_bytes) {
  if (!Eager(profile) || element_bytes == kFp32) return {};
  const int64_t bytes = static_cast<int64_t>(std::llround(params)) * (kFp32 + element_bytes);
  return Traffic(bytes, bytes);
}

}  // namespace tokenmeter::workload
