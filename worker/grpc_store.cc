#include "worker/grpc_store.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/channel.h"

namespace tokenmeter::worker {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(10);
// Each long-poll asks for at most this long (below the server's cap).
constexpr absl::Duration kPollSlice = absl::Seconds(5);

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), absl::StrCat(what, ": ", s.error_message()));
}

}  // namespace

GrpcStore::GrpcStore(std::shared_ptr<grpc::Channel> channel, std::string job_id, std::string worker_id)
    : stub_(v1::Rendezvous::NewStub(std::move(channel))), job_id_(std::move(job_id)), worker_id_(std::move(worker_id)) {}

absl::Status GrpcStore::Set(const std::string& key, const std::string& value) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::KvSetRequest request;
  request.set_job_id(job_id_);
  request.set_worker_id(worker_id_);
  request.set_key(key);
  request.set_value(value);
  v1::KvSetResponse response;
  return FromGrpc(stub_->Set(&context, request, &response), absl::StrCat("rendezvous set '", key, "'"));
}

absl::StatusOr<std::string> GrpcStore::Get(const std::string& key, std::chrono::milliseconds timeout) {
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    const absl::Duration slice = std::min(left, kPollSlice);
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(std::max(slice, absl::ZeroDuration()) + kCallTimeout));
    v1::KvGetRequest request;
    request.set_job_id(job_id_);
    request.set_worker_id(worker_id_);
    request.set_key(key);
    request.set_wait_ms(absl::ToInt64Milliseconds(std::max(slice, absl::ZeroDuration())));
    v1::KvGetResponse response;
    grpc::Status s = stub_->Get(&context, request, &response);
    if (s.ok()) return response.value();
    if (s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED || absl::Now() >= deadline) {
      return FromGrpc(s, absl::StrCat("rendezvous get '", key, "'"));
    }
  }
}

absl::StatusOr<int64_t> GrpcStore::Add(const std::string& key, int64_t delta) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::KvAddRequest request;
  request.set_job_id(job_id_);
  request.set_worker_id(worker_id_);
  request.set_key(key);
  request.set_delta(delta);
  v1::KvAddResponse response;
  grpc::Status s = stub_->Add(&context, request, &response);
  if (!s.ok()) return FromGrpc(s, absl::StrCat("rendezvous add '", key, "'"));
  return response.value();
}

absl::Status GrpcStore::Wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  while (true) {
    const absl::Duration slice = std::max(std::min(deadline - absl::Now(), kPollSlice), absl::ZeroDuration());
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(slice + kCallTimeout));
    v1::KvWaitRequest request;
    request.set_job_id(job_id_);
    request.set_worker_id(worker_id_);
    for (const auto& k : keys) request.add_keys(k);
    request.set_wait_ms(absl::ToInt64Milliseconds(slice));
    v1::KvWaitResponse response;
    grpc::Status s = stub_->Wait(&context, request, &response);
    if (s.ok()) return absl::OkStatus();
    if (s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED || absl::Now() >= deadline) {
      return FromGrpc(s, "rendezvous wait");
    }
  }
}

}  // namespace tokenmeter::worker
