// tokenmeter: what a training token really costs, measured on real hardware.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: tokenmeter COMMAND [FLAGS]   (tokenmeter COMMAND --help for its flags)\n"
    "\n"
    "daemons:\n"
    "  coordinator   serve the gRPC API: registry, scheduler, rendezvous, results store\n"
    "  worker        register this host's devices with a coordinator and run its tasks\n"
    "benchmarks:\n"
    "  run           run a workload (--local: on this machine) and print its result\n"
    "  suite         the standard suite on one setup: GEMMs, every collective, the train steps that fit; a report\n"
    "  workloads     list the standard workloads and presets\n"
    "inspection:\n"
    "  status        the coordinator's workers and jobs\n"
    "  results       stored results\n"
    "  compare       one workload across setups, with ratios to a baseline\n"
    "  report        stored results as one self-contained HTML page (tables, SVG charts)\n"
    "  claim         check a training-cost claim against the FLOPs model and measurements\n"
    "  diagnose      which devices, hosts and links of a setup fall short of the rest\n"
    "stores:\n"
    "  export        a store's finished jobs as JSON Lines, for import elsewhere\n"
    "  import        merge exported JSON Lines into a store (twice adds nothing)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace tokenmeter::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex lock —
  // gRPC takes several per call — walks a lock-order graph looking for
  // deadlock cycles. The unit tests keep that check; the binary serving a
  // fleet does not pay for it (bench/fleet_load.sh measured it in the
  // coordinator's profile at 16,384 workers).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string command = argv[1];
  const Args args(argv + 2, argv + argc);
  if (command == "coordinator") return CoordinatorCommand(args);
  if (command == "worker") return WorkerCommand(args);
  if (command == "run") return RunCommand(args);
  if (command == "suite") return SuiteCommand(args);
  if (command == "status") return StatusCommand(args);
  if (command == "results") return ResultsCommand(args);
  if (command == "compare") return CompareCommand(args);
  if (command == "report") return ReportCommand(args);
  if (command == "workloads") return WorkloadsCommand(args);
  if (command == "claim") return ClaimCommand(args);
  if (command == "export") return ExportCommand(args);
  if (command == "import") return ImportCommand(args);
  if (command == "diagnose") return DiagnoseCommand(args);
  std::fprintf(stderr, "tokenmeter: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return kExitUsage;
}
