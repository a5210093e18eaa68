#include "kernels/cpu/gloo_op.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/reduce.h>

#include <vector>

#include "kernels/cpu/gloo_reduce_scatter.h"

namespace tokenmeter::kernels::cpu {
namespace {

// The one reduction the function-API calls use.
void SumFloats(void* c, const void* a, const void* b, size_t n) { gloo::sum<float>(c, a, b, n); }

// Output elements j < checked for which got[j] != expected(j).
template <typename Expected>
int64_t CountWrong(const float* got, int64_t checked, Expected expected) {
  int64_t wrong = 0;
  for (int64_t j = 0; j < checked; ++j) wrong += got[j] != expected(j);
  return wrong;
}

}  // namespace

void FillCollectiveInput(float* data, int64_t elements, int rank, int round) {
  for (int64_t i = 0; i < elements; ++i) data[i] = CollectiveInputValue(rank, i, round);
}

GlooOpBuffers BuffersOf(CollectiveOp op, int64_t count, int n, int me) {
  switch (op) {
    case CollectiveOp::kAllReduce:
      return {count, 0, count, 0, /*in_place=*/true};
    case CollectiveOp::kAllToAll:
      return {count, count, count, 0};
    case CollectiveOp::kAllGather:
      return {count / n, count, count, 0};
    case CollectiveOp::kBroadcast:
      return {me == 0 ? count : 0, count, count, 0};
    case CollectiveOp::kReduce:
      // Every rank needs the output: gloo::reduce uses it as scratch.
      return {count, count, me == 0 ? count : 0, 0};
    case CollectiveOp::kReduceScatter:
      return {count, count / n, count / n, RingReduceScatter::ScratchElements(count, n)};
  }
  return {0, 0, 0, 0};
}

std::function<void()> MakeGlooCall(CollectiveOp op, const GlooGroup& group, float* in, float* out,
                                   int64_t count, uint32_t tag) {
  const int64_t chunk = count / group.size;
  switch (op) {
    case CollectiveOp::kAllReduce: {
      auto opts = std::make_shared<gloo::AllreduceOptions>(group.context);
      if (in != out) opts->setInput(in, count);
      opts->setOutput(out, count);
      opts->setReduceFunction(&SumFloats);
      opts->setTag(tag);
      return [opts] { gloo::allreduce(*opts); };
    }
    case CollectiveOp::kAllGather: {
      auto opts = std::make_shared<gloo::AllgatherOptions>(group.context);
      opts->setInput(in, chunk);
      opts->setOutput(out, count);
      opts->setTag(tag);
      return [opts] { gloo::allgather(*opts); };
    }
    case CollectiveOp::kAllToAll: {
      auto opts = std::make_shared<gloo::AlltoallOptions>(group.context);
      opts->setInput(in, count);
      opts->setOutput(out, count);
      opts->setTag(tag);
      return [opts] { gloo::alltoall(*opts); };
    }
    case CollectiveOp::kBroadcast: {
      auto opts = std::make_shared<gloo::BroadcastOptions>(group.context);
      if (group.me == 0) opts->setInput(in, count);  // Gloo refuses an input on non-roots
      opts->setOutput(out, count);
      opts->setRoot(0);
      opts->setTag(tag);
      return [opts] { gloo::broadcast(*opts); };
    }
    case CollectiveOp::kReduce: {
      auto opts = std::make_shared<gloo::ReduceOptions>(group.context);
      opts->setInput(in, count);
      opts->setOutput(out, count);
      opts->setRoot(0);
      opts->setReduceFunction(&SumFloats);
      opts->setTag(tag);
      return [opts] { gloo::reduce(*opts); };
    }
    case CollectiveOp::kReduceScatter: {
      auto algorithm = std::make_shared<RingReduceScatter>(group.context, in, out, count, tag);
      return [algorithm] { algorithm->Run(); };
    }
  }
  return [] {};
}

int64_t CountWrongOutputs(CollectiveOp op, const float* out, int64_t count, int n, int me,
                          int round) {
  const int64_t chunk = count / n;
  const int64_t checked = BuffersOf(op, count, n, me).checked_elements;
  switch (op) {
    case CollectiveOp::kAllReduce:
    case CollectiveOp::kReduce:
      return CountWrong(out, checked, [n, round](int64_t j) { return CollectiveSumValue(n, j, round); });
    case CollectiveOp::kAllGather:
      // Block s of the output is sender s's input.
      return CountWrong(out, checked, [chunk, round](int64_t j) {
        return CollectiveInputValue(static_cast<int>(j / chunk), j % chunk, round);
      });
    case CollectiveOp::kAllToAll:
      // Block s of the output is block `me` of sender s's input.
      return CountWrong(out, checked, [chunk, me, round](int64_t j) {
        return CollectiveInputValue(static_cast<int>(j / chunk), me * chunk + j % chunk, round);
      });
    case CollectiveOp::kBroadcast:
      return CountWrong(out, checked, [round](int64_t j) { return CollectiveInputValue(0, j, round); });
    case CollectiveOp::kReduceScatter:
      // This rank's block of the sum.
      return CountWrong(out, checked, [n, chunk, me, round](int64_t j) {
        return CollectiveSumValue(n, me * chunk + j, round);
      });
  }
  return checked;
}

}  // namespace tokenmeter::kernels::cpu
