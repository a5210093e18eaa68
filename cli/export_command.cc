// tokenmeter export: every finished job of a store as JSON Lines on stdout,
// one tokenmeter.v1.ExportedJob per line (its result, spec, inventories and
// every rank's iteration times inside), oldest first, so that `import` can
// merge stores of clusters that never see each other. The same store always
// exports the same text.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "cli/json_line.h"
#include "cli/results_source.h"
#include "common/log.h"
#include "coordinator/results_store.h"
#include "tokenmeter/v1/export.pb.h"
#include "workload/spec.h"

namespace tokenmeter::cli {
namespace {

bool Finished(v1::JobState state) {
  return state == v1::JOB_SUCCEEDED || state == v1::JOB_FAILED || state == v1::JOB_CANCELLED;
}

// The setup a job ran on: its result's; for a job without one, the setup it
// asked for.
const std::string& SetupOf(const v1::JobStatus& job) {
  return job.has_result() ? job.result().setup() : job.setup();
}

}  // namespace

int ExportCommand(const Args& args) {
  FlagSet flags("export", "--store FILE.db [--workload NAME] [--setup NAME] > FILE.jsonl");
  flags.Value("store", "FILE.db", "the results store to export (required)");
  flags.Value("workload", "NAME", "only jobs of this workload");
  flags.Value("setup", "NAME", "only jobs of this setup");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto path = flags.Require("store");
  if (!path.ok()) return Fail("export", path.status(), kExitUsage);
  auto store = OpenExistingStore(*path);
  if (!store.ok()) {
    return Fail("export", store.status(),
                store.status().code() == absl::StatusCode::kNotFound ? kExitUsage : kExitFailed);
  }
  auto jobs = (*store)->LoadJobs();
  if (!jobs.ok()) return Fail("export", jobs.status());
  const std::string workload =
      flags.Has("workload") ? workload::CanonicalWorkloadName(*flags.Get("workload")) : std::string();
  const std::string setup = flags.Get("setup").value_or("");
  int exported = 0;
  for (auto& job : *jobs) {
    if (!Finished(job.state())) continue;  // still queued or running: not a record yet
    if (!workload.empty() && workload::CanonicalWorkloadName(job.spec().name()) != workload) continue;
    if (!setup.empty() && SetupOf(job) != setup) continue;
    v1::ExportedJob line;
    line.set_schema(kJsonSchema);
    line.set_kind("job");
    *line.mutable_job() = std::move(job);
    std::cout << CanonicalJson(line) << "\n";
    ++exported;
  }
  std::cout.flush();
  if (!std::cout) return Fail("export", absl::UnavailableError("writing to stdout failed"));
  Log("export", "exported ", exported, " jobs from ", *path);
  return kExitOk;
}

}  // namespace tokenmeter::cli
