// tokenmeter import: merges the JSON Lines of `tokenmeter export` into a
// store (created when absent), all or nothing. A job already stored with the
// same content is skipped, so importing a file twice adds nothing; a line
// that does not parse, a job that is not finished, or a job id stored with
// other content refuses the whole file and leaves the store as it was.
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/common_flags.h"
#include "coordinator/results_store.h"
#include "workload/strict_json.h"
#include "tokenmeter/v1/export.pb.h"

namespace tokenmeter::cli {
namespace {

absl::StatusOr<v1::JobStatus> ParseLine(const std::string& text, int line) {
  v1::ExportedJob exported;
  if (auto s = workload::ParseStrictJson(text, absl::StrCat("line ", line), &exported); !s.ok()) return s;
  if (exported.schema() != kJsonSchema) {
    return absl::InvalidArgumentError(absl::StrCat("line ", line, ": schema ", exported.schema(),
                                                   "; this tokenmeter reads schema ", kJsonSchema));
  }
  if (exported.kind() != "job") {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ": kind must be \"job\", got \"", exported.kind(), "\""));
  }
  return std::move(*exported.mutable_job());
}

absl::StatusOr<std::vector<v1::JobStatus>> ReadJobs(std::istream& in) {
  std::vector<v1::JobStatus> jobs;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (text.empty()) continue;
    auto job = ParseLine(text, line);
    if (!job.ok()) return job.status();
    jobs.push_back(*std::move(job));
  }
  if (in.bad()) return absl::UnavailableError("reading the input failed");
  return jobs;
}

}  // namespace

int ImportCommand(const Args& args) {
  FlagSet flags("import", "--store FILE.db FILE.jsonl   (- reads standard input)");
  flags.Value("store", "FILE.db", "the results store to add to (created when absent; required)");
  flags.Positional("FILE.jsonl", "lines written by `tokenmeter export` (- for standard input)");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto path = flags.Require("store");
  if (!path.ok()) return Fail("import", path.status(), kExitUsage);
  if (!flags.positional()) {
    return Fail("import", absl::InvalidArgumentError("give the file to import (FILE.jsonl, or - for standard input)"),
                kExitUsage);
  }
  const std::string& input = *flags.positional();
  absl::StatusOr<std::vector<v1::JobStatus>> jobs;
  if (input == "-") {
    jobs = ReadJobs(std::cin);
  } else {
    std::ifstream file(input);
    if (!file) return Fail("import", absl::NotFoundError(absl::StrCat("cannot read '", input, "'")), kExitUsage);
    jobs = ReadJobs(file);
  }
  if (!jobs.ok()) return Fail("import", absl::Status(jobs.status().code(), absl::StrCat(input, ": ", jobs.status().message())));
  auto store = coordinator::ResultsStore::Open(*path);
  if (!store.ok()) return Fail("import", store.status());
  auto counts = (*store)->ImportJobs(*jobs);
  if (!counts.ok()) return Fail("import", absl::Status(counts.status().code(), absl::StrCat(input, ": ", counts.status().message())));
  std::cout << "imported " << counts->added << " jobs into " << *path << "; " << counts->already_stored
            << " already there\n";
  return kExitOk;
}

}  // namespace tokenmeter::cli
