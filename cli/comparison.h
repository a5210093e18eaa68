// One workload's stored results side by side, as `tokenmeter compare` shows
// them: the figures each result is compared on, ratios to a baseline setup,
// which result is the fastest and which the cheapest, and how a setup's
// figure scales across rank counts. Pure: it reads the figures the
// coordinator stored (docs/cost-model.md defines them) and derives only
// ratios, marks and scaling efficiency from them.
#ifndef TOKENMETER_CLI_COMPARISON_H_
#define TOKENMETER_CLI_COMPARISON_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tokenmeter/v1/result.pb.h"

namespace tokenmeter::cli {

// A named figure of a result, its JSON key (unit in the name).
struct Figure {
  std::string name;
  double value = 0;
  std::string label;  // the table's column header
};

// What a result is compared on, by kind of workload:
//   train step: tokens_per_second, mfu (datasheet), mfu_mamf,
//     cost_per_million_tokens_dollars, energy_per_million_tokens_joules
//     (energy_per_token_joules × 1e6), step_seconds_median, _p10, _p90;
//   gemm sweep: mamf_tflops;
//   collective sweep: busbw_gbps_largest (at the sweep's largest size, where
//     bandwidth and not latency decides), busbw_gbps_max, size_bytes_largest.
std::vector<Figure> ComparedFigures(const v1::JobResult& result);

// The figure that says which result is faster (higher is faster), and the
// one that says which is cheaper (lower is cheaper; train steps only).
std::string SpeedFigure(const v1::JobResult& result);
inline constexpr char kCostFigure[] = "cost_per_million_tokens_dollars";

// Two results of one workload name are the same measurement only when this
// matches: the workload's version and, for a train step, its profile.
std::string IdentityOf(const v1::JobResult& result);

struct ComparedResult {
  const v1::JobResult* result = nullptr;
  std::vector<Figure> figures;
  // figure / the baseline's same figure, per figure; nullopt where the
  // baseline's is 0 (no ratio to a missing figure).
  std::vector<std::optional<double>> ratios;
  bool fastest = false;   // the highest SpeedFigure of the rows
  bool cheapest = false;  // the lowest non-zero cost of the rows
};

struct Comparison {
  std::string workload;  // the baseline's spec name
  std::string identity;  // IdentityOf the baseline
  std::string baseline;  // its setup
  const v1::JobResult* baseline_result = nullptr;  // the baseline setup's newest
  std::vector<ComparedResult> rows;                 // by setup, then oldest first
  // Setups whose results are all of another identity, with theirs.
  std::vector<std::pair<std::string, std::string>> left_out;
};

// `newest_first`: one workload's results, newest first (as the store lists
// them). `baseline`: a setup, or "" for the first setup in name order.
// Rows: each setup's newest result of the baseline's identity, or with
// `every_result` all of them. NotFound when `baseline` has no result.
// REQUIRES: newest_first is not empty; the results outlive the Comparison.
absl::StatusOr<Comparison> Compare(const std::vector<v1::JobResult>& newest_first, const std::string& baseline,
                                   bool every_result);

// One setup's newest result per rank count, smallest first. per_rank is the
// speed figure per rank for aggregate figures (tokens/s ÷ ranks) and the
// figure itself for per-device and per-link ones (MAMF, busbw: nccl-tests'
// busbw is already comparable across rank counts); efficiency is per_rank
// over the smallest rank count's.
struct ScalingPoint {
  const v1::JobResult* result = nullptr;
  int ranks = 0;
  double speed = 0;
  double per_rank = 0;
  double efficiency = 0;
};
struct ScalingSeries {
  std::string setup;
  std::string figure;  // SpeedFigure
  std::vector<ScalingPoint> points;
};

// Every setup (or only `setup`, when given) with results of `identity` at two
// or more rank counts, in setup name order.
std::vector<ScalingSeries> Scaling(const std::vector<v1::JobResult>& newest_first, const std::string& identity,
                                   const std::string& setup);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_COMPARISON_H_
