// The gRPC face of the coordinator: the three services of
// proto/tokenmeter/v1/coordinator.proto, each a thin translation to the
// Scheduler and the RendezvousStore. Written on gRPC's callback API: a call
// that waits (a task long-poll, a job long-poll, a rendezvous wait) is a
// reactor parked in a WaitList, not a server thread, so the coordinator's
// threads do not grow with the fleet (docs/architecture.md, "Threads").
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

// Long-polls are capped so that a call lost on the way (a client that went
// away without a word) is held for no longer than this.
inline constexpr absl::Duration kMaxLongPoll = absl::Seconds(10);

class CoordinatorService final : public v1::Coordinator::CallbackService {
 public:
  CoordinatorService(Scheduler* scheduler, ResultsStore* store, const Authenticator* auth)
      : scheduler_(scheduler), store_(store), auth_(auth) {}
  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext*, const v1::SubmitJobRequest*, v1::SubmitJobResponse*) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext*, const v1::GetJobRequest*, v1::JobStatus*) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext*, const v1::CancelJobRequest*, v1::CancelJobResponse*) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext*, const v1::ListWorkersRequest*, v1::ListWorkersResponse*) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext*, const v1::ListJobsRequest*, v1::ListJobsResponse*) override;
  grpc::ServerUnaryReactor* ListResults(grpc::CallbackServerContext*, const v1::ListResultsRequest*, v1::ListResultsResponse*) override;
  grpc::ServerUnaryReactor* RecordHealth(grpc::CallbackServerContext*, const v1::RecordHealthRequest*, v1::RecordHealthResponse*) override;

 private:
  Scheduler* scheduler_;
  ResultsStore* store_;
  const Authenticator* auth_;
};

class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  WorkerServiceImpl(Scheduler* scheduler, const Authenticator* auth) : scheduler_(scheduler), auth_(auth) {}
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext*, const v1::RegisterRequest*, v1::RegisterResponse*) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatResponse*) override;
  grpc::ServerUnaryReactor* PollTask(grpc::CallbackServerContext*, const v1::PollTaskRequest*, v1::PollTaskResponse*) override;
  grpc::ServerUnaryReactor* ReportResult(grpc::CallbackServerContext*, const v1::ReportResultRequest*, v1::ReportResultResponse*) override;
  grpc::ServerUnaryReactor* Goodbye(grpc::CallbackServerContext*, const v1::GoodbyeRequest*, v1::GoodbyeResponse*) override;

 private:
  Scheduler* scheduler_;
  const Authenticator* auth_;
};

class RendezvousServiceImpl final : public v1::Rendezvous::CallbackService {
 public:
  RendezvousServiceImpl(Scheduler* scheduler, RendezvousStore* store, const Authenticator* auth)
      : scheduler_(scheduler), store_(store), auth_(auth) {}
  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext*, const v1::KvSetRequest*, v1::KvSetResponse*) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext*, const v1::KvGetRequest*, v1::KvGetResponse*) override;
  grpc::ServerUnaryReactor* Add(grpc::CallbackServerContext*, const v1::KvAddRequest*, v1::KvAddResponse*) override;
  grpc::ServerUnaryReactor* Wait(grpc::CallbackServerContext*, const v1::KvWaitRequest*, v1::KvWaitResponse*) override;

 private:
  // The caller's worker token, then that worker_id is placed on job_id.
  grpc::Status CheckAccess(const grpc::CallbackServerContext& context, absl::string_view method,
                           const std::string& job_id, const std::string& worker_id);
  Scheduler* scheduler_;
  RendezvousStore* store_;
  const Authenticator* auth_;
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_SERVICE_H_
