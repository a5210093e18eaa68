// The results store: every job and every result, in one SQLite file that
// survives restarts. The schema is created and versioned by the program
// (PRAGMA user_version) and migrated forward, step by step, when an older
// store is opened; a file from a newer tokenmeter, a file that is not SQLite,
// or an SQLite database with other tables is refused and left untouched
// (docs/stores.md).
#ifndef TOKENMETER_COORDINATOR_RESULTS_STORE_H_
#define TOKENMETER_COORDINATOR_RESULTS_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tokenmeter/v1/coordinator.pb.h"

struct sqlite3;

namespace tokenmeter::coordinator {

// Which stored results a listing returns (the fields of v1::ListResultsRequest).
struct ResultFilter {
  std::string workload;  // "" = all
  std::string setup;     // "" = all
  int limit = 0;         // 0 = all; newest first
  std::string device_model;  // contained in the result's device model, ASCII case-insensitive; "" = all
  std::string job_id;        // "" = all
  absl::Time finished_after = absl::InfinitePast();    // inclusive
  absl::Time finished_before = absl::InfiniteFuture();  // exclusive
};
ResultFilter FilterFromRequest(const v1::ListResultsRequest& request);
v1::ListResultsRequest RequestFromFilter(const ResultFilter& filter);

// What an import added and what it found already stored.
struct ImportCounts {
  int added = 0;
  int already_stored = 0;
};

// Safe for concurrent use from several threads.
class ResultsStore {
 public:
  static constexpr int kSchemaVersion = 2;

  // Opens (creating if absent) the store at path. InvalidArgument when the
  // file is not a tokenmeter store or is from a newer schema; Unavailable
  // when it cannot be opened or written.
  static absl::StatusOr<std::unique_ptr<ResultsStore>> Open(const std::string& path);

  ~ResultsStore();
  ResultsStore(const ResultsStore&) = delete;
  ResultsStore& operator=(const ResultsStore&) = delete;

  const std::string& path() const { return path_; }

  // Inserts or replaces a job's status (its result, if any, is not stored
  // here: see SaveFinishedJob).
  absl::Status SaveJob(const v1::JobStatus& job);

  // Stores a succeeded job and its result in one transaction.
  absl::Status SaveFinishedJob(const v1::JobStatus& job, const v1::JobResult& result);

  // Every stored job, oldest first, with its result attached when it has one.
  absl::StatusOr<std::vector<v1::JobStatus>> LoadJobs();

  // Stored results matching filter, newest first.
  absl::StatusOr<std::vector<v1::JobResult>> ListResults(const ResultFilter& filter);

  // Adds finished jobs from another store (each with its result attached when
  // it succeeded, as LoadJobs returns them) in one transaction. A job already
  // stored with the same content is skipped, so importing twice adds nothing.
  // InvalidArgument, and nothing added, when a job is not finished, a
  // succeeded job has no result (or another job a result), or a job id is
  // stored with other content.
  absl::StatusOr<ImportCounts> ImportJobs(const std::vector<v1::JobStatus>& jobs);

 private:
  ResultsStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<std::string>> TableNames() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies every migration after from_version in one transaction.
  absl::Status Migrate(int from_version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutJob(const v1::JobStatus& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutResult(const v1::JobResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stored job (result attached), or nullopt when the id is not stored.
  absl::StatusOr<std::optional<v1::JobStatus>> FindJob(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_RESULTS_STORE_H_
