#include "kernels/cpu/gloo_op.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/reduce.h>
#include <gloo/reduce_scatter.h>

#include <vector>

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

void FillCollectiveInput(float* data, int64_t elements, int rank) {
  for (int64_t i = 0; i < elements; ++i) data[i] = CollectiveInputValue(rank, i);
}

GlooOpBuffers BuffersOf(CollectiveOp op, int64_t count, int n, int me) {
  switch (op) {
    case CollectiveOp::kAllReduce:
    case CollectiveOp::kAllToAll:
      return {count, count, count};
    case CollectiveOp::kAllGather:
      return {count / n, count, count};
    case CollectiveOp::kBroadcast:
      return {me == 0 ? count : 0, count, count};
    case CollectiveOp::kReduce:
      // Every rank needs the output: gloo::reduce uses it as scratch.
      return {count, count, me == 0 ? count : 0};
    case CollectiveOp::kReduceScatter:
      return {count, 0, count / n};
  }
  return {0, 0, 0};
}

std::function<void()> MakeGlooCall(CollectiveOp op, const GlooGroup& group, float* in, float* out,
                                   int64_t count, uint32_t tag,
                                   std::unique_ptr<gloo::ReduceScatterHalvingDoubling<float>>* reduce_scatter) {
  const int64_t chunk = count / group.size;
  switch (op) {
    case CollectiveOp::kAllReduce: {
      auto opts = std::make_shared<gloo::AllreduceOptions>(group.function_api);
      opts->setInput(in, count);
      opts->setOutput(out, count);
      opts->setReduceFunction(&SumFloats);
      opts->setTag(tag);
      return [opts] { gloo::allreduce(*opts); };
    }
    case CollectiveOp::kAllGather: {
      auto opts = std::make_shared<gloo::AllgatherOptions>(group.function_api);
      opts->setInput(in, chunk);
      opts->setOutput(out, count);
      opts->setTag(tag);
      return [opts] { gloo::allgather(*opts); };
    }
    case CollectiveOp::kAllToAll: {
      auto opts = std::make_shared<gloo::AlltoallOptions>(group.function_api);
      opts->setInput(in, count);
      opts->setOutput(out, count);
      opts->setTag(tag);
      return [opts] { gloo::alltoall(*opts); };
    }
    case CollectiveOp::kBroadcast: {
      auto opts = std::make_shared<gloo::BroadcastOptions>(group.function_api);
      if (group.me == 0) opts->setInput(in, count);  // Gloo refuses an input on non-roots
      opts->setOutput(out, count);
      opts->setRoot(0);
      opts->setTag(tag);
      return [opts] { gloo::broadcast(*opts); };
    }
    case CollectiveOp::kReduce: {
      auto opts = std::make_shared<gloo::ReduceOptions>(group.function_api);
      opts->setInput(in, count);
      opts->setOutput(out, count);
      opts->setRoot(0);
      opts->setReduceFunction(&SumFloats);
      opts->setTag(tag);
      return [opts] { gloo::reduce(*opts); };
    }
    case CollectiveOp::kReduceScatter: {
      if (*reduce_scatter == nullptr) {
        *reduce_scatter = std::make_unique<gloo::ReduceScatterHalvingDoubling<float>>(
            group.class_api, std::vector<float*>{in}, static_cast<int>(count),
            std::vector<int>(group.size, static_cast<int>(chunk)));
      }
      gloo::ReduceScatterHalvingDoubling<float>* algorithm = reduce_scatter->get();
      return [algorithm] { algorithm->run(); };
    }
  }
  return [] {};
}

int64_t CountWrongOutputs(CollectiveOp op, const float* in, const float* out, int64_t count, int n,
                          int me) {
  const int64_t chunk = count / n;
  const int64_t checked = BuffersOf(op, count, n, me).checked_elements;
  switch (op) {
    case CollectiveOp::kAllReduce:
    case CollectiveOp::kReduce:
      return CountWrong(out, checked, [n](int64_t j) { return CollectiveSumValue(n, j); });
    case CollectiveOp::kAllGather:
      // Block s of the output is sender s's input.
      return CountWrong(out, checked, [chunk](int64_t j) {
        return CollectiveInputValue(static_cast<int>(j / chunk), j % chunk);
      });
    case CollectiveOp::kAllToAll:
      // Block s of the output is block `me` of sender s's input.
      return CountWrong(out, checked, [chunk, me](int64_t j) {
        return CollectiveInputValue(static_cast<int>(j / chunk), me * chunk + j % chunk);
      });
    case CollectiveOp::kBroadcast:
      return CountWrong(out, checked, [](int64_t j) { return CollectiveInputValue(0, j); });
    case CollectiveOp::kReduceScatter:
      // This rank's reduced block lands at the front of the buffer.
      return CountWrong(in, checked, [n, chunk, me](int64_t j) { return CollectiveSumValue(n, me * chunk + j); });
  }
  return checked;
}

}  // namespace tokenmeter::kernels::cpu
