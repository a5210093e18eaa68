#include "cli/report/svg_chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/report/html.h"

namespace tokenmeter::cli::report {
namespace {

constexpr int kTitleHeight = 30;    // the chart's heading above the plot
constexpr int kTickTextHeight = 18;
constexpr int kAxisLabelHeight = 20;
constexpr int kLegendRowHeight = 16;
constexpr int kBarRowHeight = 22;
constexpr int kBarThickness = 16;
// Longer labels are cut on the page (kept whole in the hover text): the
// room beside a bar or under a tick is fixed; a legend row has more.
constexpr size_t kMaxLabelBytes = 40;
constexpr size_t kMaxLegendBytes = 100;

std::string Px(double v) { return absl::StrFormat("%.1f", v); }

// `text` cut to at most `max_bytes` on a UTF-8 character boundary, with an
// ellipsis when cut.
std::string ShortLabel(const std::string& text, size_t max_bytes = kMaxLabelBytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes - 1;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "\u2026";
}

// A tick's text; "%g" when the axis was given no format.
std::string TickText(const TickFormat& format, double value) {
  return format ? format(value) : absl::StrFormat("%g", value);
}

std::string Title(const std::string& text) { return absl::StrCat("<title>", EscapeHtml(text), "</title>"); }

std::string Text(double x, double y, const std::string& text, const std::string& attributes = "") {
  return absl::StrCat("<text x=\"", Px(x), "\" y=\"", Px(y), "\"", attributes.empty() ? "" : " ", attributes, ">",
                      EscapeHtml(text), "</text>");
}

std::string Line(double x1, double y1, double x2, double y2, const std::string& css_class,
                 const std::string& extra = "") {
  return absl::StrCat("<line class=\"", css_class, "\" x1=\"", Px(x1), "\" y1=\"", Px(y1), "\" x2=\"", Px(x2),
                      "\" y2=\"", Px(y2), "\"", extra.empty() ? "" : " ", extra, "/>");
}

std::string OpenSvg(const ChartFrame& frame, int height) {
  return absl::StrCat("<svg class=\"chart\" data-chart=\"", EscapeHtml(frame.name), "\" data-key=\"",
                      EscapeHtml(frame.key), "\" width=\"", frame.width, "\" height=\"", height, "\" viewBox=\"0 0 ",
                      frame.width, " ", height, "\" role=\"img\">", Title(frame.title), "\n",
                      Text(8, 18, frame.title, "class=\"chart-title\""), "\n");
}

// The plot's rectangle in pixels.
struct PlotArea {
  double left, top, width, height;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

// Horizontal grid lines and tick labels of a y scale, and the axis's label.
std::string YTicksAndLabel(const PlotArea& plot, const Scale& scale, const TickFormat& format,
                           const std::string& label) {
  std::string svg;
  for (const double tick : scale.Ticks()) {
    const double y = plot.bottom() - scale.Fraction(tick) * plot.height;
    absl::StrAppend(&svg, Line(plot.left, y, plot.right(), y, "grid"),
                    Text(plot.left - 6, y + 4, TickText(format, tick), "text-anchor=\"end\""), "\n");
  }
  const double middle = plot.top + plot.height / 2;
  const std::string rotated =
      absl::StrFormat("class=\"axis-label\" text-anchor=\"middle\" transform=\"rotate(-90 14 %s)\"", Px(middle));
  absl::StrAppend(&svg, Text(14, middle, label, rotated), "\n");
  return svg;
}

std::string AxesFrame(const PlotArea& plot) {
  return absl::StrCat(Line(plot.left, plot.top, plot.left, plot.bottom(), "axis"),
                      Line(plot.left, plot.bottom(), plot.right(), plot.bottom(), "axis"), "\n");
}

// One row per series under the plot: a swatch and the series's name.
std::string Legend(const std::vector<XySeries>& series, double left, double top) {
  std::string svg;
  for (size_t i = 0; i < series.size(); ++i) {
    const double y = top + static_cast<double>(i) * kLegendRowHeight;
    absl::StrAppend(&svg, "<g class=\"legend\">", Title(series[i].name), "<rect x=\"", Px(left), "\" y=\"", Px(y),
                    "\" width=\"10\" height=\"10\" fill=\"", PaletteColor(static_cast<int>(i)), "\"/>",
                    Text(left + 16, y + 9, ShortLabel(series[i].name, kMaxLegendBytes)), "</g>\n");
  }
  return svg;
}

// A 1-2-5 step at least as large as `rough`.
double NiceStep(double rough) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (factor * magnitude >= rough) return factor * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace

Scale Scale::Linear(double lo, double hi, bool include_zero, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = hi = 0;  // a NaN would make every coordinate "nan"
  // Within a range whose width is itself a finite number.
  lo = std::max(lo, -1e307);
  hi = std::min(hi, 1e307);
  if (include_zero) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (!(hi > lo)) {  // one value (or none): a range around it
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    hi = lo + pad;
    if (!include_zero || lo != 0) lo -= pad;
  }
  const double step = NiceStep((hi - lo) / std::max(1, max_ticks - 1));
  return Scale(false, std::floor(lo / step) * step, std::ceil(hi / step) * step, step);
}

Scale Scale::Log2(double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo <= 0 || hi <= 0) lo = hi = 1;
  const double lo_exponent = std::floor(std::log2(lo));
  double hi_exponent = std::ceil(std::log2(hi));
  if (hi_exponent <= lo_exponent) hi_exponent = lo_exponent + 1;
  const double step = std::ceil((hi_exponent - lo_exponent + 1) / std::max(1, max_ticks));
  return Scale(true, lo_exponent, hi_exponent, std::max(1.0, step));
}

double Scale::Fraction(double value) const {
  const double v = log2_ ? std::log2(std::max(value, 1e-300)) : value;
  const double fraction = (v - lo_) / (hi_ - lo_);
  // A value that is not a number is drawn at the axis, never as "nan".
  return std::isfinite(fraction) ? std::clamp(fraction, 0.0, 1.0) : (fraction > 0 ? 1.0 : 0.0);
}

std::vector<double> Scale::Ticks() const {
  std::vector<double> ticks;
  const double steps = std::floor((hi_ - lo_) / step_ + 1e-9);
  // The step keeps ticks near max_ticks; the bound only guards rounding at extreme ranges.
  const int count = std::isfinite(steps) ? static_cast<int>(std::clamp(steps, 0.0, 100.0)) + 1 : 1;
  for (int i = 0; i < count; ++i) {
    double t = lo_ + i * step_;
    if (!log2_ && std::fabs(t) < step_ * 1e-9) t = 0;  // no "-0" tick from rounding
    ticks.push_back(log2_ ? std::exp2(t) : t);
  }
  return ticks;
}

const std::string& PaletteColor(int index) {
  // Tableau 10: distinct in colour and in lightness.
  static const std::vector<std::string> kPalette = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return kPalette[static_cast<unsigned>(index) % kPalette.size()];
}

std::string BarChart(const ChartFrame& frame, const std::vector<Bar>& bars, const TickFormat& x_ticks) {
  const PlotArea plot{240, kTitleHeight, frame.width - 240.0 - 100.0,
                      static_cast<double>(std::max<size_t>(bars.size(), 1) * kBarRowHeight + 6)};
  const int height = static_cast<int>(plot.bottom()) + kTickTextHeight + kAxisLabelHeight + 8;
  double most = 0;
  for (const auto& bar : bars) most = std::max(most, bar.value);
  const Scale scale = Scale::Linear(0, most, /*include_zero=*/true);
  std::string svg = OpenSvg(frame, height);
  for (const double tick : scale.Ticks()) {
    const double x = plot.left + scale.Fraction(tick) * plot.width;
    absl::StrAppend(&svg, Line(x, plot.top, x, plot.bottom(), "grid"),
                    Text(x, plot.bottom() + 14, TickText(x_ticks, tick), "text-anchor=\"middle\""), "\n");
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& bar = bars[i];
    const double y = plot.top + 6 + static_cast<double>(i) * kBarRowHeight;
    const double length = scale.Fraction(bar.value) * plot.width;
    const std::string hover = bar.title.empty() ? absl::StrCat(bar.label, ": ", bar.value_text) : bar.title;
    absl::StrAppend(&svg, Text(plot.left - 6, y + 12, ShortLabel(bar.label), "text-anchor=\"end\""),
                    "<rect class=\"mark\" x=\"", Px(plot.left), "\" y=\"", Px(y), "\" width=\"",
                    Px(std::max(length, 1.0)), "\" height=\"", kBarThickness, "\" fill=\"", PaletteColor(bar.color),
                    "\">", Title(hover), "</rect>",
                    Text(plot.left + length + 4, y + 12, bar.value_text, "class=\"value\""), "\n");
  }
  absl::StrAppend(&svg, AxesFrame(plot),
                  Text(plot.left + plot.width / 2, plot.bottom() + kTickTextHeight + 14, frame.x_label,
                       "class=\"axis-label\" text-anchor=\"middle\""),
                  "</svg>\n");
  return svg;
}

namespace {

Scale XScale(const XAxis& axis, const std::vector<XySeries>& series) {
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const auto& s : series) {
    for (const auto& p : s.points) {
      lo = std::min(lo, p.x);
      hi = std::max(hi, p.x);
    }
  }
  for (const double t : axis.ticks) {
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  if (lo > hi) lo = hi = 1;  // nothing to place
  if (axis.kind == XAxis::kLog2) return Scale::Log2(std::max(lo, 1e-300), std::max(hi, 1e-300));
  return Scale::Linear(lo, hi, /*include_zero=*/false);
}

Scale YScale(const YAxis& axis, const std::vector<XySeries>& series, const std::vector<ReferenceLine>& references) {
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const auto& s : series) {
    for (const auto& p : s.points) {
      lo = std::min(lo, p.y);
      hi = std::max(hi, p.y);
    }
  }
  for (const auto& r : references) {
    lo = std::min(lo, r.y);
    hi = std::max(hi, r.y);
  }
  if (lo > hi) lo = hi = 0;
  return Scale::Linear(lo, hi, axis.include_zero);
}

}  // namespace

std::string XyChart(const ChartFrame& frame, const XAxis& x_axis, const YAxis& y_axis,
                    const std::vector<XySeries>& series, const std::vector<ReferenceLine>& references) {
  const bool categories = x_axis.kind == XAxis::kCategories;
  const double tick_area = categories ? 84 : kTickTextHeight;
  const PlotArea plot{70, kTitleHeight, frame.width - 70.0 - 110.0, static_cast<double>(frame.plot_height)};
  const double legend_top = plot.bottom() + tick_area + kAxisLabelHeight + 6;
  const int height = static_cast<int>(legend_top + series.size() * kLegendRowHeight + 6);
  const Scale y_scale = YScale(y_axis, series, references);
  const size_t category_count = std::max<size_t>(x_axis.categories.size(), 1);
  const Scale x_scale = categories ? Scale::Linear(0, 1, false) : XScale(x_axis, series);
  // Series side by side within a category, so that equal values stay apart.
  const double dodge = std::min(0.15, 0.6 / static_cast<double>(std::max<size_t>(series.size(), 1)));
  auto x_px = [&](double x, size_t series_index) {
    if (categories) {
      const double offset = (static_cast<double>(series_index) - (static_cast<double>(series.size()) - 1) / 2) * dodge;
      return plot.left + (x + 0.5 + (series.empty() ? 0 : offset)) / static_cast<double>(category_count) * plot.width;
    }
    return plot.left + x_scale.Fraction(x) * plot.width;
  };
  auto y_px = [&](double y) { return plot.bottom() - y_scale.Fraction(y) * plot.height; };

  std::string svg = OpenSvg(frame, height);
  absl::StrAppend(&svg, YTicksAndLabel(plot, y_scale, y_axis.tick_label, frame.y_label));
  if (categories) {
    for (size_t i = 0; i < x_axis.categories.size(); ++i) {
      const double x = plot.left + (static_cast<double>(i) + 0.5) / static_cast<double>(category_count) * plot.width;
      const double y = plot.bottom() + 12;
      absl::StrAppend(&svg, Line(x, plot.bottom(), x, plot.bottom() + 4, "axis"),
                      Text(x, y, ShortLabel(x_axis.categories[i]),
                           absl::StrFormat("text-anchor=\"end\" transform=\"rotate(-35 %s %s)\"", Px(x), Px(y))),
                      "\n");
    }
  } else {
    for (const double tick : x_axis.ticks.empty() ? x_scale.Ticks() : x_axis.ticks) {
      const double x = x_px(tick, 0);
      absl::StrAppend(&svg, Line(x, plot.top, x, plot.bottom(), "grid"),
                      Text(x, plot.bottom() + 14, TickText(x_axis.tick_label, tick), "text-anchor=\"middle\""), "\n");
    }
  }
  for (const auto& r : references) {
    const double y = y_px(r.y);
    absl::StrAppend(&svg, "<g class=\"reference\">", Title(r.label),
                    Line(plot.left, y, plot.right(), y, "reference-line",
                         absl::StrCat("stroke=\"", PaletteColor(r.color), "\"")),
                    Text(plot.right() - 4, y - 4, r.label, "text-anchor=\"end\" class=\"value\""), "</g>\n");
  }
  for (size_t i = 0; i < series.size(); ++i) {
    const std::string& color = PaletteColor(static_cast<int>(i));
    if (series[i].connect && series[i].points.size() > 1) {
      std::string points;
      for (const auto& p : series[i].points) absl::StrAppend(&points, Px(x_px(p.x, i)), ",", Px(y_px(p.y)), " ");
      absl::StrAppend(&svg, "<polyline class=\"line\" fill=\"none\" stroke=\"", color, "\" points=\"", points,
                      "\"/>\n");
    }
    for (const auto& p : series[i].points) {
      const double x = x_px(p.x, i), y = y_px(p.y);
      absl::StrAppend(&svg, "<circle class=\"mark\" cx=\"", Px(x), "\" cy=\"", Px(y), "\" r=\"3.5\" fill=\"", color,
                      "\">", Title(p.title), "</circle>");
      if (!p.label.empty()) absl::StrAppend(&svg, Text(x + 6, y - 6, p.label, "class=\"value\""));
      svg += "\n";
    }
  }
  absl::StrAppend(&svg, AxesFrame(plot),
                  Text(plot.left + plot.width / 2, plot.bottom() + tick_area + 14, frame.x_label,
                       "class=\"axis-label\" text-anchor=\"middle\""),
                  "\n", Legend(series, plot.left, legend_top), "</svg>\n");
  return svg;
}

std::string BoxChart(const ChartFrame& frame, const YAxis& y_axis, const std::vector<BoxColumn>& columns) {
  const PlotArea plot{70, kTitleHeight, frame.width - 70.0 - 24.0, static_cast<double>(frame.plot_height)};
  const int height = static_cast<int>(plot.bottom()) + kTickTextHeight + kAxisLabelHeight + 8;
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const auto& c : columns) {
    lo = std::min(lo, c.min);
    hi = std::max(hi, c.max);
    for (const auto& p : c.points) {
      lo = std::min(lo, p.y);
      hi = std::max(hi, p.y);
    }
  }
  if (lo > hi) lo = hi = 0;
  const Scale scale = Scale::Linear(lo, hi, y_axis.include_zero);
  auto y_px = [&](double y) { return plot.bottom() - scale.Fraction(y) * plot.height; };
  const double column_width = plot.width / static_cast<double>(std::max<size_t>(columns.size(), 1));
  const double box_width = std::min(40.0, column_width * 0.6);

  std::string svg = OpenSvg(frame, height);
  absl::StrAppend(&svg, YTicksAndLabel(plot, scale, y_axis.tick_label, frame.y_label));
  for (size_t i = 0; i < columns.size(); ++i) {
    const BoxColumn& c = columns[i];
    const double center = plot.left + (static_cast<double>(i) + 0.5) * column_width;
    const std::string& color = PaletteColor(c.color);
    absl::StrAppend(&svg, "<g class=\"box\">", Title(c.title),
                    Line(center, y_px(c.min), center, y_px(c.max), "whisker", absl::StrCat("stroke=\"", color, "\"")),
                    "<rect class=\"box-body\" x=\"", Px(center - box_width / 2), "\" y=\"", Px(y_px(c.p90)),
                    "\" width=\"", Px(box_width), "\" height=\"", Px(std::max(y_px(c.p10) - y_px(c.p90), 1.0)),
                    "\" stroke=\"", color, "\"/>",
                    Line(center - box_width / 2, y_px(c.median), center + box_width / 2, y_px(c.median), "median",
                         absl::StrCat("stroke=\"", color, "\"")),
                    "</g>", Text(center, plot.bottom() + 14, ShortLabel(c.label), "text-anchor=\"middle\""), "\n");
    for (size_t j = 0; j < c.points.size(); ++j) {
      // A fixed spread (golden-ratio steps) rather than random jitter: the
      // same results draw the same page.
      const double spread = std::fmod(static_cast<double>(j) * 0.6180339887, 1.0) - 0.5;
      absl::StrAppend(&svg, "<circle class=\"mark\" cx=\"", Px(center + spread * box_width * 0.9), "\" cy=\"",
                      Px(y_px(c.points[j].y)), "\" r=\"2\" fill=\"", color, "\">", Title(c.points[j].title),
                      "</circle>");
    }
    svg += "\n";
  }
  absl::StrAppend(&svg, AxesFrame(plot),
                  Text(plot.left + plot.width / 2, plot.bottom() + kTickTextHeight + 14, frame.x_label,
                       "class=\"axis-label\" text-anchor=\"middle\""),
                  "</svg>\n");
  return svg;
}

}  // namespace tokenmeter::cli::report
