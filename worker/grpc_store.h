// kernels::Store over the coordinator's Rendezvous service: how the ranks of a
// job on different workers find each other.
#ifndef TOKENMETER_WORKER_GRPC_STORE_H_
#define TOKENMETER_WORKER_GRPC_STORE_H_

#include <memory>
#include <string>

#include "kernels/store.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace tokenmeter::worker {

// Thread-safe. Every call carries a deadline; waits longer than the
// coordinator's long-poll cap are split into several calls.
class GrpcStore : public kernels::Store {
 public:
  GrpcStore(std::shared_ptr<grpc::Channel> channel, std::string job_id, std::string worker_id);

  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key, std::chrono::milliseconds timeout) override;
  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) override;
  absl::Status Wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;

 private:
  std::unique_ptr<v1::Rendezvous::Stub> stub_;
  const std::string job_id_;
  const std::string worker_id_;
};

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_GRPC_STORE_H_
