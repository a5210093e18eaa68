// The rendezvous store: how the ranks of one job find each other (the NCCL
// unique id, Gloo's connection addresses), as c10d's Store does for PyTorch.
#ifndef TOKENMETER_KERNELS_STORE_H_
#define TOKENMETER_KERNELS_STORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tokenmeter::kernels {

// A small key-value store shared by the ranks of one job. Every wait is
// bounded: a key that does not appear in time gives DeadlineExceeded.
// Implementations are safe for concurrent use from several threads.
class Store {
 public:
  virtual ~Store() = default;

  // Sets key to value, replacing any earlier value.
  virtual absl::Status Set(const std::string& key, const std::string& value) = 0;

  // Returns the value of key, waiting up to timeout for it to be set.
  // DeadlineExceeded when it is not set in time.
  virtual absl::StatusOr<std::string> Get(const std::string& key,
                                          std::chrono::milliseconds timeout) = 0;

  // Adds delta to the integer stored at key (0 when absent); returns the sum.
  virtual absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) = 0;

  // Waits until every key is set, up to timeout; DeadlineExceeded otherwise.
  virtual absl::Status Wait(const std::vector<std::string>& keys,
                            std::chrono::milliseconds timeout) = 0;
};

// A store in this process's memory, for ranks run as threads (tests, and the
// ranks of one worker).
std::unique_ptr<Store> NewInMemoryStore();

// A view of `base` that prefixes every key with `prefix` + "/". Does not own
// base, which must outlive it.
std::unique_ptr<Store> NewPrefixStore(Store* base, std::string prefix);

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_STORE_H_
