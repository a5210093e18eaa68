#include "cli/report/result_selection.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tokenmeter::cli::report {

ResultList NewestFirst(const std::vector<v1::JobResult>& results) {
  ResultList list;
  list.reserve(results.size());
  for (const auto& r : results) list.push_back(&r);
  auto key = [](const v1::JobResult* r) {
    return std::make_tuple(r->finished_at().seconds(), r->finished_at().nanos(), r->job_id());
  };
  std::stable_sort(list.begin(), list.end(), [&](const auto* a, const auto* b) { return key(a) > key(b); });
  return list;
}

std::string WorkloadLabel(const v1::JobResult& result) {
  return absl::StrCat(result.spec().name(), " v", result.spec().version());
}

ResultList NewestPerWorkloadAndSetup(const ResultList& newest_first) {
  std::map<std::pair<std::string, std::string>, const v1::JobResult*> newest;
  for (const auto* r : newest_first) newest.try_emplace({WorkloadLabel(*r), r->setup()}, r);
  ResultList list;
  for (const auto& [key, r] : newest) list.push_back(r);
  return list;
}

std::string FinishedAt(const v1::JobResult& result) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(result.finished_at().seconds()),
                          absl::UTCTimeZone());
}

const v1::CollectiveMeasurement* LargestCollective(const v1::JobResult& result, v1::CollectiveOp op) {
  const v1::CollectiveMeasurement* largest = nullptr;
  for (const auto& c : result.collective()) {
    if (c.op() == op && (largest == nullptr || c.size_bytes() > largest->size_bytes())) largest = &c;
  }
  return largest;
}

std::vector<v1::CollectiveOp> CollectiveOps(const v1::JobResult& result) {
  std::set<int> ops;
  for (const auto& c : result.collective()) ops.insert(c.op());
  std::vector<v1::CollectiveOp> list;
  for (const int op : ops) list.push_back(static_cast<v1::CollectiveOp>(op));
  return list;
}

}  // namespace tokenmeter::cli::report
