// Reports that arrive twice and jobs placed again, against real processes: a
// report retried after its reply was lost stores one result, and a 3-rank
// job allowing 2 attempts whose worker is killed mid-collective runs again on
// the two survivors and an idle spare, and says it took 2 attempts.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/integration/silent_worker.h"
#include "tests/metrics/metrics_test_support.h"
#include "tests/support/subprocess.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

TEST(Retries, AReportSentTwiceStoresOneResult) {
  TempDir dir;
  CoordinatorProcess coordinator(dir.path(), dir.File("store.db"));
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  auto channel = grpc::CreateChannel(coordinator.address(), grpc::InsecureChannelCredentials());
  auto api = v1::Coordinator::NewStub(channel);
  auto workers = v1::WorkerService::NewStub(channel);

  v1::WorkerInventory inventory;
  inventory.set_hostname("twice");
  inventory.set_backend("cpu");
  inventory.set_setup("retries");
  auto* device = inventory.add_devices();
  device->set_model("Test CPU");
  device->set_memory_bytes(int64_t{16} << 30);
  inventory.add_gemm_dtypes(v1::DTYPE_FP32);
  SilentWorker worker(channel, inventory);
  ASSERT_TRUE(worker.status().ok()) << worker.status().error_message();

  v1::SubmitJobRequest submit;
  submit.mutable_spec()->set_name("gemm");
  submit.mutable_spec()->set_version(1);
  submit.mutable_spec()->set_timed_iterations(2);
  auto* shape = submit.mutable_spec()->mutable_gemm()->add_shapes();
  shape->set_name("s"), shape->set_m(64), shape->set_n(64), shape->set_k(64);
  submit.mutable_spec()->mutable_gemm()->add_dtypes(v1::DTYPE_FP32);
  submit.set_ranks(1);
  v1::SubmitJobResponse submitted;
  grpc::ClientContext submit_context;
  submit_context.set_deadline(In(10));
  ASSERT_TRUE(api->SubmitJob(&submit_context, submit, &submitted).ok());

  v1::PollTaskRequest poll;
  poll.set_worker_id(worker.id());
  poll.set_wait_ms(5000);
  v1::PollTaskResponse polled;
  grpc::ClientContext poll_context;
  poll_context.set_deadline(In(10));
  ASSERT_TRUE(workers->PollTask(&poll_context, poll, &polled).ok());
  ASSERT_EQ(polled.task().job_id(), submitted.job_id());

  v1::ReportResultRequest report;
  report.set_worker_id(worker.id());
  report.set_job_id(submitted.job_id());
  report.set_attempt(polled.task().attempt());
  auto* rank = report.add_ranks();
  rank->set_rank(0);
  rank->set_worker_id(worker.id());
  auto* row = rank->add_gemm();
  *row->mutable_shape() = *shape;
  row->set_dtype(v1::DTYPE_FP32);
  row->add_iteration_seconds(0.001);
  row->add_iteration_seconds(0.002);
  row->set_verified(true);
  for (int i = 0; i < 3; ++i) {  // the first reply "lost": the worker sends it again, twice
    v1::ReportResultResponse ignored;
    grpc::ClientContext context;
    context.set_deadline(In(10));
    grpc::Status s = workers->ReportResult(&context, report, &ignored);
    EXPECT_TRUE(s.ok()) << "report " << i << ": " << s.error_message();
  }
  v1::ListResultsResponse results;
  grpc::ClientContext list_context;
  list_context.set_deadline(In(10));
  ASSERT_TRUE(api->ListResults(&list_context, v1::ListResultsRequest(), &results).ok());
  ASSERT_EQ(results.results_size(), 1);
  EXPECT_EQ(results.results(0).job_id(), submitted.job_id());
  EXPECT_EQ(results.results(0).attempts(), 1);
}

std::unique_ptr<Process> StartWorker(const std::string& address, const std::string& dir, const std::string& name,
                                     int metrics_port) {
  return std::make_unique<Process>(
      TOKENMETER_BINARY,
      std::vector<std::string>{"worker", "--coordinator", address, "--cpu-threads", "1", "--setup", "retries",
                               "--metrics", absl::StrCat("127.0.0.1:", metrics_port)},
      dir, name);
}

int CountInState(const std::string& address, const std::string& dir, const std::string& state) {
  auto r = RunTokenmeter({"status", "--coordinator", address, "--json"}, dir, std::chrono::seconds(20));
  int n = 0;
  for (const auto& row : ParseJsonLines(r.out)) n += Str(row, "kind") == "worker" && Str(row, "state") == state;
  return n;
}

TEST(Retries, AJobWhoseWorkerIsKilledRunsAgainOnTheSurvivorsAndASpare) {
  TempDir dir;
  CoordinatorProcess coordinator(dir.path(), dir.File("store.db"),
                                 {"--heartbeat-interval", "0.25", "--lost-after", "4", "--collective-timeout", "10"});
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  const std::string address = coordinator.address();
  std::vector<std::unique_ptr<Process>> workers;
  std::vector<int> metrics_ports;
  for (int i = 0; i < 4; ++i) {
    metrics_ports.push_back(FreePort());
    workers.push_back(StartWorker(address, dir.path(), absl::StrCat("w", i), metrics_ports.back()));
  }
  ASSERT_TRUE(Eventually([&] { return CountInState(address, dir.path(), "WORKER_IDLE") == 4; },
                         std::chrono::seconds(30)));

  // Thousands of timed calls per size: attempt 1 is still inside its sweep
  // seconds after its first size is done.
  Process run(TOKENMETER_BINARY,
              {"run", "--coordinator", address, "--workload", "collective/all-reduce", "--iterations", "400",
               "--warmup", "1", "--max-bytes", "64K", "--ranks", "3", "--attempts", "2", "--json"},
              dir.path(), "run");
  ASSERT_TRUE(Eventually([&] { return CountInState(address, dir.path(), "WORKER_BUSY") == 3; },
                         std::chrono::seconds(30)))
      << run.err();
  // The victim: a placed worker whose sweep is under way (it exported the bus
  // bandwidth of a finished size) while the run goes on.
  int victim = -1;
  ASSERT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < 4 && victim < 0; ++i) {
          if (metrics_test::CollectiveSweepUnderWay(metrics_ports[i])) victim = i;
        }
        return victim >= 0;
      },
      std::chrono::seconds(60)))
      << run.err();
  ASSERT_TRUE(run.Running()) << run.err();
  const pid_t victim_pid = workers[victim]->pid();
  workers[victim]->Kill(SIGKILL);

  ASSERT_TRUE(run.Wait(std::chrono::seconds(180))) << "the job never ended\n" << coordinator.process().err();
  EXPECT_EQ(run.exit_code(), 0) << run.err() << "\n--- coordinator:\n" << coordinator.process().err();
  EXPECT_THAT(run.err(), HasSubstr(absl::StrCat("attempt 1: worker")));
  EXPECT_THAT(run.err(), HasSubstr(absl::StrCat("pid ", victim_pid, ") lost")));
  bool summarised = false;
  for (const auto& row : ParseJsonLines(run.out())) {
    if (Str(row, "kind") != "job") continue;
    summarised = true;
    EXPECT_EQ(Num(row, "attempts"), 2);
    EXPECT_TRUE(row.fields().at("passed").bool_value());
    EXPECT_EQ(Num(row, "ranks"), 3);
  }
  EXPECT_TRUE(summarised) << run.out();
  // Every survivor and the spare ran attempt 2; the dead one did not.
  auto results = RunTokenmeter({"results", "--coordinator", address, "--json"}, dir.path(), std::chrono::seconds(20));
  ASSERT_EQ(results.exit_code, 0) << results.err;
  EXPECT_TRUE(coordinator.process().Running());
}

}  // namespace
}  // namespace tokenmeter::testing
