// The cost model: tokens/s, MFU, dollars and joules per token of a
// `train-step/<model>` job (docs/cost-model.md, "Definitions").
// Pure functions; thread-safe.
#ifndef TOKENMETER_WORKLOAD_COST_H_
#define TOKENMETER_WORKLOAD_COST_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tokenmeter/v1/result.pb.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::workload {

// price × devices / (tokens/s × 3600) × 1e6. 0 when tokens_per_second <= 0
// or the price is unknown (0).
double CostPerMillionTokens(double price_per_device_hour, int devices, double tokens_per_second);

// The same with a price per device, for devices that differ in price (a job
// spanning setups): Σ price / (tokens/s × 3600) × 1e6. 0 when
// tokens_per_second <= 0, `prices` is empty or any device's price is unknown
// (<= 0): a partial sum would under-state the cost.
double CostPerMillionTokens(const std::vector<double>& price_per_device_hour, double tokens_per_second);

// flops_per_token × tokens_per_second / (devices × peak). 0 when the peak is
// unknown (<= 0) or devices <= 0.
double Mfu(double flops_per_token, double tokens_per_second, int devices,
           double peak_flops_per_device);

// joules / tokens; 0 when either is <= 0 (energy not reported).
double EnergyPerToken(double energy_joules, double tokens);

// What a train-step job measured, combined over its ranks, at full depth.
struct TrainStepRun {
  int devices = 0;               // ranks the step ran on
  v1::TimingSummary step;        // whole-step times, the slowest rank per iteration
  // Median seconds per phase ("gemm", "attention", "elementwise", "loss",
  // "communication", "optimizer"), at full depth.
  std::map<std::string, double> phase_seconds;
  double peak_flops_per_device = 0;  // datasheet peak of the matmul dtype; 0 = unknown device
  bool peak_is_measured = false;     // CPUs: the peak is a calibration GEMM's
  double mamf_flops_per_device = 0;  // best `gemm` shape on the setup; 0 = not measured
  // Per device the step ran on, its price of one device-hour (USD; 0 =
  // unknown). The figures' price_per_device_hour is their mean, and the cost
  // sums them, so devices of different prices each count at their own.
  std::vector<double> device_prices;
  // Device energy over the timed steps, all devices, scaled to full depth the
  // way step times are (measured × full-depth time / executed time); 0 = not
  // reported.
  double energy_joules = 0;
  // Tokens in the timed steps; 0 = tokens_per_step × step.iterations.
  double timed_tokens = 0;
  // Gradient sync ran at the same time as compute (measured by the backend).
  bool grad_sync_overlapped = false;
  // Median per step at full depth: the gradient-sync collectives' own time,
  // and the part of it the step waited for (== grad_sync_seconds in line).
  double grad_sync_seconds = 0;
  double grad_sync_exposed_seconds = 0;
  double depth_scale = 1;  // layers / layers run (PlanDepth)
};

// The headline figures: tokens per step and per second (at the median step),
// FLOPs per token, params, MFU against the datasheet peak and against MAMF,
// cost per million tokens, energy per token, each phase's share of the
// summed phase time (shares sum to 1; phases sum the ops' own times, so with
// overlapped gradient sync the step is shorter than the sum), and the
// gradient sync's time, exposed part and overlap as measured. InvalidArgument when devices <= 0 or the median
// step time is not positive.
absl::StatusOr<v1::TrainStepFigures> ComputeTrainStepFigures(const v1::TrainStep& step,
                                                             const TrainStepRun& run);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_COST_H_
