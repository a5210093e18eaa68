#include "cli/comparison.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "workload/figures.h"

namespace tokenmeter::cli {
namespace {

const v1::CollectiveMeasurement* Largest(const v1::JobResult& r) {
  const v1::CollectiveMeasurement* largest = nullptr;
  for (const auto& c : r.collective()) {
    if (largest == nullptr || c.size_bytes() > largest->size_bytes()) largest = &c;
  }
  return largest;
}

double FigureOf(const std::vector<Figure>& figures, const std::string& name) {
  for (const auto& f : figures) {
    if (f.name == name) return f.value;
  }
  return 0;
}

// Aggregate figures grow with the ranks; per-device and per-link ones do not.
bool IsAggregate(const std::string& figure) { return figure == "tokens_per_second"; }

}  // namespace

std::vector<Figure> ComparedFigures(const v1::JobResult& r) {
  if (r.has_train_step()) {
    const auto& t = r.train_step();
    return {{"tokens_per_second", t.tokens_per_second(), "tokens/s"},
            {"mfu", t.mfu(), "MFU"},
            {"mfu_mamf", t.mfu_mamf(), "MFU (MAMF)"},
            {kCostFigure, t.cost_per_million_tokens_dollars(), "$ / 1M tokens"},
            {"energy_per_million_tokens_joules", t.energy_per_token_joules() * 1e6, "J / 1M tokens"},
            {"step_seconds_median", t.step().median_seconds(), "step s p50"},
            {"step_seconds_p10", t.step().p10_seconds(), "step s p10"},
            {"step_seconds_p90", t.step().p90_seconds(), "step s p90"}};
  }
  if (r.gemm_size() > 0) return {{"mamf_tflops", r.mamf_tflops(), "MAMF TFLOP/s"}};
  if (const auto* largest = Largest(r)) {
    double best = 0;
    for (const auto& c : r.collective()) best = std::max(best, c.busbw_gbps());
    return {{"busbw_gbps_largest", largest->busbw_gbps(), "busbw GB/s @max"},
            {"busbw_gbps_max", best, "busbw GB/s best"},
            {"size_bytes_largest", static_cast<double>(largest->size_bytes()), "max size B"}};
  }
  return {};
}

std::string SpeedFigure(const v1::JobResult& r) {
  if (r.has_train_step()) return "tokens_per_second";
  if (r.gemm_size() > 0) return "mamf_tflops";
  return "busbw_gbps_largest";
}

std::string IdentityOf(const v1::JobResult& r) {
  std::string id = absl::StrCat("version ", r.spec().version());
  if (r.spec().has_train_step()) {
    absl::StrAppend(&id, ", profile ", workload::FrameworkProfileName(r.spec().train_step().profile()));
  }
  return id;
}

absl::StatusOr<Comparison> Compare(const std::vector<v1::JobResult>& newest_first, const std::string& baseline,
                                   bool every_result) {
  std::map<std::string, const v1::JobResult*> newest;  // per setup
  for (const auto& r : newest_first) newest.try_emplace(r.setup(), &r);
  Comparison c;
  c.baseline = baseline.empty() ? newest.begin()->first : baseline;
  auto base = newest.find(c.baseline);
  if (base == newest.end()) {
    return absl::NotFoundError(absl::StrCat("--baseline: no stored ", newest_first.front().spec().name(),
                                            " result of setup '", c.baseline, "'"));
  }
  c.baseline_result = base->second;
  c.workload = base->second->spec().name();
  c.identity = IdentityOf(*base->second);

  // By setup, each setup's results oldest first; only the newest unless every_result.
  std::map<std::string, std::vector<const v1::JobResult*>> by_setup;
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
    if (IdentityOf(*it) == c.identity) by_setup[it->setup()].push_back(&*it);
  }
  for (const auto& [setup, r] : newest) {
    if (by_setup.count(setup) == 0) c.left_out.emplace_back(setup, IdentityOf(*r));
  }
  const std::vector<Figure> base_figures = ComparedFigures(*c.baseline_result);
  for (const auto& [setup, results] : by_setup) {
    const size_t first = every_result ? 0 : results.size() - 1;
    for (size_t i = first; i < results.size(); ++i) {
      ComparedResult row;
      row.result = results[i];
      row.figures = ComparedFigures(*results[i]);
      for (size_t f = 0; f < row.figures.size(); ++f) {
        const double b = f < base_figures.size() ? base_figures[f].value : 0;
        row.ratios.push_back(b != 0 ? std::optional<double>(row.figures[f].value / b) : std::nullopt);
      }
      c.rows.push_back(std::move(row));
    }
  }
  // Marks. Ties mark every tied row.
  const std::string speed = SpeedFigure(*c.baseline_result);
  double fastest = 0, cheapest = 0;
  for (const auto& row : c.rows) {
    fastest = std::max(fastest, FigureOf(row.figures, speed));
    const double cost = FigureOf(row.figures, kCostFigure);
    if (cost > 0 && (cheapest == 0 || cost < cheapest)) cheapest = cost;
  }
  for (auto& row : c.rows) {
    row.fastest = fastest > 0 && FigureOf(row.figures, speed) == fastest;
    row.cheapest = cheapest > 0 && FigureOf(row.figures, kCostFigure) == cheapest;
  }
  return c;
}

std::vector<ScalingSeries> Scaling(const std::vector<v1::JobResult>& newest_first, const std::string& identity,
                                   const std::string& setup) {
  // setup -> ranks -> newest result.
  std::map<std::string, std::map<int, const v1::JobResult*>> newest;
  for (const auto& r : newest_first) {
    if (IdentityOf(r) != identity || (!setup.empty() && r.setup() != setup)) continue;
    newest[r.setup()].try_emplace(r.world_size(), &r);
  }
  std::vector<ScalingSeries> out;
  for (const auto& [name, by_ranks] : newest) {
    if (by_ranks.size() < 2) continue;
    ScalingSeries series;
    series.setup = name;
    series.figure = SpeedFigure(*by_ranks.begin()->second);
    const bool aggregate = IsAggregate(series.figure);
    for (const auto& [ranks, r] : by_ranks) {
      ScalingPoint p;
      p.result = r;
      p.ranks = ranks;
      p.speed = FigureOf(ComparedFigures(*r), series.figure);
      p.per_rank = aggregate && ranks > 0 ? p.speed / ranks : p.speed;
      series.points.push_back(p);
    }
    const double base = series.points.front().per_rank;
    for (auto& p : series.points) p.efficiency = base > 0 ? p.per_rank / base : 0;
    out.push_back(std::move(series));
  }
  return out;
}

}  // namespace tokenmeter::cli
