// tokenmeter claim: what a published training-cost claim implies (total
// FLOPs, MFU, cost), and how it compares with what was measured on the same
// model shape.
#include <cctype>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "cli/common_flags.h"
#include "cli/results_source.h"
#include "cli/json_line.h"
#include "workload/catalogue.h"
#include "workload/claim.h"
#include "workload/figures.h"
#include "workload/spec.h"

namespace tokenmeter::cli {
namespace {

absl::StatusOr<v1::DType> ParseDType(const std::string& text) {
  for (auto d : {v1::DTYPE_FP32, v1::DTYPE_TF32, v1::DTYPE_FP16, v1::DTYPE_BF16, v1::DTYPE_FP8_E4M3}) {
    if (text == workload::DTypeName(d)) return d;
  }
  if (text == "fp8") return v1::DTYPE_FP8_E4M3;  // the one fp8 the catalogue's peaks are for
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype must be one of fp32, tf32, fp16, bf16, fp8 (fp8_e4m3), got '", text, "'"));
}

// CheckClaim names ClaimInput's fields ("claim.dtype: ..."); on the command
// line the user typed flags, so the error leads with the flag that set the
// field (the field's name kept after it, as the library's callers know it).
absl::Status InFlagTerms(const absl::Status& status) {
  static constexpr std::pair<absl::string_view, absl::string_view> kFlagOf[] = {
      {"claim.tokens", "--tokens"},
      {"claim.device_hours", "--device-hours"},
      {"claim.device", "--device"},
      {"claim.dtype", "--dtype"},
      {"claim.price_per_device_hour", "--price-per-device-hour"},
      {"claim.peak_flops_per_device", "--peak-flops"},
  };
  const absl::string_view message = status.message();
  for (const auto& [field, flag] : kFlagOf) {
    if (!absl::StartsWith(message, field)) continue;
    const absl::string_view rest = message.substr(field.size());
    // "claim.device" is also the start of "claim.device_hours".
    if (!rest.empty() && (std::isalnum(static_cast<unsigned char>(rest[0])) || rest[0] == '_')) continue;
    return absl::Status(status.code(), absl::StrCat(flag, " (", field, ")", rest));
  }
  return status;
}

std::string Si(double v) {
  const char* units[] = {"", "K", "M", "B", "T", "P", "E"};
  int i = 0;
  while (std::abs(v) >= 1000 && i < 6) {
    v /= 1000;
    ++i;
  }
  return absl::StrFormat("%.4g%s", v, units[i]);
}

}  // namespace

int ClaimCommand(const Args& args) {
  FlagSet flags("claim", "(--model NAME | --spec FILE) --tokens N --device-hours H --device MODEL [flags]");
  flags.Value("model", "NAME", "a model preset (see tokenmeter workloads: train-step/NAME)");
  flags.Value("spec", "FILE", "a train-step workload spec (JSON) giving the model shape");
  flags.Value("tokens", "N", "training tokens claimed, e.g. 14.8e12");
  flags.Value("device-hours", "H", "device-hours claimed, e.g. 2.664e6");
  flags.Value("device", "MODEL", "the device the claim ran on, as the catalogue names it (e.g. H800)");
  flags.Value("dtype", "DTYPE", "the dtype the claim trained in, whose dense peak the implied MFU is quoted against (fp32, tf32, fp16, bf16, fp8); the readings against the device's other peaks are shown beside it", "bf16");
  flags.Value("price-per-device-hour", "USD", "price of one device-hour", "the catalogue's default");
  flags.Value("peak-flops", "FLOPS", "dense peak FLOP/s per device, for a device the catalogue lacks");
  flags.Value("catalogue", "FILE", "device catalogue overrides (JSON)");
  DeclareResultsSourceFlags(flags);
  DeclareClientTlsFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/false);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;

  if (flags.Has("model") == flags.Has("spec")) {
    return Fail("claim", absl::InvalidArgumentError("give exactly one of --model NAME and --spec FILE"), kExitUsage);
  }
  absl::StatusOr<v1::WorkloadSpec> spec =
      flags.Has("model") ? workload::ResolveWorkload(absl::StrCat("train-step/", *flags.Get("model")))
                         : workload::LoadSpecFile(*flags.Get("spec"));
  if (!spec.ok()) return Fail("claim", spec.status(), kExitUsage);
  if (!spec->has_train_step()) {
    return Fail("claim", absl::InvalidArgumentError("the spec is not a train-step workload: it has no model shape"),
                kExitUsage);
  }
  workload::ClaimInput input;
  input.model = spec->train_step().model();
  auto tokens = flags.GetDouble("tokens", 1, 1e18);
  if (!tokens.ok()) return Fail("claim", tokens.status(), kExitUsage);
  auto hours = flags.GetDouble("device-hours", 1e-6, 1e15);
  if (!hours.ok()) return Fail("claim", hours.status(), kExitUsage);
  auto device = flags.Require("device");
  if (!device.ok()) return Fail("claim", device.status(), kExitUsage);
  auto dtype = ParseDType(*flags.Get("dtype"));
  if (!dtype.ok()) return Fail("claim", dtype.status(), kExitUsage);
  input.tokens = *tokens;
  input.device_hours = *hours;
  input.device = *device;
  input.dtype = *dtype;
  if (flags.Has("price-per-device-hour")) {
    auto price = flags.GetDouble("price-per-device-hour", 0, 1e6);
    if (!price.ok()) return Fail("claim", price.status(), kExitUsage);
    input.price_per_device_hour = *price;
  }
  if (flags.Has("peak-flops")) {
    auto peak = flags.GetDouble("peak-flops", 1, 1e20);
    if (!peak.ok()) return Fail("claim", peak.status(), kExitUsage);
    input.peak_flops_per_device = *peak;
  }
  workload::DeviceCatalogue catalogue = workload::DeviceCatalogue::BuiltIn();
  if (flags.Has("catalogue")) {
    auto loaded = workload::LoadCatalogueFile(*flags.Get("catalogue"));
    if (!loaded.ok()) return Fail("claim", loaded.status(), kExitUsage);
    catalogue = *std::move(loaded);
  }
  // The MFU measured on the same model shape, from the newest stored result.
  std::string measured_from;
  if (HasResultsSource(flags)) {
    auto results = LoadResults(flags, spec->name(), "", 0);
    if (!results.ok()) return Fail("claim", results.status());
    for (const auto& r : *results) {
      if (r.has_train_step() && r.train_step().mfu() > 0) {
        input.measured_mfu = r.train_step().mfu();
        measured_from = absl::StrCat("job ", r.job_id(), ", setup ", r.setup(), ", ", r.device_model());
        break;
      }
    }
    if (measured_from.empty()) {
      std::cerr << "tokenmeter claim: no stored " << spec->name() << " result with an MFU; showing the claim alone\n";
    }
  }
  auto figures = workload::CheckClaim(input, catalogue);
  if (!figures.ok()) return Fail("claim", InFlagTerms(figures.status()), kExitUsage);
  const auto& c = *figures;

  if (flags.GetSwitch("json")) {
    JsonLine row;
    row.Add("workload", spec->name())
        .Add("device_model", c.device_model.empty() ? input.device : c.device_model)
        .Add("dtype", std::string(workload::DTypeName(input.dtype)))
        .Add("tokens", input.tokens)
        .Add("device_hours", input.device_hours)
        .Add("params_total", c.params_total)
        .Add("params_active", c.params_active)
        .Add("flops_per_token", c.flops_per_token)
        .Add("total_flops", c.total_flops)
        .Add("peak_flops_per_device", c.peak_flops_per_device)
        .Add("implied_mfu", c.implied_mfu);
    std::vector<JsonLine> others;
    for (const auto& r : c.other_readings) {
      JsonLine other;
      other.Add("dtype", std::string(workload::DTypeName(r.dtype)))
          .Add("peak_flops_per_device", r.peak_flops_per_device)
          .Add("implied_mfu", r.implied_mfu);
      others.push_back(other);
    }
    row.Add("other_dtypes", others)
        .Add("price_per_device_hour", c.price_per_device_hour)
        .Add("implied_cost_dollars", c.implied_cost_dollars);
    if (c.measured_mfu > 0) {
      row.Add("measured_mfu", c.measured_mfu)
          .Add("device_hours_at_measured", c.device_hours_at_measured)
          .Add("cost_at_measured_dollars", c.cost_at_measured_dollars)
          .Add("implied_over_measured", c.implied_over_measured)
          .Add("measured_from", measured_from);
    }
    row.WriteTo(std::cout);
    return kExitOk;
  }
  std::cout << absl::StrFormat("# claim: %s, %s tokens in %s device-hours of %s\n", spec->name(), Si(input.tokens),
                               Si(input.device_hours), c.device_model.empty() ? input.device : c.device_model);
  std::cout << absl::StrFormat("  %-38s %s / %s\n", "parameters (total / activated)", Si(c.params_total),
                               Si(c.params_active));
  std::cout << absl::StrFormat("  %-38s %.6g (6N + attention, PaLM)\n", "model FLOPs per token", c.flops_per_token);
  std::cout << absl::StrFormat("  %-38s %.6g\n", "implied training FLOPs", c.total_flops);
  std::cout << absl::StrFormat("  %-38s %.6g TFLOP/s (%s dense)\n", "peak per device", c.peak_flops_per_device / 1e12,
                               workload::DTypeName(input.dtype));
  std::cout << absl::StrFormat("  %-38s %.2f%% (against the %s peak)\n", "implied MFU", 100 * c.implied_mfu,
                               workload::DTypeName(input.dtype));
  for (const auto& r : c.other_readings) {
    std::cout << absl::StrFormat("  %-38s %.2f%% (peak %.6g TFLOP/s)\n",
                                 absl::StrCat("  read against the ", workload::DTypeName(r.dtype), " peak"),
                                 100 * r.implied_mfu, r.peak_flops_per_device / 1e12);
  }
  if (c.price_per_device_hour > 0) {
    std::cout << absl::StrFormat("  %-38s $%s (at $%.4g per device-hour)\n", "implied cost", Si(c.implied_cost_dollars),
                                 c.price_per_device_hour);
  }
  if (c.measured_mfu > 0) {
    std::cout << absl::StrFormat("  %-38s %.2f%% (%s)\n", "measured MFU on this model shape", 100 * c.measured_mfu,
                                 measured_from);
    std::cout << absl::StrFormat("  %-38s %s\n", "device-hours at the measured MFU", Si(c.device_hours_at_measured));
    if (c.price_per_device_hour > 0) {
      std::cout << absl::StrFormat("  %-38s $%s\n", "cost at the measured MFU", Si(c.cost_at_measured_dollars));
    }
    std::cout << absl::StrFormat("  %-38s %.3g\n", "implied / measured MFU", c.implied_over_measured);
  }
  return kExitOk;
}

}  // namespace tokenmeter::cli
