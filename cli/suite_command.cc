// tokenmeter suite: the standard suite on one setup, in one command — the
// GEMM sweep, every collective's sweep and every train-step preset that fits
// the devices' memory (each model in its preset's profile) — into one store,
// ending with a self-contained HTML report of those results and a headline
// table: MAMF, busbw at the largest size per collective, and tokens/s, MFU
// and $ per 1M tokens per preset. What an infra team runs on a new cluster.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/common_flags.h"
#include "cli/comparison.h"
#include "cli/diagnosis.h"
#include "cli/json_line.h"
#include "cli/pending_file.h"
#include "cli/report/report_builder.h"
#include "cli/run_jobs.h"
#include "common/log.h"
#include "google/protobuf/util/time_util.h"
#include "workload/fleet_health.h"
#include "workload/models.h"
#include "workload/spec.h"

namespace tokenmeter::cli {
namespace {

// --quick: enough iterations to see every workload work and a figure per
// entry, not to measure well (a 2-core machine runs the suite in minutes).
constexpr int kQuickWarmup = 1, kQuickIterations = 3;
constexpr int64_t kQuickMaxBytes = 1 << 20;

const char* const kCollectives[] = {"collective/all-reduce", "collective/all-gather", "collective/reduce-scatter",
                                    "collective/all-to-all", "collective/broadcast", "collective/reduce"};

absl::Status ApplyQuick(const FlagSet& flags, v1::WorkloadSpec* spec) {
  if (!flags.Has("warmup")) spec->set_warmup_iterations(kQuickWarmup);
  if (!flags.Has("iterations")) spec->set_timed_iterations(kQuickIterations);
  if (!flags.Has("max-bytes") && spec->has_collective()) spec->mutable_collective()->set_max_bytes(kQuickMaxBytes);
  return absl::OkStatus();
}

// The suite for `target`: a train-step preset that would not fit its
// devices' memory (ValidateSpec's rule) is left out and said so.
absl::StatusOr<std::vector<v1::WorkloadSpec>> SuiteSpecs(const FlagSet& flags, const RunTarget& target) {
  std::vector<std::string> names = {"gemm"};
  names.insert(names.end(), std::begin(kCollectives), std::end(kCollectives));
  for (const auto& model : workload::TrainStepPresetNames()) names.push_back(absl::StrCat("train-step/", model));
  std::vector<v1::WorkloadSpec> specs;
  std::vector<std::string> left_out;
  for (const auto& name : names) {
    auto spec = workload::ResolveWorkload(name);
    if (!spec.ok()) return spec.status();
    if (flags.GetSwitch("quick")) ApplyQuick(flags, &*spec).IgnoreError();
    if (auto s = ApplyOverrides(flags, &*spec); !s.ok()) return s;
    if (spec->has_train_step()) {
      if (auto s = workload::ValidateSpec(*spec, {target.ranks, target.device_memory_bytes}); !s.ok()) {
        Log("suite", "leaving out ", spec->name(), ": ", s.message());
        left_out.push_back(spec->name());
        continue;
      }
    }
    specs.push_back(*std::move(spec));
  }
  Log("suite", specs.size(), " workloads on ", target.ranks, " ranks",
      left_out.empty() ? std::string() : absl::StrCat(" (", left_out.size(), " presets do not fit the devices)"));
  return specs;
}

// "MAMF TFLOP/s 0.0621", "busbw GB/s @max 1.23 (1048576 B)", "tokens/s 1001, MFU 0.361, $ / 1M tokens 1.11".
std::string Headline(const v1::JobResult& r) {
  if (r.has_health()) return HealthHeadline(r.health());
  std::vector<std::string> parts;
  for (const auto& f : ComparedFigures(r)) {
    if (f.name == "tokens_per_second" || f.name == "mfu" || f.name == kCostFigure || f.name == "mamf_tflops" ||
        f.name == "busbw_gbps_largest") {
      parts.push_back(absl::StrFormat("%s %.4g", f.label, f.value));
    }
  }
  return absl::StrJoin(parts, ", ");
}

void PrintHeadlines(const std::vector<v1::JobResult>& results, const std::string& out, Format format) {
  if (format == Format::kJson) {
    for (const auto& r : results) {
      JsonLine line;
      line.Add("kind", "suite").Add("workload", r.spec().name()).Add("setup", r.setup()).Add("job_id", r.job_id());
      line.Add("ranks", r.world_size());
      for (const auto& f : ComparedFigures(r)) line.Add(f.name, f.value);
      line.Add("report", out);
      line.WriteTo(std::cout);
    }
    return;
  }
  std::cout << absl::StrFormat("# tokenmeter suite: %d results on setup %s; report %s\n", results.size(),
                               results.empty() ? "-" : results.front().setup(), out);
  std::cout << absl::StrFormat("# %-32s %5s  %s\n", "workload", "ranks", "headline");
  for (const auto& r : results) {
    std::cout << absl::StrFormat("  %-32s %5d  %s\n", r.spec().name(), r.world_size(), Headline(r));
  }
}

}  // namespace

int SuiteCommand(const Args& args) {
  FlagSet flags("suite", "(--local [--workers N] | --coordinator HOST:PORT) [--setup NAME] [--out FILE.html] [flags]");
  flags.Value("out", "FILE.html", "write the suite's report here; replaced atomically", "tokenmeter-suite.html");
  flags.Switch("quick", "1 warm-up and 3 timed iterations, collectives up to 1 MiB: a check that it all runs, "
                        "not a measurement (explicit --warmup, --iterations, --max-bytes win)");
  DeclareRunFlags(flags);
  DeclareFormatFlags(flags, /*csv=*/false);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  const std::string out = *flags.Get("out");
  // Before an hour of runs: a report that cannot be written is known now.
  auto pending = PendingFile::Create(out, "--out");
  if (!pending.ok()) return Fail("suite", pending.status(), kExitUsage);

  std::vector<v1::JobResult> results;
  // First the fleet check: a slow node found before the measurements is
  // named beside them (docs/fleet-health.md). Findings fail the suite, as a
  // failed check does, but every workload still runs.
  auto fleet_check = [&flags, &results](CoordinatorClient& client, const std::atomic<bool>* interrupted) {
    DiagnosisOptions options;
    options.setup = flags.Get("setup").value_or("");
    options.rules = *workload::ResolveHealthRules({});
    options.iterations = flags.GetSwitch("quick") ? 5 : 20;
    const auto started = google::protobuf::util::TimeUtil::GetCurrentTime();
    auto report = RunDiagnosis(client, options, interrupted);
    if (!report.ok()) return Fail("suite", report.status());
    auto id = client.RecordHealth(options.setup, *report, started);
    if (!id.ok()) return Fail("suite", id.status());
    v1::ListResultsRequest filter;
    filter.set_job_id(*id);
    auto stored = client.ListResults(filter);
    if (stored.ok() && !stored->empty()) results.push_back(stored->front());
    Log("suite", "fleet check ", *id, ": ", HealthHeadline(*report));
    for (const auto& f : report->findings()) Log("suite", "  ", f.subject(), ": ", f.metric(), " ", f.rule());
    return report->healthy() ? kExitOk : kExitFailed;
  };
  const int rc = RunJobs(
      flags, "suite", [&flags](const RunTarget& target) { return SuiteSpecs(flags, target); },
      [&results](const v1::JobStatus& job) {
        results.push_back(job.result());
        Log("suite", job.result().spec().name(), ": ", Headline(job.result()));
      },
      /*needs_device_memory=*/true, fleet_check);
  if (results.empty()) return rc;  // nothing ran: no report, and RunJobs said why

  const report::ReportOptions options = report::ReportOptionsNow(
      flags.GetSwitch("local") ? "tokenmeter suite --local"
                               : absl::StrCat("tokenmeter suite on ", *flags.Get("coordinator")));
  if (auto s = (*pending)->Commit(report::BuildReport(results, options)); !s.ok()) return Fail("suite", s);
  Log("suite", "wrote the report of ", results.size(), " results to ", out);
  PrintHeadlines(results, out, OutputFormat(flags));
  return rc;
}

}  // namespace tokenmeter::cli
