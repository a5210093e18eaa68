#include "workload/step_passes.h"

#include <cmath>

namespace tokenmeter::workload {
namespace {

bool Eager(v1::FrameworkProfile profile) { return profile == v1::FRAMEWORK_PROFILE_EAGER; }

// `accesses` tensor accesses of `elements` elements of `bytes` each.
int64_t Bytes(int64_t accesses, int64_t elements, int64_t bytes) { return accesses * elements * bytes; }

PassBytes Pass(int64_t forward_accesses, int64_t backward_accesses, int64_t elements, int64_t bytes) {
  return {Bytes(forward_accesses, elements, bytes), Bytes(backward_accesses, elements, bytes)};
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
  return {accesses * element_bytes, accesses * element_bytes};
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
  return {Pass(2, 2, score_elements, a),
          {(2 * a + kMaskBytes) * score_elements, (2 * a + kMaskBytes) * score_elements},
          {softmax_fwd * score_elements, softmax_bwd * score_elements}};
}

PassBytes ActivationPass(v1::FrameworkProfile profile, bool gated, int64_t elements,
                         int64_t element_bytes) {
  if (!gated) return Pass(2, 3, elements, element_bytes);
  return Eager(profile) ? Pass(5, 9, elements, element_bytes) : Pass(3, 5, elements, element_bytes);
}

PassBytes LossPass(v1::FrameworkProfile profile, int64_t logits) {
  return Eager(profile) ? Pass(2, 4, logits, kFp32) : Pass(1, 2, logits, kFp32);
}

PassBytes EmbeddingPass(int64_t tokens, int64_t hidden, int64_t vocab, bool tied,
                        int64_t element_bytes) {
  const int64_t rows = tokens * hidden, table = vocab * hidden;
  return {Bytes(2, rows, element_bytes),
          Bytes(1, table, element_bytes) + Bytes(3, rows, element_bytes) +
              (tied ? Bytes(3, table, element_bytes) : 0)};
}

PassBytes PermutePass(int64_t token_elements, int64_t pair_elements, int64_t element_bytes) {
  const int64_t bytes = (token_elements + pair_elements) * element_bytes;
  return {bytes, bytes};
}

int64_t OptimizerBytes(v1::FrameworkProfile profile, double params) {
  const int64_t per_param = Eager(profile) ? 23 * kFp32 : 28;
  return static_cast<int64_t>(std::llround(params)) * per_param;
}

PassBytes WeightCastPass(v1::FrameworkProfile profile, double params, int64_t element_bytes) {
  if (!Eager(profile) || element_bytes == kFp32) return {};
  const int64_t bytes = static_cast<int64_t>(std::llround(params)) * (kFp32 + element_bytes);
  return {bytes, bytes};
}

}  // namespace tokenmeter::workload
