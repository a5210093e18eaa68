#include "kernels/types.h"

#include "absl/strings/str_cat.h"

namespace tokenmeter::kernels {

absl::Status ValidateIterationPlan(const IterationPlan& plan) {
  if (plan.warmup < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("iteration plan: warmup must be >= 0, got ", plan.warmup));
  }
  if (plan.timed < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("iteration plan: timed must be >= 1, got ", plan.timed));
  }
  return absl::OkStatus();
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFp32: return "fp32";
    case DType::kTf32: return "tf32";
    case DType::kFp16: return "fp16";
    case DType::kBf16: return "bf16";
    case DType::kFp8E4M3: return "fp8_e4m3";
  }
  return "unknown";
}

int64_t DTypeBytes(DType dtype) {
  switch (dtype) {
    case DType::kFp32:
    case DType::kTf32: return 4;
    case DType::kFp16:
    case DType::kBf16: return 2;
    case DType::kFp8E4M3: return 1;
  }
  return 0;
}

std::string_view CollectiveOpName(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return "all_reduce";
    case CollectiveOp::kAllGather: return "all_gather";
    case CollectiveOp::kReduceScatter: return "reduce_scatter";
    case CollectiveOp::kAllToAll: return "all_to_all";
    case CollectiveOp::kBroadcast: return "broadcast";
    case CollectiveOp::kReduce: return "reduce";
  }
  return "unknown";
}

}  // namespace tokenmeter::kernels
