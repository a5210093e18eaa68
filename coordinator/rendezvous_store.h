// The job-scoped key-value store the ranks of a job meet through (NCCL's
// unique id, Gloo's connection addresses), as PyTorch's TCPStore is for c10d.
// A job's namespace opens when it is placed and closes when it ends; waiters
// on a closed namespace are released with an error at once.
#ifndef TOKENMETER_COORDINATOR_RENDEZVOUS_STORE_H_
#define TOKENMETER_COORDINATOR_RENDEZVOUS_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tokenmeter::coordinator {

// Safe for concurrent use; waits block only the calling thread.
class RendezvousStore {
 public:
  // Bounds a value, so that no client can exhaust the coordinator's memory.
  static constexpr size_t kMaxValueBytes = 1 << 20;
  static constexpr size_t kMaxKeysPerJob = 65536;

  void OpenJob(const std::string& job_id);
  void CloseJob(const std::string& job_id);

  // FailedPrecondition when the job's namespace is not open;
  // InvalidArgument for an oversized value; ResourceExhausted past kMaxKeysPerJob.
  absl::Status Set(const std::string& job_id, const std::string& key, std::string value);
  absl::StatusOr<int64_t> Add(const std::string& job_id, const std::string& key, int64_t delta);
  // Waits until the key is set, the job closes (Aborted) or the deadline
  // passes (DeadlineExceeded).
  absl::StatusOr<std::string> Get(const std::string& job_id, const std::string& key, absl::Time deadline);
  absl::Status Wait(const std::string& job_id, const std::vector<std::string>& keys, absl::Time deadline);

 private:
  absl::Status CheckOpen(const std::string& job_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_RENDEZVOUS_STORE_H_
