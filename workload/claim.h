// The claim check: what a published training run (model, tokens,
// device-hours, device) implies about its MFU and cost, and what it would
// take at an MFU measured on the same model shape (docs/cost-model.md "Claim check";
// docs/cost-model.md has the DeepSeek-V3 example). Pure; thread-safe.
#ifndef TOKENMETER_WORKLOAD_CLAIM_H_
#define TOKENMETER_WORKLOAD_CLAIM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tokenmeter/v1/workload.pb.h"
#include "workload/catalogue.h"

namespace tokenmeter::workload {

struct ClaimInput {
  v1::ModelShape model;
  double tokens = 0;        // training tokens, e.g. 14.8e12
  double device_hours = 0;  // e.g. 2.664e6 H800 GPU-hours
  std::string device;       // a catalogue name, e.g. "H800"
  // The dtype whose peak the MFU is quoted against. bf16 by default, the
  // convention of MFU figures in the literature; DeepSeek-V3 ran most GEMMs
  // in fp8, against whose (2×) peak the implied MFU halves.
  v1::DType dtype = v1::DTYPE_BF16;
  double price_per_device_hour = 0;  // 0 = the catalogue's default
  double peak_flops_per_device = 0;  // 0 = the catalogue's; set for a device it lacks
  double measured_mfu = 0;           // optional: MFU measured on the same shape
};

// The claim read against one dtype's dense peak.
struct DTypeReading {
  v1::DType dtype = v1::DTYPE_UNSPECIFIED;
  double peak_flops_per_device = 0;
  double implied_mfu = 0;
};

struct ClaimFigures {
  std::string device_model;        // canonical catalogue name ("" with a given peak)
  double params_total = 0;
  double params_active = 0;
  double flops_per_token = 0;      // ModelFlopsPerToken
  double total_flops = 0;          // flops_per_token × tokens
  double peak_flops_per_device = 0;
  // flops_per_token × tokens / (device_hours × 3600 × peak)
  double implied_mfu = 0;
  double implied_tokens_per_device_second = 0;  // tokens / (device_hours × 3600)
  // The same claim against the device's other training dtypes' dense peaks
  // (fp8, bf16, fp16, those the catalogue has; empty with a given peak): so a
  // reader sees, beside the dtype asked for, the other readings (an fp8 run
  // quoted against bf16 reads twice as efficient as against fp8).
  std::vector<DTypeReading> other_readings;
  double price_per_device_hour = 0;
  double implied_cost_dollars = 0;  // device_hours × price
  // With a measured MFU (0 otherwise): the device-hours and cost the claim
  // would take at that MFU, and implied / measured.
  double measured_mfu = 0;
  double device_hours_at_measured = 0;
  double cost_at_measured_dollars = 0;
  double implied_over_measured = 0;
};

// InvalidArgument naming the field ("claim.tokens", "claim.device_hours",
// "claim.measured_mfu", the model's fields) for non-positive inputs or an
// invalid shape; NotFound when the device is not in `catalogue` and no peak
// is given, or the catalogue has no peak for the dtype, naming the dtypes it
// has (never another device's or dtype's peak in its place).
absl::StatusOr<ClaimFigures> CheckClaim(const ClaimInput& input,
                                        const DeviceCatalogue& catalogue = DeviceCatalogue::BuiltIn());

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_CLAIM_H_
