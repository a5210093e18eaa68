#include "coordinator/rendezvous_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tokenmeter::coordinator {

void RendezvousStore::OpenJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  jobs_.try_emplace(job_id);
}

void RendezvousStore::CloseJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  jobs_.erase(job_id);
}

absl::Status RendezvousStore::CheckOpen(const std::string& job_id) const {
  if (jobs_.count(job_id) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is not running: its rendezvous is closed"));
  }
  return absl::OkStatus();
}

absl::Status RendezvousStore::Set(const std::string& job_id, const std::string& key, std::string value) {
  if (value.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("rendezvous value for '", key, "' is ", value.size(), " bytes; the bound is ", kMaxValueBytes));
  }
  absl::MutexLock lock(&mu_);
  if (auto s = CheckOpen(job_id); !s.ok()) return s;
  auto& keys = jobs_[job_id];
  if (keys.size() >= kMaxKeysPerJob && !keys.count(key)) {
    return absl::ResourceExhaustedError(absl::StrCat("job ", job_id, " has ", kMaxKeysPerJob, " rendezvous keys"));
  }
  keys[key] = std::move(value);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RendezvousStore::Add(const std::string& job_id, const std::string& key, int64_t delta) {
  absl::MutexLock lock(&mu_);
  if (auto s = CheckOpen(job_id); !s.ok()) return s;
  auto& value = jobs_[job_id][key];
  int64_t sum = 0;
  if (!value.empty() && !absl::SimpleAtoi(value, &sum)) {
    return absl::FailedPreconditionError(absl::StrCat("rendezvous key '", key, "' does not hold an integer"));
  }
  sum += delta;
  value = absl::StrCat(sum);
  return sum;
}

absl::StatusOr<std::string> RendezvousStore::Get(const std::string& job_id, const std::string& key,
                                                 absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = jobs_.find(job_id);
    return it == jobs_.end() || it->second.count(key) > 0;
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::AbortedError(absl::StrCat("job ", job_id, " ended while waiting for '", key, "'"));
  auto kv = it->second.find(key);
  if (kv == it->second.end()) {
    return absl::DeadlineExceededError(absl::StrCat("rendezvous key '", key, "' of job ", job_id, " was not set in time"));
  }
  return kv->second;
}

absl::Status RendezvousStore::Wait(const std::string& job_id, const std::vector<std::string>& keys,
                                   absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return true;
    for (const auto& k : keys) {
      if (!it->second.count(k)) return false;
    }
    return true;
  };
  if (mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
    if (!jobs_.count(job_id)) return absl::AbortedError(absl::StrCat("job ", job_id, " ended while waiting"));
    return absl::OkStatus();
  }
  return absl::DeadlineExceededError(absl::StrCat("rendezvous keys [", absl::StrJoin(keys, ", "), "] of job ", job_id,
                                                  " were not all set in time"));
}

}  // namespace tokenmeter::coordinator
