// The one table of the cpu backend's collectives (kernels/cpu/gloo_op.h):
// what each op reads, writes and checks, and its expected outputs — checked
// against outputs built here by hand from every rank's input, so the check
// is not its own oracle. (Gloo itself running these ops is tested in
// kernels_cpu_backend_test and kernels_cpu_step_test.)
#include "kernels/cpu/gloo_op.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace tokenmeter::kernels::cpu {
namespace {

constexpr int kRanks = 3;
constexpr int64_t kCount = 3 * 26;  // divisible by kRanks, two periods of the pattern per block
constexpr int64_t kChunk = kCount / kRanks;

std::vector<float> Input(int rank, int64_t elements, int round) {
  std::vector<float> v(elements);
  FillCollectiveInput(v.data(), elements, rank, round);
  return v;
}

// What rank `me` must hold after `op` on inputs of `round`, from first principles.
std::vector<float> Expected(CollectiveOp op, int me, int round) {
  std::vector<float> out(kCount, 0.0f);
  switch (op) {
    case CollectiveOp::kAllReduce:
    case CollectiveOp::kReduce:
      for (int r = 0; r < kRanks; ++r) {
        const auto in = Input(r, kCount, round);
        for (int64_t i = 0; i < kCount; ++i) out[i] += in[i];
      }
      break;
    case CollectiveOp::kAllGather:
      for (int r = 0; r < kRanks; ++r) {
        const auto in = Input(r, kChunk, round);
        for (int64_t i = 0; i < kChunk; ++i) out[r * kChunk + i] = in[i];
      }
      break;
    case CollectiveOp::kAllToAll:
      for (int r = 0; r < kRanks; ++r) {
        const auto in = Input(r, kCount, round);
        for (int64_t i = 0; i < kChunk; ++i) out[r * kChunk + i] = in[me * kChunk + i];
      }
      break;
    case CollectiveOp::kBroadcast:
      out = Input(0, kCount, round);
      break;
    case CollectiveOp::kReduceScatter: {
      // This rank's block of the sum.
      std::vector<float> sum(kCount, 0.0f);
      for (int r = 0; r < kRanks; ++r) {
        const auto in = Input(r, kCount, round);
        for (int64_t i = 0; i < kCount; ++i) sum[i] += in[i];
      }
      for (int64_t i = 0; i < kChunk; ++i) out[i] = sum[me * kChunk + i];
      break;
    }
  }
  return out;
}

constexpr CollectiveOp kOps[] = {CollectiveOp::kAllReduce, CollectiveOp::kAllGather,
                                 CollectiveOp::kReduceScatter, CollectiveOp::kAllToAll,
                                 CollectiveOp::kBroadcast, CollectiveOp::kReduce};

TEST(GlooOpTest, InputPatternIsSmallExactIntegers) {
  EXPECT_EQ(CollectiveInputValue(0, 0), 1.0f);
  EXPECT_EQ(CollectiveInputValue(2, 14), 4.0f);  // 3 + 14 mod 13
  EXPECT_EQ(CollectiveInputValue(2, 14, 1), 5.0f);  // 3 + 15 mod 13
  for (int round : {0, 1}) {
    for (int n : {1, 2, 3, 7, 1000}) {
      for (int64_t i : {0, 5, 12, 13, 1'000'003}) {
        double sum = 0;
        for (int r = 0; r < n; ++r) sum += CollectiveInputValue(r, i, round);
        EXPECT_EQ(CollectiveSumValue(n, i, round), sum) << "n " << n << " i " << i;
      }
    }
  }
}

TEST(GlooOpTest, BuffersPerOpAndRank) {
  for (int me = 0; me < kRanks; ++me) {
    const auto all_reduce = BuffersOf(CollectiveOp::kAllReduce, kCount, kRanks, me);
    EXPECT_EQ(all_reduce.input_elements, kCount);
    EXPECT_EQ(all_reduce.output_elements, 0);  // in place
    EXPECT_TRUE(all_reduce.in_place);
    EXPECT_EQ(all_reduce.checked_elements, kCount);
    const auto all_gather = BuffersOf(CollectiveOp::kAllGather, kCount, kRanks, me);
    EXPECT_EQ(all_gather.input_elements, kChunk);
    EXPECT_EQ(all_gather.checked_elements, kCount);
    const auto reduce_scatter = BuffersOf(CollectiveOp::kReduceScatter, kCount, kRanks, me);
    EXPECT_EQ(reduce_scatter.input_elements, kCount);
    EXPECT_EQ(reduce_scatter.output_elements, kChunk);  // out of place
    EXPECT_EQ(reduce_scatter.checked_elements, kChunk);
    EXPECT_EQ(reduce_scatter.scratch_elements, kChunk);  // min(n-2, 2) partial-sum blocks
    EXPECT_EQ(BuffersOf(CollectiveOp::kReduceScatter, 2 * 10, 2, me).scratch_elements, 0);
    EXPECT_EQ(BuffersOf(CollectiveOp::kReduceScatter, 8 * 10, 8, me).scratch_elements, 2 * 10);
    EXPECT_EQ(BuffersOf(CollectiveOp::kAllToAll, kCount, kRanks, me).checked_elements, kCount);
    // Rooted at 0: only the root has an input to broadcast, or a result to check.
    EXPECT_EQ(BuffersOf(CollectiveOp::kBroadcast, kCount, kRanks, me).input_elements, me == 0 ? kCount : 0);
    EXPECT_EQ(BuffersOf(CollectiveOp::kBroadcast, kCount, kRanks, me).checked_elements, kCount);
    EXPECT_EQ(BuffersOf(CollectiveOp::kReduce, kCount, kRanks, me).checked_elements, me == 0 ? kCount : 0);
    EXPECT_EQ(BuffersOf(CollectiveOp::kReduce, kCount, kRanks, me).output_elements, kCount);  // scratch
  }
}

// A correct output passes; one wrong element, anywhere checked, is one
// wrong; an output never written (NaN) is all wrong; so is the other round's
// correct output (what an element a call left unwritten still holds).
TEST(GlooOpTest, CountsWrongOutputsAgainstFirstPrinciples) {
  for (CollectiveOp op : kOps) {
    for (int round : {0, 1}) {
      for (int me = 0; me < kRanks; ++me) {
        SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " rank " << me
                                          << " round " << round);
        const int64_t checked = BuffersOf(op, kCount, kRanks, me).checked_elements;
        std::vector<float> right = Expected(op, me, round);
        EXPECT_EQ(CountWrongOutputs(op, right.data(), kCount, kRanks, me, round), 0);
        if (checked == 0) continue;
        for (int64_t at : {int64_t{0}, checked / 2, checked - 1}) {
          std::vector<float> off = right;
          off[at] += 1.0f;
          EXPECT_EQ(CountWrongOutputs(op, off.data(), kCount, kRanks, me, round), 1) << "at " << at;
        }
        std::vector<float> unwritten(kCount, std::nanf(""));
        EXPECT_EQ(CountWrongOutputs(op, unwritten.data(), kCount, kRanks, me, round), checked);
        std::vector<float> stale = Expected(op, me, 1 - round);
        EXPECT_EQ(CountWrongOutputs(op, stale.data(), kCount, kRanks, me, round), checked);
      }
    }
  }
}

}  // namespace
}  // namespace tokenmeter::kernels::cpu
