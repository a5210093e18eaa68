// The report's charts, each from stored results to an SVG with its caption
// (what it shows, and what a ReportLimits cap left out). A function returns
// no figures when there is nothing to draw; the page then has no section.
// Marks per chart are listed in ReportLimits (cli/report/report_builder.h).
#ifndef TOKENMETER_CLI_REPORT_RESULT_CHARTS_H_
#define TOKENMETER_CLI_REPORT_RESULT_CHARTS_H_

#include <string>
#include <vector>

#include "cli/report/report_builder.h"
#include "cli/report/result_selection.h"

namespace tokenmeter::cli::report {

// One chart and its caption (plain text, escaped when written).
struct ChartFigure {
  std::string svg;
  std::string caption;
};

// A titled group of charts of one kind.
struct ChartSection {
  std::string id;       // the HTML id, for the page's contents list
  std::string heading;
  std::string intro;    // plain text under the heading
  std::vector<ChartFigure> figures;
};

// Each REQUIRES `newest_first` ordered as NewestFirst orders.

// Cost per 1M tokens, tokens/s and MFU: a bar per train-step workload ×
// setup, its newest result (data-chart cost-per-million-tokens,
// tokens-per-second, mfu). A result whose figure is 0 (no price, unknown
// device) has no bar, and the caption says so.
ChartSection TrainStepBarCharts(const ResultList& newest_first, const ReportLimits& limits);

// busbw against message size, one chart per collective op (data-key: the
// op's name), a line per setup and rank count on a log2 size axis.
ChartSection BusbwCharts(const ResultList& newest_first, const ReportLimits& limits);

// GEMM TFLOP/s per shape, one chart per gemm workload and dtype (data-key
// "WORKLOAD vN dtype"), a series per setup, the stored MAMF as a horizontal
// line in the chart of the dtype it was measured in.
ChartSection GemmCharts(const ResultList& newest_first, const ReportLimits& limits);

// Scaling across rank counts, one chart per workload × setup with results at
// two or more world sizes (data-key "WORKLOAD vN · SETUP"), a mark per rank
// count: the speed figure and scaling efficiency of cli/comparison.h's
// Scaling (as `compare --scaling` prints them), each point labelled with
// both.
ChartSection ScalingCharts(const ResultList& newest_first, const ReportLimits& limits);

// Per-rank iteration times of each of the newest results (data-key: the job
// id): a box (stored p10..p90, median, min..max) and a strip of iterations
// per rank, for the item of the job that ran longest (the step of a train
// step; the GEMM shape or collective size with the largest median).
ChartSection RankTimingCharts(const ResultList& newest_first, const ReportLimits& limits);

}  // namespace tokenmeter::cli::report

#endif  // TOKENMETER_CLI_REPORT_RESULT_CHARTS_H_
