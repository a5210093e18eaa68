// Bearer tokens: the token files' grammar and bounds, the constant-time
// comparison, and the coordinator's per-role check of a call's metadata.
#include "coordinator/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/bearer_tokens.h"
#include "grpcpp/test/server_context_test_spouse.h"

namespace tokenmeter::coordinator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kWorkerToken = "w0rker-t0ken-0123456789abcdef";
const std::string kUserToken = "us3r-t0ken-0123456789abcdef";

TEST(TokenTable, ParsesRolesCommentsAndBlankLines) {
  auto table = ParseTokenTable("# fleet tokens\n\nworker " + kWorkerToken + "\n  user\t" + kUserToken + "  \n", "t");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), 2u);
  EXPECT_EQ((*table)[0].role, TokenRole::kWorker);
  EXPECT_EQ((*table)[0].token, kWorkerToken);
  EXPECT_EQ((*table)[1].role, TokenRole::kUser);
  EXPECT_EQ((*table)[1].token, kUserToken);
}

TEST(TokenTable, RefusesBadLinesNamingTheLineAndNeverTheToken) {
  const struct {
    std::string text, message;
  } bad[] = {
      {"", "holds no token"},
      {"# only a comment\n", "holds no token"},
      {"admin " + kUserToken, "line 1: unknown role 'admin'"},
      {"worker", "line 1: expected '<role> <token>'"},
      {"\nuser " + kUserToken + " extra", "line 2: expected"},
      {"user short", "line 1: a token must be 16 to 4096 characters (this one has 5)"},
      {"user " + std::string(4097, 'x'), "(this one has 4097)"},
      {"user " + kUserToken + "\nworker " + kUserToken, "line 2: this token is listed twice"},
      {"user tok\x01" "en-0123456789abcdef", "printable ASCII"},
  };
  for (const auto& b : bad) {
    auto table = ParseTokenTable(b.text, "tokens.txt");
    ASSERT_FALSE(table.ok()) << b.text;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(table.status().message(), HasSubstr("--token-file 'tokens.txt'"));
    EXPECT_THAT(table.status().message(), HasSubstr(b.message));
    EXPECT_THAT(table.status().message(), Not(HasSubstr(kUserToken)));
  }
}

TEST(ClientToken, IsTheFileWithoutSurroundingWhitespace) {
  auto token = ParseClientToken("\n " + kUserToken + "\n", "f");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, kUserToken);
  EXPECT_FALSE(ParseClientToken("", "f").ok());
  EXPECT_FALSE(ParseClientToken("two words-0123456789", "f").ok());
  auto missing = ReadClientToken("/nonexistent/token");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot read '/nonexistent/token'"));
}

TEST(ConstantTimeEquals, IsEquality) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcabc"));  // a prefix repeated is not equal
  EXPECT_FALSE(ConstantTimeEquals("abcabc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

// A server context carrying `authorization: <header>` (or none).
class CallWith {
 public:
  explicit CallWith(const std::string* header) : spouse_(&context_) {
    if (header != nullptr) spouse_.AddClientMetadata("authorization", *header);
  }
  const grpc::ServerContext& context() const { return context_; }

 private:
  grpc::ServerContext context_;
  grpc::testing::ServerContextTestSpouse spouse_;
};

Authenticator FleetAuth() {
  return Authenticator({{TokenRole::kWorker, kWorkerToken}, {TokenRole::kUser, kUserToken}});
}

TEST(Authenticator, LetsEachRoleInToItsOwnServiceOnly) {
  const Authenticator auth = FleetAuth();
  const std::string worker = "Bearer " + kWorkerToken, user = "Bearer " + kUserToken;
  EXPECT_TRUE(auth.Check(CallWith(&worker).context(), TokenRole::kWorker, "WorkerService.Register").ok());
  EXPECT_TRUE(auth.Check(CallWith(&user).context(), TokenRole::kUser, "Coordinator.SubmitJob").ok());

  grpc::Status s = auth.Check(CallWith(&worker).context(), TokenRole::kUser, "Coordinator.ListResults");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "Coordinator.ListResults needs a user token; a worker token was presented");
  s = auth.Check(CallWith(&user).context(), TokenRole::kWorker, "WorkerService.Register");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("WorkerService.Register needs a worker token"));
}

TEST(Authenticator, RefusesCallsWithoutAKnownTokenNamingNoSecret) {
  const Authenticator auth = FleetAuth();
  const std::string wrong = "Bearer not-a-fleet-token-0123456789", basic = "Basic dXNlcjpwYXNz",
                    prefix = "Bearer " + kUserToken.substr(0, 10);
  const struct {
    const std::string* header;
    const char* message;
  } refused[] = {
      {nullptr, "the call carries none"},
      {&wrong, "not one of this coordinator's"},
      {&basic, "is not 'Bearer <token>'"},
      {&prefix, "not one of this coordinator's"},
  };
  for (const auto& r : refused) {
    grpc::Status s = auth.Check(CallWith(r.header).context(), TokenRole::kUser, "Coordinator.SubmitJob");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << r.message;
    EXPECT_THAT(s.error_message(), HasSubstr("Coordinator.SubmitJob needs a user token"));
    EXPECT_THAT(s.error_message(), HasSubstr(r.message));
    EXPECT_THAT(s.error_message(), Not(HasSubstr(kUserToken)));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("not-a-fleet-token")));
  }
}

TEST(Authenticator, WithoutTokensEveryCallIsLetIn) {
  const Authenticator open;
  EXPECT_FALSE(open.enabled());
  EXPECT_TRUE(open.Check(CallWith(nullptr).context(), TokenRole::kUser, "Coordinator.SubmitJob").ok());
}

}  // namespace
}  // namespace tokenmeter::coordinator
