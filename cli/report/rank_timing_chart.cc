// Per-rank iteration times of a job, so that a slow rank shows: a job is as
// fast as its slowest rank (docs/architecture.md), and the job-level figures
// keep only that rank's times.
#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/report/html.h"
#include "cli/report/result_charts.h"
#include "cli/report/svg_chart.h"
#include "workload/figures.h"

namespace tokenmeter::cli::report {
namespace {

using Seconds = google::protobuf::RepeatedField<double>;

// One rank's times of the item drawn.
struct RankTimes {
  int rank = 0;
  std::string worker_id;
  const Seconds* seconds = nullptr;
  const v1::TimingSummary* timing = nullptr;
};

// What a chart draws: one timed item of the job, every rank's times of it.
struct TimedItem {
  std::string description;
  std::vector<RankTimes> ranks;
};

// The job-level row with the largest median: the longest-running item has
// the most time in each iteration, so the least timer noise.
template <typename Row>
const Row* LongestRow(const google::protobuf::RepeatedPtrField<Row>& rows) {
  const Row* longest = nullptr;
  for (const auto& row : rows) {
    if (longest == nullptr || row.timing().median_seconds() > longest->timing().median_seconds()) longest = &row;
  }
  return longest;
}

bool SameItem(const v1::GemmMeasurement& a, const v1::GemmMeasurement& b) {
  return a.dtype() == b.dtype() && a.shape().name() == b.shape().name() && a.shape().m() == b.shape().m() &&
         a.shape().n() == b.shape().n() && a.shape().k() == b.shape().k();
}

bool SameItem(const v1::CollectiveMeasurement& a, const v1::CollectiveMeasurement& b) {
  return a.op() == b.op() && a.size_bytes() == b.size_bytes();
}

std::optional<TimedItem> ItemToDraw(const v1::JobResult& r) {
  TimedItem item;
  auto add = [&](const v1::RankResult& rank, const Seconds& seconds, const v1::TimingSummary& timing) {
    if (!seconds.empty()) item.ranks.push_back({rank.rank(), rank.worker_id(), &seconds, &timing});
  };
  if (r.spec().has_train_step()) {
    item.description = "whole training steps (scaled to full depth)";
    for (const auto& rank : r.ranks()) add(rank, rank.train_step().iteration_seconds(), rank.train_step().timing());
  } else if (const auto* g = LongestRow(r.gemm())) {
    item.description = absl::StrFormat("GEMM %s (%dx%dx%d) %s, the shape with the largest median",
                                       g->shape().name(), g->shape().m(), g->shape().n(), g->shape().k(),
                                       workload::DTypeName(g->dtype()));
    for (const auto& rank : r.ranks()) {
      for (const auto& rg : rank.gemm()) {
        if (SameItem(rg, *g)) add(rank, rg.iteration_seconds(), rg.timing());
      }
    }
  } else if (const auto* c = LongestRow(r.collective())) {
    item.description = absl::StrCat(workload::CollectiveOpName(c->op()), " ", FormatBytes(c->size_bytes()), " ",
                                    workload::DTypeName(c->dtype()), ", the size with the largest median");
    for (const auto& rank : r.ranks()) {
      for (const auto& rc : rank.collective()) {
        if (SameItem(rc, *c)) add(rank, rc.iteration_seconds(), rc.timing());
      }
    }
  }
  if (item.ranks.empty()) return std::nullopt;
  return item;
}

// The ranks kept under the cap: the slowest and the fastest by median, half
// each, back in rank order.
std::vector<RankTimes> RanksToDraw(std::vector<RankTimes> ranks, int cap) {
  cap = std::max(cap, 1);
  if (ranks.size() > static_cast<size_t>(cap)) {
    std::stable_sort(ranks.begin(), ranks.end(), [](const RankTimes& a, const RankTimes& b) {
      return a.timing->median_seconds() > b.timing->median_seconds();
    });
    const size_t slowest = static_cast<size_t>(cap) / 2 + static_cast<size_t>(cap) % 2;
    const size_t fastest = static_cast<size_t>(cap) - slowest;
    ranks.erase(ranks.begin() + static_cast<std::ptrdiff_t>(slowest),
                ranks.end() - static_cast<std::ptrdiff_t>(fastest));
  }
  std::stable_sort(ranks.begin(), ranks.end(), [](const RankTimes& a, const RankTimes& b) { return a.rank < b.rank; });
  return ranks;
}

// Indices of at most `cap` iterations of n, evenly spaced, first included.
std::vector<int> IterationsToDraw(int n, int cap) {
  std::vector<int> indices;
  const int count = std::min(n, cap);
  for (int i = 0; i < count; ++i) indices.push_back(static_cast<int>(static_cast<int64_t>(i) * n / count));
  return indices;
}

ChartFigure TimingFigure(const v1::JobResult& r, const TimedItem& item, const ReportLimits& limits) {
  const auto ranks = RanksToDraw(item.ranks, limits.max_ranks_per_timing_chart);
  const RankTimes* slowest = &ranks.front();
  for (const auto& rank : ranks) {
    if (rank.timing->median_seconds() > slowest->timing->median_seconds()) slowest = &rank;
  }
  std::vector<BoxColumn> columns;
  size_t iterations = 0, drawn = 0;
  for (const auto& rank : ranks) {
    const auto& t = *rank.timing;
    BoxColumn column;
    column.label = absl::StrCat(rank.rank);
    column.min = t.min_seconds();
    column.p10 = t.p10_seconds();
    column.median = t.median_seconds();
    column.p90 = t.p90_seconds();
    column.max = t.max_seconds();
    const bool slowest_of_several = &rank == slowest && ranks.size() > 1;
    column.color = slowest_of_several ? 2 : 0;  // the slowest in red
    column.title = absl::StrCat("rank ", rank.rank, " (worker ", rank.worker_id, "): median ",
                                FormatSeconds(t.median_seconds()), ", p10 ", FormatSeconds(t.p10_seconds()), ", p90 ",
                                FormatSeconds(t.p90_seconds()), ", min ", FormatSeconds(t.min_seconds()), ", max ",
                                FormatSeconds(t.max_seconds()), ", ", rank.seconds->size(), " iterations",
                                slowest_of_several ? " (the slowest median)" : "");
    const int n = rank.seconds->size();
    for (const int i : IterationsToDraw(n, limits.max_points_per_rank)) {
      const double s = rank.seconds->Get(i);
      column.points.push_back({s, absl::StrCat("rank ", rank.rank, ", iteration ", i, ": ", FormatSeconds(s))});
    }
    iterations += static_cast<size_t>(n);
    drawn += column.points.size();
    columns.push_back(std::move(column));
  }
  ChartFrame frame;
  frame.name = "rank-timings";
  frame.key = r.job_id();
  frame.title = absl::StrCat("Per-rank times: ", WorkloadLabel(r), " on ", r.setup(), " (job ", r.job_id(), ")");
  frame.x_label = "rank";
  frame.y_label = "seconds per iteration";
  frame.plot_height = 180;
  YAxis y_axis;
  y_axis.include_zero = false;
  y_axis.tick_label = [](double v) { return FormatSeconds(v); };
  std::string caption =
      absl::StrCat(WorkloadLabel(r), " on ", r.setup(), ", ", FinishedAt(r), ": ", item.description,
                   ". Box: the rank's stored p10 to p90 and median; whiskers: min to max; points: iterations. The "
                   "slowest rank by median in red. Every item's times: tokenmeter results --job ",
                   r.job_id(), " --iterations.");
  if (ranks.size() < item.ranks.size()) {
    absl::StrAppend(&caption, " Showing ", ranks.size(), " of ", item.ranks.size(),
                    " ranks: the slowest and the fastest by median.");
  }
  if (drawn < iterations) {
    absl::StrAppend(&caption, " Drawn: ", drawn, " of these ranks' ", iterations, " iterations (at most ",
                    limits.max_points_per_rank, " per rank, evenly spaced).");
  }
  return {BoxChart(frame, y_axis, columns), caption};
}

}  // namespace

ChartSection RankTimingCharts(const ResultList& newest_first, const ReportLimits& limits) {
  ChartSection section{"rank-timings", "Per-rank iteration times",
                       "Each rank's timed iterations of one item of the job, so a slow rank shows (a job is as fast "
                       "as its slowest rank).",
                       {}};
  size_t with_times = 0;
  for (const auto* r : newest_first) {
    const auto item = ItemToDraw(*r);
    if (!item) continue;
    if (with_times++ >= static_cast<size_t>(limits.max_timing_charts)) continue;
    section.figures.push_back(TimingFigure(*r, *item, limits));
  }
  if (with_times > section.figures.size()) {
    absl::StrAppend(&section.intro, " Drawn for the newest ", section.figures.size(), " of ", with_times,
                    " results (the cap); the others: tokenmeter results --job ID --iterations.");
  }
  return section;
}

}  // namespace tokenmeter::cli::report
