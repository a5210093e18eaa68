// The life of a job through the scheduler, with a real SQLite store and an
// injected clock: placement, reports, a lost worker, a restart.
#include "coordinator/scheduler.h"

#include <sqlite3.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_inventory.h"
#include "tests/support/subprocess.h"
#include "workload/models.h"
#include "workload/spec.h"

namespace tokenmeter::coordinator {
namespace {

v1::HeartbeatRequest Beat(const std::string& worker_id) {
  v1::HeartbeatRequest beat;
  beat.set_worker_id(worker_id);
  return beat;
}

ResultFilter Filter(const std::string& workload, const std::string& setup, int limit = 0) {
  ResultFilter f;
  f.workload = workload;
  f.setup = setup;
  f.limit = limit;
  return f;
}


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

  // A one-device worker of `setup`, at `price` per device-hour (0 = none).
  std::string RegisterIn(const std::string& host, const std::string& setup, double price = 0) {
    auto inv = TestInventory(host, 1, "Test CPU", "cpu", setup);
    inv.set_price_per_device_hour(price);
    auto r = scheduler_->RegisterWorker(inv);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->worker_id() : "";
  }

  v1::JobStatus Job(const std::string& id) { return *scheduler_->GetJob(id, absl::Now()); }
  std::vector<std::string> Placed(const std::string& id) {
    auto ids = Job(id).worker_ids();
    return {ids.begin(), ids.end()};
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
      r->set_worker_id(worker);  // as the worker's task runner sets it
      if (task.spec().has_train_step()) {
        // Every step takes 0.5 s: tokens/s = tokens per step / 0.5.
        for (int i = 0; i < 3; ++i) r->mutable_train_step()->add_iteration_seconds(0.5);
        r->mutable_train_step()->mutable_timing()->set_median_seconds(0.5);
        continue;
      }
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
  v1::SubmitJobRequest GemmRequest(int ranks = 1, std::vector<std::string> workers = {}) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = Gemm();
    request.set_ranks(ranks);
    for (auto& w : workers) request.add_workers(std::move(w));
    return request;
  }
  v1::WorkloadSpec TrainStep() { return *workload::ResolveWorkload("train-step/tiny"); }

  // Takes every placed worker's task and reports it done.
  void RunToTheEnd(const std::string& id) {
    for (const auto& w : Placed(id)) ASSERT_TRUE(scheduler_->ReportResult(Report(w, TakeTask(w))).ok()) << w;
  }

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
  // Listing jobs leaves their results out, and in place.
  auto listed = scheduler_->ListJobs(0);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state(), v1::JOB_SUCCEEDED);
  EXPECT_FALSE(listed[0].has_result());
  EXPECT_EQ(Job(*id).result().world_size(), 2);
}

// A running job shows the progress its first rank's worker reports; another
// rank's worker's beats do not move it, and it is gone once the job ends.
TEST_F(SchedulerTest, ProgressComesFromTheFirstRanksWorkerWhileTheJobRuns) {
  const std::string a = Register("a");
  const std::string b = Register("b");
  auto id = *scheduler_->Submit(Gemm(), 2, "");
  v1::Task ta = TakeTask(a), tb = TakeTask(b);
  ASSERT_EQ(ta.ranks(0).rank(), 0);
  auto beat = [&](const std::string& worker, int entry) {
    v1::HeartbeatRequest r = Beat(worker);
    r.set_job_id(id);
    r.mutable_progress()->set_entry("gemm square-512 fp32");
    r.mutable_progress()->set_entry_index(entry);
    r.mutable_progress()->set_entries(7);
    ASSERT_TRUE(scheduler_->Heartbeat(r).ok());
  };
  EXPECT_FALSE(Job(id).has_progress());
  beat(a, 2);
  beat(b, 5);  // rank 1's worker: not the job's progress
  EXPECT_EQ(Job(id).progress().entry_index(), 2);
  EXPECT_EQ(Job(id).progress().entries(), 7);
  ASSERT_TRUE(scheduler_->ReportResult(Report(a, ta)).ok());
  ASSERT_TRUE(scheduler_->ReportResult(Report(b, tb)).ok());
  EXPECT_EQ(Job(id).state(), v1::JOB_SUCCEEDED);
  EXPECT_FALSE(Job(id).has_progress());
  beat(a, 3);  // a late beat about an ended job changes nothing
  EXPECT_FALSE(Job(id).has_progress());
}

TEST_F(SchedulerTest, LostWorkerFailsItsJobNamingItAndFreesThePeer) {
  const std::string a = Register("host-a");
  const std::string b = Register("host-b");
  auto id = *scheduler_->Submit(Gemm(), 2, "");
  v1::Task ta = TakeTask(a);
  TakeTask(b);
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(scheduler_->Heartbeat(Beat(a)).ok());
  clock_.Advance(absl::Seconds(3));  // b silent for 6 s > 5 s
  scheduler_->CheckLiveness();
  auto job = *scheduler_->GetJob(id, absl::Now());
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr(b));
  EXPECT_THAT(job.error(), HasSubstr("host-b"));
  EXPECT_THAT(job.error(), HasSubstr("lost"));
  // The surviving worker is told to abort, and is free once it reports.
  auto aborts = scheduler_->Heartbeat(Beat(a));
  ASSERT_TRUE(aborts.ok());
  ASSERT_EQ(aborts->abort_job_ids_size(), 1);
  EXPECT_EQ(aborts->abort_job_ids(0), id);
  v1::ReportResultRequest failed;
  failed.set_worker_id(a);
  failed.set_job_id(id);
  failed.set_error("collective aborted");
  EXPECT_TRUE(scheduler_->ReportResult(failed).ok());
  EXPECT_EQ(scheduler_->ListWorkers(false).size(), 1u);
  EXPECT_EQ(scheduler_->ListWorkers(false)[0].state(), v1::WORKER_IDLE);
  EXPECT_EQ(scheduler_->Heartbeat(Beat(b)).status().code(), absl::StatusCode::kNotFound);
}

// A job pinned to workers (what `diagnose` submits) runs on them, in their
// order, waiting while one is busy; it fails when one of them is lost, and
// a list the scheduler can never place is refused at submit.
TEST_F(SchedulerTest, APinnedJobRunsOnItsWorkersOnly) {
  const std::string a = Register("host-a");
  const std::string b = Register("host-b");
  const std::string c = Register("host-c");
  auto busy_b = *scheduler_->Submit(GemmRequest(1, {b}));
  EXPECT_THAT(Placed(busy_b), ::testing::ElementsAre(b));
  auto pinned = *scheduler_->Submit(GemmRequest(2, {c, b}));
  EXPECT_EQ(Job(pinned).state(), v1::JOB_QUEUED);
  EXPECT_THAT(Job(pinned).waiting_for(), HasSubstr(absl::StrCat("waiting for worker ", b)));
  ASSERT_TRUE(scheduler_->ReportResult(Report(b, TakeTask(b))).ok());
  EXPECT_EQ(Job(pinned).state(), v1::JOB_RUNNING);
  EXPECT_THAT(Placed(pinned), ::testing::ElementsAre(c, b));
  EXPECT_EQ(TakeTask(c).ranks(0).rank(), 0);
  EXPECT_EQ(TakeTask(b).ranks(0).rank(), 1);

  EXPECT_EQ(scheduler_->Submit(GemmRequest(2, {a, a})).status().code(), absl::StatusCode::kInvalidArgument);
  auto unknown = scheduler_->Submit(GemmRequest(1, {"w-nobody"}));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(unknown.status().message(), HasSubstr("worker w-nobody is not registered"));

  // Queued for a, which is then lost: the job fails, naming why.
  auto queued = *scheduler_->Submit(GemmRequest(1, {a}));
  auto behind = *scheduler_->Submit(GemmRequest(1, {a}));
  (void)queued;
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(scheduler_->Heartbeat(Beat(b)).ok());
  ASSERT_TRUE(scheduler_->Heartbeat(Beat(c)).ok());
  scheduler_->CheckLiveness();
  EXPECT_EQ(Job(behind).state(), v1::JOB_FAILED);
  EXPECT_THAT(Job(behind).error(), HasSubstr(absl::StrCat("worker ", a, " is not registered")));
}

// A diagnosis is stored as a finished fleet-check result carrying the
// report, with the inventory of the checked workers; bad requests are
// refused naming the field, and nothing is stored for them.
TEST_F(SchedulerTest, ADiagnosisIsStoredAsAFleetCheckResult) {
  const std::string a = Register("host-a");
  v1::RecordHealthRequest request;
  request.set_setup("lab");
  auto* report = request.mutable_report();
  report->add_worker_ids(a);
  report->add_hostnames("host-a");
  report->set_workers(1);
  report->set_healthy(true);
  auto id = scheduler_->RecordHealth(request);
  ASSERT_TRUE(id.ok()) << id.status();
  auto stored = store_->ListResults({});
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  const auto& r = stored->front();
  EXPECT_EQ(r.job_id(), *id);
  EXPECT_EQ(r.spec().name(), "fleet-check");
  EXPECT_EQ(r.setup(), "lab");
  EXPECT_TRUE(r.health().healthy());
  ASSERT_EQ(r.inventory_size(), 1);
  EXPECT_EQ(r.inventory(0).hostname(), "host-a");

  auto no_setup = request;
  no_setup.clear_setup();
  EXPECT_THAT(scheduler_->RecordHealth(no_setup).status().message(), HasSubstr("setup must be set"));
  auto mismatched = request;
  mismatched.mutable_report()->add_hostnames("extra");
  EXPECT_THAT(scheduler_->RecordHealth(mismatched).status().message(), HasSubstr("report.hostnames must have one"));
  auto nobody = request;
  nobody.mutable_report()->clear_worker_ids();
  nobody.mutable_report()->clear_hostnames();
  EXPECT_EQ(scheduler_->RecordHealth(nobody).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListResults({})->size(), 1u);
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

// ---- setups: a job for one setup is placed only on it, however it waits.

TEST_F(SchedulerTest, AJobForOneSetupIsPlacedOnlyOnItAtOnce) {
  const std::string b1 = RegisterIn("b1", "cpu-b");
  const std::string a1 = RegisterIn("a1", "cpu-a");
  const std::string b2 = RegisterIn("b2", "cpu-b");
  const std::string a2 = RegisterIn("a2", "cpu-a");
  // cpu-b comes first: ignoring the setup, placement would take b1 and a1
  // (mixing setups) or b1 and b2 (the first setup with two idle devices).
  auto id = scheduler_->Submit(Gemm(), 2, "cpu-a");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(Job(*id).state(), v1::JOB_RUNNING);
  EXPECT_THAT(Placed(*id), ::testing::ElementsAre(a1, a2));
  EXPECT_EQ(Job(*id).setup(), "cpu-a");
  RunToTheEnd(*id);
  auto job = Job(*id);
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.result().setup(), "cpu-a");
  // The stored result is the setup's, found by it.
  auto stored = store_->ListResults(Filter("", "cpu-a"));
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].job_id(), *id);
  EXPECT_TRUE(store_->ListResults(Filter("", "cpu-b"))->empty());
  (void)b1;
  (void)b2;
}

TEST_F(SchedulerTest, AQueuedJobForABusySetupWaitsForItNotForAnIdleOne) {
  const std::string a = RegisterIn("a", "cpu-a");
  const std::string b = RegisterIn("b", "cpu-b");
  auto first = *scheduler_->Submit(Gemm(), 1, "cpu-a");
  EXPECT_THAT(Placed(first), ::testing::ElementsAre(a));
  auto second = *scheduler_->Submit(Gemm(), 1, "cpu-a");
  EXPECT_EQ(Job(second).state(), v1::JOB_QUEUED);  // b is idle, but of cpu-b
  RunToTheEnd(first);
  EXPECT_EQ(Job(second).state(), v1::JOB_RUNNING);
  EXPECT_THAT(Placed(second), ::testing::ElementsAre(a));
  RunToTheEnd(second);
  EXPECT_EQ(Job(second).result().setup(), "cpu-a");
  EXPECT_EQ(store_->ListResults(Filter("", "cpu-a"))->size(), 2u);
  (void)b;
}

// The scheduler does not move a running job when a worker is lost (the job
// fails); a job queued behind it keeps its setup while the setup has no
// worker, and runs once one registers again.
TEST_F(SchedulerTest, AQueuedJobKeepsItsSetupWhenTheSetupsWorkerIsLost) {
  const std::string a = RegisterIn("a", "cpu-a");
  const std::string b = RegisterIn("b", "cpu-b");
  auto running = *scheduler_->Submit(Gemm(), 1, "cpu-a");
  auto queued = *scheduler_->Submit(Gemm(), 1, "cpu-a");
  TakeTask(a);
  clock_.Advance(absl::Seconds(3));
  ASSERT_TRUE(scheduler_->Heartbeat(Beat(b)).ok());
  clock_.Advance(absl::Seconds(3));  // a silent for 6 s > 5 s
  scheduler_->CheckLiveness();
  EXPECT_EQ(Job(running).state(), v1::JOB_FAILED);
  // Not failed for want of a cpu-a worker, and not moved to b.
  EXPECT_EQ(Job(queued).state(), v1::JOB_QUEUED) << Job(queued).error();
  EXPECT_TRUE(Placed(queued).empty());
  const std::string again = RegisterIn("a", "cpu-a");
  EXPECT_EQ(Job(queued).state(), v1::JOB_RUNNING);
  EXPECT_THAT(Placed(queued), ::testing::ElementsAre(again));
}

TEST_F(SchedulerTest, AQueuedJobsSetupSurvivesARestart) {
  const std::string a = RegisterIn("a", "cpu-a");
  auto running = *scheduler_->Submit(Gemm(), 1, "cpu-a");
  auto queued = *scheduler_->Submit(Gemm(), 1, "cpu-a");
  EXPECT_EQ(Job(queued).state(), v1::JOB_QUEUED);
  Reopen();
  EXPECT_EQ(Job(running).state(), v1::JOB_FAILED);
  ASSERT_EQ(Job(queued).state(), v1::JOB_QUEUED);
  EXPECT_EQ(Job(queued).setup(), "cpu-a");  // read back from the store
  // Workers come back in any order: one of another setup first.
  const std::string b = RegisterIn("b", "cpu-b");
  EXPECT_EQ(Job(queued).state(), v1::JOB_QUEUED) << Job(queued).error();
  const std::string again = RegisterIn("a", "cpu-a");
  EXPECT_EQ(Job(queued).state(), v1::JOB_RUNNING);
  EXPECT_THAT(Placed(queued), ::testing::ElementsAre(again));
  RunToTheEnd(queued);
  EXPECT_EQ(Job(queued).result().setup(), "cpu-a");
  (void)a;
  (void)b;
}

TEST_F(SchedulerTest, ASetupNoWorkerHasIsRefusedAtSubmitNamingIt) {
  RegisterIn("a", "cpu-a");
  auto id = scheduler_->Submit(Gemm(), 1, "cpu-c");
  EXPECT_EQ(id.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(id.status().message(), HasSubstr("cpu-c"));
}

// By default a job stays inside one setup: with one idle device in each of
// two setups, a 2-rank job waits (more workers of either setup may come),
// rather than mixing them into a result of no one setup.
TEST_F(SchedulerTest, ByDefaultAJobIsNotPlacedAcrossSetups) {
  RegisterIn("a", "cpu-a");
  RegisterIn("b", "cpu-b");
  auto id = scheduler_->Submit(Gemm(), 2, "");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(Job(*id).state(), v1::JOB_QUEUED);
  EXPECT_TRUE(Placed(*id).empty());
  // The job says why it waits, naming the setups (GetJob; run and status show it).
  EXPECT_THAT(Job(*id).waiting_for(), HasSubstr("one setup"));
  EXPECT_THAT(Job(*id).waiting_for(), HasSubstr("cpu-a 1, cpu-b 1"));
  for (const auto& w : scheduler_->ListWorkers(false)) EXPECT_EQ(w.state(), v1::WORKER_IDLE) << w.worker_id();
  // A second worker of one setup places it, inside that setup.
  const std::string a2 = RegisterIn("a2", "cpu-a");
  EXPECT_EQ(Job(*id).state(), v1::JOB_RUNNING);
  EXPECT_EQ(Job(*id).waiting_for(), "");
  RunToTheEnd(*id);
  EXPECT_EQ(Job(*id).result().setup(), "cpu-a");
  (void)a2;
}

TEST_F(SchedulerTest, SpanningSetupsIsAskedForAndPricesEachDeviceAtItsOwnPrice) {
  const std::string a = RegisterIn("a", "cpu-a", 1.5);
  const std::string b = RegisterIn("b", "cpu-b", 3.0);
  EXPECT_EQ(scheduler_->Submit(TrainStep(), 2, "cpu-a", true).status().code(), absl::StatusCode::kInvalidArgument);
  auto id = scheduler_->Submit(TrainStep(), 2, "", /*span_setups=*/true);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(Job(*id).state(), v1::JOB_RUNNING);
  EXPECT_TRUE(Job(*id).span_setups());
  EXPECT_THAT(Placed(*id), ::testing::ElementsAre(a, b));
  RunToTheEnd(*id);
  auto job = Job(*id);
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.result().setup(), "cpu-a+cpu-b");
  const auto& f = job.result().train_step();
  const double tokens_per_second = static_cast<double>(workload::TokensPerStep(TrainStep().train_step(), 2)) / 0.5;
  EXPECT_DOUBLE_EQ(f.tokens_per_second(), tokens_per_second);
  // Σ over devices of price / (tokens/s × 3600) × 1e6, not 1.5 × 2.
  EXPECT_DOUBLE_EQ(f.cost_per_million_tokens_dollars(), (1.5 + 3.0) / (tokens_per_second * 3600) * 1e6);
  EXPECT_DOUBLE_EQ(f.price_per_device_hour(), (1.5 + 3.0) / 2);
}

// ---- paths of a job's life not exercised above

TEST_F(SchedulerTest, AHeldErrorEndsTheJobWhenItsPeerNeverReports) {
  const std::string a = Register("a");
  const std::string b = Register("b");
  auto id = *scheduler_->Submit(Gemm(), 2, "");
  v1::Task ta = TakeTask(a);
  TakeTask(b);
  v1::ReportResultRequest failed;
  failed.set_worker_id(a);
  failed.set_job_id(id);
  failed.set_error("gloo: connection reset");
  ASSERT_TRUE(scheduler_->ReportResult(failed).ok());
  // Held: the peer may yet turn out to be the cause.
  EXPECT_EQ(Job(id).state(), v1::JOB_RUNNING);
  auto aborts = scheduler_->Heartbeat(Beat(b));
  ASSERT_TRUE(aborts.ok());
  EXPECT_THAT(aborts->abort_job_ids(), ::testing::ElementsAre(id));
  // b keeps beating but never reports: after lost_after (5 s) the held error
  // is the job's.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Seconds(2));
    ASSERT_TRUE(scheduler_->Heartbeat(Beat(a)).ok());
    ASSERT_TRUE(scheduler_->Heartbeat(Beat(b)).ok());
    scheduler_->CheckLiveness();
  }
  auto job = Job(id);
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("gloo: connection reset"));
  EXPECT_THAT(job.error(), HasSubstr(a));
  // b is busy until it reports, then free.
  std::map<std::string, v1::WorkerState> states;
  for (const auto& w : scheduler_->ListWorkers(false)) states[w.worker_id()] = w.state();
  EXPECT_EQ(states[a], v1::WORKER_IDLE);
  EXPECT_EQ(states[b], v1::WORKER_BUSY);
  v1::ReportResultRequest late;
  late.set_worker_id(b);
  late.set_job_id(id);
  late.set_error("aborted");
  EXPECT_TRUE(scheduler_->ReportResult(late).ok());
  EXPECT_EQ(Job(id).error(), job.error());  // a late report changes nothing
  for (const auto& w : scheduler_->ListWorkers(false)) EXPECT_EQ(w.state(), v1::WORKER_IDLE) << w.worker_id();
  EXPECT_TRUE(scheduler_->Heartbeat(Beat(b))->abort_job_ids().empty());
  (void)ta;
}

TEST_F(SchedulerTest, GoodbyeWhileRunningFailsTheJobNamingTheWorkerAndAbortsThePeer) {
  const std::string a = Register("a");
  const std::string b = Register("host-b");
  auto id = *scheduler_->Submit(Gemm(), 2, "");
  TakeTask(a);
  TakeTask(b);
  scheduler_->Goodbye(b);
  auto job = Job(id);
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("host-b"));
  EXPECT_THAT(job.error(), HasSubstr("left while running"));
  EXPECT_THAT(scheduler_->Heartbeat(Beat(a))->abort_job_ids(), ::testing::ElementsAre(id));
  EXPECT_EQ(scheduler_->Heartbeat(Beat(b)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler_->ListWorkers(false).size(), 1u);
}

TEST_F(SchedulerTest, AReportWithOtherRanksThanGivenFailsTheJob) {
  const std::string a = Register("a");
  auto id = *scheduler_->Submit(Gemm(), 1, "");
  v1::ReportResultRequest report = Report(a, TakeTask(a));
  report.mutable_ranks(0)->set_rank(7);
  EXPECT_TRUE(scheduler_->ReportResult(report).ok());
  auto job = Job(id);
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("reported ranks that differ"));
  EXPECT_TRUE(store_->ListResults({})->empty());
  EXPECT_EQ(scheduler_->ListWorkers(false)[0].state(), v1::WORKER_IDLE);
}

TEST_F(SchedulerTest, CancelOfARunningJobAbortsThroughTheHeartbeatAndFreesTheWorkerWhenItReports) {
  const std::string a = Register("a");
  auto id = *scheduler_->Submit(Gemm(), 1, "");
  TakeTask(a);
  auto next = *scheduler_->Submit(Gemm(), 1, "");
  ASSERT_TRUE(scheduler_->Cancel(id).ok());
  EXPECT_EQ(Job(id).state(), v1::JOB_CANCELLED);
  EXPECT_THAT(scheduler_->Heartbeat(Beat(a))->abort_job_ids(), ::testing::ElementsAre(id));
  // Still running the cancelled job until it says it stopped.
  EXPECT_EQ(scheduler_->ListWorkers(false)[0].state(), v1::WORKER_BUSY);
  EXPECT_EQ(Job(next).state(), v1::JOB_QUEUED);
  v1::ReportResultRequest stopped;
  stopped.set_worker_id(a);
  stopped.set_job_id(id);
  stopped.set_error("aborted by the coordinator");
  EXPECT_TRUE(scheduler_->ReportResult(stopped).ok());
  EXPECT_EQ(Job(id).state(), v1::JOB_CANCELLED);
  EXPECT_TRUE(scheduler_->Heartbeat(Beat(a))->abort_job_ids().empty());
  EXPECT_EQ(Job(next).state(), v1::JOB_RUNNING);  // the freed worker takes the next job
}

// ---- long-polls that hold no thread

// A fleet's task long-polls are parked callbacks: a thousand of them are
// taken on one thread without blocking it, the one worker a job is placed on
// is answered with its task at once, and the rest at their deadlines.
TEST_F(SchedulerTest, AThousandTaskPollsWaitOnOneThreadAndThePlacedOneIsAnsweredAtOnce) {
  constexpr int kWorkers = 1000;
  std::vector<std::string> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(Register("h" + std::to_string(i)));
  std::map<std::string, int> answered;
  std::map<std::string, bool> got_task;
  const absl::Time start = absl::Now();
  for (const auto& w : workers) {
    scheduler_->PollTaskAsync(w, absl::Now() + absl::Seconds(30), [&, w](auto task) {
      ASSERT_TRUE(task.ok()) << task.status();
      ++answered[w];
      got_task[w] = task->has_value();
    });
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // not one of them blocked
  EXPECT_TRUE(answered.empty());
  auto id = scheduler_->Submit(Gemm(), 1, "");
  ASSERT_TRUE(id.ok()) << id.status();
  const std::vector<std::string> placed = Placed(*id);
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(answered.size(), 1u);
  EXPECT_TRUE(got_task[placed[0]]);
  scheduler_->ExpireWaits(absl::Now());  // none is due yet
  EXPECT_EQ(answered.size(), 1u);
  scheduler_->ExpireWaits(absl::Now() + absl::Seconds(31));
  EXPECT_EQ(answered.size(), static_cast<size_t>(kWorkers));
  for (const auto& [w, n] : answered) {
    EXPECT_EQ(n, 1) << w;
    EXPECT_EQ(got_task[w], w == placed[0]) << w;
  }
}

// A worker polls again when its last poll's reply was lost: the older poll
// is dead, so it is answered empty at once and the task goes to the newer.
TEST_F(SchedulerTest, ANewerPollOfTheSameWorkerReplacesTheOlder) {
  const std::string w = Register("a");
  std::vector<std::string> answers;
  auto record = [&](std::string name) {
    return [&answers, name](absl::StatusOr<std::optional<v1::Task>> task) {
      answers.push_back(name + (task.ok() && task->has_value() ? ":task" : ":none"));
    };
  };
  scheduler_->PollTaskAsync(w, absl::Now() + absl::Seconds(30), record("old"));
  scheduler_->PollTaskAsync(w, absl::Now() + absl::Seconds(30), record("new"));
  ASSERT_TRUE(scheduler_->Submit(Gemm(), 1, "").ok());
  EXPECT_THAT(answers, ::testing::ElementsAre("old:none", "new:task"));
}

TEST_F(SchedulerTest, APollIsReleasedWhenItsWorkerIsLostOrSaysGoodbye) {
  const std::string lost = Register("a");
  const std::string leaving = Register("b");
  int released = 0;
  auto expect_none = [&](absl::StatusOr<std::optional<v1::Task>> task) {
    EXPECT_TRUE(task.ok() && !task->has_value());
    ++released;
  };
  scheduler_->PollTaskAsync(lost, absl::Now() + absl::Seconds(30), expect_none);
  scheduler_->PollTaskAsync(leaving, absl::Now() + absl::Seconds(30), expect_none);
  scheduler_->Goodbye(leaving);
  EXPECT_EQ(released, 1);
  clock_.Advance(absl::Seconds(6));
  scheduler_->CheckLiveness();
  EXPECT_EQ(released, 2);
  int not_found = 0;
  scheduler_->PollTaskAsync(lost, absl::Now() + absl::Seconds(30), [&](auto task) {
    EXPECT_EQ(task.status().code(), absl::StatusCode::kNotFound);
    ++not_found;
  });
  EXPECT_EQ(not_found, 1);
}

TEST_F(SchedulerTest, AJobPollIsAnsweredWhenTheJobEndsOrAtItsDeadline) {
  const std::string w = Register("a");
  auto id = scheduler_->Submit(Gemm(), 1, "");
  ASSERT_TRUE(id.ok());
  std::vector<v1::JobState> states;
  auto record = [&](absl::StatusOr<v1::JobStatus> job) {
    ASSERT_TRUE(job.ok());
    states.push_back(job->state());
  };
  scheduler_->GetJobAsync(*id, absl::Now() + absl::Seconds(30), record);  // answered at the end
  scheduler_->GetJobAsync(*id, absl::Now() + absl::Seconds(1), record);   // answered at its deadline
  scheduler_->ExpireWaits(absl::Now() + absl::Seconds(2));
  EXPECT_THAT(states, ::testing::ElementsAre(v1::JOB_RUNNING));
  ASSERT_TRUE(scheduler_->ReportResult(Report(w, TakeTask(w))).ok());
  EXPECT_THAT(states, ::testing::ElementsAre(v1::JOB_RUNNING, v1::JOB_SUCCEEDED));
  scheduler_->GetJobAsync("no-such-job", absl::Now() + absl::Seconds(30), [&](auto job) {
    EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
    states.push_back(v1::JOB_STATE_UNSPECIFIED);
  });
  EXPECT_EQ(states.size(), 3u);
}

// ---- the store off the lock

// Another connection holding the store's write lock, as a slow disk would
// stall an fsync: while it holds it, job changes wait to be written, and so
// does the answer to whoever made them, but the scheduler keeps serving.
class StoreHold {
 public:
  explicit StoreHold(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void Release() {
    if (db_ == nullptr) return;
    EXPECT_EQ(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db_);
    db_ = nullptr;
  }
  ~StoreHold() { Release(); }

 private:
  sqlite3* db_ = nullptr;
};

TEST_F(SchedulerTest, AStalledStoreDelaysTheSubmittersAnswerButNotHeartbeats) {
  const std::string w = Register("a");
  StoreHold hold(dir_.File("store.db"));
  absl::Notification answered;
  absl::StatusOr<std::string> id;
  // Submitted from a thread of its own, as a gRPC thread would.
  std::thread submitter([&] {
    scheduler_->SubmitAsync(GemmRequest(), [&](absl::StatusOr<std::string> r) {
      id = std::move(r);
      answered.Notify();
    });
  });
  // The job's row cannot be written: no answer, and the job is not placed.
  EXPECT_FALSE(answered.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  for (int i = 0; i < 20; ++i) {
    const absl::Time start = absl::Now();
    ASSERT_TRUE(scheduler_->Heartbeat(Beat(w)).ok());
    EXPECT_EQ(scheduler_->ListWorkers(false).size(), 1u);
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(100)) << "a heart-beat waited on the store";
  }
  EXPECT_EQ(scheduler_->ListWorkers(false)[0].state(), v1::WORKER_IDLE);
  hold.Release();
  submitter.join();
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(Job(*id).state(), v1::JOB_RUNNING);
}

TEST_F(SchedulerTest, AJobWhoseRowCannotBeStoredIsRefusedAndNeverRuns) {
  const std::string w = Register("a");
  StoreHold hold(dir_.File("store.db"));  // past the store's 5 s busy timeout
  auto id = scheduler_->Submit(Gemm(), 1, "");
  hold.Release();
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(id.status().message(), HasSubstr("could not be stored"));
  EXPECT_TRUE(scheduler_->ListJobs(0).empty());
  EXPECT_EQ(scheduler_->ListWorkers(false)[0].state(), v1::WORKER_IDLE);
  auto task = scheduler_->PollTask(w, absl::Now());
  ASSERT_TRUE(task.ok());
  EXPECT_FALSE(task->has_value());
}

// A train step's MFU against the measured matmul rate needs the setup's
// newest GEMM result: kept in memory, from the store at start and from each
// stored GEMM job since.
TEST_F(SchedulerTest, TheNewestStoredGemmRateOfASetupSurvivesARestart) {
  const std::string w = Register("a");
  auto gemm = *scheduler_->Submit(Gemm(), 1, "");
  auto report = Report(w, TakeTask(w));
  report.mutable_ranks(0)->mutable_gemm(0)->set_dtype(TrainStep().train_step().dtype());
  ASSERT_TRUE(scheduler_->ReportResult(report).ok());
  const double tflops = Job(gemm).result().gemm(0).tflops();
  ASSERT_GT(tflops, 0);
  auto first = *scheduler_->Submit(TrainStep(), 1, "");
  ASSERT_TRUE(scheduler_->ReportResult(Report(w, TakeTask(w))).ok());
  const auto before = Job(first).result();
  ASSERT_GT(before.train_step().mamf_flops_per_device(), 0) << "the train step did not see the GEMM rate";
  EXPECT_DOUBLE_EQ(before.train_step().mamf_flops_per_device(), tflops * 1e12);
  Reopen();
  const std::string again = Register("a");
  auto second = *scheduler_->Submit(TrainStep(), 1, "");
  ASSERT_TRUE(scheduler_->ReportResult(Report(again, TakeTask(again))).ok());
  EXPECT_DOUBLE_EQ(Job(second).result().train_step().mamf_flops_per_device(), tflops * 1e12);
}

// ---- limits

TEST_F(SchedulerTest, TheQueueAndAJobsWorkAreBoundedNamingTheFlag) {
  SchedulerOptions options;
  options.registry = {absl::Seconds(1), absl::Seconds(5)};
  options.limits.max_queued_jobs = 2;
  options.limits.max_job_seconds = 60;
  scheduler_ = std::make_unique<Scheduler>(options, store_.get(), &rendezvous_, &clock_);
  auto first = scheduler_->Submit(Gemm(), 1, "");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(scheduler_->Submit(Gemm(), 1, "").ok());
  auto third = scheduler_->Submit(Gemm(), 1, "");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("the queue holds 2 jobs; the bound is --max-queued-jobs 2"));
  ASSERT_TRUE(scheduler_->Cancel(*first).ok());
  EXPECT_TRUE(scheduler_->Submit(Gemm(), 1, "").ok()) << "a cancelled job frees its place";
  v1::WorkloadSpec big = Gemm();
  big.set_timed_iterations(workload::kMaxIterations);
  for (auto& s : *big.mutable_gemm()->mutable_shapes()) s.set_m(1 << 16), s.set_n(1 << 16), s.set_k(1 << 16);
  auto refused = scheduler_->Submit(big, 1, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("the bound is --max-job-seconds 60"));
}

TEST_F(SchedulerTest, AReportWithMoreRowsThanTheSpecAsksFailsTheJobAndIsRefused) {
  const std::string w = Register("a");
  auto id = *scheduler_->Submit(Gemm(), 1, "");
  auto report = Report(w, TakeTask(w));
  for (int i = 0; i < 1000; ++i) *report.mutable_ranks(0)->add_gemm() = report.ranks(0).gemm(0);
  auto status = scheduler_->ReportResult(report);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("shapes x dtypes"));
  EXPECT_EQ(Job(id).state(), v1::JOB_FAILED);
  EXPECT_THAT(Job(id).error(), HasSubstr("the report of rank 0: gemm has 1001"));
  EXPECT_TRUE(store_->ListResults({})->empty());
}

// ---- retried reports and jobs placed again

TEST_F(SchedulerTest, AReportSentAgainIsAcceptedOnceWhetherOrNotTheJobHasEnded) {
  const std::string a = Register("a");
  const std::string b = Register("b");
  auto id = *scheduler_->Submit(Gemm(), 2, "");
  const auto report_a = Report(a, TakeTask(a));
  const auto report_b = Report(b, TakeTask(b));
  ASSERT_TRUE(scheduler_->ReportResult(report_a).ok());
  EXPECT_TRUE(scheduler_->ReportResult(report_a).ok()) << "a retried report of a running job";
  EXPECT_EQ(Job(id).state(), v1::JOB_RUNNING);
  ASSERT_TRUE(scheduler_->ReportResult(report_b).ok());
  EXPECT_TRUE(scheduler_->ReportResult(report_b).ok()) << "a retried report of an ended job";
  EXPECT_EQ(Job(id).state(), v1::JOB_SUCCEEDED);
  EXPECT_EQ(Job(id).result().ranks_size(), 2);
  EXPECT_EQ(store_->ListResults({})->size(), 1u);
}

TEST_F(SchedulerTest, ALostWorkerGivesTheJobAnotherAttemptOnTheSurvivorsAndASpare) {
  const std::string a = Register("a"), b = Register("b"), c = Register("c");
  auto id = *scheduler_->Submit(Gemm(), 3, "", false, /*max_attempts=*/2);
  const std::string spare = Register("spare");
  std::map<std::string, v1::Task> first;
  for (const auto& w : {a, b, c}) first[w] = TakeTask(w);
  EXPECT_EQ(first[a].attempt(), 1);
  // c goes silent; the others keep beating.
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(absl::Seconds(3));
    for (const auto& w : {a, b, spare}) ASSERT_TRUE(scheduler_->Heartbeat(Beat(w)).ok());
  }
  scheduler_->CheckLiveness();
  v1::JobStatus job = Job(id);
  EXPECT_EQ(job.state(), v1::JOB_QUEUED);
  ASSERT_EQ(job.attempt_errors_size(), 1);
  EXPECT_THAT(job.attempt_errors(0), HasSubstr("attempt 1: worker w-c-"));
  // The survivors are told to stop, and are busy until they report attempt 1.
  EXPECT_THAT(scheduler_->Heartbeat(Beat(a))->abort_job_ids(), ::testing::ElementsAre(id));
  EXPECT_FALSE(scheduler_->IsPlaced(id, a)) << "attempt 1's rendezvous is closed";
  for (const auto& w : {a, b}) {
    v1::ReportResultRequest aborted;
    aborted.set_worker_id(w);
    aborted.set_job_id(id);
    aborted.set_attempt(1);
    aborted.set_error("aborted by the coordinator");
    ASSERT_TRUE(scheduler_->ReportResult(aborted).ok()) << "an earlier attempt's report is ignored";
  }
  // Placed again on the survivors and the spare, under attempt 2.
  job = Job(id);
  ASSERT_EQ(job.state(), v1::JOB_RUNNING) << job.waiting_for();
  EXPECT_EQ(job.attempt(), 2);
  EXPECT_THAT(Placed(id), ::testing::UnorderedElementsAre(a, b, spare));
  for (const auto& w : {a, b, spare}) {
    v1::Task task = TakeTask(w);
    EXPECT_EQ(task.attempt(), 2);
    auto report = Report(w, task);
    report.set_attempt(2);
    ASSERT_TRUE(scheduler_->ReportResult(report).ok());
  }
  job = Job(id);
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.result().attempts(), 2);
}

TEST_F(SchedulerTest, WithoutAttemptsLeftALostWorkerFailsTheJobSayingWhichAttempt) {
  const std::string a = Register("a"), b = Register("b");
  auto id = *scheduler_->Submit(Gemm(), 2, "", false, /*max_attempts=*/1);
  TakeTask(a);
  TakeTask(b);
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(scheduler_->Heartbeat(Beat(a)).ok());
  scheduler_->CheckLiveness();
  EXPECT_EQ(Job(id).state(), v1::JOB_FAILED);
  EXPECT_THAT(Job(id).error(), ::testing::Not(HasSubstr("attempt")));
  EXPECT_EQ(scheduler_->Submit(Gemm(), 1, "", false, 11).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tokenmeter::coordinator
