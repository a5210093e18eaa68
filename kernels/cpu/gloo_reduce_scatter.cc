#include "kernels/cpu/gloo_reduce_scatter.h"

#include <gloo/context.h>
#include <gloo/transport/unbound_buffer.h>
#include <gloo/types.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace tokenmeter::kernels::cpu {
namespace {

// The slot prefix of these messages; Gloo's own collectives use others.
constexpr uint8_t kSlotPrefix = 0x5c;

// out[i] += in[i]; restrict lets the compiler vectorise without a runtime
// aliasing check.
void AddInto(float* __restrict out, const float* __restrict in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += in[i];
}

int SegmentsFor(int64_t chunk_elements) {
  const int64_t bytes = chunk_elements * static_cast<int64_t>(sizeof(float));
  const int64_t wanted = bytes / RingReduceScatter::kMinSegmentBytes;
  return static_cast<int>(std::clamp<int64_t>(wanted, 1, RingReduceScatter::kMaxSegments));
}

void Await(bool completed, const char* what) {
  if (!completed) throw std::runtime_error(std::string("ring reduce-scatter: ") + what + " aborted");
}

}  // namespace

int64_t RingReduceScatter::ScratchElements(int64_t count, int n) {
  return n <= 2 ? 0 : std::min(n - 2, 2) * (count / n);
}

RingReduceScatter::RingReduceScatter(std::shared_ptr<gloo::Context> context, const float* in,
                                     float* out, int64_t count, uint32_t tag)
    : context_(std::move(context)),
      in_(in),
      out_(out),
      chunk_(count / context_->size),
      segments_(SegmentsFor(chunk_)),
      slot_base_(gloo::Slot::build(kSlotPrefix, tag)) {
  const int n = context_->size;
  if (n == 1) return;  // Run copies
  const int64_t scratch = ScratchElements(count, n);
  partials_ = std::make_unique_for_overwrite<float[]>(scratch);
  for (int b = 0; b < n; ++b) input_blocks_.push_back(MakeBlock(const_cast<float*>(in) + b * chunk_));
  for (int64_t offset = 0; offset < scratch; offset += chunk_) {
    partial_blocks_.push_back(MakeBlock(partials_.get() + offset));
  }
  output_block_ = MakeBlock(out);
}

RingReduceScatter::~RingReduceScatter() = default;

RingReduceScatter::Block RingReduceScatter::MakeBlock(float* data) {
  Block block;
  for (int k = 0; k < segments_; ++k) {
    const int64_t begin = chunk_ * k / segments_, end = chunk_ * (k + 1) / segments_;
    Segment segment{data + begin, end - begin, nullptr};
    segment.buffer = context_->createUnboundBuffer(
        segment.data, static_cast<size_t>(segment.elements) * sizeof(float));
    block.push_back(std::move(segment));
  }
  return block;
}

uint64_t RingReduceScatter::SlotOf(int step, int segment) const {
  return slot_base_ + static_cast<uint64_t>(step) * segments_ + segment;
}

void RingReduceScatter::Run() {
  const int n = context_->size, r = context_->rank;
  if (n == 1) {
    std::copy_n(in_, chunk_, out_);
    return;
  }
  const int left = (r + n - 1) % n, right = (r + 1) % n;
  const auto timeout = context_->getTimeout();
  for (int step = 0; step < n - 1; ++step) {
    const bool last = step == n - 2;
    Block& source = step == 0 ? input_blocks_[((r - step - 1) % n + n) % n]
                              : partial_blocks_[(step - 1) % 2];
    Block& target = last ? output_block_ : partial_blocks_[step % 2];
    const float* own = in_ + (((r - step - 2) % n + n) % n) * chunk_;
    for (int k = 0; k < segments_; ++k) {
      target[k].buffer->recv(left, SlotOf(step, k), 0, target[k].buffer->size);
    }
    for (int k = 0; k < segments_; ++k) {
      source[k].buffer->send(right, SlotOf(step, k), 0, source[k].buffer->size);
    }
    for (int k = 0; k < segments_; ++k) {
      Await(target[k].buffer->waitRecv(timeout), "receive");
      AddInto(target[k].data, own + (target[k].data - target.front().data), target[k].elements);
    }
    // The next step receives into the partial sums this one sent from.
    for (int k = 0; k < segments_; ++k) Await(source[k].buffer->waitSend(timeout), "send");
  }
}

}  // namespace tokenmeter::kernels::cpu
