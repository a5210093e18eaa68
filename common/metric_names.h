// Every Prometheus metric and label name tokenmeter exports, in one place
// (docs/metrics.md describes each). Base units, `_total` on counters.
#ifndef TOKENMETER_COMMON_METRIC_NAMES_H_
#define TOKENMETER_COMMON_METRIC_NAMES_H_

namespace tokenmeter::metrics {

// Coordinator.
inline constexpr char kBuildInfo[] = "tokenmeter_build_info";
inline constexpr char kWorkers[] = "tokenmeter_workers";
inline constexpr char kJobsTotal[] = "tokenmeter_jobs_total";
inline constexpr char kJobDuration[] = "tokenmeter_job_duration_seconds";
inline constexpr char kHeartbeatAge[] = "tokenmeter_heartbeat_age_seconds";
inline constexpr char kTokensPerSecond[] = "tokenmeter_tokens_per_second";
inline constexpr char kMfuRatio[] = "tokenmeter_mfu_ratio";
inline constexpr char kCostPerMillionTokens[] = "tokenmeter_cost_per_million_tokens_dollars";
inline constexpr char kEnergyPerToken[] = "tokenmeter_energy_per_token_joules";
inline constexpr char kResultGemmFlops[] = "tokenmeter_result_gemm_flops_per_second";
inline constexpr char kResultBusBandwidth[] = "tokenmeter_result_collective_bus_bandwidth_bytes_per_second";

// Workers.
inline constexpr char kStepDuration[] = "tokenmeter_step_duration_seconds";
inline constexpr char kGemmFlops[] = "tokenmeter_gemm_flops_per_second";
inline constexpr char kBusBandwidth[] = "tokenmeter_collective_bus_bandwidth_bytes_per_second";
inline constexpr char kDevicePower[] = "tokenmeter_device_power_watts";

// Labels. Where a metric concerns a GPU, dcgm-exporter's names.
inline constexpr char kLabelState[] = "state";
inline constexpr char kLabelOutcome[] = "outcome";
inline constexpr char kLabelSetup[] = "setup";
inline constexpr char kLabelWorkload[] = "workload";
inline constexpr char kLabelDeviceModel[] = "device_model";
inline constexpr char kLabelWorker[] = "worker";
inline constexpr char kLabelHostname[] = "hostname";
inline constexpr char kLabelCollective[] = "collective";
inline constexpr char kLabelSizeBytes[] = "size_bytes";
inline constexpr char kLabelShape[] = "shape";
inline constexpr char kLabelDtype[] = "dtype";
inline constexpr char kLabelGpu[] = "gpu";
inline constexpr char kLabelModelName[] = "modelName";
inline constexpr char kLabelVersion[] = "version";

}  // namespace tokenmeter::metrics

#endif  // TOKENMETER_COMMON_METRIC_NAMES_H_
