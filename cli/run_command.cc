// tokenmeter run: submit workloads, wait for their results, print them.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/run_jobs.h"
#include "workload/spec.h"

namespace tokenmeter::cli {

int RunCommand(const Args& args) {
  FlagSet flags("run", "(--local [--workers N] | --coordinator HOST:PORT) (--workload NAME | --spec FILE) [flags]");
  flags.Value("workload", "NAME", "a standard workload (repeatable; see tokenmeter workloads)");
  flags.Value("spec", "FILE", "a workload spec file (JSON; unknown fields are errors)");
  DeclareRunFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/true);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;

  // Every spec is read and checked before anything starts.
  std::vector<v1::WorkloadSpec> specs;
  if (flags.Has("workload")) {
    for (const auto& name : flags.GetAll("workload")) {
      auto spec = workload::ResolveWorkload(name);
      if (!spec.ok()) return Fail("run", spec.status(), kExitUsage);
      specs.push_back(*std::move(spec));
    }
  }
  if (flags.Has("spec")) {
    auto spec = workload::LoadSpecFile(*flags.Get("spec"));
    if (!spec.ok()) return Fail("run", spec.status(), kExitUsage);
    specs.push_back(*std::move(spec));
  }
  if (specs.empty()) return Fail("run", absl::InvalidArgumentError("give --workload NAME or --spec FILE"), kExitUsage);
  bool any_collective = false;
  for (auto& spec : specs) {
    if (auto s = ApplyOverrides(flags, &spec); !s.ok()) return Fail("run", s, kExitUsage);
    any_collective = any_collective || spec.has_collective();
  }
  if (flags.Has("max-bytes") && !any_collective) {
    return Fail("run", absl::InvalidArgumentError("--max-bytes applies to collective workloads only"), kExitUsage);
  }
  const Format format = OutputFormat(flags);
  return RunJobs(
      flags, "run", [&specs](const RunTarget&) -> absl::StatusOr<std::vector<v1::WorkloadSpec>> { return specs; },
      [format](const v1::JobStatus& job) {
        PrintJobResult(job.result(), format, std::cout);
        std::cout.flush();
      });
}

}  // namespace tokenmeter::cli
