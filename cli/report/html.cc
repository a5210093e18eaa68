#include "cli/report/html.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tokenmeter::cli::report {

std::string EscapeHtml(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatNumber(double value) {
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e4 && magnitude < 1e12) return absl::StrFormat("%.0f", value);
  return absl::StrFormat("%.4g", value);
}

std::string FormatBytes(double bytes) {
  static constexpr const char* kSuffixes[] = {"", "K", "M", "G", "T", "P"};
  int unit = 0;
  while (std::fabs(bytes) >= 1024 && unit < 5) {
    bytes /= 1024;
    ++unit;
  }
  if (bytes == std::floor(bytes)) return absl::StrFormat("%.0f%s", bytes, kSuffixes[unit]);
  return absl::StrFormat("%.1f%s", bytes, kSuffixes[unit]);
}

std::string FormatSeconds(double seconds) {
  const double magnitude = std::fabs(seconds);
  if (magnitude == 0) return "0 s";
  if (magnitude < 1e-6) return absl::StrFormat("%.4g ns", seconds * 1e9);
  if (magnitude < 1e-3) return absl::StrFormat("%.4g \u00b5s", seconds * 1e6);
  if (magnitude < 1) return absl::StrFormat("%.4g ms", seconds * 1e3);
  return absl::StrFormat("%.4g s", seconds);
}

HtmlTable::HtmlTable(std::vector<std::string> header, std::string css_class)
    : header_(std::move(header)), css_class_(std::move(css_class)) {}

void HtmlTable::AddRow(std::vector<std::string> cells) {
  cells.resize(std::max(cells.size(), header_.size()));
  rows_.push_back(std::move(cells));
}

std::string HtmlTable::Html() const {
  std::string html = css_class_.empty() ? "<table>" : absl::StrCat("<table class=\"", EscapeHtml(css_class_), "\">");
  html += "<thead><tr>";
  for (const auto& h : header_) absl::StrAppend(&html, "<th>", EscapeHtml(h), "</th>");
  html += "</tr></thead><tbody>\n";
  for (const auto& row : rows_) {
    html += "<tr>";
    for (const auto& cell : row) absl::StrAppend(&html, "<td>", EscapeHtml(cell), "</td>");
    html += "</tr>\n";
  }
  html += "</tbody></table>\n";
  return html;
}

}  // namespace tokenmeter::cli::report
