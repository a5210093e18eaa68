// Plain types shared by every kernels backend. kernels/ stays free of gRPC and
// protobuf; the worker converts between these and the proto messages.
#ifndef TOKENMETER_KERNELS_TYPES_H_
#define TOKENMETER_KERNELS_TYPES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace tokenmeter::kernels {

enum class DType { kFp32, kTf32, kFp16, kBf16, kFp8E4M3 };

enum class CollectiveOp { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kBroadcast, kReduce };

// "fp32", "tf32", "fp16", "bf16", "fp8_e4m3".
std::string_view DTypeName(DType dtype);
// Bytes per element as stored in memory (tf32 is stored as fp32).
int64_t DTypeBytes(DType dtype);
// "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce".
std::string_view CollectiveOpName(CollectiveOp op);

// C[m×n] = A[m×k] · B[k×n] in `dtype`.
struct GemmProblem {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  DType dtype = DType::kFp32;
};

// How many iterations a measurement runs. Warm-up iterations are run and
// discarded; every timed iteration's time is kept.
struct IterationPlan {
  int warmup = 5;
  int timed = 20;
};

// The one rule every backend applies to a plan: warmup >= 0 and timed >= 1
// (a measurement with no timed iteration has no median). InvalidArgument
// naming the field and the bound otherwise.
absl::Status ValidateIterationPlan(const IterationPlan& plan);

struct GemmRun {
  std::vector<double> iteration_seconds;  // one entry per timed iteration
  bool verified = false;                  // the result was compared with a reference
  double max_error = 0;                   // worst |got - ref| / tolerance; <= 1 passes
  int64_t wrong_elements = 0;             // elements over the tolerance
};

struct CollectiveRun {
  std::vector<double> iteration_seconds;  // one entry per timed iteration
  int64_t checked_elements = 0;           // output elements compared with the expected value
  int64_t wrong_elements = 0;             // of those, how many differed
};

// What a backend reports about the device a rank runs on.
struct DeviceDescription {
  std::string model;               // "NVIDIA H200" or the CPU model name
  std::string uuid;
  int64_t memory_bytes = 0;        // device memory (host memory for CPUs)
  int compute_units = 0;           // SMs, or CPU threads given to the rank
  std::string compute_capability;  // "9.0"; empty on CPUs
  std::string driver_version;
};

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_TYPES_H_
