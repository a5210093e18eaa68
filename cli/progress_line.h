// The line `run` shows on stderr for a job while it waits for it: which
// sweep entry (or phase) the job's first rank is in, entry i/N, iteration
// i/N of that entry where the backend counts them, the last finished entry's
// median, elapsed time and a rough ETA. On a terminal the line is redrawn in
// place; otherwise it is a plain timestamped log line, written when the entry
// changes and at most every 30 s otherwise, so that a log file stays short.
// Nothing goes to stdout: that is for results.
#ifndef TOKENMETER_CLI_PROGRESS_LINE_H_
#define TOKENMETER_CLI_PROGRESS_LINE_H_

#include <string>

#include "absl/time/time.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::cli {

// "gemm square-2048 fp32: entry 4/7, iteration 12/32, previous entry's
// median 33.3 ms, 5s elapsed, ETA ~7s". The ETA assumes the rest takes as
// long per entry as what is done (sweep entries grow, so it is a low guess);
// none before any fraction is done.
std::string DescribeProgress(const v1::JobProgress& progress);

// "1.23 ms", "456 us", "2.5 s".
std::string HumanSeconds(double seconds);

class ProgressLine {
 public:
  // `command` names the log lines ("run"); `terminal`: stderr is a terminal
  // (isatty).
  ProgressLine(std::string command, std::string job_id, bool terminal)
      : command_(std::move(command)), job_id_(std::move(job_id)), terminal_(terminal) {}
  ~ProgressLine() { Clear(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // A poll's answer; shown when the job is running and its first entry has
  // begun (a train step calibrates first).
  void Show(const v1::JobStatus& status);
  // Erases the live line (terminal only), before anything else is printed.
  void Clear();

 private:
  const std::string command_;
  const std::string job_id_;
  const bool terminal_;
  bool drawn_ = false;
  std::string last_entry_;
  absl::Time last_logged_ = absl::InfinitePast();
};

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_PROGRESS_LINE_H_
