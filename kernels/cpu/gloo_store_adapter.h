// Plugs kernels::Store into Gloo's rendezvous (as PyTorch's c10d does with
// its GlooStore), so Gloo's connection addresses travel through the job's
// rendezvous store instead of a file system or Redis.
#ifndef TOKENMETER_KERNELS_CPU_GLOO_STORE_ADAPTER_H_
#define TOKENMETER_KERNELS_CPU_GLOO_STORE_ADAPTER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gloo/common/error.h>
#include <gloo/rendezvous/store.h>

#include "absl/status/status.h"
#include "kernels/store.h"

namespace tokenmeter::kernels::cpu {

// What the adapter throws when the store fails: Gloo's rendezvous only knows
// exceptions, and this one carries the store's Status (DeadlineExceeded for
// a peer that never arrived) so the backend can hand it back unchanged.
class StoreException : public gloo::IoException {
 public:
  explicit StoreException(absl::Status status)
      : gloo::IoException(status.ToString()), status_(std::move(status)) {}
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

// A gloo::rendezvous::Store over a kernels::Store, with every key under
// `prefix` + "/". Every wait is bounded: by the timeout Gloo passes, or by
// `default_timeout` where Gloo passes none (the base class's wait(keys) and
// get(), which would otherwise block forever). Failures throw StoreException.
// Thread-safe as far as the underlying store is. Does not own `store`, which
// must outlive it.
class GlooStoreAdapter : public gloo::rendezvous::Store {
 public:
  GlooStoreAdapter(kernels::Store* store, std::string prefix,
                   std::chrono::milliseconds default_timeout);

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  // The base class ignores this timeout; this override honours it.
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  std::unique_ptr<kernels::Store> store_;  // prefix view of the caller's store
  std::chrono::milliseconds default_timeout_;
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_GLOO_STORE_ADAPTER_H_
