// The small pieces of HTML the report is made of: escaping, numbers as they
// are printed, and tables. Nothing here knows about tokenmeter results.
#ifndef TOKENMETER_CLI_REPORT_HTML_H_
#define TOKENMETER_CLI_REPORT_HTML_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tokenmeter::cli::report {

// `text` safe inside HTML or SVG text and inside a double- or single-quoted
// attribute value: & < > " ' become character references. Every string that
// reaches the page goes through this (setup names and hostnames are typed by
// users).
std::string EscapeHtml(absl::string_view text);

// A figure as the report prints it: four significant digits, plain digits
// (no exponent) from 10,000 up to 10^12 so that tokens/s read as counts.
std::string FormatNumber(double value);

// A byte count with a binary suffix, as nccl-tests users label a size axis:
// 8, 1K, 64K, 1M, 64M, 8G (K = 1024). Sizes that are not a whole number of
// the unit keep one decimal ("1.5K").
std::string FormatBytes(double bytes);

// A duration in the unit that reads best: "850 ns", "12.5 µs", "3.2 ms",
// "1.25 s" (four significant digits at most).
std::string FormatSeconds(double seconds);

// A table of escaped text cells with a header row. Not thread-safe.
class HtmlTable {
 public:
  // `css_class` names the table's role in the page's <style> (may be empty).
  explicit HtmlTable(std::vector<std::string> header, std::string css_class = "");

  // Appends a row of plain-text cells (escaped when written). A row shorter
  // than the header is padded with empty cells.
  void AddRow(std::vector<std::string> cells);

  int rows() const { return static_cast<int>(rows_.size()); }

  // The <table> element.
  std::string Html() const;

 private:
  std::vector<std::string> header_;
  std::string css_class_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace tokenmeter::cli::report

#endif  // TOKENMETER_CLI_REPORT_HTML_H_
