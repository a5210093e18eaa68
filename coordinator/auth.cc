#include "coordinator/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tokenmeter::coordinator {

grpc::Status Authenticator::Check(const grpc::ServerContextBase& context, TokenRole needed,
                                  absl::string_view method) const {
  if (!enabled()) return grpc::Status::OK;
  const auto needs = [&] { return absl::StrCat(method, " needs a ", TokenRoleName(needed), " token"); };
  const auto& metadata = context.client_metadata();
  const auto header = metadata.find("authorization");
  constexpr absl::string_view kScheme = "Bearer ";
  if (header == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat(needs(), ": the call carries none (give the client --token-file)"));
  }
  const absl::string_view value(header->second.data(), header->second.size());
  if (!absl::StartsWith(value, kScheme)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat(needs(), ": the authorization header is not 'Bearer <token>'"));
  }
  TokenRole presented;
  if (!FindTokenRole(tokens_, value.substr(kScheme.size()), &presented)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat(needs(), ": the token presented is not one of this coordinator's"));
  }
  if (presented != needed) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat(needs(), "; a ", TokenRoleName(presented), " token was presented"));
  }
  return grpc::Status::OK;
}

}  // namespace tokenmeter::coordinator
