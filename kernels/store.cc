#include "kernels/store.h"

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tokenmeter::kernels {
namespace {

class InMemoryStore : public Store {
 public:
  absl::Status Set(const std::string& key, const std::string& value) override {
    absl::MutexLock lock(&mu_);
    values_[key] = value;
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Get(const std::string& key,
                                  std::chrono::milliseconds timeout) override {
    absl::MutexLock lock(&mu_);
    auto set = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return values_.count(key) > 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&set), absl::FromChrono(timeout))) {
      return absl::DeadlineExceededError(
          absl::StrCat("store key '", key, "' not set within ", timeout.count(), " ms"));
    }
    return values_[key];
  }

  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) override {
    absl::MutexLock lock(&mu_);
    int64_t sum = 0;
    auto it = values_.find(key);
    if (it != values_.end() && !absl::SimpleAtoi(it->second, &sum)) {
      return absl::FailedPreconditionError(absl::StrCat("store key '", key, "' is not an integer"));
    }
    sum += delta;
    values_[key] = absl::StrCat(sum);
    return sum;
  }

  absl::Status Wait(const std::vector<std::string>& keys,
                    std::chrono::milliseconds timeout) override {
    absl::MutexLock lock(&mu_);
    auto all_set = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& k : keys) {
        if (values_.count(k) == 0) return false;
      }
      return true;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&all_set), absl::FromChrono(timeout))) {
      return absl::DeadlineExceededError(absl::StrCat(
          "store keys [", absl::StrJoin(keys, ", "), "] not all set within ", timeout.count(), " ms"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> values_ ABSL_GUARDED_BY(mu_);
};

class PrefixStore : public Store {
 public:
  PrefixStore(Store* base, std::string prefix) : base_(base), prefix_(std::move(prefix) + "/") {}

  absl::Status Set(const std::string& key, const std::string& value) override {
    return base_->Set(prefix_ + key, value);
  }
  absl::StatusOr<std::string> Get(const std::string& key,
                                  std::chrono::milliseconds timeout) override {
    return base_->Get(prefix_ + key, timeout);
  }
  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) override {
    return base_->Add(prefix_ + key, delta);
  }
  absl::Status Wait(const std::vector<std::string>& keys,
                    std::chrono::milliseconds timeout) override {
    std::vector<std::string> prefixed;
    prefixed.reserve(keys.size());
    for (const auto& k : keys) prefixed.push_back(prefix_ + k);
    return base_->Wait(prefixed, timeout);
  }

 private:
  Store* base_;
  std::string prefix_;
};

}  // namespace

std::unique_ptr<Store> NewInMemoryStore() { return std::make_unique<InMemoryStore>(); }

std::unique_ptr<Store> NewPrefixStore(Store* base, std::string prefix) {
  return std::make_unique<PrefixStore>(base, std::move(prefix));
}

}  // namespace tokenmeter::kernels
