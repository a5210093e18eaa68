// The SQLite store: survives reopening, refuses newer schemas and non-stores.
#include "coordinator/results_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::coordinator {
namespace {

ResultFilter Filter(const std::string& workload, const std::string& setup, int limit = 0) {
  ResultFilter f;
  f.workload = workload;
  f.setup = setup;
  f.limit = limit;
  return f;
}


using ::testing::HasSubstr;

v1::JobResult Result(const std::string& id, const std::string& workload, const std::string& setup, int64_t t) {
  v1::JobResult r;
  r.set_job_id(id);
  r.mutable_spec()->set_name(workload);
  r.set_setup(setup);
  r.mutable_finished_at()->set_seconds(t);
  r.set_mamf_tflops(1.5);
  return r;
}

TEST(ResultsStore, ResultsSurviveReopening) {
  testing::TempDir dir;
  const std::string path = dir.File("r.db");
  {
    auto store = ResultsStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    v1::JobStatus job;
    job.set_job_id("j1");
    job.set_state(v1::JOB_SUCCEEDED);
    ASSERT_TRUE((*store)->SaveFinishedJob(job, Result("j1", "gemm", "a", 100)).ok());
    job.set_job_id("j2");
    ASSERT_TRUE((*store)->SaveFinishedJob(job, Result("j2", "collective", "b", 200)).ok());
    job.set_job_id("j3");
    job.set_state(v1::JOB_QUEUED);
    ASSERT_TRUE((*store)->SaveJob(job).ok());
  }
  auto store = ResultsStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto all = (*store)->ListResults({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].job_id(), "j2");  // newest first
  EXPECT_DOUBLE_EQ((*all)[1].mamf_tflops(), 1.5);
  EXPECT_EQ((*store)->ListResults(Filter("gemm", ""))->size(), 1u);
  EXPECT_EQ((*store)->ListResults(Filter("", "b"))->size(), 1u);
  EXPECT_EQ((*store)->ListResults(Filter("", "", 1))->size(), 1u);
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 3u);
  int with_result = 0;
  for (const auto& j : *jobs) with_result += j.has_result();
  EXPECT_EQ(with_result, 2);
}

// Every filter of a listing, alone and together, and through the request
// that carries them to a coordinator and back.
TEST(ResultsStore, ListsByDeviceJobAndFinishTime) {
  testing::TempDir dir;
  auto store = ResultsStore::Open(dir.File("r.db"));
  ASSERT_TRUE(store.ok());
  v1::JobStatus job;
  job.set_state(v1::JOB_SUCCEEDED);
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"j1", "NVIDIA H100 80GB HBM3"}, {"j2", "NVIDIA H200"}, {"j3", "AMD EPYC 9654"}};
  int64_t t = 1000;
  for (const auto& [id, model] : rows) {
    job.set_job_id(id);
    auto r = Result(id, "gemm", "a", t += 100);  // j1 at 1100, j2 1200, j3 1300
    r.set_device_model(model);
    ASSERT_TRUE((*store)->SaveFinishedJob(job, r).ok());
  }
  auto ids = [&](const ResultFilter& f) {
    std::vector<std::string> out;
    auto listed = (*store)->ListResults(FilterFromRequest(RequestFromFilter(f)));
    EXPECT_TRUE(listed.ok()) << listed.status();
    if (!listed.ok()) return out;
    for (const auto& r : *listed) out.push_back(r.job_id());
    return out;
  };
  ResultFilter f;
  f.device_model = "nvidia h";  // contained, case-insensitive
  EXPECT_EQ(ids(f), (std::vector<std::string>{"j2", "j1"}));
  f.device_model = "100%";  // no wildcard
  EXPECT_TRUE(ids(f).empty());
  f = ResultFilter();
  f.job_id = "j3";
  EXPECT_EQ(ids(f), std::vector<std::string>{"j3"});
  f = ResultFilter();
  f.finished_after = absl::FromUnixSeconds(1200);   // inclusive
  f.finished_before = absl::FromUnixSeconds(1300);  // exclusive
  EXPECT_EQ(ids(f), std::vector<std::string>{"j2"});
  f.device_model = "EPYC";
  EXPECT_TRUE(ids(f).empty());
  EXPECT_EQ(ids(ResultFilter()).size(), 3u);
}

v1::JobStatus Finished(const std::string& id, v1::JobState state) {
  v1::JobStatus job;
  job.set_job_id(id);
  job.set_state(state);
  job.mutable_spec()->set_name("gemm");
  if (state == v1::JOB_SUCCEEDED) {
    *job.mutable_result() = Result(id, "gemm", "a", 100);
    (*job.mutable_result()->add_inventory()->mutable_software_versions())["openblas"] = "0.3.21";
  } else {
    job.set_error("worker lost");
  }
  return job;
}

// Import adds finished jobs as they were; the same jobs again add nothing.
TEST(ResultsStore, ImportAddsFinishedJobsOnceAndTheirResultsWithThem) {
  testing::TempDir dir;
  auto store = ResultsStore::Open(dir.File("r.db"));
  ASSERT_TRUE(store.ok());
  const std::vector<v1::JobStatus> jobs = {Finished("j1", v1::JOB_SUCCEEDED), Finished("j2", v1::JOB_FAILED)};
  auto first = (*store)->ImportJobs(jobs);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->added, 2);
  EXPECT_EQ(first->already_stored, 0);
  auto again = (*store)->ImportJobs(jobs);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->added, 0);
  EXPECT_EQ(again->already_stored, 2);
  auto loaded = (*store)->LoadJobs();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*store)->ListResults({})->size(), 1u);
  EXPECT_EQ((*store)->ListResults({})->at(0).inventory(0).software_versions().at("openblas"), "0.3.21");
}

// A bad job anywhere in the batch (unfinished, inconsistent, or an id stored
// with other content) refuses all of it: the store keeps what it had.
TEST(ResultsStore, ImportIsAllOrNothing) {
  testing::TempDir dir;
  auto store = ResultsStore::Open(dir.File("r.db"));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->ImportJobs({Finished("j1", v1::JOB_SUCCEEDED)}).ok());

  v1::JobStatus other = Finished("j1", v1::JOB_SUCCEEDED);
  other.mutable_result()->set_mamf_tflops(99);
  auto conflict = (*store)->ImportJobs({Finished("j2", v1::JOB_SUCCEEDED), other});
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(conflict.status().message(), HasSubstr("job j1 is already stored with other content"));

  v1::JobStatus running = Finished("j3", v1::JOB_SUCCEEDED);
  running.set_state(v1::JOB_RUNNING);
  running.clear_result();
  EXPECT_THAT((*store)->ImportJobs({Finished("j2", v1::JOB_SUCCEEDED), running}).status().message(),
              HasSubstr("job j3 is JOB_RUNNING: only finished jobs are imported"));
  v1::JobStatus no_result = Finished("j4", v1::JOB_SUCCEEDED);
  no_result.clear_result();
  EXPECT_THAT((*store)->ImportJobs({no_result}).status().message(), HasSubstr("JOB_SUCCEEDED but has no result"));
  v1::JobStatus wrong_result = Finished("j5", v1::JOB_SUCCEEDED);
  wrong_result.mutable_result()->set_job_id("j6");
  EXPECT_THAT((*store)->ImportJobs({wrong_result}).status().message(), HasSubstr("carries the result of job j6"));

  auto loaded = (*store)->LoadJobs();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);  // j2 of the refused batches was rolled back
  EXPECT_DOUBLE_EQ(loaded->at(0).result().mamf_tflops(), 1.5);
}

TEST(ResultsStore, RefusesANewerSchemaWithoutTouchingIt) {
  testing::TempDir dir;
  const std::string path = dir.File("new.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto store = ResultsStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
}

int64_t IntQuery(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// tests/coordinator/testdata/results-v1.db was written by tokenmeter 0.1.0's
// schema v1 (a one-rank gemm run on setup schema-v1-fixture): it opens,
// migrates to the current schema once, and keeps its result bit for bit.
TEST(ResultsStore, AStoreOfThePreviousSchemaMigratesKeepingItsResults) {
  testing::TempDir dir;
  const std::string path = dir.File("v1.db");
  std::filesystem::copy_file(TOKENMETER_SOURCE_DIR "/tests/coordinator/testdata/results-v1.db", path);
  ASSERT_EQ(IntQuery(path, "PRAGMA user_version"), 1);
  std::string v1_blob;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT result FROM results", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    v1_blob.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  {
    auto store = ResultsStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    auto results = (*store)->ListResults({});
    ASSERT_TRUE(results.ok());
    ASSERT_EQ(results->size(), 1u);
    EXPECT_EQ(results->at(0).setup(), "schema-v1-fixture");
    EXPECT_GT(results->at(0).mamf_tflops(), 0);
    v1::JobResult before;
    ASSERT_TRUE(before.ParseFromString(v1_blob));
    EXPECT_EQ(results->at(0).SerializeAsString(), v1_blob);
    EXPECT_EQ((*store)->LoadJobs()->size(), 1u);
  }
  EXPECT_EQ(IntQuery(path, "PRAGMA user_version"), ResultsStore::kSchemaVersion);
  EXPECT_EQ(IntQuery(path, "SELECT version FROM schema_history"), ResultsStore::kSchemaVersion);
  ASSERT_TRUE(ResultsStore::Open(path).ok());  // opening again migrates nothing
  EXPECT_EQ(IntQuery(path, "SELECT count(*) FROM schema_history"), 1);
}

// Someone else's SQLite database is not made into a store.
TEST(ResultsStore, RefusesAnotherSQLiteDatabaseWithoutTouchingIt) {
  testing::TempDir dir;
  const std::string path = dir.File("other.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE invoices(id INTEGER); INSERT INTO invoices VALUES(7);", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const std::string before = testing::ReadFile(path);
  auto store = ResultsStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("not a tokenmeter results store (it has tables invoices)"));
  EXPECT_EQ(testing::ReadFile(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(ResultsStore, RefusesAFileThatIsNotADatabase) {
  testing::TempDir dir;
  const std::string path = dir.File("text.db");
  std::ofstream(path) << "this is not sqlite, but it is long enough to have a header of sorts..........\n";
  auto store = ResultsStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_EQ(testing::ReadFile(path), "this is not sqlite, but it is long enough to have a header of sorts..........\n");
}

TEST(ResultsStore, UnwritablePathIsAnError) {
  auto store = ResultsStore::Open("/nonexistent-dir/r.db");
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("/nonexistent-dir/r.db"));
}

}  // namespace
}  // namespace tokenmeter::coordinator
