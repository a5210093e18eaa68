#include "workload/figures.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tokenmeter::workload {

double GemmFlops(int64_t m, int64_t n, int64_t k) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
}

double Tflops(double flops, double seconds) { return seconds > 0 ? flops / seconds / 1e12 : 0.0; }

double BusBandwidthFactor(v1::CollectiveOp op, int ranks) {
  if (ranks < 1) return 0.0;
  const double n = ranks;
  switch (op) {
    case v1::ALL_REDUCE: return 2.0 * (n - 1) / n;
    case v1::ALL_GATHER:
    case v1::REDUCE_SCATTER:
    case v1::ALL_TO_ALL: return (n - 1) / n;
    case v1::BROADCAST:
    case v1::REDUCE: return 1.0;
    default: return 0.0;
  }
}

Bandwidth CollectiveBandwidth(v1::CollectiveOp op, int ranks, int64_t size_bytes, double seconds) {
  Bandwidth bw;
  if (seconds <= 0) return bw;
  bw.algbw_gbps = static_cast<double>(size_bytes) / seconds / 1e9;
  bw.busbw_gbps = bw.algbw_gbps * BusBandwidthFactor(op, ranks);
  return bw;
}

namespace {
// Linear interpolation between closest ranks (numpy's default percentile).
double Percentile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}
}  // namespace

double MedianOf(std::span<const double> values) { return Summarize(values).median_seconds(); }

v1::TimingSummary Summarize(std::span<const double> seconds) {
  v1::TimingSummary s;
  if (seconds.empty()) return s;
  std::vector<double> sorted(seconds.begin(), seconds.end());
  std::sort(sorted.begin(), sorted.end());
  s.set_median_seconds(Percentile(sorted, 0.5));
  s.set_min_seconds(sorted.front());
  s.set_max_seconds(sorted.back());
  s.set_p10_seconds(Percentile(sorted, 0.1));
  s.set_p90_seconds(Percentile(sorted, 0.9));
  s.set_iterations(static_cast<int32_t>(sorted.size()));
  return s;
}

void CompleteGemmMeasurement(v1::GemmMeasurement* m) {
  *m->mutable_timing() = Summarize({m->iteration_seconds().data(), static_cast<size_t>(m->iteration_seconds().size())});
  m->set_tflops(Tflops(GemmFlops(m->shape().m(), m->shape().n(), m->shape().k()), m->timing().median_seconds()));
}

void CompleteCollectiveMeasurement(v1::CollectiveMeasurement* m, int ranks) {
  *m->mutable_timing() = Summarize({m->iteration_seconds().data(), static_cast<size_t>(m->iteration_seconds().size())});
  const Bandwidth bw = CollectiveBandwidth(m->op(), ranks, m->size_bytes(), m->timing().median_seconds());
  m->set_algbw_gbps(bw.algbw_gbps);
  m->set_busbw_gbps(bw.busbw_gbps);
}

int64_t DTypeBytes(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FP32:
    case v1::DTYPE_TF32: return 4;
    case v1::DTYPE_FP16:
    case v1::DTYPE_BF16: return 2;
    case v1::DTYPE_FP8_E4M3: return 1;
    default: return 0;
  }
}

absl::string_view DTypeName(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FP32: return "fp32";
    case v1::DTYPE_TF32: return "tf32";
    case v1::DTYPE_FP16: return "fp16";
    case v1::DTYPE_BF16: return "bf16";
    case v1::DTYPE_FP8_E4M3: return "fp8_e4m3";
    default: return "unspecified";
  }
}

absl::string_view CollectiveOpName(v1::CollectiveOp op) {
  switch (op) {
    case v1::ALL_REDUCE: return "all_reduce";
    case v1::ALL_GATHER: return "all_gather";
    case v1::REDUCE_SCATTER: return "reduce_scatter";
    case v1::ALL_TO_ALL: return "all_to_all";
    case v1::BROADCAST: return "broadcast";
    case v1::REDUCE: return "reduce";
    default: return "unspecified";
  }
}

absl::string_view FrameworkProfileName(v1::FrameworkProfile profile) {
  switch (profile) {
    case v1::FRAMEWORK_PROFILE_EAGER: return "eager";
    case v1::FRAMEWORK_PROFILE_FUSED: return "fused";
    default: return "unspecified";
  }
}

v1::FrameworkProfile ParseFrameworkProfile(absl::string_view name) {
  for (auto p : {v1::FRAMEWORK_PROFILE_EAGER, v1::FRAMEWORK_PROFILE_FUSED}) {
    if (name == FrameworkProfileName(p)) return p;
  }
  return v1::FRAMEWORK_PROFILE_UNSPECIFIED;
}

bool CollectivesHostStaged(const v1::JobResult& result) {
  for (const v1::WorkerInventory& w : result.inventory()) {
    if (w.collectives_host_staged()) return true;
  }
  return false;
}

}  // namespace tokenmeter::workload
