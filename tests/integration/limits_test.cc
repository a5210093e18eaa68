// What a client can make a real coordinator process hold or do is bounded,
// each refusal names its bound, and the coordinator keeps serving everyone
// else: the queue (--max-queued-jobs), the work a spec asks for
// (--max-job-seconds), the size of a request (--max-message-bytes) and the
// bytes of a job's rendezvous.
#include <grpcpp/grpcpp.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/silent_worker.h"
#include "tests/support/subprocess.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

v1::WorkerInventory CpuInventory(const std::string& host) {
  v1::WorkerInventory inv;
  inv.set_hostname(host);
  inv.set_backend("cpu");
  inv.set_setup("limits");
  auto* d = inv.add_devices();
  d->set_model("Test CPU");
  d->set_memory_bytes(int64_t{16} << 30);
  inv.add_gemm_dtypes(v1::DTYPE_FP32);
  inv.add_collective_dtypes(v1::DTYPE_FP32);
  return inv;
}

v1::WorkloadSpec Gemm(int64_t dim, int timed) {
  v1::WorkloadSpec spec;
  spec.set_name("gemm");
  spec.set_version(1);
  spec.set_timed_iterations(timed);
  auto* shape = spec.mutable_gemm()->add_shapes();
  shape->set_name("s");
  shape->set_m(dim);
  shape->set_n(dim);
  shape->set_k(dim);
  spec.mutable_gemm()->add_dtypes(v1::DTYPE_FP32);
  return spec;
}

class LimitsTest : public ::testing::Test {
 protected:
  LimitsTest()
      : coordinator_(dir_.path(), dir_.File("store.db"),
                     {"--max-queued-jobs", "2", "--max-job-seconds", "60", "--max-message-bytes", "4M"}),
        channel_(grpc::CreateChannel(coordinator_.address(), grpc::InsecureChannelCredentials())),
        api_(v1::Coordinator::NewStub(channel_)),
        rendezvous_(v1::Rendezvous::NewStub(channel_)) {}

  grpc::Status Submit(const v1::WorkloadSpec& spec, std::string* id = nullptr) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_ranks(1);
    v1::SubmitJobResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status status = api_->SubmitJob(&context, request, &response);
    if (id != nullptr) *id = response.job_id();
    return status;
  }

  // The coordinator still answers a plain call.
  void ExpectServing() {
    v1::ListJobsResponse jobs;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    EXPECT_TRUE(api_->ListJobs(&context, v1::ListJobsRequest(), &jobs).ok());
    EXPECT_TRUE(coordinator_.process().Running()) << coordinator_.process().err();
  }

  grpc::Status Set(const std::string& job, const std::string& worker, const std::string& key, std::string value) {
    v1::KvSetRequest request;
    request.set_job_id(job);
    request.set_worker_id(worker);
    request.set_key(key);
    request.set_value(std::move(value));
    v1::KvSetResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return rendezvous_->Set(&context, request, &response);
  }

  TempDir dir_;
  CoordinatorProcess coordinator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> api_;
  std::unique_ptr<v1::Rendezvous::Stub> rendezvous_;
};

TEST_F(LimitsTest, EachBoundIsNamedAndTheCoordinatorKeepsServing) {
  ASSERT_GT(coordinator_.port(), 0) << coordinator_.process().err();
  SilentWorker worker(channel_, CpuInventory("silent"));
  ASSERT_TRUE(worker.status().ok()) << worker.status().error_message();

  // A job the silent worker is placed on (and never runs): its rendezvous is open.
  std::string running;
  ASSERT_TRUE(Submit(Gemm(64, 1), &running).ok());
  // 63 values of 1 MiB fit in the job's 64 MiB; the 64th, with the keys, does not.
  const std::string mib(1 << 20, 'x');
  for (int i = 0; i < 63; ++i) ASSERT_TRUE(Set(running, worker.id(), "k" + std::to_string(i), mib).ok()) << i;
  grpc::Status full = Set(running, worker.id(), "k63", mib);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(), HasSubstr("the bound is 67108864 per job"));
  EXPECT_TRUE(Set(running, worker.id(), "small", "1").ok()) << "a key within the bound is still taken";
  ExpectServing();

  // The queue holds two; the third is refused, naming the flag.
  ASSERT_TRUE(Submit(Gemm(64, 1)).ok());
  ASSERT_TRUE(Submit(Gemm(64, 1)).ok());
  grpc::Status queue = Submit(Gemm(64, 1));
  EXPECT_EQ(queue.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(queue.error_message(), HasSubstr("the queue holds 2 jobs; the bound is --max-queued-jobs 2"));
  ExpectServing();

  // 32768³ GEMMs (12 GiB: they fit) 100000 times: 7e18 FLOPs, 700 s at 10 PFLOP/s.
  grpc::Status work = Submit(Gemm(32768, 100000));
  EXPECT_EQ(work.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(work.error_message(), HasSubstr("the bound is --max-job-seconds 60"));

  // A request past --max-message-bytes is refused by gRPC before any handler.
  v1::WorkloadSpec huge = Gemm(64, 1);
  huge.set_name(std::string(5 << 20, 'n'));
  grpc::Status message = Submit(huge);
  EXPECT_EQ(message.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(message.error_message(), HasSubstr("4194304"));
  ExpectServing();
}

}  // namespace
}  // namespace tokenmeter::testing
