// The gRPC face of the coordinator: the three services of
// proto/tokenmeter/v1/coordinator.proto, each a thin translation to the
// Scheduler and the RendezvousStore. Runs on gRPC's sync-server threads.
#ifndef TOKENMETER_COORDINATOR_SERVICE_H_
#define TOKENMETER_COORDINATOR_SERVICE_H_

#include "absl/time/time.h"
#include "coordinator/auth.h"
#include "coordinator/rendezvous_store.h"
#include "coordinator/results_store.h"
#include "coordinator/scheduler.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace tokenmeter::coordinator {

// Converts an absl::Status to the gRPC status with the same code and message.
grpc::Status ToGrpc(const absl::Status& status);

// Long-polls are capped so that a server thread is never held for long.
inline constexpr absl::Duration kMaxLongPoll = absl::Seconds(10);

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  CoordinatorService(Scheduler* scheduler, ResultsStore* store, const Authenticator* auth)
      : scheduler_(scheduler), store_(store), auth_(auth) {}
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*, v1::SubmitJobResponse*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::JobStatus*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::CancelJobResponse*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*, v1::ListWorkersResponse*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*, v1::ListJobsResponse*) override;
  grpc::Status ListResults(grpc::ServerContext*, const v1::ListResultsRequest*, v1::ListResultsResponse*) override;

 private:
  Scheduler* scheduler_;
  ResultsStore* store_;
  const Authenticator* auth_;
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(Scheduler* scheduler, const Authenticator* auth) : scheduler_(scheduler), auth_(auth) {}
  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*, v1::RegisterResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatResponse*) override;
  grpc::Status PollTask(grpc::ServerContext*, const v1::PollTaskRequest*, v1::PollTaskResponse*) override;
  grpc::Status ReportResult(grpc::ServerContext*, const v1::ReportResultRequest*, v1::ReportResultResponse*) override;
  grpc::Status Goodbye(grpc::ServerContext*, const v1::GoodbyeRequest*, v1::GoodbyeResponse*) override;

 private:
  Scheduler* scheduler_;
  const Authenticator* auth_;
};

class RendezvousServiceImpl final : public v1::Rendezvous::Service {
 public:
  RendezvousServiceImpl(Scheduler* scheduler, RendezvousStore* store, const Authenticator* auth)
      : scheduler_(scheduler), store_(store), auth_(auth) {}
  grpc::Status Set(grpc::ServerContext*, const v1::KvSetRequest*, v1::KvSetResponse*) override;
  grpc::Status Get(grpc::ServerContext*, const v1::KvGetRequest*, v1::KvGetResponse*) override;
  grpc::Status Add(grpc::ServerContext*, const v1::KvAddRequest*, v1::KvAddResponse*) override;
  grpc::Status Wait(grpc::ServerContext*, const v1::KvWaitRequest*, v1::KvWaitResponse*) override;

 private:
  grpc::Status CheckAccess(const std::string& job_id, const std::string& worker_id);
  Scheduler* scheduler_;
  RendezvousStore* store_;
  const Authenticator* auth_;
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_SERVICE_H_
