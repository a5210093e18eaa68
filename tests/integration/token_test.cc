// Bearer tokens end to end, against real processes: a coordinator run with
// --token-file lets a worker in only with a worker token and a user only with
// a user token; each role is refused the other's calls, naming the role
// needed and never the secret; the coordinator keeps serving throughout.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kWorkerToken = "fleet-worker-7f3a9c0e5b2d4f61";
const std::string kUserToken = "fleet-user-1b8e6d2c9a0f3e57";

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& extra) {
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(BearerTokens, EachRoleGetsIntoItsOwnServiceOnly) {
  TempDir dir;
  WriteFile(dir.File("coordinator.tokens"),
            "# role token\nworker " + kWorkerToken + "\nuser " + kUserToken + "\n");
  WriteFile(dir.File("worker.token"), kWorkerToken + "\n");
  WriteFile(dir.File("user.token"), kUserToken + "\n");
  WriteFile(dir.File("wrong.token"), "not-a-token-of-this-fleet-0000\n");
  CoordinatorProcess coordinator(dir.path(), dir.File("store.db"), {"--token-file", dir.File("coordinator.tokens")});
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  // Tokens without TLS cross the network in the clear: it says so.
  EXPECT_THAT(coordinator.process().err(), HasSubstr("in the clear"));
  const std::string address = coordinator.address();
  const std::vector<std::string> user = {"--token-file", dir.File("user.token")};

  // Workers with no token, a wrong one, or a user token are refused at registration and exit.
  const struct {
    std::vector<std::string> token;
    const char* message;
  } refused_workers[] = {
      {{}, "WorkerService.Register needs a worker token: the call carries none"},
      {{"--token-file", dir.File("wrong.token")}, "the token presented is not one of this coordinator's"},
      {{"--token-file", dir.File("user.token")}, "needs a worker token; a user token was presented"},
  };
  for (const auto& w : refused_workers) {
    auto r = RunTokenmeter(With({"worker", "--coordinator", address, "--cpu-threads", "1"}, w.token), dir.path(),
                           std::chrono::seconds(30));
    EXPECT_FALSE(r.timed_out);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr(w.message));
    EXPECT_THAT(r.err, Not(HasSubstr(kUserToken)));
    EXPECT_THAT(r.err, Not(HasSubstr("not-a-token-of-this-fleet")));
  }

  Process worker(TOKENMETER_BINARY,
                 {"worker", "--coordinator", address, "--cpu-threads", "1", "--token-file", dir.File("worker.token")},
                 dir.path(), "worker");
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = RunTokenmeter(With({"status", "--coordinator", address, "--json"}, user), dir.path(),
                               std::chrono::seconds(10));
        for (const auto& row : ParseJsonLines(r.out)) {
          if (Str(row, "kind") == "worker" && Str(row, "state") == "WORKER_IDLE") return true;
        }
        return false;
      },
      std::chrono::seconds(20)))
      << worker.err() << coordinator.process().err();
  // The only worker that got in is the one with the worker token.
  auto listed = RunTokenmeter(With({"status", "--coordinator", address, "--json"}, user), dir.path());
  int workers = 0;
  for (const auto& row : ParseJsonLines(listed.out)) workers += Str(row, "kind") == "worker";
  EXPECT_EQ(workers, 1) << listed.out;

  // A worker token cannot submit, list or read results; no token cannot either.
  const std::vector<std::string> worker_token = {"--token-file", dir.File("worker.token")};
  const struct {
    std::vector<std::string> args;
    const char* message;
  } refused_users[] = {
      {With({"run", "--coordinator", address, "--workload", "gemm", "--ranks", "1"}, worker_token),
       "Coordinator.SubmitJob needs a user token; a worker token was presented"},
      {With({"status", "--coordinator", address}, worker_token), "Coordinator.ListWorkers needs a user token"},
      {With({"results", "--coordinator", address}, worker_token), "Coordinator.ListResults needs a user token"},
      {{"status", "--coordinator", address}, "the call carries none"},
  };
  for (const auto& u : refused_users) {
    auto r = RunTokenmeter(u.args, dir.path(), std::chrono::seconds(20));
    EXPECT_FALSE(r.timed_out);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_THAT(r.err, HasSubstr(u.message));
    EXPECT_THAT(r.out, Not(HasSubstr("WORKER_IDLE")));  // nothing of the fleet leaked
    EXPECT_THAT(r.err, Not(HasSubstr(kWorkerToken)));
  }

  // The user token runs a job end to end on the worker (rendezvous included).
  auto run = RunTokenmeter(With({"run", "--coordinator", address, "--workload", "gemm", "--iterations", "1",
                                 "--warmup", "0", "--ranks", "1", "--json"},
                                user),
                           dir.path());
  EXPECT_EQ(run.exit_code, 0) << run.err << worker.err();
  auto results = RunTokenmeter(With({"results", "--coordinator", address, "--json"}, user), dir.path());
  EXPECT_EQ(results.exit_code, 0) << results.err;
  EXPECT_THAT(results.out, HasSubstr("\"workload\":\"gemm\""));
  EXPECT_TRUE(coordinator.process().Running());
  EXPECT_TRUE(worker.Running());
}

TEST(BearerTokens, BadTokenFilesAreRefusedNamingTheFile) {
  TempDir dir;
  WriteFile(dir.File("bad.tokens"), "admin " + kUserToken + "\n");
  auto coordinator = RunTokenmeter({"coordinator", "--listen", "127.0.0.1:0", "--store", dir.File("s.db"),
                                    "--token-file", dir.File("bad.tokens")},
                                   dir.path(), std::chrono::seconds(20));
  EXPECT_NE(coordinator.exit_code, 0);
  EXPECT_THAT(coordinator.err, HasSubstr("line 1: unknown role 'admin'"));
  EXPECT_THAT(coordinator.err, Not(HasSubstr(kUserToken)));

  auto client = RunTokenmeter({"status", "--coordinator", "127.0.0.1:1", "--token-file", dir.File("missing")},
                              dir.path(), std::chrono::seconds(20));
  EXPECT_NE(client.exit_code, 0);
  EXPECT_THAT(client.err, HasSubstr("--token-file: cannot read"));

  auto local = RunTokenmeter({"run", "--local", "--workload", "gemm", "--token-file", dir.File("bad.tokens")},
                             dir.path(), std::chrono::seconds(20));
  EXPECT_EQ(local.exit_code, 2);
  EXPECT_THAT(local.err, HasSubstr("--token-file applies to --coordinator only"));
}

}  // namespace
}  // namespace tokenmeter::testing
