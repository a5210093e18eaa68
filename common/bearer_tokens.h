// Bearer tokens: who may call the coordinator, and as what (docs/architecture.md,
// "Security"). Pure parsing and comparison; no gRPC. Thread-safe.
//
// A client's token file (workers and CLI subcommands, `--token-file`) holds
// one token. The coordinator's (`coordinator --token-file`) holds one line per
// token, `<role> <token>`, role `worker` or `user`; blank lines and lines
// starting with '#' are skipped; several tokens per role let a fleet rotate
// them. A token is 16 to 4096 characters of printable ASCII without spaces.
#ifndef TOKENMETER_COMMON_BEARER_TOKENS_H_
#define TOKENMETER_COMMON_BEARER_TOKENS_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace tokenmeter {

// What a token lets its holder do. A worker token: register, heart-beat,
// poll, report and rendezvous (WorkerService, Rendezvous). A user token:
// submit, cancel and read (Coordinator). Neither can do the other's.
enum class TokenRole { kWorker, kUser };
absl::string_view TokenRoleName(TokenRole role);

struct RoleToken {
  TokenRole role;
  std::string token;
};

// The coordinator's tokens. InvalidArgument naming the file and line for a
// malformed line, an unknown role, a token off the bounds above, or a token
// listed twice; InvalidArgument for a file with no token.
absl::StatusOr<std::vector<RoleToken>> ParseTokenTable(absl::string_view text, absl::string_view file);
absl::StatusOr<std::vector<RoleToken>> ReadTokenTable(const std::string& path);

// A client's token: the file's content without surrounding whitespace.
// InvalidArgument naming the file when it cannot be read or the token is off
// the bounds above. The token itself never appears in a message.
absl::StatusOr<std::string> ParseClientToken(absl::string_view text, absl::string_view file);
absl::StatusOr<std::string> ReadClientToken(const std::string& path);

// Whether a == b, in time that depends on their lengths only.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// The role of `presented` among `table`, comparing against every entry (so
// the time does not say which one matched); false when none matches.
bool FindTokenRole(const std::vector<RoleToken>& table, absl::string_view presented, TokenRole* role);

}  // namespace tokenmeter

#endif  // TOKENMETER_COMMON_BEARER_TOKENS_H_
