#include "cli/coordinator_client.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace tokenmeter::cli {
namespace {
constexpr absl::Duration kCallTimeout = absl::Seconds(10);
constexpr absl::Duration kLongPoll = absl::Seconds(2);
}  // namespace

using worker::DeadlineIn;

CoordinatorClient::CoordinatorClient(std::string address, std::shared_ptr<grpc::Channel> channel)
    : address_(std::move(address)), channel_(std::move(channel)), stub_(v1::Coordinator::NewStub(channel_)) {}

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(const worker::ChannelOptions& options,
                                                                              absl::Duration connect_timeout) {
  auto channel = worker::MakeChannel(options);
  if (!channel.ok()) return channel.status();
  if (auto s = worker::WaitForConnected(**channel, options.address, connect_timeout); !s.ok()) return s;
  return std::unique_ptr<CoordinatorClient>(new CoordinatorClient(options.address, *std::move(channel)));
}

absl::Status CoordinatorClient::Error(const grpc::Status& s, absl::string_view what) const {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat(what, ": the coordinator at ", address_, " is unreachable (",
                                               s.error_message(), ")"));
  }
  // The coordinator's own message already names the field or the job.
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

absl::StatusOr<std::string> CoordinatorClient::Submit(const v1::WorkloadSpec& spec, int ranks,
                                                      const std::string& setup, bool span_setups,
                                                      int max_attempts, const std::vector<std::string>& workers) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  request.set_ranks(ranks);
  request.set_setup(setup);
  request.set_span_setups(span_setups);
  request.set_max_attempts(max_attempts);
  for (const auto& w : workers) request.add_workers(w);
  v1::SubmitJobResponse response;
  grpc::Status s = stub_->SubmitJob(&context, request, &response);
  if (!s.ok()) return Error(s, "submitting the job");
  return response.job_id();
}

absl::StatusOr<std::string> CoordinatorClient::RecordHealth(const std::string& setup, const v1::HealthReport& report,
                                                            const google::protobuf::Timestamp& started_at) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::RecordHealthRequest request;
  request.set_setup(setup);
  *request.mutable_report() = report;
  *request.mutable_started_at() = started_at;
  v1::RecordHealthResponse response;
  grpc::Status s = stub_->RecordHealth(&context, request, &response);
  if (!s.ok()) return Error(s, "storing the diagnosis");
  return response.job_id();
}

absl::StatusOr<v1::JobStatus> CoordinatorClient::WaitForJob(
    const std::string& job_id, absl::Duration timeout, const std::atomic<bool>* interrupted,
    const std::function<void(const v1::JobStatus&)>& on_update) {
  // Progress comes with heart-beats, about once a second: poll as often.
  const absl::Duration poll = on_update ? absl::Seconds(1) : kLongPoll;
  constexpr absl::Duration kReconnectPause = absl::Milliseconds(500);
  constexpr absl::Duration kReconnectWindow = absl::Seconds(60);
  const absl::Time deadline = absl::Now() + timeout;
  std::string waiting_for;
  absl::Time unreachable_since = absl::InfinitePast();
  while (true) {
    if (interrupted != nullptr && interrupted->load()) {
      return absl::CancelledError(absl::StrCat("interrupted while waiting for job ", job_id));
    }
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(poll + kCallTimeout));
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    request.set_wait_ms(absl::ToInt64Milliseconds(std::min(poll, std::max(deadline - absl::Now(), absl::ZeroDuration()))));
    v1::JobStatus status;
    grpc::Status s = stub_->GetJob(&context, request, &status);
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && absl::Now() < deadline) {
      // A coordinator restarting on its store still knows the job: wait for
      // it, within the job's own timeout and the reconnect window, as workers do.
      if (unreachable_since == absl::InfinitePast()) {
        unreachable_since = absl::Now();
        Log("run", "the coordinator is unreachable (", s.error_message(), "); waiting up to ",
            absl::FormatDuration(kReconnectWindow), " for it to come back");
      }
      if (absl::Now() - unreachable_since < kReconnectWindow) {
        absl::SleepFor(kReconnectPause);
        continue;
      }
    }
    if (!s.ok()) return Error(s, absl::StrCat("waiting for job ", job_id));
    if (unreachable_since != absl::InfinitePast()) Log("run", "the coordinator is back");
    unreachable_since = absl::InfinitePast();
    if (status.state() == v1::JOB_SUCCEEDED || status.state() == v1::JOB_FAILED ||
        status.state() == v1::JOB_CANCELLED) {
      return status;
    }
    if (on_update) on_update(status);
    // A queued job says once why it waits (e.g. for devices of one setup).
    if (status.waiting_for() != waiting_for) {
      waiting_for = status.waiting_for();
      if (!waiting_for.empty()) Log("run", "job ", job_id, " ", waiting_for);
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("job ", job_id, " did not finish within ", absl::FormatDuration(timeout), " (state ",
                       v1::JobState_Name(status.state()), waiting_for.empty() ? "" : absl::StrCat(": ", waiting_for),
                       ")"));
    }
  }
}

absl::Status CoordinatorClient::Cancel(const std::string& job_id) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::CancelJobResponse response;
  grpc::Status s = stub_->CancelJob(&context, request, &response);
  return s.ok() ? absl::OkStatus() : Error(s, absl::StrCat("cancelling job ", job_id));
}

absl::StatusOr<std::vector<v1::WorkerStatus>> CoordinatorClient::ListWorkers(bool include_lost) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::ListWorkersRequest request;
  request.set_include_lost(include_lost);
  v1::ListWorkersResponse response;
  grpc::Status s = stub_->ListWorkers(&context, request, &response);
  if (!s.ok()) return Error(s, "listing workers");
  return std::vector<v1::WorkerStatus>(response.workers().begin(), response.workers().end());
}

absl::StatusOr<std::vector<v1::JobStatus>> CoordinatorClient::ListJobs(int limit) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::ListJobsRequest request;
  request.set_limit(limit);
  v1::ListJobsResponse response;
  grpc::Status s = stub_->ListJobs(&context, request, &response);
  if (!s.ok()) return Error(s, "listing jobs");
  return std::vector<v1::JobStatus>(response.jobs().begin(), response.jobs().end());
}

absl::StatusOr<std::vector<v1::JobResult>> CoordinatorClient::ListResults(const v1::ListResultsRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::ListResultsResponse response;
  grpc::Status s = stub_->ListResults(&context, request, &response);
  if (!s.ok()) return Error(s, "listing results");
  return std::vector<v1::JobResult>(response.results().begin(), response.results().end());
}

absl::StatusOr<int> CoordinatorClient::WaitForWorkers(int workers, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  int have = 0;
  while (true) {
    auto live = ListWorkers(false);
    if (!live.ok()) return live.status();
    have = static_cast<int>(live->size());
    if (have >= workers) {
      int devices = 0;
      for (const auto& w : *live) devices += w.inventory().devices_size();
      return devices;
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("only ", have, " of ", workers, " workers registered with ",
                                                  address_, " within ", absl::FormatDuration(timeout)));
}

}  // namespace tokenmeter::cli
