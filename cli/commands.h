// The subcommands of the `tokenmeter` binary. Each takes the arguments after
// its name and returns the process exit code: 0 on success, 1 when the work
// failed, 2 for bad usage. Tables go to stdout, progress and logs to stderr.
#ifndef TOKENMETER_CLI_COMMANDS_H_
#define TOKENMETER_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace tokenmeter::cli {

using Args = std::vector<std::string>;

int CoordinatorCommand(const Args& args);  // cli/coordinator_command.cc
int WorkerCommand(const Args& args);       // cli/worker_command.cc
int RunCommand(const Args& args);          // cli/run_command.cc
int StatusCommand(const Args& args);       // cli/status_command.cc
int ResultsCommand(const Args& args);      // cli/results_command.cc
int CompareCommand(const Args& args);      // cli/compare_command.cc
int WorkloadsCommand(const Args& args);    // cli/workloads_command.cc
int ClaimCommand(const Args& args);        // cli/claim_command.cc
int ReportCommand(const Args& args);       // cli/report_command.cc
int SuiteCommand(const Args& args);       // cli/suite_command.cc
int ExportCommand(const Args& args);       // cli/export_command.cc
int ImportCommand(const Args& args);       // cli/import_command.cc
int DiagnoseCommand(const Args& args);     // cli/diagnose_command.cc

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_COMMANDS_H_
