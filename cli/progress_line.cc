#include "cli/progress_line.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace tokenmeter::cli {
namespace {

constexpr absl::Duration kLogEvery = absl::Seconds(30);

}  // namespace

std::string HumanSeconds(double seconds) {
  if (seconds >= 1) return absl::StrFormat("%.3g s", seconds);
  if (seconds >= 1e-3) return absl::StrFormat("%.3g ms", seconds * 1e3);
  return absl::StrFormat("%.3g us", seconds * 1e6);
}

std::string DescribeProgress(const v1::JobProgress& p) {
  std::string line = absl::StrCat(p.entry(), ": entry ", p.entry_index(), "/", p.entries());
  double fraction = p.entries() > 0 ? static_cast<double>(std::max(0, p.entry_index() - 1)) / p.entries() : 0;
  if (p.iterations() > 0 && p.iterations_begun() > 0) {
    absl::StrAppend(&line, ", iteration ", p.iterations_begun(), "/", p.iterations());
    fraction += static_cast<double>(p.iterations_begun()) / p.iterations() / std::max(1, p.entries());
  }
  if (p.last_median_seconds() > 0) {
    absl::StrAppend(&line, ", previous entry's median ", HumanSeconds(p.last_median_seconds()));
  }
  absl::StrAppend(&line, ", ", static_cast<int64_t>(p.elapsed_seconds()), "s elapsed");
  if (fraction > 0 && fraction < 1) {
    absl::StrAppend(&line, ", ETA ~", static_cast<int64_t>(p.elapsed_seconds() * (1 - fraction) / fraction + 0.5), "s");
  }
  return line;
}

void ProgressLine::Show(const v1::JobStatus& status) {
  if (status.state() != v1::JOB_RUNNING || status.progress().entries() == 0) return;
  const std::string text = absl::StrCat("job ", job_id_, ": ", DescribeProgress(status.progress()));
  if (terminal_) {
    // Carriage return and erase-line: the line is redrawn where it was.
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  const absl::Time now = absl::Now();
  if (status.progress().entry() != last_entry_ || now - last_logged_ >= kLogEvery) {
    last_entry_ = status.progress().entry();
    last_logged_ = now;
    Log(command_, text);
  }
}

void ProgressLine::Clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace tokenmeter::cli
