// The life of a job through the scheduler, with a real SQLite store and an
// injected clock: placement, reports, a lost worker, a restart.
#include "coordinator/scheduler.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_inventory.h"
#include "tests/support/subprocess.h"
#include "workload/spec.h"

namespace tokenmeter::coordinator {
namespace {

using ::testing::HasSubstr;

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() { Reopen(); }

  void Reopen() {
    scheduler_.reset();
    store_.reset();
    store_ = *ResultsStore::Open(dir_.File("store.db"));
    SchedulerOptions options;
    options.registry = {absl::Seconds(1), absl::Seconds(5)};
    scheduler_ = std::make_unique<Scheduler>(options, store_.get(), &rendezvous_, &clock_);
    ASSERT_TRUE(scheduler_->Recover().ok());
  }

  std::string Register(const std::string& host) {
    auto r = scheduler_->RegisterWorker(TestInventory(host, 1));
    EXPECT_TRUE(r.ok()) << r.status();
    return r->worker_id();
  }

  v1::Task TakeTask(const std::string& worker) {
    auto task = scheduler_->PollTask(worker, absl::Now() + absl::Seconds(1));
    EXPECT_TRUE(task.ok() && task->has_value()) << worker;
    return task.ok() && task->has_value() ? **task : v1::Task();
  }

  v1::ReportResultRequest Report(const std::string& worker, const v1::Task& task) {
    v1::ReportResultRequest report;
    report.set_worker_id(worker);
    report.set_job_id(task.job_id());
    for (const auto& a : task.ranks()) {
      auto* r = report.add_ranks();
      r->set_rank(a.rank());
      auto* g = r->add_gemm();
      g->mutable_shape()->set_name("s");
      g->mutable_shape()->set_m(64);
      g->mutable_shape()->set_n(64);
      g->mutable_shape()->set_k(64);
      g->add_iteration_seconds(0.001 * (a.rank() + 1));
      g->set_verified(true);
    }
    return report;
  }

  v1::WorkloadSpec Gemm() { return *workload::ResolveWorkload("gemm"); }

  testing::TempDir dir_;
  ManualClock clock_;
  RendezvousStore rendezvous_;
  std::unique_ptr<ResultsStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, JobWaitsForWorkersThenRunsAndStoresItsResult) {
  auto id = scheduler_->Submit(Gemm(), 2, "");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(scheduler_->GetJob(*id, absl::Now())->state(), v1::JOB_QUEUED);
  const std::string a = Register("a");
  EXPECT_EQ(scheduler_->GetJob(*id, absl::Now())->state(), v1::JOB_QUEUED);  // 1 of 2 devices
  const std::string b = Register("b");
  EXPECT_EQ(scheduler_->GetJob(*id, absl::Now())->state(), v1::JOB_RUNNING);
  EXPECT_TRUE(scheduler_->IsPlaced(*id, a));

  v1::Task ta = TakeTask(a), tb = TakeTask(b);
  EXPECT_EQ(ta.world_size(), 2);
  EXPECT_EQ(ta.ranks(0).rank(), 0);
  EXPECT_EQ(tb.ranks(0).rank(), 1);
  ASSERT_TRUE(scheduler_->ReportResult(Report(a, ta)).ok());
  EXPECT_EQ(scheduler_->GetJob(*id, absl::Now())->state(), v1::JOB_RUNNING);
  ASSERT_TRUE(scheduler_->ReportResult(Report(b, tb)).ok());
  auto job = scheduler_->GetJob(*id, absl::Now());
  ASSERT_EQ(job->state(), v1::JOB_SUCCEEDED) << job->error();
  EXPECT_EQ(job->result().world_size(), 2);
  EXPECT_DOUBLE_EQ(job->result().gemm(0).timing().median_seconds(), 0.002);  // the slower rank
  EXPECT_EQ(store_->ListResults({})->size(), 1u);
  EXPECT_FALSE(scheduler_->IsPlaced(*id, a));  // rendezvous access ends with the job
}

TEST_F(SchedulerTest, LostWorkerFailsItsJobNamingItAndFreesThePeer) {
  const std::string a = Register("host-a");
  const std::string b = Register("host-b");
  auto id = *scheduler_->Submit(Gemm(), 2, "");
  v1::Task ta = TakeTask(a);
  TakeTask(b);
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(scheduler_->Heartbeat(a).ok());
  clock_.Advance(absl::Seconds(3));  // b silent for 6 s > 5 s
  scheduler_->CheckLiveness();
  auto job = *scheduler_->GetJob(id, absl::Now());
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr(b));
  EXPECT_THAT(job.error(), HasSubstr("host-b"));
  EXPECT_THAT(job.error(), HasSubstr("lost"));
  // The surviving worker is told to abort, and is free once it reports.
  auto aborts = scheduler_->Heartbeat(a);
  ASSERT_TRUE(aborts.ok());
  ASSERT_EQ(aborts->size(), 1u);
  EXPECT_EQ((*aborts)[0], id);
  v1::ReportResultRequest failed;
  failed.set_worker_id(a);
  failed.set_job_id(id);
  failed.set_error("collective aborted");
  EXPECT_TRUE(scheduler_->ReportResult(failed).ok());
  EXPECT_EQ(scheduler_->ListWorkers(false).size(), 1u);
  EXPECT_EQ(scheduler_->ListWorkers(false)[0].state(), v1::WORKER_IDLE);
  EXPECT_EQ(scheduler_->Heartbeat(b).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, RestartRequeuesQueuedJobsAndFailsRunningOnes) {
  const std::string a = Register("a");
  auto running = *scheduler_->Submit(Gemm(), 1, "");
  auto queued = *scheduler_->Submit(Gemm(), 1, "");
  EXPECT_EQ(scheduler_->GetJob(running, absl::Now())->state(), v1::JOB_RUNNING);
  EXPECT_EQ(scheduler_->GetJob(queued, absl::Now())->state(), v1::JOB_QUEUED);
  Reopen();
  EXPECT_EQ(scheduler_->GetJob(running, absl::Now())->state(), v1::JOB_FAILED);
  EXPECT_THAT(scheduler_->GetJob(running, absl::Now())->error(), HasSubstr("restarted"));
  EXPECT_EQ(scheduler_->GetJob(queued, absl::Now())->state(), v1::JOB_QUEUED);
  const std::string again = Register("a");
  EXPECT_EQ(scheduler_->GetJob(queued, absl::Now())->state(), v1::JOB_RUNNING);
  v1::Task t = TakeTask(again);
  ASSERT_TRUE(scheduler_->ReportResult(Report(again, t)).ok());
  EXPECT_EQ(scheduler_->GetJob(queued, absl::Now())->state(), v1::JOB_SUCCEEDED);
}

TEST_F(SchedulerTest, BadSpecsAreRefusedAtSubmit) {
  auto spec = Gemm();
  spec.mutable_gemm()->mutable_shapes(0)->set_k(0);
  auto id = scheduler_->Submit(spec, 1, "");
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(id.status().message(), HasSubstr("gemm.shapes[0].k"));
  EXPECT_THAT(scheduler_->Submit(Gemm(), 0, "").status().message(), HasSubstr("ranks"));
  Register("a");
  auto bf16 = Gemm();
  bf16.mutable_gemm()->set_dtypes(0, v1::DTYPE_BF16);
  auto refused = scheduler_->Submit(bf16, 1, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("bf16"));
}

TEST_F(SchedulerTest, ReportsFromStrangersAreRefusedWithoutHarm) {
  const std::string a = Register("a");
  auto id = *scheduler_->Submit(Gemm(), 1, "");
  v1::ReportResultRequest stranger;
  stranger.set_worker_id("w-stranger");
  stranger.set_job_id(id);
  EXPECT_EQ(scheduler_->ReportResult(stranger).code(), absl::StatusCode::kFailedPrecondition);
  stranger.set_job_id("no-such-job");
  EXPECT_EQ(scheduler_->ReportResult(stranger).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler_->GetJob(id, absl::Now())->state(), v1::JOB_RUNNING);
  ASSERT_TRUE(scheduler_->Cancel(id).ok());
  EXPECT_EQ(scheduler_->GetJob(id, absl::Now())->state(), v1::JOB_CANCELLED);
}

}  // namespace
}  // namespace tokenmeter::coordinator
