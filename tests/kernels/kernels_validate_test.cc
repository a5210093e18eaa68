// The rules every backend applies before it runs anything (kernels/types.h
// ValidateIterationPlan, kernels/step.h ValidateStepProgram): one rule, so a
// spec the cpu backend refuses the cuda backend refuses too, with the same
// message. Both backends call these first (kernels_cpu_step_test shows the
// cpu side; the cuda side runs the same code on a GPU).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/step.h"
#include "kernels/types.h"
#include "tests/support/step_ops.h"

namespace tokenmeter::kernels {
namespace {

using ::testing::HasSubstr;

TEST(IterationPlanRuleTest, NeedsNonNegativeWarmupAndATimedIteration) {
  EXPECT_TRUE(ValidateIterationPlan({.warmup = 0, .timed = 1}).ok());
  EXPECT_TRUE(ValidateIterationPlan({}).ok());
  absl::Status warmup = ValidateIterationPlan({.warmup = -1, .timed = 1});
  EXPECT_EQ(warmup.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(warmup.message()), HasSubstr("warmup must be >= 0, got -1"));
  absl::Status timed = ValidateIterationPlan({.warmup = 3, .timed = 0});
  EXPECT_EQ(timed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(timed.message()), HasSubstr("timed must be >= 1, got 0"));
}

absl::Status Check(const StepProgram& program, int rank = 0, int world = 2) {
  return ValidateStepProgram(program, rank, world);
}

TEST(StepProgramRuleTest, AWellFormedProgramPasses) {
  StepProgram program;
  program.groups = {{0, 1}, {0}};
  program.ops = {Gemm(8, 8, 8, 1), Elementwise(64), Collective(CollectiveOp::kAllReduce, 8, 0),
                 Collective(CollectiveOp::kAllGather, 8, 1)};
  EXPECT_TRUE(Check(program).ok());
}

TEST(StepProgramRuleTest, EachMalformationIsRefusedNamingTheField) {
  struct Case {
    const char* what;
    StepProgram program;
    const char* message;
  };
  StepProgram base;
  base.groups = {{0, 1}};
  base.ops = {Collective(CollectiveOp::kAllReduce, 8, 0)};
  std::vector<Case> cases;
  cases.push_back({"no ops", StepProgram{}, "no ops"});
  {
    StepProgram p = base;
    p.groups[0] = {};
    cases.push_back({"empty group", p, "groups[0] [] is empty"});
  }
  {
    StepProgram p = base;
    p.groups[0] = {1, 0};
    cases.push_back({"descending", p, "not strictly ascending at index 1"});
  }
  {
    StepProgram p = base;
    p.groups[0] = {0, 2};
    cases.push_back({"outside", p, "has rank 2 outside the world [0, 2)"});
  }
  {
    StepProgram p = base;
    p.groups[0] = {1};
    cases.push_back({"without this rank", p, "does not contain this rank (0)"});
  }
  {
    StepProgram p = base;
    p.ops[0].group = 1;
    cases.push_back({"group index", p, "ops[0].group 1 is not an index into groups (1 of them)"});
  }
  {
    StepProgram p = base;
    p.ops[0].count = 0;
    cases.push_back({"collective count", p, "ops[0] (collective): count must be positive"});
  }
  {
    StepProgram p = base;
    p.ops[0] = Elementwise(64);
    p.ops[0].new_tensors = 2;
    cases.push_back({"new tensors of no bytes", p, "ops[0] (elementwise): new_tensors must be >= 0"});
  }
  {
    StepProgram p = base;
    p.ops[0] = Elementwise(64);
    p.ops[0].new_tensors = -1;
    p.ops[0].new_tensor_bytes = 64;
    cases.push_back({"negative new tensors", p, "got -1 of 64 bytes"});
  }
  {
    StepProgram p = base;
    p.ops[0] = Gemm(8, 8, 8, 1);
    p.ops[0].new_tensors = 1;
    cases.push_back({"gemm new tensors of no bytes", p, "ops[0] (gemm): new_tensors must be >= 0"});
  }
  {
    StepProgram p = base;
    p.ops = {Gemm(8, -1, 8, 1)};
    cases.push_back({"gemm size", p, "ops[0] (gemm): m, n, k and count must be positive"});
  }
  {
    StepProgram p = base;
    p.ops = {Elementwise(0)};
    cases.push_back({"elementwise bytes", p, "ops[0] (elementwise): bytes must be positive"});
  }
  for (const Case& c : cases) {
    absl::Status status = Check(c.program);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.what;
  }
}

}  // namespace
}  // namespace tokenmeter::kernels
