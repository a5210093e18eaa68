#include "coordinator/service.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"

namespace tokenmeter::coordinator {
namespace {

using Reactor = grpc::ServerUnaryReactor;
using Context = grpc::CallbackServerContext;

// The earlier of now + wait_ms (capped) and the client's own deadline, less
// a margin so that the answer reaches the client before it gives up.
absl::Time PollDeadline(const Context* context, int64_t wait_ms) {
  absl::Duration wait = std::clamp(absl::Milliseconds(wait_ms), absl::ZeroDuration(), kMaxLongPoll);
  absl::Time deadline = absl::Now() + wait;
  const auto client = context->deadline();
  if (client != std::chrono::system_clock::time_point::max()) {
    deadline = std::min(deadline, absl::FromChrono(client) - absl::Milliseconds(50));
  }
  return deadline;
}

// A task poll's deadline: as PollDeadline, but a wait of over a second ends
// at a random 75-100% of it. Workers poll again at once, so polls that began
// together (a fleet registering in a burst, or re-registering after a
// restart) would otherwise expire together every 10 s, each time in one burst
// of RPCs that heart-beats queue behind (bench/fleet_load at 16,384 workers).
absl::Time TaskPollDeadline(const Context* context, int64_t wait_ms) {
  const absl::Time now = absl::Now();
  const absl::Time deadline = PollDeadline(context, wait_ms);
  if (deadline - now <= absl::Seconds(1)) return deadline;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return now + (deadline - now) * std::uniform_real_distribution<double>(0.75, 1.0)(rng);
}

// Ends a call that was answered without waiting.
Reactor* Finished(Context* context, const grpc::Status& status) {
  Reactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

Reactor* Finished(Context* context, const absl::Status& status) { return Finished(context, ToGrpc(status)); }

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// ---------------------------------------------------------------- public API

Reactor* CoordinatorService::SubmitJob(Context* context, const v1::SubmitJobRequest* request,
                                       v1::SubmitJobResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.SubmitJob"); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  scheduler_->SubmitAsync(*request, [reactor, response](absl::StatusOr<std::string> id) {
    if (id.ok()) response->set_job_id(*std::move(id));
    reactor->Finish(ToGrpc(id.status()));
  });
  return reactor;
}

Reactor* CoordinatorService::GetJob(Context* context, const v1::GetJobRequest* request, v1::JobStatus* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.GetJob"); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  scheduler_->GetJobAsync(request->job_id(), PollDeadline(context, request->wait_ms()),
                          [reactor, response](absl::StatusOr<v1::JobStatus> job) {
                            if (job.ok()) *response = *std::move(job);
                            reactor->Finish(ToGrpc(job.status()));
                          });
  return reactor;
}

Reactor* CoordinatorService::CancelJob(Context* context, const v1::CancelJobRequest* request, v1::CancelJobResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.CancelJob"); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  scheduler_->CancelAsync(request->job_id(), [reactor](absl::Status s) { reactor->Finish(ToGrpc(s)); });
  return reactor;
}

Reactor* CoordinatorService::ListWorkers(Context* context, const v1::ListWorkersRequest* request,
                                         v1::ListWorkersResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.ListWorkers"); !s.ok()) {
    return Finished(context, s);
  }
  for (auto& w : scheduler_->ListWorkers(request->include_lost())) *response->add_workers() = std::move(w);
  return Finished(context, grpc::Status::OK);
}

Reactor* CoordinatorService::ListJobs(Context* context, const v1::ListJobsRequest* request,
                                      v1::ListJobsResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.ListJobs"); !s.ok()) {
    return Finished(context, s);
  }
  if (request->limit() < 0) return Finished(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit must be >= 0"));
  for (auto& j : scheduler_->ListJobs(request->limit())) *response->add_jobs() = std::move(j);
  return Finished(context, grpc::Status::OK);
}

Reactor* CoordinatorService::ListResults(Context* context, const v1::ListResultsRequest* request,
                                         v1::ListResultsResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.ListResults"); !s.ok()) {
    return Finished(context, s);
  }
  if (request->limit() < 0) return Finished(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "limit must be >= 0"));
  auto results = store_->ListResults(FilterFromRequest(*request));
  if (!results.ok()) return Finished(context, results.status());
  for (auto& r : *results) *response->add_results() = std::move(r);
  return Finished(context, grpc::Status::OK);
}

Reactor* CoordinatorService::RecordHealth(Context* context, const v1::RecordHealthRequest* request,
                                          v1::RecordHealthResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kUser, "Coordinator.RecordHealth"); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  scheduler_->RecordHealthAsync(*request, [reactor, response](absl::StatusOr<std::string> id) {
    if (id.ok()) response->set_job_id(*std::move(id));
    reactor->Finish(ToGrpc(id.status()));
  });
  return reactor;
}

// ------------------------------------------------------------- worker side

Reactor* WorkerServiceImpl::Register(Context* context, const v1::RegisterRequest* request,
                                     v1::RegisterResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.Register"); !s.ok()) {
    return Finished(context, s);
  }
  auto r = scheduler_->RegisterWorker(request->inventory());
  if (!r.ok()) return Finished(context, r.status());
  *response = *std::move(r);
  return Finished(context, grpc::Status::OK);
}

Reactor* WorkerServiceImpl::Heartbeat(Context* context, const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.Heartbeat"); !s.ok()) {
    return Finished(context, s);
  }
  auto reply = scheduler_->Heartbeat(*request);
  if (!reply.ok()) return Finished(context, reply.status());
  *response = *std::move(reply);
  return Finished(context, grpc::Status::OK);
}

Reactor* WorkerServiceImpl::PollTask(Context* context, const v1::PollTaskRequest* request,
                                     v1::PollTaskResponse* response) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.PollTask"); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  scheduler_->PollTaskAsync(request->worker_id(), TaskPollDeadline(context, request->wait_ms()),
                            [reactor, response](absl::StatusOr<std::optional<v1::Task>> task) {
                              if (task.ok() && task->has_value()) *response->mutable_task() = std::move(**task);
                              reactor->Finish(ToGrpc(task.status()));
                            });
  return reactor;
}

Reactor* WorkerServiceImpl::ReportResult(Context* context, const v1::ReportResultRequest* request,
                                         v1::ReportResultResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.ReportResult"); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  scheduler_->ReportResultAsync(*request, [reactor](absl::Status s) { reactor->Finish(ToGrpc(s)); });
  return reactor;
}

Reactor* WorkerServiceImpl::Goodbye(Context* context, const v1::GoodbyeRequest* request, v1::GoodbyeResponse*) {
  if (grpc::Status s = auth_->Check(*context, TokenRole::kWorker, "WorkerService.Goodbye"); !s.ok()) {
    return Finished(context, s);
  }
  scheduler_->Goodbye(request->worker_id());
  return Finished(context, grpc::Status::OK);
}

// ---------------------------------------------------------- rendezvous store

grpc::Status RendezvousServiceImpl::CheckAccess(const Context& context, absl::string_view method,
                                                const std::string& job_id, const std::string& worker_id) {
  if (grpc::Status s = auth_->Check(context, TokenRole::kWorker, method); !s.ok()) return s;
  if (!scheduler_->IsPlaced(job_id, worker_id)) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("worker ", worker_id, " is not running job ", job_id));
  }
  return grpc::Status::OK;
}

Reactor* RendezvousServiceImpl::Set(Context* context, const v1::KvSetRequest* request, v1::KvSetResponse*) {
  if (auto s = CheckAccess(*context, "Rendezvous.Set", request->job_id(), request->worker_id()); !s.ok()) {
    return Finished(context, s);
  }
  return Finished(context, store_->Set(request->job_id(), request->key(), request->value()));
}

Reactor* RendezvousServiceImpl::Get(Context* context, const v1::KvGetRequest* request, v1::KvGetResponse* response) {
  if (auto s = CheckAccess(*context, "Rendezvous.Get", request->job_id(), request->worker_id()); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  store_->GetAsync(request->job_id(), request->key(), PollDeadline(context, request->wait_ms()),
                   [reactor, response](absl::StatusOr<std::string> value) {
                     if (value.ok()) response->set_value(*std::move(value));
                     reactor->Finish(ToGrpc(value.status()));
                   });
  return reactor;
}

Reactor* RendezvousServiceImpl::Add(Context* context, const v1::KvAddRequest* request, v1::KvAddResponse* response) {
  if (auto s = CheckAccess(*context, "Rendezvous.Add", request->job_id(), request->worker_id()); !s.ok()) {
    return Finished(context, s);
  }
  auto sum = store_->Add(request->job_id(), request->key(), request->delta());
  if (!sum.ok()) return Finished(context, sum.status());
  response->set_value(*sum);
  return Finished(context, grpc::Status::OK);
}

Reactor* RendezvousServiceImpl::Wait(Context* context, const v1::KvWaitRequest* request, v1::KvWaitResponse*) {
  if (auto s = CheckAccess(*context, "Rendezvous.Wait", request->job_id(), request->worker_id()); !s.ok()) {
    return Finished(context, s);
  }
  Reactor* reactor = context->DefaultReactor();
  std::vector<std::string> keys(request->keys().begin(), request->keys().end());
  store_->WaitAsync(request->job_id(), keys, PollDeadline(context, request->wait_ms()),
                    [reactor](absl::Status status) { reactor->Finish(ToGrpc(status)); });
  return reactor;
}

}  // namespace tokenmeter::coordinator
