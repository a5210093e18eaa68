#include "cli/report/report_builder.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "absl/strings/str_cat.h"
#include "cli/report/html.h"
#include "cli/report/report_tables.h"
#include "cli/report/result_charts.h"
#include "cli/report/result_selection.h"

namespace tokenmeter::cli::report {
namespace {

// The page loads nothing: the policy forbids every fetch (a stray URL in a
// result could not make the page call out), and allows only this inline
// style. The icon link stops a browser asking for /favicon.ico.
constexpr char kHead[] = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>tokenmeter report</title>
<style>
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc; margin-top: 32px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
table.headline td:nth-child(n+7) { text-align: right; white-space: nowrap; }
figure { margin: 12px 0 24px; } figcaption { font-size: 12px; color: #555; max-width: 760px; }
pre.spec { background: #f7f7f7; padding: 8px; font-size: 12px; max-height: 320px; overflow: auto; }
svg.chart { display: block; background: #fff; border: 1px solid #eee; }
svg.chart text { font: 11px sans-serif; fill: #333; }
svg.chart text.chart-title { font: bold 13px sans-serif; }
svg.chart text.axis-label { font: 12px sans-serif; fill: #555; }
svg.chart text.value { font-size: 10px; fill: #444; }
svg.chart .grid { stroke: #eee; } svg.chart .axis { stroke: #888; }
svg.chart .line { stroke-width: 1.5; } svg.chart .reference-line { stroke-width: 1.5; stroke-dasharray: 6 3; }
svg.chart .box-body { fill: none; stroke-width: 1.5; } svg.chart .median { stroke-width: 2; }
svg.chart .mark { fill-opacity: 0.85; } svg.chart .whisker { stroke-width: 1; }
</style>
</head>
<body>
)";

std::string Paragraph(const std::string& text) { return absl::StrCat("<p>", EscapeHtml(text), "</p>\n"); }

std::string Section(const std::string& id, const std::string& heading, const std::string& body) {
  return absl::StrCat("<section id=\"", id, "\">\n<h2>", EscapeHtml(heading), "</h2>\n", body, "</section>\n");
}

std::string ChartSectionHtml(const ChartSection& s) {
  std::string body = Paragraph(s.intro);
  for (const auto& f : s.figures) {
    absl::StrAppend(&body, "<figure>\n", f.svg, "<figcaption>", EscapeHtml(f.caption), "</figcaption>\n</figure>\n");
  }
  return Section(s.id, s.heading, body);
}

}  // namespace

ReportOptions ReportOptionsNow(std::string source) {
  ReportOptions options;
  options.source = std::move(source);
  options.generated_at = absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::Now(), absl::UTCTimeZone());
  options.tokenmeter_version = TOKENMETER_VERSION;
  return options;
}

std::string BuildReport(const std::vector<v1::JobResult>& results, const ReportOptions& options) {
  const ResultList newest_first = NewestFirst(results);
  std::string html = kHead;
  absl::StrAppend(&html, "<header>\n<h1>tokenmeter report</h1>\n",
                  Paragraph(absl::StrCat(results.size(), results.size() == 1 ? " stored result" : " stored results",
                                         " from ", options.source, "; generated ", options.generated_at,
                                         " by tokenmeter ", options.tokenmeter_version,
                                         ". Figures are as stored (docs/cost-model.md); hover over a mark for its "
                                         "values.")),
                  "</header>\n");
  if (newest_first.empty()) {
    absl::StrAppend(&html, Paragraph("No results."), "</body>\n</html>\n");
    return html;
  }
  std::vector<ChartSection> charts;
  auto add = [&](ChartSection section) {
    if (!section.figures.empty()) charts.push_back(std::move(section));
  };
  add(TrainStepBarCharts(newest_first, options.limits));
  add(BusbwCharts(newest_first, options.limits));
  add(GemmCharts(newest_first, options.limits));
  add(ScalingCharts(newest_first, options.limits));
  add(RankTimingCharts(newest_first, options.limits));
  const std::string health = FleetHealthTables(newest_first);
  std::string contents = "<nav><ul>\n<li><a href=\"#headline\">Headline figures</a></li>\n";
  if (!health.empty()) absl::StrAppend(&contents, "<li><a href=\"#health\">Fleet health</a></li>\n");
  for (const auto& s : charts) {
    absl::StrAppend(&contents, "<li><a href=\"#", s.id, "\">", EscapeHtml(s.heading), "</a></li>\n");
  }
  absl::StrAppend(&contents, "<li><a href=\"#workloads\">Workload definitions</a></li>\n",
                  "<li><a href=\"#setups\">Setups</a></li>\n</ul></nav>\n");
  absl::StrAppend(&html, contents,
                  Section("headline", "Headline figures",
                          absl::StrCat(Paragraph("One row per workload \u00d7 setup: its newest result."),
                                       HeadlineTable(newest_first))));
  if (!health.empty()) {
    absl::StrAppend(&html, Section("health", "Fleet health",
                                   absl::StrCat(Paragraph("Each setup's newest diagnosis (tokenmeter diagnose): the "
                                                          "devices, hosts and links found short of the fleet, with "
                                                          "the evidence."),
                                                health)));
  }
  for (const auto& s : charts) absl::StrAppend(&html, ChartSectionHtml(s));
  absl::StrAppend(&html,
                  Section("workloads", "Workload definitions", WorkloadDefinitions(newest_first, options.limits)),
                  Section("setups", "Setups", SetupInventories(newest_first, options.limits)), "</body>\n</html>\n");
  return html;
}

}  // namespace tokenmeter::cli::report
