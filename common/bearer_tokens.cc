#include "common/bearer_tokens.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tokenmeter {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 4096;
// Bigger than any token file has reason to be (thousands of tokens).
constexpr std::streamsize kMaxFileBytes = 1 << 20;

// The reason a token is refused, or "" when it is acceptable.
std::string TokenProblem(absl::string_view token) {
  if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) {
    return absl::StrCat("a token must be ", kMinTokenLength, " to ", kMaxTokenLength, " characters (this one has ",
                        token.size(), ")");
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') return "a token must be printable ASCII without spaces";
  }
  return "";
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--token-file: cannot read '", path, "'"));
  std::string text(static_cast<size_t>(kMaxFileBytes) + 1, '\0');
  in.read(text.data(), kMaxFileBytes + 1);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxFileBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file '", path, "' is larger than ", kMaxFileBytes, " bytes"));
  }
  return text;
}

}  // namespace

absl::string_view TokenRoleName(TokenRole role) { return role == TokenRole::kWorker ? "worker" : "user"; }

absl::StatusOr<std::vector<RoleToken>> ParseTokenTable(absl::string_view text, absl::string_view file) {
  std::vector<RoleToken> table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto where = [&] { return absl::StrCat("--token-file '", file, "' line ", line_number, ": "); };
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "expected '<role> <token>' (role worker or user)"));
    }
    RoleToken entry;
    if (fields[0] == "worker") {
      entry.role = TokenRole::kWorker;
    } else if (fields[0] == "user") {
      entry.role = TokenRole::kUser;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "unknown role '", fields[0], "' (roles: worker, user)"));
    }
    if (std::string problem = TokenProblem(fields[1]); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), problem));
    }
    for (const RoleToken& seen : table) {
      if (seen.token == fields[1]) {
        return absl::InvalidArgumentError(absl::StrCat(where(), "this token is listed twice"));
      }
    }
    entry.token = std::string(fields[1]);
    table.push_back(std::move(entry));
  }
  if (table.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file '", file, "' holds no token"));
  }
  return table;
}

absl::StatusOr<std::vector<RoleToken>> ReadTokenTable(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  return ParseTokenTable(*text, path);
}

absl::StatusOr<std::string> ParseClientToken(absl::string_view text, absl::string_view file) {
  absl::string_view token = absl::StripAsciiWhitespace(text);
  if (std::string problem = TokenProblem(token); !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file '", file, "': ", problem));
  }
  return std::string(token);
}

absl::StatusOr<std::string> ReadClientToken(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  return ParseClientToken(*text, path);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.empty() || b.empty()) return a.size() == b.size();
  // Every byte of the longer one is visited, whatever the contents.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i % a.size()] ^ b[i % b.size()]);
  }
  return diff == 0;
}

bool FindTokenRole(const std::vector<RoleToken>& table, absl::string_view presented, TokenRole* role) {
  bool found = false;
  for (const RoleToken& entry : table) {
    if (ConstantTimeEquals(entry.token, presented)) {  // no early exit
      found = true;
      *role = entry.role;
    }
  }
  return found;
}

}  // namespace tokenmeter
