// The report's tables: the headline figures, the workload definitions and
// the setups' inventories. Each returns HTML (every string escaped); each
// REQUIRES `newest_first` ordered as NewestFirst orders.
#ifndef TOKENMETER_CLI_REPORT_REPORT_TABLES_H_
#define TOKENMETER_CLI_REPORT_REPORT_TABLES_H_

#include <string>

#include "cli/report/report_builder.h"
#include "cli/report/result_selection.h"

namespace tokenmeter::cli::report {

// One row per workload × setup, its newest result: tokens/s, MFU, $ per 1M
// tokens and J per token (train steps), MAMF TFLOP/s (GEMM sweeps), busbw at
// the largest size of each op (collective sweeps), as stored; "–" where the
// result has no such figure.
std::string HeadlineTable(const ResultList& newest_first);

// Per setup, its newest diagnosis (a `fleet-check` result,
// docs/fleet-health.md): the verdict, then a row per finding with its
// evidence. "" when no result is a diagnosis.
std::string FleetHealthTables(const ResultList& newest_first);

// Each distinct workload spec, newest first (at most
// limits.max_workload_definitions), as protobuf's JSON of the stored spec.
std::string WorkloadDefinitions(const ResultList& newest_first, const ReportLimits& limits);

// Each setup's newest result's inventory: a row per host (backend, CPU,
// memory, interconnect, price, software versions) and a row per device.
std::string SetupInventories(const ResultList& newest_first, const ReportLimits& limits);

}  // namespace tokenmeter::cli::report

#endif  // TOKENMETER_CLI_REPORT_REPORT_TABLES_H_
