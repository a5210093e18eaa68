// The page `tokenmeter report` writes: one self-contained HTML file from
// stored results, which opens with no network. Charts are inline SVG drawn
// here (cli/report/svg_chart.h), with no <script>, no external stylesheet,
// font or image, and a Content-Security-Policy that forbids loading any; every
// value is in a label or in a mark's hover text (an SVG <title>).
//
// The page, top to bottom (docs/report.md):
//  * the headline table: one row per workload × setup, its newest result;
//  * charts, each only when there is data for it: cost per 1M tokens,
//    tokens/s and MFU by setup; busbw against message size per collective
//    op; GEMM TFLOP/s per shape and dtype with the MAMF; scaling across rank
//    counts; per-rank iteration times of each job;
//  * the workload definitions (each distinct spec as JSON) and each setup's
//    inventory (hosts, devices, versions, price).
//
// Every number shown is a figure stored in a JobResult, printed, never
// computed again; the scaling efficiencies are cli/comparison.h's, as
// `compare --scaling` prints them. Every string from a result is
// HTML-escaped.
//
// Each chart is <svg class="chart" data-chart="KIND" data-key="WHICH"> with
// one class="mark" element per data point drawn, as listed in ReportLimits'
// comments, so a test can count them against the results.
#ifndef TOKENMETER_CLI_REPORT_REPORT_BUILDER_H_
#define TOKENMETER_CLI_REPORT_REPORT_BUILDER_H_

#include <string>
#include <vector>

#include "tokenmeter/v1/result.pb.h"

namespace tokenmeter::cli::report {

// What the page draws at most, so that 500 results make a page of bounded
// size (docs/report.md gives the size these defaults give). Whatever a cap
// leaves out is said in the caption of the chart or section it shortens.
struct ReportLimits {
  // Bars per bar chart (cost-per-million-tokens, tokens-per-second, mfu: one
  // mark per train-step workload × setup, its newest result).
  int max_bars = 40;
  // Lines per busbw chart (one chart per collective op; a line per setup and
  // rank count, its newest result with that op; a mark per size).
  int max_lines_per_chart = 10;
  // gemm-tflops charts (one per gemm workload × dtype; a series per setup,
  // its newest result of that workload; a mark per shape).
  int max_gemm_charts = 12;
  // scaling charts (one per workload × setup with results at two or more
  // rank counts; a mark per rank count).
  int max_scaling_charts = 12;
  // rank-timings charts: the newest results get one each.
  int max_timing_charts = 20;
  // Ranks per rank-timings chart: past it, the slowest and the fastest ranks
  // by median, half each (a slow rank stays in view).
  int max_ranks_per_timing_chart = 32;
  // Iterations drawn per rank (a mark each), evenly spaced over the run; the
  // box always summarises all of them (the stored p10, median, p90).
  int max_points_per_rank = 30;
  // Distinct workload specs shown, newest first.
  int max_workload_definitions = 40;
  // Setups whose inventory is shown, and hosts per setup.
  int max_setups = 50;
  int max_hosts_per_setup = 64;
};

struct ReportOptions {
  // Where the results came from, as shown in the page's header ("store
  // results.db", "coordinator host:7070").
  std::string source;
  // When the page was made, as shown; the caller's clock, so that the same
  // results and options give the same page.
  std::string generated_at;
  // The tokenmeter version that made the page.
  std::string tokenmeter_version;
  ReportLimits limits;
};

// Options for a page made now, by this tokenmeter, from `source`.
ReportOptions ReportOptionsNow(std::string source);

// The whole HTML document. Results may come in any order (they are ordered
// by finished_at here). No results give a valid page that says so.
std::string BuildReport(const std::vector<v1::JobResult>& results, const ReportOptions& options);

}  // namespace tokenmeter::cli::report

#endif  // TOKENMETER_CLI_REPORT_REPORT_BUILDER_H_
