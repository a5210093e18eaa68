#include "workload/cost.h"

#include "absl/strings/str_cat.h"
#include "workload/flops.h"
#include "workload/models.h"

namespace tokenmeter::workload {

double CostPerMillionTokens(double price_per_device_hour, int devices, double tokens_per_second) {
  if (tokens_per_second <= 0 || price_per_device_hour <= 0 || devices <= 0) return 0;
  return price_per_device_hour * devices / (tokens_per_second * 3600.0) * 1e6;
}

double CostPerMillionTokens(const std::vector<double>& price_per_device_hour, double tokens_per_second) {
  if (tokens_per_second <= 0 || price_per_device_hour.empty()) return 0;
  double per_hour = 0;
  for (double p : price_per_device_hour) {
    if (p <= 0) return 0;
    per_hour += p;
  }
  return per_hour / (tokens_per_second * 3600.0) * 1e6;
}

double Mfu(double flops_per_token, double tokens_per_second, int devices,
           double peak_flops_per_device) {
  if (peak_flops_per_device <= 0 || devices <= 0) return 0;
  return flops_per_token * tokens_per_second / (devices * peak_flops_per_device);
}

double EnergyPerToken(double energy_joules, double tokens) {
  if (energy_joules <= 0 || tokens <= 0) return 0;
  return energy_joules / tokens;
}

absl::StatusOr<v1::TrainStepFigures> ComputeTrainStepFigures(const v1::TrainStep& step,
                                                             const TrainStepRun& run) {
  if (run.devices <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("devices (", run.devices, ") must be positive"));
  }
  if (!(run.step.median_seconds() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("step.median_seconds (",
                                                   run.step.median_seconds(),
                                                   ") must be positive"));
  }
  v1::TrainStepFigures f;
  const int64_t tokens_per_step = TokensPerStep(step, run.devices);
  const double tokens_per_second = static_cast<double>(tokens_per_step) / run.step.median_seconds();
  const double flops_per_token = ModelFlopsPerToken(step.model());
  const ParamCounts params = CountParams(step.model());
  f.set_tokens_per_step(tokens_per_step);
  f.set_tokens_per_second(tokens_per_second);
  f.set_flops_per_token(flops_per_token);
  f.set_params_total(params.total);
  f.set_params_active(params.active);
  f.set_peak_flops_per_device(run.peak_flops_per_device);
  f.set_peak_is_measured(run.peak_is_measured);
  f.set_mfu(Mfu(flops_per_token, tokens_per_second, run.devices, run.peak_flops_per_device));
  f.set_mamf_flops_per_device(run.mamf_flops_per_device);
  f.set_mfu_mamf(Mfu(flops_per_token, tokens_per_second, run.devices, run.mamf_flops_per_device));
  const double cost = CostPerMillionTokens(run.device_prices, tokens_per_second);
  if (cost > 0) {
    double sum = 0;
    for (double p : run.device_prices) sum += p;
    f.set_price_per_device_hour(sum / static_cast<double>(run.device_prices.size()));
  }
  f.set_cost_per_million_tokens_dollars(cost);
  const double timed_tokens = run.timed_tokens > 0
                                  ? run.timed_tokens
                                  : static_cast<double>(tokens_per_step) * run.step.iterations();
  f.set_energy_per_token_joules(EnergyPerToken(run.energy_joules, timed_tokens));
  *f.mutable_step() = run.step;
  double phases = 0;
  for (const auto& [name, seconds] : run.phase_seconds) phases += seconds;
  if (phases > 0) {
    for (const auto& [name, seconds] : run.phase_seconds) {
      (*f.mutable_phase_share())[name] = seconds / phases;
    }
  }
  f.set_grad_sync_overlapped(run.grad_sync_overlapped);
  f.set_grad_sync_seconds(run.grad_sync_seconds);
  f.set_grad_sync_exposed_seconds(run.grad_sync_exposed_seconds);
  f.set_depth_scale(run.depth_scale);
  return f;
}

}  // namespace tokenmeter::workload
