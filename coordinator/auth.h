// Who may call which service (docs/architecture.md, "Security"): every RPC of
// the Coordinator service needs a user token, every RPC of WorkerService and
// Rendezvous a worker token, when the coordinator runs with --token-file. The
// health service is not checked (probes carry no token). Thread-safe.
#ifndef TOKENMETER_COORDINATOR_AUTH_H_
#define TOKENMETER_COORDINATOR_AUTH_H_

#include "absl/strings/string_view.h"
#include <vector>

#include "common/bearer_tokens.h"
#include "grpcpp/server_context.h"

namespace tokenmeter::coordinator {

class Authenticator {
 public:
  // No tokens: every call is let in (a coordinator without --token-file).
  explicit Authenticator(std::vector<RoleToken> tokens = {}) : tokens_(std::move(tokens)) {}

  bool enabled() const { return !tokens_.empty(); }

  // OK when the call carries `authorization: Bearer <token>` with a token of
  // the `needed` role. UNAUTHENTICATED when it carries none or an unknown one,
  // PERMISSION_DENIED for a token of the other role; the message names
  // `method` and the role needed, never a token.
  grpc::Status Check(const grpc::ServerContextBase& context, TokenRole needed, absl::string_view method) const;

 private:
  std::vector<RoleToken> tokens_;
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_AUTH_H_
