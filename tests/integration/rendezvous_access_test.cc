// The job-scoped rendezvous service against a real coordinator process, with
// this test as a worker nobody wrote: it registers over the WorkerService
// API and heart-beats, but never takes its task and never joins the job's
// rendezvous. Shown: only workers placed on a running job may use its keys
// (a registered but idle worker and a made-up id are refused); a placed peer
// that never joins fails the real worker's collective within the collective
// timeout; and that held failure ends the job within lost_after although the
// silent peer never reports.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/silent_worker.h"
#include "tests/support/subprocess.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

grpc::Status KvGet(v1::Rendezvous::Stub& stub, const std::string& job, const std::string& worker) {
  v1::KvGetRequest request;
  request.set_job_id(job);
  request.set_worker_id(worker);
  request.set_key("anything");
  request.set_wait_ms(10);
  v1::KvGetResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return stub.Get(&context, request, &response);
}

TEST(RendezvousAccess, OnlyPlacedWorkersAndASilentPeerFailsTheJobWithinTheBounds) {
  TempDir dir;
  // A heart-beat every 0.25 s, lost after 4 s; rendezvous and collectives
  // give up after 3 s.
  CoordinatorProcess coordinator(dir.path(), dir.File("store.db"),
                                 {"--heartbeat-interval", "0.25", "--lost-after", "4", "--collective-timeout", "3"});
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  auto channel = grpc::CreateChannel(coordinator.address(), grpc::InsecureChannelCredentials());
  auto api = v1::Coordinator::NewStub(channel);
  auto rendezvous = v1::Rendezvous::NewStub(channel);

  Process real(TOKENMETER_BINARY,
               {"worker", "--coordinator", coordinator.address(), "--cpu-threads", "1", "--setup", "test-cpu"},
               dir.path(), "worker");
  v1::WorkerInventory inventory;
  ASSERT_TRUE(Eventually(
      [&] {
        v1::ListWorkersResponse workers;
        grpc::ClientContext c;
        if (!api->ListWorkers(&c, v1::ListWorkersRequest(), &workers).ok() || workers.workers_size() != 1) {
          return false;
        }
        inventory = workers.workers(0).inventory();
        return true;
      },
      std::chrono::seconds(20)))
      << real.err();
  // Two more of the same setup and device: the job takes one, the other idles.
  inventory.set_hostname("silent-1");
  SilentWorker placed_candidate(channel, inventory);
  ASSERT_TRUE(placed_candidate.status().ok()) << placed_candidate.status().error_message();

  Process run(TOKENMETER_BINARY,
              {"run", "--coordinator", coordinator.address(), "--workload", "collective/all-reduce", "--ranks", "2",
               "--max-bytes", "64K", "--iterations", "2", "--warmup", "1"},
              dir.path(), "run");
  std::string job_id;
  std::vector<std::string> placed;
  ASSERT_TRUE(Eventually(
      [&] {
        v1::ListJobsResponse jobs;
        grpc::ClientContext c;
        if (!api->ListJobs(&c, v1::ListJobsRequest(), &jobs).ok() || jobs.jobs_size() != 1) return false;
        if (jobs.jobs(0).state() != v1::JOB_RUNNING) return false;
        job_id = jobs.jobs(0).job_id();
        placed.assign(jobs.jobs(0).worker_ids().begin(), jobs.jobs(0).worker_ids().end());
        return true;
      },
      std::chrono::seconds(20)))
      << run.err();
  const auto started = Clock::now();
  ASSERT_THAT(placed, ::testing::Contains(placed_candidate.id()));

  // Registered after placement: idle, not on the job.
  inventory.set_hostname("silent-idle");
  SilentWorker idle(channel, inventory);
  ASSERT_TRUE(idle.status().ok());
  for (const std::string& stranger : {idle.id(), std::string("w-made-up")}) {
    grpc::Status refused = KvGet(*rendezvous, job_id, stranger);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << stranger;
    EXPECT_THAT(refused.error_message(), HasSubstr(absl::StrCat("worker ", stranger, " is not running job ", job_id)));
  }
  // The placed one may use the job's keys (this key is never set: the wait ends).
  EXPECT_EQ(KvGet(*rendezvous, job_id, placed_candidate.id()).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  // The real worker's rendezvous gives up after the collective timeout
  // (3 s); its failure is held for lost_after (4 s) waiting for the silent
  // peer's report, which never comes; then the job fails naming the worker.
  ASSERT_TRUE(run.Wait(std::chrono::seconds(30))) << "the job never ended";
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  EXPECT_NE(run.exit_code(), 0);
  EXPECT_THAT(run.err(), HasSubstr("timeout"));
  EXPECT_LT(seconds, 3 + 4 + 6.0) << run.err();  // both bounds, with margin for a loaded machine
  EXPECT_GT(seconds, 2.0) << run.err();
  // Access ends with the job.
  EXPECT_EQ(KvGet(*rendezvous, job_id, placed_candidate.id()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(coordinator.process().Running());
  EXPECT_TRUE(real.Running());
}

}  // namespace
}  // namespace tokenmeter::testing
