#include "cli/report/report_tables.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/diagnosis.h"
#include "cli/output.h"
#include "cli/report/html.h"
#include "google/protobuf/util/json_util.h"
#include "workload/figures.h"

namespace tokenmeter::cli::report {
namespace {

constexpr char kNone[] = "\u2013";  // a figure the result does not have

// A stored figure where 0 means "not known" (docs/cost-model.md).
std::string KnownOr(double value, const std::string& text) { return value > 0 ? text : kNone; }

std::string BusbwAtLargestSizes(const v1::JobResult& r) {
  std::vector<std::string> parts;
  for (const auto op : CollectiveOps(r)) {
    const auto* c = LargestCollective(r, op);
    parts.push_back(absl::StrCat(workload::CollectiveOpName(op), " @ ",
                                 FormatBytes(static_cast<double>(c->size_bytes())), ": ",
                                 FormatNumber(c->busbw_gbps()), " GB/s"));
  }
  if (parts.empty()) return kNone;
  return absl::StrCat(absl::StrJoin(parts, "; "), workload::CollectivesHostStaged(r) ? " (host-staged)" : "");
}

std::string Gigabytes(int64_t bytes) {
  return bytes > 0 ? absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / (1 << 30)) : kNone;
}

std::string SpecJson(const v1::WorkloadSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(spec, &json, options);
  return json;
}

std::string Versions(const v1::WorkerInventory& inv) {
  // The map's own order is its hash order: sort for a stable page.
  const std::map<std::string, std::string> sorted(inv.software_versions().begin(), inv.software_versions().end());
  std::vector<std::string> parts;
  for (const auto& [name, version] : sorted) parts.push_back(absl::StrCat(name, " ", version));
  return parts.empty() ? kNone : absl::StrJoin(parts, ", ");
}

std::string SetupTables(const std::string& setup, const v1::JobResult& r, const ReportLimits& limits) {
  HtmlTable hosts({"host", "backend", "devices", "CPU", "cores", "host memory", "interconnect", "$ per device-hour",
                   "software"});
  HtmlTable devices({"host", "index", "model", "uuid", "memory", "compute units", "compute capability", "driver"});
  int shown = 0;
  for (const auto& inv : r.inventory()) {
    if (shown++ >= limits.max_hosts_per_setup) break;
    hosts.AddRow({inv.hostname(), inv.backend(), absl::StrCat(inv.devices_size()), inv.cpu_model(),
                  absl::StrCat(inv.cpu_cores()), Gigabytes(inv.host_memory_bytes()),
                  inv.interconnect().empty() ? kNone : inv.interconnect(),
                  KnownOr(inv.price_per_device_hour(), absl::StrCat("$", FormatNumber(inv.price_per_device_hour()))),
                  Versions(inv)});
    for (const auto& d : inv.devices()) {
      devices.AddRow({inv.hostname(), absl::StrCat(d.index()), d.model(), d.uuid().empty() ? kNone : d.uuid(),
                      Gigabytes(d.memory_bytes()), absl::StrCat(d.compute_units()),
                      d.compute_capability().empty() ? kNone : d.compute_capability(),
                      d.driver_version().empty() ? kNone : d.driver_version()});
    }
  }
  std::string html = absl::StrCat("<h3>", EscapeHtml(setup), "</h3>\n<p>",
                                  EscapeHtml(absl::StrCat("As registered by its workers for job ", r.job_id(), " (",
                                                          FinishedAt(r), "), the setup's newest result.")));
  if (r.inventory_size() > limits.max_hosts_per_setup) {
    absl::StrAppend(&html, EscapeHtml(absl::StrCat(" Showing ", limits.max_hosts_per_setup, " of ",
                                                   r.inventory_size(), " hosts (the cap).")));
  }
  absl::StrAppend(&html, "</p>\n", hosts.Html(), devices.Html());
  return html;
}

}  // namespace

std::string HeadlineTable(const ResultList& newest_first) {
  HtmlTable table({"workload", "setup", "device", "ranks", "finished", "job", "tokens/s", "MFU", "$ per 1M tokens",
                   "J per token", "MAMF TFLOP/s", "busbw at the largest size", "checks"},
                  "headline");
  for (const auto* r : NewestPerWorkloadAndSetup(newest_first)) {
    std::vector<std::string> row = {WorkloadLabel(*r), r->setup(), r->device_model(), absl::StrCat(r->world_size()),
                                    FinishedAt(*r), r->job_id()};
    if (r->has_train_step()) {
      const auto& t = r->train_step();
      row.push_back(FormatNumber(t.tokens_per_second()));
      row.push_back(KnownOr(t.mfu(), absl::StrFormat("%.2f%%%s", 100 * t.mfu(),
                                                     t.peak_is_measured() ? " (measured peak)" : "")));
      row.push_back(KnownOr(t.cost_per_million_tokens_dollars(),
                            absl::StrCat("$", FormatNumber(t.cost_per_million_tokens_dollars()))));
      row.push_back(KnownOr(t.energy_per_token_joules(), FormatNumber(t.energy_per_token_joules())));
    } else {
      row.insert(row.end(), 4, kNone);
    }
    row.push_back(r->gemm_size() > 0 ? FormatNumber(r->mamf_tflops()) : kNone);
    row.push_back(BusbwAtLargestSizes(*r));
    row.push_back(r->has_health() ? (r->health().healthy() ? "healthy" : "DEFECTIVE")
                                  : ResultPassed(*r) ? "passed"
                                                     : "FAILED");
    table.AddRow(std::move(row));
  }
  return table.Html();
}

std::string FleetHealthTables(const ResultList& newest_first) {
  std::string html;
  for (const auto* r : NewestPerWorkloadAndSetup(newest_first)) {
    if (!r->has_health()) continue;
    const auto& h = r->health();
    absl::StrAppend(&html, "<h3>", EscapeHtml(r->setup()), "</h3>\n<p>",
                    EscapeHtml(absl::StrFormat("%s (%s, %s). Baseline: GEMM %s TFLOP/s per device, pair bus "
                                               "bandwidth %s GB/s.",
                                               HealthHeadline(h), r->job_id(), FinishedAt(*r),
                                               FormatNumber(h.baseline().gemm_tflops()),
                                               FormatNumber(h.baseline().pair_busbw_gbps()))),
                    "</p>\n");
    if (h.findings().empty()) continue;
    HtmlTable table({"defective", "metric", "value", "baseline", "deviation", "rule"}, "health");
    for (const auto& f : h.findings()) {
      if (f.metric() == "check_failed") {
        table.AddRow({f.subject(), "check failed", f.error(), kNone, kNone, f.rule()});
        continue;
      }
      table.AddRow({f.subject(), f.metric(), FormatNumber(f.value()), FormatNumber(f.baseline()),
                    absl::StrFormat("%+.1f%%", 100 * f.deviation()), f.rule()});
    }
    absl::StrAppend(&html, table.Html());
  }
  return html;
}

std::string WorkloadDefinitions(const ResultList& newest_first, const ReportLimits& limits) {
  struct Definition {
    const v1::JobResult* newest;
    int results = 0;
  };
  std::map<std::string, Definition> by_json;
  std::vector<std::string> order;  // newest first
  for (const auto* r : newest_first) {
    const std::string json = SpecJson(r->spec());
    auto [it, inserted] = by_json.try_emplace(json, Definition{r});
    if (inserted) order.push_back(json);
    ++it->second.results;
  }
  std::string html;
  for (size_t i = 0; i < order.size() && i < static_cast<size_t>(limits.max_workload_definitions); ++i) {
    const Definition& d = by_json.at(order[i]);
    absl::StrAppend(&html, "<h3>", EscapeHtml(WorkloadLabel(*d.newest)), "</h3>\n<p>",
                    EscapeHtml(absl::StrCat("The stored spec of ", d.results, d.results == 1 ? " result" : " results",
                                            "; newest: job ", d.newest->job_id(), ".")),
                    "</p>\n<pre class=\"spec\">", EscapeHtml(order[i]), "</pre>\n");
  }
  if (order.size() > static_cast<size_t>(limits.max_workload_definitions)) {
    absl::StrAppend(&html, "<p>",
                    EscapeHtml(absl::StrCat(order.size() - limits.max_workload_definitions,
                                            " older distinct specs left out past the cap of ",
                                            limits.max_workload_definitions, ".")),
                    "</p>\n");
  }
  return html;
}

std::string SetupInventories(const ResultList& newest_first, const ReportLimits& limits) {
  std::map<std::string, const v1::JobResult*> newest_of_setup;
  for (const auto* r : newest_first) newest_of_setup.try_emplace(r->setup(), r);
  std::string html;
  int shown = 0;
  for (const auto& [setup, r] : newest_of_setup) {
    if (shown++ >= limits.max_setups) break;
    absl::StrAppend(&html, SetupTables(setup, *r, limits));
  }
  if (newest_of_setup.size() > static_cast<size_t>(limits.max_setups)) {
    absl::StrAppend(&html, "<p>",
                    EscapeHtml(absl::StrCat(newest_of_setup.size() - limits.max_setups,
                                            " setups left out past the cap of ", limits.max_setups, " (name order).")),
                    "</p>\n");
  }
  return html;
}

}  // namespace tokenmeter::cli::report
