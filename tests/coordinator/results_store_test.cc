// The SQLite store: survives reopening, refuses newer schemas and non-stores.
#include "coordinator/results_store.h"

#include <sqlite3.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::coordinator {
namespace {

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
  EXPECT_EQ((*store)->ListResults({"gemm", "", 0})->size(), 1u);
  EXPECT_EQ((*store)->ListResults({"", "b", 0})->size(), 1u);
  EXPECT_EQ((*store)->ListResults({"", "", 1})->size(), 1u);
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 3u);
  int with_result = 0;
  for (const auto& j : *jobs) with_result += j.has_result();
  EXPECT_EQ(with_result, 2);
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

TEST(ResultsStore, RefusesAFileThatIsNotADatabase) {
  testing::TempDir dir;
  const std::string path = dir.File("text.db");
  std::ofstream(path) << "this is not sqlite, but it is long enough to have a header of sorts..........\n";
  auto store = ResultsStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_THAT(testing::ReadFile(path), HasSubstr("this is not sqlite"));
}

TEST(ResultsStore, UnwritablePathIsAnError) {
  auto store = ResultsStore::Open("/nonexistent-dir/r.db");
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("/nonexistent-dir/r.db"));
}

}  // namespace
}  // namespace tokenmeter::coordinator
