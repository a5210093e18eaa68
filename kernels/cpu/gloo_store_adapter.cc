#include "kernels/cpu/gloo_store_adapter.h"

#include <utility>

namespace tokenmeter::kernels::cpu {

GlooStoreAdapter::GlooStoreAdapter(kernels::Store* store, std::string prefix,
                                   std::chrono::milliseconds default_timeout)
    : store_(NewPrefixStore(store, std::move(prefix))), default_timeout_(default_timeout) {}

void GlooStoreAdapter::set(const std::string& key, const std::vector<char>& data) {
  absl::Status status = store_->Set(key, std::string(data.begin(), data.end()));
  if (!status.ok()) throw StoreException(std::move(status));
}

std::vector<char> GlooStoreAdapter::get(const std::string& key) {
  absl::StatusOr<std::string> value = store_->Get(key, default_timeout_);
  if (!value.ok()) throw StoreException(value.status());
  return std::vector<char>(value->begin(), value->end());
}

void GlooStoreAdapter::wait(const std::vector<std::string>& keys) { wait(keys, default_timeout_); }

void GlooStoreAdapter::wait(const std::vector<std::string>& keys,
                            const std::chrono::milliseconds& timeout) {
  // Gloo passes kNoTimeout (zero) to mean "no limit of its own"; ours applies.
  const std::chrono::milliseconds bound = timeout.count() > 0 ? timeout : default_timeout_;
  absl::Status status = store_->Wait(keys, bound);
  if (!status.ok()) throw StoreException(std::move(status));
}

}  // namespace tokenmeter::kernels::cpu
