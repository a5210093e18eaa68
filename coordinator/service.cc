#include "coordinator/service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tokenmeter::coordinator {
namespace {

// The earlier of now + wait_ms (capped) and the client's own deadline.
absl::Time PollDeadline(grpc::ServerContext* context, int64_t wait_ms) {
  absl::Duration wait = std::clamp(absl::Milliseconds(wait_ms), absl::ZeroDuration(), kMaxLongPoll);
  absl::Time deadline = absl::Now() + wait;
  const auto client = context->deadline();
  if (client != std::chrono::system_clock::time_point::max()) {
    deadline = std::min(deadline, absl::FromChrono(client) - absl::Milliseconds(50));
  }
  return deadline;
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// ---------------------------------------------------------------- public API

grpc::Status CoordinatorService::SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                                           v1::SubmitJobResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.SubmitJob"); !s.ok()) return s;
  auto id = scheduler_->Submit(request->spec(), request->ranks(), request->setup(), request->span_setups());
  if (!id.ok()) return ToGrpc(id.status());
  response->set_job_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                        v1::JobStatus* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.GetJob"); !s.ok()) return s;
  auto job = scheduler_->GetJob(request->job_id(), PollDeadline(context, request->wait_ms()));
  if (!job.ok()) return ToGrpc(job.status());
  *response = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                           v1::CancelJobResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.CancelJob"); !s.ok()) return s;
  return ToGrpc(scheduler_->Cancel(request->job_id()));
}

grpc::Status CoordinatorService::ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                                             v1::ListWorkersResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.ListWorkers"); !s.ok()) return s;
  for (auto& w : scheduler_->ListWorkers(request->include_lost())) *response->add_workers() = std::move(w);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.ListJobs"); !s.ok()) return s;
  if (request->limit() < 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit must be >= 0");
  for (auto& j : scheduler_->ListJobs(request->limit())) *response->add_jobs() = std::move(j);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListResults(grpc::ServerContext* context, const v1::ListResultsRequest* request,
                                             v1::ListResultsResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.ListResults"); !s.ok()) return s;
  if (request->limit() < 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit must be >= 0");
  auto results = store_->ListResults({request->workload(), request->setup(), request->limit()});
  if (!results.ok()) return ToGrpc(results.status());
  for (auto& r : *results) *response->add_results() = std::move(r);
  return grpc::Status::OK;
}

// ------------------------------------------------------------- worker side

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                                         v1::RegisterResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.Register"); !s.ok()) return s;
  auto r = scheduler_->RegisterWorker(request->inventory());
  if (!r.ok()) return ToGrpc(r.status());
  *response = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.Heartbeat"); !s.ok()) return s;
  auto aborts = scheduler_->Heartbeat(request->worker_id());
  if (!aborts.ok()) return ToGrpc(aborts.status());
  for (auto& id : *aborts) response->add_abort_job_ids(std::move(id));
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::PollTask(grpc::ServerContext* context, const v1::PollTaskRequest* request,
                                         v1::PollTaskResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.PollTask"); !s.ok()) return s;
  auto task = scheduler_->PollTask(request->worker_id(), PollDeadline(context, request->wait_ms()));
  if (!task.ok()) return ToGrpc(task.status());
  if (task->has_value()) *response->mutable_task() = std::move(**task);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::ReportResult(grpc::ServerContext* context, const v1::ReportResultRequest* request,
                                             v1::ReportResultResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.ReportResult"); !s.ok()) return s;
  return ToGrpc(scheduler_->ReportResult(*request));
}

grpc::Status WorkerServiceImpl::Goodbye(grpc::ServerContext* context, const v1::GoodbyeRequest* request, v1::GoodbyeResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.Goodbye"); !s.ok()) return s;
  scheduler_->Goodbye(request->worker_id());
  return grpc::Status::OK;
}

// ---------------------------------------------------------- rendezvous store

grpc::Status RendezvousServiceImpl::CheckAccess(const std::string& job_id, const std::string& worker_id) {
  if (!scheduler_->IsPlaced(job_id, worker_id)) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("worker ", worker_id, " is not running job ", job_id));
  }
  return grpc::Status::OK;
}

grpc::Status RendezvousServiceImpl::Set(grpc::ServerContext* context, const v1::KvSetRequest* request, v1::KvSetResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "Rendezvous.Set"); !s.ok()) return s;
  if (auto s = CheckAccess(request->job_id(), request->worker_id()); !s.ok()) return s;
  return ToGrpc(store_->Set(request->job_id(), request->key(), request->value()));
}

grpc::Status RendezvousServiceImpl::Get(grpc::ServerContext* context, const v1::KvGetRequest* request,
                                        v1::KvGetResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "Rendezvous.Get"); !s.ok()) return s;
  if (auto s = CheckAccess(request->job_id(), request->worker_id()); !s.ok()) return s;
  auto value = store_->Get(request->job_id(), request->key(), PollDeadline(context, request->wait_ms()));
  if (!value.ok()) return ToGrpc(value.status());
  response->set_value(*std::move(value));
  return grpc::Status::OK;
}

grpc::Status RendezvousServiceImpl::Add(grpc::ServerContext* context, const v1::KvAddRequest* request,
                                        v1::KvAddResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "Rendezvous.Add"); !s.ok()) return s;
  if (auto s = CheckAccess(request->job_id(), request->worker_id()); !s.ok()) return s;
  auto sum = store_->Add(request->job_id(), request->key(), request->delta());
  if (!sum.ok()) return ToGrpc(sum.status());
  response->set_value(*sum);
  return grpc::Status::OK;
}

grpc::Status RendezvousServiceImpl::Wait(grpc::ServerContext* context, const v1::KvWaitRequest* request,
                                         v1::KvWaitResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "Rendezvous.Wait"); !s.ok()) return s;
  if (auto s = CheckAccess(request->job_id(), request->worker_id()); !s.ok()) return s;
  std::vector<std::string> keys(request->keys().begin(), request->keys().end());
  return ToGrpc(store_->Wait(request->job_id(), keys, PollDeadline(context, request->wait_ms())));
}

}  // namespace tokenmeter::coordinator
