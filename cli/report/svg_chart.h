// A tiny SVG chart writer for pages that must open with no network and no
// script: each chart is one inline <svg> element, drawn completely here, with
// every value on it readable as text (labels) or on hover (an SVG <title> on
// each mark). It knows nothing of tokenmeter results; cli/report/ feeds it.
//
// Every chart is <svg class="chart" data-chart="NAME" data-key="KEY"> and
// every data point is one element with class "mark" (a bar, a point, one
// iteration of a strip), so that a test, or a reader's selector, can count
// what was drawn. Lines, boxes, axes and reference lines carry other classes.
//
// All functions are pure and thread-compatible.
#ifndef TOKENMETER_CLI_REPORT_SVG_CHART_H_
#define TOKENMETER_CLI_REPORT_SVG_CHART_H_

#include <functional>
#include <string>
#include <vector>

namespace tokenmeter::cli::report {

// A tick's text from its value; an empty one prints the value as "%g".
using TickFormat = std::function<std::string(double)>;

// What every chart carries: how a test or a reader finds it, and its text.
struct ChartFrame {
  std::string name;        // data-chart: the kind of chart ("busbw")
  std::string key;         // data-key: which one of that kind ("all_reduce"); may be empty
  std::string title;       // drawn above the plot, and the <svg>'s own <title>
  std::string x_label;
  std::string y_label;
  int width = 880;         // pixels, margins included
  int plot_height = 220;   // pixels of the plot area; margins, legend and labels add to it
};

// Maps the data values of one axis onto [0, 1]. Copyable.
class Scale {
 public:
  // [lo, hi] widened to round tick steps (1, 2 or 5 × 10^k), and to 0 when
  // include_zero. An empty range (lo == hi) is widened around its value.
  static Scale Linear(double lo, double hi, bool include_zero, int max_ticks = 6);
  // Whole powers of two around [lo, hi]. REQUIRES: 0 < lo <= hi.
  static Scale Log2(double lo, double hi, int max_ticks = 10);

  // Where `value` falls, 0 at the low end and 1 at the high end; values
  // outside the domain are clamped (a mark never leaves its plot).
  double Fraction(double value) const;

  // The values to draw ticks at: multiples of the step (linear), or powers of
  // two, every so many exponents to stay within max_ticks (log2).
  std::vector<double> Ticks() const;

 private:
  Scale(bool log2, double lo, double hi, double step) : log2_(log2), lo_(lo), hi_(hi), step_(step) {}
  bool log2_;
  double lo_, hi_;  // linear: the domain; log2: its exponents
  double step_;     // between ticks: a value (linear) or exponents (log2)
};

// Colours series and bars are drawn in, by index (wrapping round).
const std::string& PaletteColor(int index);

// ---- Horizontal bars: one per labelled value, e.g. a figure per setup. ----

struct Bar {
  std::string label;       // left of the bar; long labels are cut on the page, whole in the title
  double value = 0;        // REQUIRES: >= 0
  std::string value_text;  // right of the bar, and in its <title>
  std::string title;       // the hover text; label and value_text when empty
  int color = 0;           // PaletteColor index
};

// Bars top to bottom in the order given, on a linear axis from 0. The chart
// is as tall as its bars need.
std::string BarChart(const ChartFrame& frame, const std::vector<Bar>& bars, const TickFormat& x_ticks);

// ---- Points on an x/y plane, joined by lines or not. ----

struct XyPoint {
  double x = 0;            // the value, or the category's index for XAxis::kCategories
  double y = 0;
  std::string label;       // drawn beside the point; may be empty
  std::string title;       // the hover text
};

struct XySeries {
  std::string name;        // in the legend
  std::vector<XyPoint> points;
  bool connect = true;     // a line through the points, in their order
};

// A horizontal line across the plot, labelled at its right end (a ceiling,
// such as a measured best).
struct ReferenceLine {
  double y = 0;
  std::string label;
  int color = 0;
};

struct XAxis {
  enum Kind { kLinear, kLog2, kCategories };
  Kind kind = kLinear;
  TickFormat tick_label;                // kLinear and kLog2
  std::vector<std::string> categories;  // kCategories: tick i is categories[i]
  std::vector<double> ticks;            // kLinear and kLog2: explicit ticks; empty = the scale's
};

struct YAxis {
  TickFormat tick_label;
  bool include_zero = true;
};

// Series in PaletteColor order, a legend below the plot. Reference lines
// widen the y range so that they show. Series without points are legal
// (legend only); no series at all gives an empty plot with its frame.
std::string XyChart(const ChartFrame& frame, const XAxis& x_axis, const YAxis& y_axis,
                    const std::vector<XySeries>& series, const std::vector<ReferenceLine>& references = {});

// ---- Distributions: a box and a strip of points per column. ----

struct StripPoint {
  double y = 0;
  std::string title;
};

struct BoxColumn {
  std::string label;               // under the column
  double min = 0, p10 = 0, median = 0, p90 = 0, max = 0;  // box p10..p90, whiskers min..max
  std::vector<StripPoint> points;  // each one a mark, spread across the column
  std::string title;               // the box's hover text
  int color = 0;
};

// Columns left to right in the order given; the y axis spans every column's
// min..max (not from zero: the spread is what is being shown).
std::string BoxChart(const ChartFrame& frame, const YAxis& y_axis, const std::vector<BoxColumn>& columns);

}  // namespace tokenmeter::cli::report

#endif  // TOKENMETER_CLI_REPORT_SVG_CHART_H_
