// Mutual TLS end to end, with real certificates made by openssl: a
// coordinator that requires client certificates signed by its CA; a worker
// and the CLI that present one register and run a job; a client without a
// certificate, one with a certificate from another CA, and a plaintext client
// are refused, and the coordinator keeps serving.
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

// Writes a CA (name.ca.pem/.key) into dir, and certificates signed by it.
class Pki {
 public:
  Pki(const std::string& dir, const std::string& name) : dir_(dir), name_(name) {
    ok_ = Run(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=", name, "-ca -keyout ",
                           Path("ca.key"), " -out ", Path("ca.pem")));
  }
  // A certificate for 127.0.0.1 / localhost (server and client use).
  bool Issue(const std::string& who) {
    const std::string ext = Path(who + ".ext");
    const std::string write_ext = absl::StrCat(
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ", ext);
    return Run(write_ext) &&
           Run(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj /CN=", who, " -keyout ", Path(who + ".key"),
                            " -out ", Path(who + ".csr"))) &&
           Run(absl::StrCat("openssl x509 -req -in ", Path(who + ".csr"), " -CA ", Path("ca.pem"), " -CAkey ",
                            Path("ca.key"), " -CAcreateserial -days 2 -extfile ", ext, " -out ",
                            Path(who + ".pem")));
  }
  std::string Path(const std::string& file) const { return absl::StrCat(dir_, "/", name_, ".", file); }
  bool ok() const { return ok_; }

 private:
  static bool Run(const std::string& command) {
    return std::system(("(" + command + ") >/dev/null 2>&1").c_str()) == 0;
  }
  std::string dir_, name_;
  bool ok_ = false;
};

TEST(MutualTls, OnlyClientsWithACertificateFromTheCaGetIn) {
  TempDir dir;
  Pki pki(dir.path(), "fleet");
  ASSERT_TRUE(pki.ok() && pki.Issue("coordinator") && pki.Issue("worker") && pki.Issue("user"));
  Pki other(dir.path(), "other");
  ASSERT_TRUE(other.ok() && other.Issue("intruder"));

  CoordinatorProcess coordinator(dir.path(), dir.File("store.db"),
                                 {"--tls-cert", pki.Path("coordinator.pem"), "--tls-key",
                                  pki.Path("coordinator.key"), "--tls-ca", pki.Path("ca.pem")});
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  // Clients name the address the certificate was issued for.
  const std::string address = coordinator.address();
  const std::vector<std::string> user_tls = {"--tls-ca", pki.Path("ca.pem"), "--tls-cert", pki.Path("user.pem"),
                                             "--tls-key", pki.Path("user.key")};
  auto with = [](std::vector<std::string> args, const std::vector<std::string>& extra) {
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };

  Process worker(TOKENMETER_BINARY,
                 {"worker", "--coordinator", address, "--cpu-threads", "1", "--setup", "tls-cpu", "--tls-ca",
                  pki.Path("ca.pem"), "--tls-cert", pki.Path("worker.pem"), "--tls-key", pki.Path("worker.key")},
                 dir.path(), "worker");
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = RunTokenmeter(with({"status", "--coordinator", address, "--json"}, user_tls), dir.path(),
                               std::chrono::seconds(10));
        for (const auto& row : ParseJsonLines(r.out)) {
          if (Str(row, "kind") == "worker" && Str(row, "state") == "WORKER_IDLE") return true;
        }
        return false;
      },
      std::chrono::seconds(20)))
      << worker.err() << coordinator.process().err();

  auto run = RunTokenmeter(with({"run", "--coordinator", address, "--workload", "gemm", "--iterations", "1",
                                 "--warmup", "0", "--ranks", "1", "--json"},
                                user_tls),
                           dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;

  // Refused: no client certificate; a certificate from another CA; no TLS.
  const std::vector<std::vector<std::string>> refused = {
      {"--tls-ca", pki.Path("ca.pem")},
      {"--tls-ca", pki.Path("ca.pem"), "--tls-cert", other.Path("intruder.pem"), "--tls-key",
       other.Path("intruder.key")},
      {},
  };
  for (const auto& tls : refused) {
    auto r = RunTokenmeter(with({"status", "--coordinator", address}, tls), dir.path(),
                           std::chrono::seconds(20));
    EXPECT_FALSE(r.timed_out);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_THAT(r.err, HasSubstr("cannot reach the coordinator"));
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("worker")));  // nothing of the fleet leaked
  }
  // Still serving the ones that belong.
  EXPECT_TRUE(coordinator.process().Running());
  auto status = RunTokenmeter(with({"status", "--coordinator", address}, user_tls), dir.path());
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(worker.Running());
}

// Server TLS and bearer tokens together: the tokens travel encrypted, a job
// runs end to end, and TLS alone without a token is not enough.
TEST(TlsWithTokens, AJobRunsEndToEndAndATokenIsStillRequired) {
  TempDir dir;
  Pki pki(dir.path(), "fleet");
  ASSERT_TRUE(pki.ok() && pki.Issue("coordinator"));
  const std::string worker_token = "tls-worker-token-5a1c9e7b3d", user_token = "tls-user-token-8f2b6d0a4c";
  WriteFile(dir.File("tokens"), "worker " + worker_token + "\nuser " + user_token + "\n");
  WriteFile(dir.File("worker.token"), worker_token);
  WriteFile(dir.File("user.token"), user_token);
  CoordinatorProcess coordinator(dir.path(), dir.File("store.db"),
                                 {"--tls-cert", pki.Path("coordinator.pem"), "--tls-key",
                                  pki.Path("coordinator.key"), "--token-file", dir.File("tokens")});
  ASSERT_GT(coordinator.port(), 0) << coordinator.process().err();
  EXPECT_THAT(coordinator.process().err(), ::testing::Not(HasSubstr("in the clear")));
  const std::string address = coordinator.address();
  Process worker(TOKENMETER_BINARY,
                 {"worker", "--coordinator", address, "--cpu-threads", "1", "--tls-ca", pki.Path("ca.pem"),
                  "--token-file", dir.File("worker.token")},
                 dir.path(), "worker");
  const std::vector<std::string> user = {"--tls-ca", pki.Path("ca.pem"), "--token-file", dir.File("user.token")};
  auto with = [](std::vector<std::string> args, const std::vector<std::string>& extra) {
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = RunTokenmeter(with({"status", "--coordinator", address, "--json"}, user), dir.path(),
                               std::chrono::seconds(10));
        return r.out.find("WORKER_IDLE") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << worker.err() << coordinator.process().err();
  auto run = RunTokenmeter(with({"run", "--coordinator", address, "--workload", "gemm", "--iterations", "1",
                                 "--warmup", "0", "--ranks", "1", "--json"},
                                user),
                           dir.path());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  auto no_token = RunTokenmeter({"status", "--coordinator", address, "--tls-ca", pki.Path("ca.pem")}, dir.path(),
                                std::chrono::seconds(20));
  EXPECT_NE(no_token.exit_code, 0);
  EXPECT_THAT(no_token.err, HasSubstr("Coordinator.ListWorkers needs a user token"));
  EXPECT_TRUE(coordinator.process().Running());
}

}  // namespace
}  // namespace tokenmeter::testing
