// gRPC channels to the coordinator, with the keepalive the server expects,
// optional TLS and an optional bearer token. Shared by the worker and the CLI.
#ifndef TOKENMETER_WORKER_CHANNEL_H_
#define TOKENMETER_WORKER_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace tokenmeter::worker {

struct ChannelOptions {
  std::string address;        // HOST:PORT of the coordinator
  std::string tls_ca_file;    // verify the server with this CA; "" = plaintext
  std::string tls_cert_file;  // client certificate for mutual TLS
  std::string tls_key_file;
  // A file holding this client's bearer token (common/bearer_tokens.h), sent
  // with every call; "" = none.
  std::string token_file;
};

// Creates the channel (it connects lazily). InvalidArgument for an empty or
// malformed address, unreadable TLS files or a bad token file.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options);

// Waits until the channel is connected. Unavailable naming the address when
// it is not reachable within `timeout`.
absl::Status WaitForConnected(grpc::Channel& channel, const std::string& address, absl::Duration timeout);

// A client deadline `timeout` from now.
std::chrono::system_clock::time_point DeadlineIn(absl::Duration timeout);

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_CHANNEL_H_
