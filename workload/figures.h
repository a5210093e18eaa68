// The definitions every printed number follows (docs/cost-model.md, "Definitions").
// One place for each formula; everything else calls these.
#ifndef TOKENMETER_WORKLOAD_FIGURES_H_
#define TOKENMETER_WORKLOAD_FIGURES_H_

#include <cstdint>
#include <span>
#include "absl/strings/string_view.h"

#include "tokenmeter/v1/result.pb.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// GEMM FLOPs = 2·m·n·k.
double GemmFlops(int64_t m, int64_t n, int64_t k);

// TFLOP/s = flops / seconds / 1e12; 0 when seconds <= 0.
double Tflops(double flops, double seconds);

// nccl-tests' bus-bandwidth factor for `op` on `ranks` ranks: all-reduce
// 2(n−1)/n; all-gather, reduce-scatter, all-to-all (n−1)/n; broadcast and
// reduce 1.
double BusBandwidthFactor(v1::CollectiveOp op, int ranks);

struct Bandwidth {
  double algbw_gbps = 0;  // S / t, 1 GB = 1e9 B
  double busbw_gbps = 0;  // algbw × BusBandwidthFactor
};
Bandwidth CollectiveBandwidth(v1::CollectiveOp op, int ranks, int64_t size_bytes, double seconds);

// Whether a result's collective times include copies between the devices and
// host memory (some worker's backend stages them: WorkerInventory's
// collectives_host_staged): every table and chart of them says so.
bool CollectivesHostStaged(const v1::JobResult& result);

// Median, min, max, p10, p90 of the iteration times (sorted copy; the input is
// left as measured). All zero for an empty input.
v1::TimingSummary Summarize(std::span<const double> seconds);
// Summarize's median alone (the mean of the middle two for an even count);
// 0 for none.
double MedianOf(std::span<const double> values);

// Fills timing (from iteration_seconds) and tflops of a GEMM measurement.
void CompleteGemmMeasurement(v1::GemmMeasurement* m);
// Fills timing, algbw and busbw of a collective measurement on `ranks` ranks.
void CompleteCollectiveMeasurement(v1::CollectiveMeasurement* m, int ranks);

// Element size of a dtype in bytes (tf32 stored as fp32).
int64_t DTypeBytes(v1::DType dtype);

// Names as printed and accepted: "fp32", "tf32", "fp16", "bf16", "fp8_e4m3";
// "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce".
absl::string_view DTypeName(v1::DType dtype);
absl::string_view CollectiveOpName(v1::CollectiveOp op);

// "eager", "fused"; "unspecified" for anything else. ParseFrameworkProfile is
// its inverse (FRAMEWORK_PROFILE_UNSPECIFIED for an unknown name).
absl::string_view FrameworkProfileName(v1::FrameworkProfile profile);
v1::FrameworkProfile ParseFrameworkProfile(absl::string_view name);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_FIGURES_H_
