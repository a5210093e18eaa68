// The job-scoped key-value store the ranks of a job meet through (NCCL's
// unique id, Gloo's connection addresses), as PyTorch's TCPStore is for c10d.
// A job's namespace opens when it is placed and closes when it ends; waiters
// on a closed namespace are released with an error at once.
#ifndef TOKENMETER_COORDINATOR_RENDEZVOUS_STORE_H_
#define TOKENMETER_COORDINATOR_RENDEZVOUS_STORE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/wait_list.h"

namespace tokenmeter::coordinator {

// Safe for concurrent use. A wait holds no thread: its callback runs when the
// keys are set (on the setter's thread), when the job closes, or when
// ExpireWaits passes its deadline — never under the store's lock.
class RendezvousStore {
 public:
  // Bounds a value, so that no client can exhaust the coordinator's memory.
  static constexpr size_t kMaxValueBytes = 1 << 20;
  static constexpr size_t kMaxKeysPerJob = 65536;
  // Keys and values of one job together (Gloo's full mesh at 4,096 ranks
  // stores about 4,096 addresses of about 4 KiB each).
  static constexpr size_t kMaxBytesPerJob = size_t{64} << 20;

  using ValueCallback = std::function<void(absl::StatusOr<std::string>)>;
  using DoneCallback = std::function<void(absl::Status)>;

  void OpenJob(const std::string& job_id);
  void CloseJob(const std::string& job_id);

  // FailedPrecondition when the job's namespace is not open;
  // InvalidArgument for an oversized value; ResourceExhausted past
  // kMaxKeysPerJob or kMaxBytesPerJob.
  absl::Status Set(const std::string& job_id, const std::string& key, std::string value);
  absl::StatusOr<int64_t> Add(const std::string& job_id, const std::string& key, int64_t delta);

  // Answers once the key (all keys) is set, with Aborted once the job
  // closes, or with DeadlineExceeded once ExpireWaits passes the deadline.
  void GetAsync(const std::string& job_id, const std::string& key, absl::Time deadline, ValueCallback done);
  void WaitAsync(const std::string& job_id, const std::vector<std::string>& keys, absl::Time deadline,
                 DoneCallback done);
  // Answers every wait whose deadline is at or before now.
  void ExpireWaits(absl::Time now);

  // The same, blocking the calling thread until answered (tools and tests).
  absl::StatusOr<std::string> Get(const std::string& job_id, const std::string& key, absl::Time deadline);
  absl::Status Wait(const std::string& job_id, const std::vector<std::string>& keys, absl::Time deadline);

 private:
  struct KeyWaiter {
    std::vector<std::string> keys;
    bool wants_value;  // Get (the one key's value) rather than Wait
    ValueCallback done;
  };
  using Answers = std::vector<std::function<void()>>;

  absl::Status CheckOpen(const std::string& job_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The waits on job_id that the keys now set satisfy, answered into `answers`.
  void AnswerReady(const std::string& job_id, Answers& answers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AllSet(const std::string& job_id, const KeyWaiter& waiter) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  static void Run(Answers& answers);

  absl::Mutex mu_;
  struct Namespace {
    std::map<std::string, std::string> values;
    size_t bytes = 0;  // Σ key + value sizes
  };
  // Stores value under key, within the job's bounds.
  absl::Status Put(const std::string& job_id, Namespace& ns, const std::string& key, std::string value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::map<std::string, Namespace> jobs_ ABSL_GUARDED_BY(mu_);
  WaitList<std::string, KeyWaiter> waiters_ ABSL_GUARDED_BY(mu_);  // by job
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_RENDEZVOUS_STORE_H_
