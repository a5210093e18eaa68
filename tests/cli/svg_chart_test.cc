// The report's building blocks: escaping, number and size labels, scales and
// their ticks, and one mark with its hover text per data point.
#include "cli/report/svg_chart.h"

#include <cmath>

#include "cli/report/html.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenmeter::cli::report {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

TEST(Html, EscapesEveryCharacterThatCouldEndTextOrAnAttribute) {
  EXPECT_EQ(EscapeHtml("<a href='x'>\"&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(EscapeHtml("plain \u00b5s"), "plain \u00b5s");
}

TEST(Html, SizesReadAsNcclTestsUsersLabelThem) {
  EXPECT_EQ(FormatBytes(8), "8");
  EXPECT_EQ(FormatBytes(1024), "1K");
  EXPECT_EQ(FormatBytes(1536), "1.5K");
  EXPECT_EQ(FormatBytes(64 << 10), "64K");
  EXPECT_EQ(FormatBytes(1 << 20), "1M");
  EXPECT_EQ(FormatBytes(64 << 20), "64M");
  EXPECT_EQ(FormatBytes(8.0 * (1 << 30)), "8G");
}

TEST(Html, NumbersAndDurations) {
  EXPECT_EQ(FormatNumber(0.4381), "0.4381");
  EXPECT_EQ(FormatNumber(1890.4), "1890");
  EXPECT_EQ(FormatNumber(123456.7), "123457");
  EXPECT_EQ(FormatNumber(2.5e13), "2.5e+13");
  EXPECT_EQ(FormatSeconds(0.25), "250 ms");
  EXPECT_EQ(FormatSeconds(1.5e-5), "15 \u00b5s");
  EXPECT_EQ(FormatSeconds(2), "2 s");
}

TEST(Html, TableCellsAreEscapedAndRowsPadded) {
  HtmlTable t({"a", "b"});
  t.AddRow({"<x>"});
  EXPECT_EQ(t.Html(), "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\n"
                      "<tr><td>&lt;x&gt;</td><td></td></tr>\n</tbody></table>\n");
}

TEST(Scale, LinearTicksAreRoundStepsFromZero) {
  EXPECT_THAT(Scale::Linear(0, 0.44, true).Ticks(), ElementsAre(0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5));
  const Scale s = Scale::Linear(0, 1900, true);
  EXPECT_THAT(s.Ticks(), ElementsAre(0, 500, 1000, 1500, 2000));
  EXPECT_DOUBLE_EQ(s.Fraction(1000), 0.5);
  EXPECT_DOUBLE_EQ(s.Fraction(-5), 0);  // clamped
}

TEST(Scale, Log2TicksArePowersOfTwo) {
  const Scale s = Scale::Log2(8, 64 << 10);  // 2^3 .. 2^16: 14 exponents, every 2nd
  EXPECT_THAT(s.Ticks(), ElementsAre(8, 32, 128, 512, 2048, 8192, 32768));
  EXPECT_DOUBLE_EQ(s.Fraction(8), 0);
  EXPECT_DOUBLE_EQ(s.Fraction(64 << 10), 1);
  EXPECT_DOUBLE_EQ(s.Fraction(1 << 9), 6.0 / 13);
}

TEST(SvgChart, BarsCarryTheirValuesAsLabelsAndHoverText) {
  ChartFrame frame;
  frame.name = "cost";
  frame.title = "Cost <per> token";
  const std::string svg = BarChart(frame, {{"a & b", 2, "$2", "", 0}, {"c", 1, "$1", "c costs $1", 1}},
                                   [](double v) { return FormatNumber(v); });
  EXPECT_THAT(svg, HasSubstr("<svg class=\"chart\" data-chart=\"cost\" data-key=\"\""));
  EXPECT_EQ(Count(svg, "class=\"mark\""), 2);
  EXPECT_THAT(svg, HasSubstr("<title>a &amp; b: $2</title>"));
  EXPECT_THAT(svg, HasSubstr("<title>c costs $1</title>"));
  EXPECT_THAT(svg, HasSubstr(">$1</text>"));
  EXPECT_THAT(svg, HasSubstr("Cost &lt;per&gt; token"));
  EXPECT_THAT(svg, Not(HasSubstr("xmlns")));  // inline SVG in HTML needs none, and names no URL
}

TEST(SvgChart, XyChartDrawsAMarkPerPointAndALinePerSeries) {
  ChartFrame frame;
  frame.name = "busbw";
  frame.key = "all_reduce";
  XAxis x;
  x.kind = XAxis::kLog2;
  x.tick_label = [](double v) { return FormatBytes(v); };
  YAxis y;
  y.tick_label = [](double v) { return FormatNumber(v); };
  std::vector<XySeries> series = {{"one", {{8, 1, "", "p1"}, {1024, 2, "2 GB/s", "p2"}}, true},
                                  {"two", {{64, 3, "", "p3"}}, true}};
  const std::string svg = XyChart(frame, x, y, series, {{2.5, "ceiling", 0}});
  EXPECT_EQ(Count(svg, "class=\"mark\""), 3);
  EXPECT_EQ(Count(svg, "<polyline"), 1);  // a one-point series has no line
  EXPECT_EQ(Count(svg, "class=\"legend\""), 2);
  EXPECT_THAT(svg, HasSubstr(">2 GB/s</text>"));
  EXPECT_THAT(svg, HasSubstr(">1K</text>"));
  EXPECT_THAT(svg, HasSubstr("class=\"reference\""));
}

TEST(SvgChart, EmptyChartsAreStillWellFormed) {
  ChartFrame frame;
  frame.name = "empty";
  const std::string xy = XyChart(frame, XAxis{}, YAxis{[](double v) { return FormatNumber(v); }, true}, {});
  EXPECT_EQ(Count(xy, "<svg "), 1);
  EXPECT_EQ(Count(xy, "</svg>"), 1);
  const std::string box = BoxChart(frame, YAxis{[](double v) { return FormatNumber(v); }, false}, {});
  EXPECT_EQ(Count(box, "class=\"mark\""), 0);
  EXPECT_EQ(Count(box, "</svg>"), 1);
}

TEST(SvgChart, BoxesHaveAMarkPerStripPoint) {
  ChartFrame frame;
  frame.name = "timings";
  BoxColumn a{"0", 1, 1.1, 1.2, 1.3, 1.4, {{1, "i0"}, {1.4, "i1"}}, "rank 0", 0};
  BoxColumn b{"1", 2, 2.1, 2.2, 2.3, 2.4, {{2.2, "i0"}}, "rank 1", 2};
  const std::string svg = BoxChart(frame, YAxis{[](double v) { return FormatSeconds(v); }, false}, {a, b});
  EXPECT_EQ(Count(svg, "class=\"mark\""), 3);
  EXPECT_EQ(Count(svg, "class=\"box\""), 2);
  EXPECT_THAT(svg, HasSubstr("<title>rank 1</title>"));
}

// A stored figure can be anything a report decoded to (the fuzzer found a
// NaN range): the chart still draws every mark, at its axis, with no "nan".
TEST(SvgChart, NonFiniteAndExtremeValuesStayOnThePlot) {
  ChartFrame frame;
  frame.name = "odd";
  XAxis x;
  x.kind = XAxis::kLog2;
  const std::vector<XySeries> series = {{"odd",
                                         {{std::nan(""), 1, "", "a"},
                                          {-5, HUGE_VAL, "", "b"},
                                          {1e308, -1e308, "", "c"},
                                          {8, std::nan(""), "", "d"}},
                                         true}};
  const std::string svg = XyChart(frame, x, YAxis{}, series);
  EXPECT_EQ(Count(svg, "class=\"mark\""), 4);
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
  const Scale huge = Scale::Linear(-1e308, 1e308, true);
  EXPECT_LE(huge.Ticks().size(), 101u);
}

}  // namespace
}  // namespace tokenmeter::cli::report
