#include "coordinator/results_store.h"

#include <sqlite3.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/message_differencer.h"

namespace tokenmeter::coordinator {
namespace {

// Schema v1. Bulky figures live in serialized protobuf blobs; the columns
// that filters use are duplicated as plain columns.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  job_id        TEXT PRIMARY KEY,
  state         INTEGER NOT NULL,
  submitted_at  INTEGER NOT NULL,
  status        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  job_id        TEXT PRIMARY KEY,
  workload      TEXT NOT NULL,
  setup         TEXT NOT NULL,
  device_model  TEXT NOT NULL,
  finished_at   INTEGER NOT NULL,
  result        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_workload ON results(workload, setup, finished_at);
)sql";

// Schema v2: the store's own history — which tokenmeter created it and which
// migrated it, and when — so that a store merged from several clusters and
// versions says where its schema came from.
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_history (
  version             INTEGER PRIMARY KEY,
  tokenmeter_version  TEXT NOT NULL,
  applied_at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_time ON results(finished_at);
)sql";

// Each step takes a store of the version before it to `version`. A new
// schema is a new step at the end; no step is ever edited.
struct Migration {
  int version;
  const char* sql;
};
constexpr Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}};

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Text(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  void Blob(int i, const std::string& s) { sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  void Int(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  std::string ColumnBlob(int i) {
    const void* p = sqlite3_column_blob(stmt_, i);
    return std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

absl::Status SqlError(sqlite3* db, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("results store: ", what, ": ", sqlite3_errmsg(db)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ResultsStore>> ResultsStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open results store '", path, "': ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<ResultsStore> store(new ResultsStore(path, db));
  absl::MutexLock lock(&store->mu_);
  int version = 0;
  {
    Statement st(db, "PRAGMA user_version");
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is not a tokenmeter results store: ", sqlite3_errmsg(db)));
    }
    if (sqlite3_step(st.get()) == SQLITE_ROW) version = sqlite3_column_int(st.get(), 0);
  }
  if (version > kSchemaVersion) {
    return absl::InvalidArgumentError(absl::StrCat("results store '", path, "' has schema version ", version,
                                                   ", newer than this tokenmeter's ", kSchemaVersion));
  }
  if (version == 0) {
    // An SQLite file that holds tables but no tokenmeter schema is someone
    // else's database: refused before anything is written to it.
    auto tables = store->TableNames();
    if (!tables.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is not a tokenmeter results store: ", sqlite3_errmsg(db)));
    }
    if (!tables->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("'", path,
                                                     "' is an SQLite database but not a tokenmeter results store "
                                                     "(it has tables ",
                                                     absl::StrJoin(*tables, ", "), "); it was left as it is"));
    }
  }
  // WAL keeps readers off the writer and survives a killed process.
  if (auto s = store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"); !s.ok()) return s;
  if (version < kSchemaVersion) {
    if (auto s = store->Migrate(version); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("migrating results store '", path, "' from schema version ",
                                                 version, ": ", s.message()));
    }
  }
  return store;
}

absl::StatusOr<std::vector<std::string>> ResultsStore::TableNames() {
  Statement st(db_, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  if (!st.ok()) return SqlError(db_, "list tables");
  std::vector<std::string> names;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "list tables");
  return names;
}

absl::Status ResultsStore::Migrate(int from_version) {
  if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [&](absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  };
  for (const Migration& m : kMigrations) {
    if (m.version <= from_version) continue;
    if (auto s = Exec(m.sql); !s.ok()) return fail(s);
  }
  // Recorded from v2 on, when the history table exists: the version this
  // tokenmeter brought the store to.
  Statement st(db_, "INSERT OR REPLACE INTO schema_history(version, tokenmeter_version, applied_at) VALUES(?, ?, ?)");
  if (!st.ok()) return fail(SqlError(db_, "prepare history insert"));
  st.Int(1, kSchemaVersion);
  st.Text(2, TOKENMETER_VERSION);
  st.Int(3, absl::ToUnixNanos(absl::Now()));
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(SqlError(db_, "record the migration"));
  if (auto s = Exec(absl::StrCat("PRAGMA user_version = ", kSchemaVersion).c_str()); !s.ok()) return fail(s);
  return Exec("COMMIT");
}

ResultsStore::~ResultsStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status ResultsStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return absl::UnavailableError(absl::StrCat("results store '", path_, "': ", msg));
  }
  return absl::OkStatus();
}

absl::Status ResultsStore::PutJob(const v1::JobStatus& job) {
  v1::JobStatus slim = job;
  slim.clear_result();
  Statement st(db_, "INSERT OR REPLACE INTO jobs(job_id, state, submitted_at, status) VALUES(?, ?, ?, ?)");
  if (!st.ok()) return SqlError(db_, "prepare job insert");
  st.Text(1, job.job_id());
  st.Int(2, job.state());
  st.Int(3, job.submitted_at().seconds() * 1000000000LL + job.submitted_at().nanos());
  st.Blob(4, slim.SerializeAsString());
  if (sqlite3_step(st.get()) != SQLITE_DONE) return SqlError(db_, absl::StrCat("save job ", job.job_id()));
  return absl::OkStatus();
}

absl::Status ResultsStore::SaveJob(const v1::JobStatus& job) {
  absl::MutexLock lock(&mu_);
  return PutJob(job);
}

absl::Status ResultsStore::SaveFinishedJob(const v1::JobStatus& job, const v1::JobResult& result) {
  absl::MutexLock lock(&mu_);
  if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [&](absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  };
  if (auto s = PutJob(job); !s.ok()) return fail(s);
  if (auto s = PutResult(result); !s.ok()) return fail(s);
  return Exec("COMMIT");
}

absl::Status ResultsStore::PutResult(const v1::JobResult& result) {
  Statement st(db_,
               "INSERT OR REPLACE INTO results(job_id, workload, setup, device_model, finished_at, result) "
               "VALUES(?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return SqlError(db_, "prepare result insert");
  st.Text(1, result.job_id());
  st.Text(2, result.spec().name());
  st.Text(3, result.setup());
  st.Text(4, result.device_model());
  st.Int(5, result.finished_at().seconds() * 1000000000LL + result.finished_at().nanos());
  st.Blob(6, result.SerializeAsString());
  if (sqlite3_step(st.get()) != SQLITE_DONE) return SqlError(db_, absl::StrCat("save result ", result.job_id()));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::JobStatus>> ResultsStore::FindJob(const std::string& job_id) {
  Statement st(db_,
               "SELECT jobs.status, results.result FROM jobs LEFT JOIN results ON jobs.job_id = results.job_id "
               "WHERE jobs.job_id = ?");
  if (!st.ok()) return SqlError(db_, "prepare job lookup");
  st.Text(1, job_id);
  const int rc = sqlite3_step(st.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return SqlError(db_, absl::StrCat("look up job ", job_id));
  v1::JobStatus job;
  if (!job.ParseFromString(st.ColumnBlob(0)) ||
      (sqlite3_column_type(st.get(), 1) != SQLITE_NULL && !job.mutable_result()->ParseFromString(st.ColumnBlob(1)))) {
    return absl::DataLossError(absl::StrCat("results store: job ", job_id, " does not parse"));
  }
  return job;
}

namespace {

absl::Status CheckImportable(const v1::JobStatus& job) {
  const auto state = job.state();
  if (job.job_id().empty()) return absl::InvalidArgumentError("job.job_id is empty");
  if (state != v1::JOB_SUCCEEDED && state != v1::JOB_FAILED && state != v1::JOB_CANCELLED) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.job_id(), " is ", v1::JobState_Name(state),
                                                   ": only finished jobs are imported"));
  }
  if ((state == v1::JOB_SUCCEEDED) != job.has_result()) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.job_id(), " is ", v1::JobState_Name(state),
                                                   job.has_result() ? " but has a result" : " but has no result"));
  }
  if (job.has_result() && job.result().job_id() != job.job_id()) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.job_id(), " carries the result of job ",
                                                   job.result().job_id()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImportCounts> ResultsStore::ImportJobs(const std::vector<v1::JobStatus>& jobs) {
  for (const auto& job : jobs) {
    if (auto s = CheckImportable(job); !s.ok()) return s;
  }
  absl::MutexLock lock(&mu_);
  if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [&](absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  };
  ImportCounts counts;
  for (const auto& job : jobs) {
    auto stored = FindJob(job.job_id());
    if (!stored.ok()) return fail(stored.status());
    if (stored->has_value()) {
      // Compared as messages: a map's serialized order is not stable.
      if (!google::protobuf::util::MessageDifferencer::Equals(**stored, job)) {
        return fail(absl::InvalidArgumentError(
            absl::StrCat("job ", job.job_id(), " is already stored with other content; nothing was imported")));
      }
      ++counts.already_stored;
      continue;
    }
    if (auto s = PutJob(job); !s.ok()) return fail(s);
    if (job.has_result()) {
      if (auto s = PutResult(job.result()); !s.ok()) return fail(s);
    }
    ++counts.added;
  }
  if (auto s = Exec("COMMIT"); !s.ok()) return fail(s);
  return counts;
}

absl::StatusOr<std::vector<v1::JobStatus>> ResultsStore::LoadJobs() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::JobStatus> jobs;
  Statement st(db_,
               "SELECT jobs.status, results.result FROM jobs LEFT JOIN results ON jobs.job_id = results.job_id "
               "ORDER BY jobs.submitted_at, jobs.job_id");
  if (!st.ok()) return SqlError(db_, "prepare job query");
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    v1::JobStatus job;
    if (!job.ParseFromString(st.ColumnBlob(0))) return absl::DataLossError("results store: a job row does not parse");
    if (sqlite3_column_type(st.get(), 1) != SQLITE_NULL && !job.mutable_result()->ParseFromString(st.ColumnBlob(1))) {
      return absl::DataLossError(absl::StrCat("results store: the result of ", job.job_id(), " does not parse"));
    }
    jobs.push_back(std::move(job));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "read jobs");
  return jobs;
}

namespace {

int64_t UnixNanosOrBound(absl::Time t) {
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixNanos(t);
}

absl::Time TimeOrBound(const google::protobuf::Timestamp& t, absl::Time unset) {
  if (t.seconds() == 0 && t.nanos() == 0) return unset;
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace

ResultFilter FilterFromRequest(const v1::ListResultsRequest& request) {
  ResultFilter f;
  f.workload = request.workload();
  f.setup = request.setup();
  f.limit = request.limit();
  f.device_model = request.device_model();
  f.job_id = request.job_id();
  f.finished_after = TimeOrBound(request.finished_after(), absl::InfinitePast());
  f.finished_before = TimeOrBound(request.finished_before(), absl::InfiniteFuture());
  return f;
}

v1::ListResultsRequest RequestFromFilter(const ResultFilter& filter) {
  v1::ListResultsRequest r;
  r.set_workload(filter.workload);
  r.set_setup(filter.setup);
  r.set_limit(filter.limit);
  r.set_device_model(filter.device_model);
  r.set_job_id(filter.job_id);
  if (filter.finished_after != absl::InfinitePast()) SetTimestamp(filter.finished_after, r.mutable_finished_after());
  if (filter.finished_before != absl::InfiniteFuture()) SetTimestamp(filter.finished_before, r.mutable_finished_before());
  return r;
}

absl::StatusOr<std::vector<v1::JobResult>> ResultsStore::ListResults(const ResultFilter& filter) {
  absl::MutexLock lock(&mu_);
  // instr over lower() rather than LIKE: a model name may hold % or _.
  Statement st(db_,
               "SELECT result FROM results WHERE (?1 = '' OR workload = ?1) AND (?2 = '' OR setup = ?2) "
               "AND (?4 = '' OR instr(lower(device_model), lower(?4)) > 0) AND (?5 = '' OR job_id = ?5) "
               "AND finished_at >= ?6 AND finished_at < ?7 "
               "ORDER BY finished_at DESC, job_id DESC LIMIT ?3");
  if (!st.ok()) return SqlError(db_, "prepare result query");
  st.Text(1, filter.workload);
  st.Text(2, filter.setup);
  st.Int(3, filter.limit > 0 ? filter.limit : -1);
  st.Text(4, filter.device_model);
  st.Text(5, filter.job_id);
  st.Int(6, UnixNanosOrBound(filter.finished_after));
  st.Int(7, UnixNanosOrBound(filter.finished_before));
  std::vector<v1::JobResult> results;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    v1::JobResult r;
    if (!r.ParseFromString(st.ColumnBlob(0))) return absl::DataLossError("results store: a result row does not parse");
    results.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "read results");
  return results;
}

}  // namespace tokenmeter::coordinator
