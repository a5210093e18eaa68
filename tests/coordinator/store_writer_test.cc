// StoreWriter: writes run in the order queued, a barrier runs after every
// write queued before it, and destruction finishes what was queued.
#include "coordinator/store_writer.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::coordinator {
namespace {

using ::testing::ElementsAre;

v1::JobStatus JobNamed(const std::string& id, v1::JobState state) {
  v1::JobStatus job;
  job.set_job_id(id);
  job.set_state(state);
  return job;
}

TEST(StoreWriter, WritesInOrderAndBarriersFollowThem) {
  testing::TempDir dir;
  auto store = *ResultsStore::Open(dir.File("s.db"));
  std::vector<std::string> events;  // touched only on the writer's thread
  {
    StoreWriter writer(store.get());
    for (auto state : {v1::JOB_QUEUED, v1::JOB_RUNNING, v1::JOB_SUCCEEDED}) {
      writer.Queue([state](ResultsStore& s) { return s.SaveJob(JobNamed("j", state)); },
                   [&events, state](absl::Status s) {
                     EXPECT_TRUE(s.ok()) << s;
                     events.push_back(v1::JobState_Name(state));
                   });
    }
    writer.AfterQueuedWrites([&] { events.push_back("barrier"); });
    writer.Queue([](ResultsStore&) { return absl::UnavailableError("disk gone"); },
                 [&](absl::Status s) { events.push_back(std::string(s.message())); });
    writer.Flush();
    EXPECT_THAT(events, ElementsAre("JOB_QUEUED", "JOB_RUNNING", "JOB_SUCCEEDED", "barrier", "disk gone"));
    writer.Queue([](ResultsStore& s) { return s.SaveJob(JobNamed("k", v1::JOB_QUEUED)); },
                 [&](absl::Status) { events.push_back("k"); });
  }  // the destructor runs the last write before it returns
  EXPECT_EQ(events.back(), "k");
  auto jobs = *store->LoadJobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_SUCCEEDED);  // the last of j's writes won
}

}  // namespace
}  // namespace tokenmeter::coordinator
