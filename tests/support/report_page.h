// Test support: reads a `tokenmeter report` page (or a browser's dump of its
// DOM) back into its charts and counts their marks (cli/report/svg_chart.h:
// every chart is <svg class="chart" data-chart="KIND" data-key="WHICH">, every
// data point one element of class "mark").
#ifndef TOKENMETER_TESTS_SUPPORT_REPORT_PAGE_H_
#define TOKENMETER_TESTS_SUPPORT_REPORT_PAGE_H_

#include <map>
#include <regex>
#include <string>
#include <vector>

namespace tokenmeter::testing {

struct ReportChart {
  std::string name;  // data-chart
  std::string key;   // data-key
  std::string svg;   // the element, from <svg to its </svg>
};

inline int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

inline std::vector<ReportChart> ReportCharts(const std::string& html) {
  static const std::regex kOpen(R"re(<svg class="chart" data-chart="([^"]*)" data-key="([^"]*)")re");
  std::vector<ReportChart> charts;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), kOpen); it != std::sregex_iterator(); ++it) {
    const size_t start = static_cast<size_t>(it->position());
    const size_t end = html.find("</svg>", start);
    charts.push_back({(*it)[1], (*it)[2], html.substr(start, end == std::string::npos ? end : end - start)});
  }
  return charts;
}

inline int MarksOf(const ReportChart& chart) { return CountOf(chart.svg, "class=\"mark\""); }

// Marks per chart kind ("busbw") and per kind and key ("busbw|all_reduce").
inline std::map<std::string, int> MarksByChart(const std::string& html) {
  std::map<std::string, int> marks;
  for (const auto& c : ReportCharts(html)) {
    marks[c.name] += MarksOf(c);
    marks[c.name + "|" + c.key] += MarksOf(c);
  }
  return marks;
}

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_SUPPORT_REPORT_PAGE_H_
