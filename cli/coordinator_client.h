// The CLI's client of the coordinator's public API: every call with a
// deadline, every error naming the address.
#ifndef TOKENMETER_CLI_COORDINATOR_CLIENT_H_
#define TOKENMETER_CLI_COORDINATOR_CLIENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"
#include "worker/channel.h"

namespace tokenmeter::cli {

// Thread-safe (gRPC stubs are).
class CoordinatorClient {
 public:
  // Connects within connect_timeout; Unavailable naming the address if not.
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Connect(const worker::ChannelOptions& options,
                                                                    absl::Duration connect_timeout);

  // span_setups: the job may run across setups; max_attempts: placements
  // allowed when a worker is lost mid-run; workers: only on these, in this
  // order (SubmitJobRequest).
  absl::StatusOr<std::string> Submit(const v1::WorkloadSpec& spec, int ranks, const std::string& setup,
                                     bool span_setups = false, int max_attempts = 1,
                                     const std::vector<std::string>& workers = {});
  // Waits for the job to end, up to timeout, polling; returns its final status
  // (DeadlineExceeded naming the job when it did not end in time). Stops early
  // when *interrupted becomes true (Cancelled). A coordinator that becomes
  // unreachable (restarting on its store) is waited for up to 60 s.
  // With `on_update`, each answer of a job not yet ended is passed to it,
  // about once a second (the progress line).
  absl::StatusOr<v1::JobStatus> WaitForJob(const std::string& job_id, absl::Duration timeout,
                                           const std::atomic<bool>* interrupted,
                                           const std::function<void(const v1::JobStatus&)>& on_update = nullptr);
  absl::Status Cancel(const std::string& job_id);
  // Stores a diagnosis (Coordinator.RecordHealth); returns its record's id.
  absl::StatusOr<std::string> RecordHealth(const std::string& setup, const v1::HealthReport& report,
                                           const google::protobuf::Timestamp& started_at);
  absl::StatusOr<std::vector<v1::WorkerStatus>> ListWorkers(bool include_lost);
  absl::StatusOr<std::vector<v1::JobStatus>> ListJobs(int limit);
  absl::StatusOr<std::vector<v1::JobResult>> ListResults(const v1::ListResultsRequest& filter);
  // Waits until at least `workers` live workers are registered; returns the
  // devices they offer in all.
  absl::StatusOr<int> WaitForWorkers(int workers, absl::Duration timeout);

 private:
  CoordinatorClient(std::string address, std::shared_ptr<grpc::Channel> channel);
  absl::Status Error(const grpc::Status& s, absl::string_view what) const;

  const std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_COORDINATOR_CLIENT_H_
