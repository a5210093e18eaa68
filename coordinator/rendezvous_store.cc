#include "coordinator/rendezvous_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tokenmeter::coordinator {
namespace {

std::string Describe(const std::string& job_id, const std::vector<std::string>& keys) {
  if (keys.size() == 1) return absl::StrCat("rendezvous key '", keys[0], "' of job ", job_id);
  return absl::StrCat("rendezvous keys [", absl::StrJoin(keys, ", "), "] of job ", job_id);
}

absl::Status NotSetInTime(const std::string& job_id, const std::vector<std::string>& keys) {
  return absl::DeadlineExceededError(
      absl::StrCat(Describe(job_id, keys), keys.size() == 1 ? " was not set in time" : " were not all set in time"));
}

}  // namespace

void RendezvousStore::Run(Answers& answers) {
  for (auto& answer : answers) answer();
}

void RendezvousStore::OpenJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  jobs_.try_emplace(job_id);
}

void RendezvousStore::CloseJob(const std::string& job_id) {
  Answers answers;
  {
    absl::MutexLock lock(&mu_);
    jobs_.erase(job_id);
    for (auto& w : waiters_.Take(job_id)) {
      answers.push_back([done = std::move(w.done), error = absl::AbortedError(absl::StrCat(
                                                        Describe(job_id, w.keys), ": the job ended while waiting"))] {
        done(error);
      });
    }
  }
  Run(answers);
}

absl::Status RendezvousStore::CheckOpen(const std::string& job_id) const {
  if (jobs_.count(job_id) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is not running: its rendezvous is closed"));
  }
  return absl::OkStatus();
}

bool RendezvousStore::AllSet(const std::string& job_id, const KeyWaiter& waiter) const {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return false;
  for (const auto& k : waiter.keys) {
    if (!it->second.values.count(k)) return false;
  }
  return true;
}

absl::Status RendezvousStore::Put(const std::string& job_id, Namespace& ns, const std::string& key, std::string value) {
  auto existing = ns.values.find(key);
  if (existing == ns.values.end() && ns.values.size() >= kMaxKeysPerJob) {
    return absl::ResourceExhaustedError(
        absl::StrCat("job ", job_id, " has ", kMaxKeysPerJob, " rendezvous keys; the bound is ", kMaxKeysPerJob));
  }
  const size_t old_bytes = existing == ns.values.end() ? 0 : key.size() + existing->second.size();
  const size_t bytes = ns.bytes - old_bytes + key.size() + value.size();
  if (bytes > kMaxBytesPerJob) {
    return absl::ResourceExhaustedError(absl::StrCat("job ", job_id, "'s rendezvous would hold ", bytes,
                                                     " bytes; the bound is ", kMaxBytesPerJob, " per job"));
  }
  ns.values[key] = std::move(value);
  ns.bytes = bytes;
  return absl::OkStatus();
}

void RendezvousStore::AnswerReady(const std::string& job_id, Answers& answers) {
  auto ready = waiters_.TakeIf(job_id, [&](const KeyWaiter& w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return AllSet(job_id, w);
  });
  const auto& kv = jobs_.at(job_id).values;
  for (auto& w : ready) {
    std::string value = w.wants_value ? kv.at(w.keys[0]) : std::string();
    answers.push_back([done = std::move(w.done), value = std::move(value)] { done(value); });
  }
}

absl::Status RendezvousStore::Set(const std::string& job_id, const std::string& key, std::string value) {
  if (value.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("rendezvous value for '", key, "' is ", value.size(), " bytes; the bound is ", kMaxValueBytes));
  }
  Answers answers;
  {
    absl::MutexLock lock(&mu_);
    if (auto s = CheckOpen(job_id); !s.ok()) return s;
    if (auto s = Put(job_id, jobs_.at(job_id), key, std::move(value)); !s.ok()) return s;
    AnswerReady(job_id, answers);
  }
  Run(answers);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RendezvousStore::Add(const std::string& job_id, const std::string& key, int64_t delta) {
  Answers answers;
  int64_t sum = 0;
  {
    absl::MutexLock lock(&mu_);
    if (auto s = CheckOpen(job_id); !s.ok()) return s;
    Namespace& ns = jobs_.at(job_id);
    if (auto it = ns.values.find(key); it != ns.values.end() && !it->second.empty() && !absl::SimpleAtoi(it->second, &sum)) {
      return absl::FailedPreconditionError(absl::StrCat("rendezvous key '", key, "' does not hold an integer"));
    }
    sum += delta;
    if (auto s = Put(job_id, ns, key, absl::StrCat(sum)); !s.ok()) return s;
    AnswerReady(job_id, answers);
  }
  Run(answers);
  return sum;
}

void RendezvousStore::GetAsync(const std::string& job_id, const std::string& key, absl::Time deadline,
                               ValueCallback done) {
  absl::StatusOr<std::string> now_answer;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      now_answer = absl::AbortedError(absl::StrCat(Describe(job_id, {key}), ": the job is not running"));
    } else if (auto kv = it->second.values.find(key); kv != it->second.values.end()) {
      now_answer = kv->second;
    } else if (deadline <= absl::Now()) {
      now_answer = NotSetInTime(job_id, {key});
    } else {
      waiters_.Add(job_id, deadline, KeyWaiter{{key}, true, std::move(done)});
      return;
    }
  }
  done(std::move(now_answer));
}

void RendezvousStore::WaitAsync(const std::string& job_id, const std::vector<std::string>& keys, absl::Time deadline,
                                DoneCallback done) {
  absl::Status now_answer;
  {
    absl::MutexLock lock(&mu_);
    KeyWaiter waiter{keys, false, [done](absl::StatusOr<std::string> v) { done(v.status()); }};
    if (!jobs_.count(job_id)) {
      now_answer = absl::AbortedError(absl::StrCat(Describe(job_id, keys), ": the job is not running"));
    } else if (AllSet(job_id, waiter)) {
      now_answer = absl::OkStatus();
    } else if (deadline <= absl::Now()) {
      now_answer = NotSetInTime(job_id, keys);
    } else {
      waiters_.Add(job_id, deadline, std::move(waiter));
      return;
    }
  }
  done(std::move(now_answer));
}

void RendezvousStore::ExpireWaits(absl::Time now) {
  Answers answers;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [job_id, w] : waiters_.TakeExpired(now)) {
      answers.push_back([done = std::move(w.done), error = NotSetInTime(job_id, w.keys)] { done(error); });
    }
  }
  Run(answers);
}

absl::StatusOr<std::string> RendezvousStore::Get(const std::string& job_id, const std::string& key,
                                                 absl::Time deadline) {
  return BlockUntilAnswered<absl::StatusOr<std::string>>(
      deadline, [&](ValueCallback done) { GetAsync(job_id, key, deadline, std::move(done)); },
      [this](absl::Time now) { ExpireWaits(now); });
}

absl::Status RendezvousStore::Wait(const std::string& job_id, const std::vector<std::string>& keys,
                                   absl::Time deadline) {
  return BlockUntilAnswered<absl::Status>(
      deadline, [&](DoneCallback done) { WaitAsync(job_id, keys, deadline, std::move(done)); },
      [this](absl::Time now) { ExpireWaits(now); });
}

}  // namespace tokenmeter::coordinator
