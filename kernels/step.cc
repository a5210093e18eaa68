#include "kernels/step.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tokenmeter::kernels {
namespace {

std::string ListName(const std::vector<int>& members) {
  return absl::StrCat("[", absl::StrJoin(members, ","), "]");
}

// A count of new tensors and their size: none, or some of positive size.
absl::Status CheckNewTensors(const StepOp& op, const std::string& name, const char* kind) {
  if (op.new_tensors >= 0 && op.new_tensor_bytes >= 0 &&
      (op.new_tensors == 0 || op.new_tensor_bytes > 0)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      name, " (", kind, "): new_tensors must be >= 0 and new_tensor_bytes > 0 when it is not, got ",
      op.new_tensors, " of ", op.new_tensor_bytes, " bytes"));
}

}  // namespace

absl::Status ValidateStepProgram(const StepProgram& program, int rank, int world_size) {
  if (program.ops.empty()) return absl::InvalidArgumentError("step program has no ops");
  for (size_t g = 0; g < program.groups.size(); ++g) {
    const std::vector<int>& members = program.groups[g];
    const std::string name = absl::StrCat("groups[", g, "] ", ListName(members));
    if (members.empty()) return absl::InvalidArgumentError(absl::StrCat(name, " is empty"));
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i] < 0 || members[i] >= world_size) {
        return absl::InvalidArgumentError(absl::StrCat(name, " has rank ", members[i],
                                                       " outside the world [0, ", world_size, ")"));
      }
      if (i > 0 && members[i] <= members[i - 1]) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " is not strictly ascending at index ", i));
      }
    }
    if (!std::binary_search(members.begin(), members.end(), rank)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " does not contain this rank (", rank, ")"));
    }
  }
  for (size_t j = 0; j < program.ops.size(); ++j) {
    const StepOp& op = program.ops[j];
    const std::string name = absl::StrCat("ops[", j, "]");
    switch (op.kind) {
      case StepOp::Kind::kGemm:
        if (op.m <= 0 || op.n <= 0 || op.k <= 0 || op.count <= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, " (gemm): m, n, k and count must be positive, got m=", op.m, " n=", op.n,
              " k=", op.k, " count=", op.count));
        }
        if (absl::Status s = CheckNewTensors(op, name, "gemm"); !s.ok()) return s;
        break;
      case StepOp::Kind::kElementwise:
        if (op.bytes <= 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, " (elementwise): bytes must be positive, got ", op.bytes));
        }
        if (absl::Status s = CheckNewTensors(op, name, "elementwise"); !s.ok()) return s;
        break;
      case StepOp::Kind::kCollective:
        if (op.group < 0 || op.group >= static_cast<int>(program.groups.size())) {
          return absl::InvalidArgumentError(absl::StrCat(name, ".group ", op.group,
                                                         " is not an index into groups (",
                                                         program.groups.size(), " of them)"));
        }
        if (op.count <= 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, " (collective): count must be positive, got ", op.count));
        }
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace tokenmeter::kernels
