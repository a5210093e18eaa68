#include "workload/claim.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "workload/figures.h"
#include "workload/flops.h"
#include "workload/models.h"

namespace tokenmeter::workload {

namespace {

absl::Status Positive(const std::string& field, double v) {
  if (v > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("claim.", field, " (", v, ") must be positive"));
}

}  // namespace

absl::StatusOr<ClaimFigures> CheckClaim(const ClaimInput& input, const DeviceCatalogue& catalogue) {
  // The shape checks are ValidateTrainStep's, on one rank without a memory bound.
  v1::TrainStep step;
  *step.mutable_model() = input.model;
  step.set_micro_batch(1);
  step.set_dtype(input.dtype == v1::DTYPE_UNSPECIFIED ? v1::DTYPE_BF16 : input.dtype);
  // Model FLOPs do not depend on how a framework decomposes the step; any
  // profile passes the shape checks.
  step.set_profile(v1::FRAMEWORK_PROFILE_FUSED);
  absl::Status st = ValidateTrainStep(step, 1, 0);
  if (!st.ok()) return st;
  if (st = Positive("tokens", input.tokens); !st.ok()) return st;
  if (st = Positive("device_hours", input.device_hours); !st.ok()) return st;
  if (input.measured_mfu < 0 || input.measured_mfu > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("claim.measured_mfu (", input.measured_mfu, ") must be in [0, 1]"));
  }

  ClaimFigures f;
  double peak = input.peak_flops_per_device;
  double price = input.price_per_device_hour;
  const DeviceSpec* device = catalogue.Find(input.device);
  if (device != nullptr) {
    f.device_model = device->model;
    if (peak <= 0) peak = device->PeakFlops(step.dtype());
    if (price <= 0) price = device->price_per_device_hour;
  }
  if (peak <= 0) {
    if (device == nullptr) {
      std::vector<std::string> known;
      for (const DeviceSpec& d : catalogue.devices()) known.push_back(d.model);
      return absl::NotFoundError(absl::StrCat(
          "claim.device \"", input.device, "\" is not in the device catalogue (known: ",
          absl::StrJoin(known, ", "), "); give its peak FLOP/s or a catalogue file"));
    }
    std::vector<std::string> has;
    for (const auto& [dtype, flops] : device->peak_dense_flops) {
      if (flops > 0) has.push_back(std::string(DTypeName(dtype)));
    }
    return absl::NotFoundError(absl::StrCat("claim.dtype: the catalogue has no ",
                                            std::string(DTypeName(step.dtype())), " peak for ", device->model,
                                            " (it has: ", has.empty() ? "none" : absl::StrJoin(has, ", "), ")"));
  }

  const ParamCounts params = CountParams(input.model);
  f.params_total = params.total;
  f.params_active = params.active;
  f.flops_per_token = ModelFlopsPerToken(input.model);
  f.total_flops = f.flops_per_token * input.tokens;
  f.peak_flops_per_device = peak;
  const double device_seconds = input.device_hours * 3600.0;
  f.implied_mfu = f.total_flops / (device_seconds * peak);
  f.implied_tokens_per_device_second = input.tokens / device_seconds;
  if (device != nullptr && input.peak_flops_per_device <= 0) {
    // The dtypes large runs train their matmuls in; a tf32 or fp32 peak read
    // against an fp8 or bf16 run's FLOPs says nothing (it exceeds 100%).
    for (v1::DType other : {v1::DTYPE_FP8_E4M3, v1::DTYPE_BF16, v1::DTYPE_FP16}) {
      const double other_peak = device->PeakFlops(other);
      if (other == step.dtype() || other_peak <= 0) continue;
      f.other_readings.push_back({other, other_peak, f.total_flops / (device_seconds * other_peak)});
    }
  }
  f.price_per_device_hour = price;
  f.implied_cost_dollars = input.device_hours * price;
  if (input.measured_mfu > 0) {
    f.measured_mfu = input.measured_mfu;
    f.device_hours_at_measured = f.total_flops / (input.measured_mfu * peak) / 3600.0;
    f.cost_at_measured_dollars = f.device_hours_at_measured * price;
    f.implied_over_measured = f.implied_mfu / input.measured_mfu;
  }
  return f;
}

}  // namespace tokenmeter::workload
