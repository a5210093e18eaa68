// Every Prometheus metric and label name tokenmeter exports, in one place
// (docs/metrics.md describes each: type, unit, labels, meaning).
//
// Conventions (prometheus.io "Metric and label naming"): base units in the
// name (`_seconds`, `_bytes_per_second`, `_ratio`, `_joules`, `_watts`),
// `_total` on counters (prometheus-cpp does not add it), HELP on every
// family, label values drawn from bounded sets (states, outcomes, setups,
// workloads, shapes, sizes of a sweep, devices of the fleet) — never a job id
// or a timestamp. Where a metric concerns a device, its identifying labels are
// spelled as dcgm-exporter spells them (`gpu`, `UUID`, `Hostname`), so
// `... * on(UUID) group_left(modelName) DCGM_FI_DEV_POWER_USAGE` joins work.
// The device model is `device_model` everywhere (coordinator and workers):
// dcgm-exporter's `modelName` is camelCase, which `promtool check metrics`
// rejects, and one name for one thing across tokenmeter beats two.
#ifndef TOKENMETER_COMMON_METRIC_NAMES_H_
#define TOKENMETER_COMMON_METRIC_NAMES_H_

namespace tokenmeter::metrics {

// Both processes.
inline constexpr char kBuildInfo[] = "tokenmeter_build_info";  // gauge, always 1; {version}

// Coordinator: fleet and jobs.
inline constexpr char kWorkers[] = "tokenmeter_workers";                        // gauge {state}
inline constexpr char kJobsTotal[] = "tokenmeter_jobs_total";                   // counter {outcome}
inline constexpr char kJobDuration[] = "tokenmeter_job_duration_seconds";       // histogram
inline constexpr char kHeartbeatAge[] = "tokenmeter_heartbeat_age_seconds";     // gauge {worker, Hostname}

// Coordinator: the latest stored result per {setup, workload, device_model}.
inline constexpr char kTokensPerSecond[] = "tokenmeter_tokens_per_second";
inline constexpr char kMfuRatio[] = "tokenmeter_mfu_ratio";  // also {peak}
inline constexpr char kCostPerMillionTokens[] = "tokenmeter_cost_per_million_tokens_dollars";
inline constexpr char kEnergyPerToken[] = "tokenmeter_energy_per_token_joules";
inline constexpr char kResultGemmFlops[] = "tokenmeter_result_gemm_flops_per_second";  // also {shape, dtype}
inline constexpr char kResultMamf[] = "tokenmeter_result_mamf_flops_per_second";
inline constexpr char kResultBusBandwidth[] =
    "tokenmeter_result_collective_bus_bandwidth_bytes_per_second";  // also {collective, size_bytes}

// Coordinator: the latest diagnosis per setup (docs/fleet-health.md).
inline constexpr char kNodeHealth[] = "tokenmeter_node_health";  // gauge {setup, worker, Hostname}: 1 healthy, 0 not
inline constexpr char kLinkHealth[] = "tokenmeter_link_health";  // gauge {setup, worker, peer_worker}
inline constexpr char kHealthDeviation[] =
    "tokenmeter_health_deviation_ratio";  // gauge {setup, worker, peer_worker, metric}: a finding's value/baseline-1

// Workers: live measurements per device {gpu, UUID, device_model, Hostname, setup}.
inline constexpr char kStepDuration[] = "tokenmeter_step_duration_seconds";  // histogram
inline constexpr char kGemmFlops[] = "tokenmeter_gemm_flops_per_second";     // also {shape, dtype}
inline constexpr char kBusBandwidth[] =
    "tokenmeter_collective_bus_bandwidth_bytes_per_second";  // also {collective, size_bytes}
inline constexpr char kDevicePower[] = "tokenmeter_device_power_watts";

// Labels.
inline constexpr char kLabelVersion[] = "version";
inline constexpr char kLabelState[] = "state";      // idle, busy, lost, gone
inline constexpr char kLabelOutcome[] = "outcome";  // succeeded, failed, cancelled
inline constexpr char kLabelWorker[] = "worker";    // worker id; only while the worker is live
inline constexpr char kLabelSetup[] = "setup";
inline constexpr char kLabelWorkload[] = "workload";
inline constexpr char kLabelDeviceModel[] = "device_model";
inline constexpr char kLabelPeak[] = "peak";  // the MFU ceiling: datasheet, mamf
inline constexpr char kLabelCollective[] = "collective";
inline constexpr char kLabelSizeBytes[] = "size_bytes";
inline constexpr char kLabelShape[] = "shape";
inline constexpr char kLabelDtype[] = "dtype";
inline constexpr char kLabelPeerWorker[] = "peer_worker";  // the other end of a link; "" for a node
inline constexpr char kLabelMetric[] = "metric";           // a diagnosis' metric: gemm_tflops, pair_busbw_gbps, ...
// dcgm-exporter's spelling (its metrics template: gpu="..",UUID="..",
// device="..",modelName="..",Hostname=".."), kept exactly, capitals
// included; `gpu` is the device index on its host, `UUID` the device's UUID
// (the surest join key: CUDA and NVML indices can differ).
inline constexpr char kLabelGpu[] = "gpu";
inline constexpr char kLabelUuid[] = "UUID";
inline constexpr char kLabelHostname[] = "Hostname";

// Label values.
inline constexpr char kPeakDatasheet[] = "datasheet";
inline constexpr char kPeakMamf[] = "mamf";

}  // namespace tokenmeter::metrics

#endif  // TOKENMETER_COMMON_METRIC_NAMES_H_
