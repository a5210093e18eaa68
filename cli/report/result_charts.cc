// The charts of figures across results: bars per setup, busbw sweeps, GEMM
// shapes, scaling. (Per-rank timings: rank_timing_chart.cc.)
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/comparison.h"
#include "cli/report/html.h"
#include "cli/report/result_charts.h"
#include "cli/report/svg_chart.h"
#include "workload/figures.h"

namespace tokenmeter::cli::report {
namespace {

std::string Plural(size_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string Ranks(int n) { return Plural(static_cast<size_t>(n), "rank", "ranks"); }

// "left out: 3 results with no price, ..." for the reasons that apply.
std::string LeftOut(const std::vector<std::string>& reasons) {
  std::string text;
  for (const auto& reason : reasons) {
    if (reason.empty()) continue;
    absl::StrAppend(&text, text.empty() ? " Left out: " : "; ", reason);
  }
  return text.empty() ? text : text + ".";
}

std::string CapReason(size_t total, int cap, absl::string_view what) {
  if (total <= static_cast<size_t>(cap)) return "";
  return absl::StrCat(total - cap, " ", what, " past the cap of ", cap);
}

std::string ShapeName(const v1::GemmShape& shape) {
  return shape.name().empty() ? absl::StrFormat("%dx%dx%d", shape.m(), shape.n(), shape.k()) : shape.name();
}

// ---- Train-step bars ----

struct BarFigure {
  std::string name;          // data-chart
  std::string title;
  std::string axis;          // the x axis's label
  std::string missing;       // why a figure of 0 has no bar
  std::function<double(const v1::TrainStepFigures&)> stored;   // the stored figure
  std::function<double(const v1::TrainStepFigures&)> drawn;    // as drawn (MFU in %)
  std::function<std::string(const v1::TrainStepFigures&)> text;    // beside the bar
  std::function<std::string(const v1::TrainStepFigures&)> detail;  // more, on hover
};

std::optional<ChartFigure> TrainStepBars(const ResultList& newest, const ReportLimits& limits, const BarFigure& f) {
  std::map<std::string, int> color_of_workload;
  std::vector<Bar> bars;
  size_t missing = 0, drawable = 0;
  for (const auto* r : newest) {
    const auto& t = r->train_step();
    if (f.stored(t) <= 0) {
      ++missing;
      continue;
    }
    ++drawable;
    if (bars.size() >= static_cast<size_t>(limits.max_bars)) continue;
    const int color = color_of_workload.try_emplace(WorkloadLabel(*r), color_of_workload.size()).first->second;
    Bar bar;
    bar.label = absl::StrCat(r->setup(), " \u00b7 ", r->spec().name());
    bar.value = f.drawn(t);
    bar.value_text = f.text(t);
    bar.title = absl::StrCat(r->setup(), " \u00b7 ", WorkloadLabel(*r), ": ", f.text(t), f.detail(t), " (",
                             Ranks(r->world_size()), ", ", r->device_model(), ", job ", r->job_id(), ", ",
                             FinishedAt(*r), ")");
    bar.color = color;
    bars.push_back(std::move(bar));
  }
  if (bars.empty()) return std::nullopt;
  ChartFrame frame;
  frame.name = f.name;
  frame.title = f.title;
  frame.x_label = f.axis;
  ChartFigure figure;
  figure.svg = BarChart(frame, bars, [](double v) { return FormatNumber(v); });
  figure.caption = absl::StrCat(
      "One bar per train-step workload \u00d7 setup, its newest result; colour by workload.",
      LeftOut({missing ? absl::StrCat(Plural(missing, "result", "results"), " ", f.missing) : "",
               CapReason(drawable, limits.max_bars, "bars")}));
  return figure;
}

}  // namespace

ChartSection TrainStepBarCharts(const ResultList& newest_first, const ReportLimits& limits) {
  ResultList train_steps;
  for (const auto* r : NewestPerWorkloadAndSetup(newest_first)) {
    if (r->has_train_step()) train_steps.push_back(r);
  }
  const std::vector<BarFigure> figures = {
      {"cost-per-million-tokens", "Cost per 1M tokens by setup", "US dollars per 1M tokens",
       "with no price (no cost is stored without one)",
       [](const auto& t) { return t.cost_per_million_tokens_dollars(); },
       [](const auto& t) { return t.cost_per_million_tokens_dollars(); },
       [](const auto& t) { return absl::StrCat("$", FormatNumber(t.cost_per_million_tokens_dollars())); },
       [](const auto& t) {
         return absl::StrCat(" at $", FormatNumber(t.price_per_device_hour()), " per device-hour");
       }},
      {"tokens-per-second", "Tokens per second by setup", "tokens/s", "with no tokens/s stored",
       [](const auto& t) { return t.tokens_per_second(); }, [](const auto& t) { return t.tokens_per_second(); },
       [](const auto& t) { return absl::StrCat(FormatNumber(t.tokens_per_second()), " tokens/s"); },
       [](const auto& t) { return absl::StrCat(", ", t.tokens_per_step(), " tokens per step"); }},
      {"mfu", "MFU by setup", "MFU (%) against the peak", "on a device with no known peak",
       [](const auto& t) { return t.mfu(); }, [](const auto& t) { return 100 * t.mfu(); },
       [](const auto& t) { return absl::StrFormat("%.2f%%", 100 * t.mfu()); },
       [](const auto& t) {
         return absl::StrCat(" against a peak of ", FormatNumber(t.peak_flops_per_device() / 1e12),
                             " TFLOP/s per device (", t.peak_is_measured() ? "measured" : "datasheet", ")");
       }},
  };
  ChartSection section{"train-steps", "Training steps by setup",
                       "Stored train-step figures (docs/cost-model.md): what a token costs, how fast tokens go, and "
                       "MFU against the datasheet peak (CPUs: a measured calibration GEMM, labelled).",
                       {}};
  for (const auto& f : figures) {
    if (auto figure = TrainStepBars(train_steps, limits, f)) section.figures.push_back(*std::move(figure));
  }
  return section;
}

ChartSection BusbwCharts(const ResultList& newest_first, const ReportLimits& limits) {
  ChartSection section{"busbw", "Bus bandwidth against message size",
                       "busbw as nccl-tests defines it (docs/cost-model.md, \"Collectives\"), per size of the sweep, "
                       "the slowest rank's median; one line per setup and rank count, its newest result.",
                       {}};
  std::map<int, std::map<std::pair<std::string, int>, const v1::JobResult*>> lines_by_op;
  for (const auto* r : newest_first) {
    for (const auto op : CollectiveOps(*r)) lines_by_op[op].try_emplace({r->setup(), r->world_size()}, r);
  }
  for (const auto& [op_number, lines] : lines_by_op) {
    const auto op = static_cast<v1::CollectiveOp>(op_number);
    const std::string op_name(workload::CollectiveOpName(op));
    std::vector<XySeries> series;
    for (const auto& [key, r] : lines) {
      if (series.size() >= static_cast<size_t>(limits.max_lines_per_chart)) break;
      XySeries s;
      s.name = absl::StrCat(r->setup(), " \u00b7 ", Ranks(r->world_size()), " \u00b7 ", WorkloadLabel(*r),
                            workload::CollectivesHostStaged(*r) ? " (host-staged)" : "");
      std::vector<const v1::CollectiveMeasurement*> rows;
      for (const auto& c : r->collective()) {
        if (c.op() == op && c.size_bytes() > 0) rows.push_back(&c);
      }
      std::stable_sort(rows.begin(), rows.end(),
                       [](const auto* a, const auto* b) { return a->size_bytes() < b->size_bytes(); });
      for (const auto* c : rows) {
        XyPoint p;
        p.x = static_cast<double>(c->size_bytes());
        p.y = c->busbw_gbps();
        p.title = absl::StrCat(r->setup(), ", ", Ranks(r->world_size()), ": ", op_name, " ",
                               FormatBytes(p.x), " (", c->size_bytes(), " B, ",
                               workload::DTypeName(c->dtype()), "): busbw ", FormatNumber(c->busbw_gbps()),
                               " GB/s, algbw ", FormatNumber(c->algbw_gbps()), " GB/s, median ",
                               FormatSeconds(c->timing().median_seconds()),
                               c->wrong_elements() ? ", WRONG elements" : "", " (job ", r->job_id(), ")");
        s.points.push_back(std::move(p));
      }
      if (!s.points.empty()) {
        s.points.back().label = absl::StrCat(FormatNumber(s.points.back().y), " GB/s");
      }
      series.push_back(std::move(s));
    }
    ChartFrame frame;
    frame.name = "busbw";
    frame.key = op_name;
    frame.title = absl::StrCat("busbw against message size: ", op_name);
    frame.x_label = "message size (bytes, log2 scale)";
    frame.y_label = "busbw (GB/s)";
    XAxis x_axis;
    x_axis.kind = XAxis::kLog2;
    x_axis.tick_label = [](double v) { return FormatBytes(v); };
    YAxis y_axis;
    y_axis.tick_label = [](double v) { return FormatNumber(v); };
    section.figures.push_back(
        {XyChart(frame, x_axis, y_axis, series),
         absl::StrCat(op_name, ": ", Plural(series.size(), "line", "lines"), ", one per setup and rank count.",
                      LeftOut({CapReason(lines.size(), limits.max_lines_per_chart, "lines")}))});
  }
  return section;
}

ChartSection GemmCharts(const ResultList& newest_first, const ReportLimits& limits) {
  ChartSection section{"gemm", "GEMM throughput per shape",
                       "TFLOP/s per device of each shape (the slowest rank's median), a series per setup, its newest "
                       "result of the workload. The line is the stored MAMF (the best row over every shape and dtype "
                       "of the result), drawn in the chart of the dtype it was measured in.",
                       {}};
  // (workload label, dtype) -> setup -> newest result with rows in that dtype.
  std::map<std::pair<std::string, int>, std::map<std::string, const v1::JobResult*>> charts;
  for (const auto* r : newest_first) {
    std::set<int> dtypes;
    for (const auto& g : r->gemm()) dtypes.insert(g.dtype());
    for (const int dtype : dtypes) charts[{WorkloadLabel(*r), dtype}].try_emplace(r->setup(), r);
  }
  int drawn = 0;
  for (const auto& [key, by_setup] : charts) {
    if (drawn++ >= limits.max_gemm_charts) break;
    const auto dtype = static_cast<v1::DType>(key.second);
    std::vector<std::string> categories;
    std::map<std::tuple<std::string, int64_t, int64_t, int64_t>, int> category_of;
    std::vector<XySeries> series;
    std::vector<ReferenceLine> references;
    std::vector<std::string> mamf_elsewhere;
    for (const auto& [setup, r] : by_setup) {
      if (series.size() >= static_cast<size_t>(limits.max_lines_per_chart)) break;
      XySeries s;
      s.name = absl::StrCat(setup, " \u00b7 ", Ranks(r->world_size()));
      s.connect = false;
      bool mamf_here = false;
      for (const auto& g : r->gemm()) {
        if (g.dtype() != dtype) continue;
        const auto shape_key = std::make_tuple(ShapeName(g.shape()), g.shape().m(), g.shape().n(), g.shape().k());
        auto [it, inserted] = category_of.try_emplace(shape_key, static_cast<int>(categories.size()));
        if (inserted) categories.push_back(ShapeName(g.shape()));
        XyPoint p;
        p.x = it->second;
        p.y = g.tflops();
        p.title = absl::StrFormat("%s: %s (%dx%dx%d) %s: %s TFLOP/s, median %s%s (job %s)", setup, ShapeName(g.shape()),
                                  g.shape().m(), g.shape().n(), g.shape().k(), workload::DTypeName(dtype),
                                  FormatNumber(g.tflops()), FormatSeconds(g.timing().median_seconds()),
                                  g.verified() ? ", verified" : ", NOT verified", r->job_id());
        s.points.push_back(std::move(p));
        mamf_here = mamf_here || g.tflops() == r->mamf_tflops();
      }
      if (mamf_here) {
        references.push_back({r->mamf_tflops(),
                              absl::StrCat("MAMF ", setup, ": ", FormatNumber(r->mamf_tflops()), " TFLOP/s"),
                              static_cast<int>(series.size())});
      } else if (r->mamf_tflops() > 0) {
        mamf_elsewhere.push_back(absl::StrCat(setup, " ", FormatNumber(r->mamf_tflops()), " TFLOP/s"));
      }
      series.push_back(std::move(s));
    }
    ChartFrame frame;
    frame.name = "gemm-tflops";
    frame.key = absl::StrCat(key.first, " ", workload::DTypeName(dtype));
    frame.title = absl::StrCat("GEMM TFLOP/s per shape: ", key.first, ", ", workload::DTypeName(dtype));
    frame.x_label = "shape";
    frame.y_label = "TFLOP/s per device";
    XAxis x_axis;
    x_axis.kind = XAxis::kCategories;
    x_axis.categories = categories;
    YAxis y_axis;
    y_axis.tick_label = [](double v) { return FormatNumber(v); };
    std::string caption = absl::StrCat(key.first, " in ", workload::DTypeName(dtype), ": ",
                                       Plural(series.size(), "setup", "setups"), ", a point per shape.");
    if (!mamf_elsewhere.empty()) {
      absl::StrAppend(&caption, " MAMF measured in another dtype: ", absl::StrJoin(mamf_elsewhere, ", "), ".");
    }
    absl::StrAppend(&caption, LeftOut({CapReason(by_setup.size(), limits.max_lines_per_chart, "setups")}));
    section.figures.push_back({XyChart(frame, x_axis, y_axis, series, references), caption});
  }
  if (!section.figures.empty() && charts.size() > static_cast<size_t>(limits.max_gemm_charts)) {
    section.intro += absl::StrCat(" ", charts.size() - limits.max_gemm_charts,
                                  " workload \u00d7 dtype charts left out past the cap of ", limits.max_gemm_charts,
                                  ".");
  }
  return section;
}

namespace {

// How a speed figure of cli/comparison.h reads on a chart.
std::string ScalingUnit(const std::string& figure) {
  if (figure == "tokens_per_second") return "tokens/s";
  if (figure == "mamf_tflops") return "MAMF, TFLOP/s per device";
  if (figure == "busbw_gbps_largest") return "busbw at the largest size, GB/s";
  return figure;
}

}  // namespace

ChartSection ScalingCharts(const ResultList& newest_first, const ReportLimits& limits) {
  ChartSection section{"scaling", "Scaling across rank counts",
                       "Where a workload has results on one setup at several rank counts: the newest result at each, "
                       "as tokenmeter compare --scaling reads them (tokens/s for train steps, MAMF per device for "
                       "GEMM sweeps, busbw at the sweep's largest size for collectives). Labels give the scaling "
                       "efficiency against the smallest rank count: tokens/s per rank over its tokens/s per rank; "
                       "MAMF and busbw (level when scaling perfectly) over theirs. A 1-rank collective has busbw 0 "
                       "(nothing crosses a bus), so a series starting there has no efficiency.",
                       {}};
  // Scaling() reads one workload's results, newest first.
  std::map<std::string, std::vector<v1::JobResult>> by_workload;
  for (const auto* r : newest_first) by_workload[r->spec().name()].push_back(*r);
  size_t eligible = 0;
  for (const auto& [name, results] : by_workload) {
    std::set<std::string> identities;
    for (const auto& r : results) identities.insert(IdentityOf(r));
    for (const auto& identity : identities) {
      for (const auto& s : Scaling(results, identity, /*setup=*/"")) {
        if (eligible++ >= static_cast<size_t>(limits.max_scaling_charts)) continue;
        const std::string workload = WorkloadLabel(*s.points.front().result);
        const bool has_base = s.points.front().per_rank > 0;
        XySeries xy;
        xy.name = absl::StrCat(s.setup, ": ", ScalingUnit(s.figure));
        XAxis x_axis;
        x_axis.kind = XAxis::kLog2;
        x_axis.tick_label = [](double v) { return absl::StrFormat("%.0f", v); };
        for (const auto& p : s.points) {
          XyPoint point;
          point.x = p.ranks;
          point.y = p.speed;
          const std::string efficiency =
              has_base ? absl::StrFormat("%.0f%%", 100 * p.efficiency) : std::string("\u2013");
          point.label = absl::StrCat(FormatNumber(p.speed), ", eff ", efficiency);
          point.title = absl::StrCat(s.setup, ", ", Ranks(p.ranks), ": ", FormatNumber(p.speed), " (",
                                     ScalingUnit(s.figure), "), scaling efficiency ", efficiency, " against ",
                                     Ranks(s.points.front().ranks), " (job ", p.result->job_id(), ")");
          x_axis.ticks.push_back(p.ranks);
          xy.points.push_back(std::move(point));
        }
        ChartFrame frame;
        frame.name = "scaling";
        frame.key = absl::StrCat(workload, " \u00b7 ", s.setup);
        frame.title = absl::StrCat("Scaling: ", workload, " on ", s.setup);
        frame.x_label = "ranks (log2 scale)";
        frame.y_label = ScalingUnit(s.figure);
        YAxis y_axis;
        y_axis.tick_label = [](double v) { return FormatNumber(v); };
        section.figures.push_back({XyChart(frame, x_axis, y_axis, {xy}),
                                   absl::StrCat(workload, " on ", s.setup, " at ", s.points.size(),
                                                " rank counts; labels: the value, then the efficiency against ",
                                                Ranks(s.points.front().ranks), ".")});
      }
    }
  }
  if (eligible > static_cast<size_t>(limits.max_scaling_charts)) {
    section.intro += absl::StrCat(" ", eligible - limits.max_scaling_charts, " charts left out past the cap of ",
                                  limits.max_scaling_charts, ".");
  }
  return section;
}

}  // namespace tokenmeter::cli::report
