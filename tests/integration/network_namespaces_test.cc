// Hosts in their own network namespaces (tests/support/network_namespaces.h):
// the coordinator on one, a worker on each of three others, each with its
// own address on a bridge and no loopback between them. Collectives (Gloo
// over TCP) and a training step run across the three worker addresses; a
// worker cut off the switch mid-job fails that job, named by its address,
// and the survivors run the next one; a host whose link is shaped down is
// the one `diagnose` names.
//
// Needs root. It skips, saying why, where namespaces cannot be made; where
// CI is set that is a failure (CI runs as root, with iproute2 installed).
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/network_namespaces.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kCoordinatorPort = 7500;  // the coordinator's host has this port to itself

// A coordinator on host 0 and `workers` workers on hosts 1..workers.
class NetworkNamespacesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    network_ = std::make_unique<VirtualNetwork>(dir_.path());
    if (!network_->ok()) {
      if (std::getenv("CI") != nullptr) FAIL() << "network namespaces cannot be made: " << network_->error();
      GTEST_SKIP() << "network namespaces cannot be made here: " << network_->error();
    }
  }

  // Starts the coordinator and the workers and waits until every worker is
  // idle; false (with the reason added as a failure) otherwise.
  void StartFleet(int workers) {
    for (int i = 0; i <= workers; ++i) ASSERT_EQ(network_->AddHost(), i) << network_->error();
    address_ = absl::StrCat(network_->Address(0), ":", kCoordinatorPort);
    // lost-after 4 s and a longer collective timeout, as the loopback test of
    // a killed worker has them: the coordinator sees the loss first.
    coordinator_ = Start(0,
                         {"coordinator", "--listen", address_, "--store", dir_.File("store.db"), "--heartbeat-interval",
                          "0.25", "--lost-after", "4", "--collective-timeout", "6"},
                         "coordinator");
    for (int i = 1; i <= workers; ++i) {
      workers_.push_back(Start(i,
                               {"worker", "--coordinator", address_, "--cpu-threads", "1", "--setup", "netns-cpu",
                                "--reconnect-timeout", "60"},
                               absl::StrCat("w", i)));
    }
    ASSERT_TRUE(Eventually([&] { return Idle() == workers; }, std::chrono::seconds(30)))
        << "--- coordinator:\n"
        << Tail(coordinator_->err()) << "\n--- w1:\n"
        << Tail(workers_[0]->err());
  }

  std::unique_ptr<Process> Start(int host, const std::vector<std::string>& args, const std::string& name) {
    auto argv = network_->In(host, TOKENMETER_BINARY, args);
    return std::make_unique<Process>(argv.front(), std::vector<std::string>(argv.begin() + 1, argv.end()), dir_.path(),
                                     name);
  }

  // The tokenmeter CLI run on the coordinator's host.
  Result Cli(std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(120)) {
    args.insert(args.begin() + 1, {"--coordinator", address_});
    return RunCommand(network_->In(0, TOKENMETER_BINARY, args), dir_.path(), timeout);
  }

  std::vector<google::protobuf::Struct> Workers() {
    std::vector<google::protobuf::Struct> rows;
    for (auto& row : ParseJsonLines(Cli({"status", "--json"}, std::chrono::seconds(20)).out)) {
      if (Str(row, "kind") == "worker") rows.push_back(row);
    }
    return rows;
  }
  int InState(const std::string& state) {
    int n = 0;
    for (const auto& w : Workers()) n += Str(w, "state") == state;
    return n;
  }
  int Idle() { return InState("WORKER_IDLE"); }

  TempDir dir_;
  std::unique_ptr<VirtualNetwork> network_;
  std::string address_;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
};

TEST_F(NetworkNamespacesTest, CollectivesAndATrainStepRunAcrossThreeHostsAddresses) {
  StartFleet(3);
  if (HasFatalFailure()) return;

  std::vector<int64_t> before;
  for (int i = 1; i <= 3; ++i) before.push_back(network_->BytesThrough(i));

  for (const char* ranks : {"2", "3"}) {
    auto r = Cli({"run", "--workload", "collective/all-reduce", "--iterations", "5", "--warmup", "1", "--max-bytes",
                  "1M", "--ranks", ranks, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto step = Cli({"run", "--workload", "train-step/tiny", "--iterations", "2", "--warmup", "1", "--ranks", "3",
                   "--json"},
                  std::chrono::seconds(240));
  ASSERT_EQ(step.exit_code, 0) << step.err;
  bool job_row = false;
  for (const auto& row : ParseJsonLines(step.out)) {
    if (Str(row, "kind") != "job") continue;
    job_row = true;
    EXPECT_GT(Num(row, "tokens_per_second"), 0) << step.out;
  }
  EXPECT_TRUE(job_row) << step.out;

  // Each worker registered with its own host's address, over "tcp".
  std::set<std::string> addresses;
  for (const auto& w : Workers()) {
    addresses.insert(Str(w, "address"));
    EXPECT_EQ(Str(w, "interconnect"), "tcp");
  }
  EXPECT_EQ(addresses, (std::set<std::string>{network_->Address(1), network_->Address(2), network_->Address(3)}));
  // The bytes went over every worker's link: the 3-rank all-reduce alone
  // sends each rank 2(n-1)/n of the message per call, 6 calls of 1 MiB at the
  // top size; heart-beats are a few hundred bytes each.
  for (int i = 1; i <= 3; ++i) {
    const int64_t crossed = network_->BytesThrough(i) - before[i - 1];
    EXPECT_GT(crossed, 6 * (int64_t{1} << 20)) << "host " << network_->Address(i);
  }
}

TEST_F(NetworkNamespacesTest, AWorkerCutOffMidJobFailsTheJobNamingItAndTheOthersRunTheNext) {
  StartFleet(3);
  if (HasFatalFailure()) return;
  const int victim = 3;
  const std::string victim_address = network_->Address(victim);

  // 1000 timed calls per size: seconds inside the sweep's collectives.
  auto argv = network_->In(0, TOKENMETER_BINARY,
                           {"run", "--coordinator", address_, "--workload", "collective/all-reduce", "--iterations",
                            "1000", "--warmup", "1", "--max-bytes", "4M", "--ranks", "3"});
  Process run(argv.front(), std::vector<std::string>(argv.begin() + 1, argv.end()), dir_.path(), "run");
  ASSERT_TRUE(Eventually([&] { return InState("WORKER_BUSY") == 3; }, std::chrono::seconds(20))) << run.err();
  // Evidence that the collectives are under way on the victim: megabytes
  // cross its link (the job's set-up and heart-beats are kilobytes).
  const int64_t start = network_->BytesThrough(victim);
  ASSERT_TRUE(Eventually([&] { return network_->BytesThrough(victim) - start > (int64_t{8} << 20); },
                         std::chrono::seconds(30)))
      << run.err();
  ASSERT_TRUE(run.Running()) << run.err();
  const pid_t victim_pid = workers_[victim - 1]->pid();
  ASSERT_TRUE(network_->CutOff(victim)) << network_->error();
  const auto cut_at = std::chrono::steady_clock::now();

  ASSERT_TRUE(run.Wait(std::chrono::seconds(20))) << "run did not end after a worker was cut off";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut_at).count();
  EXPECT_NE(run.exit_code(), 0);
  EXPECT_THAT(run.err(), HasSubstr("lost"));
  EXPECT_THAT(run.err(), HasSubstr(absl::StrCat(victim_address, ", pid ", victim_pid)))
      << "--- coordinator:\n"
      << Tail(coordinator_->err());
  EXPECT_LT(seconds, 12.0);  // lost-after 4 s and a heart-beat period, with margin
  EXPECT_TRUE(coordinator_->Running());

  // The survivors' collectives give up (collective timeout 6 s); they are
  // idle again and run a 2-rank job between their two addresses.
  ASSERT_TRUE(Eventually([&] { return Idle() == 2; }, std::chrono::seconds(30)))
      << "--- w1:\n"
      << Tail(workers_[0]->err()) << "\n--- coordinator:\n"
      << Tail(coordinator_->err());
  auto next = Cli({"run", "--workload", "collective/all-reduce", "--iterations", "2", "--warmup", "1", "--max-bytes",
                   "64K", "--ranks", "2"});
  EXPECT_EQ(next.exit_code, 0) << next.err;

  // Plugged back in, the cut-off worker registers again and takes work.
  ASSERT_TRUE(network_->Reconnect(victim)) << network_->error();
  ASSERT_TRUE(Eventually([&] { return Idle() == 3; }, std::chrono::seconds(40)))
      << "--- victim:\n"
      << Tail(workers_[victim - 1]->err());
  auto all = Cli({"run", "--workload", "collective/all-reduce", "--iterations", "2", "--warmup", "1", "--max-bytes",
                  "64K", "--ranks", "3"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
}

// One host's link shaped to 1 Gbit/s both ways (a real kernel shaper, tbf,
// on its veth's two ends): `diagnose` names that host's network, and
// nothing else; the unshaped pair between the other two is healthy.
TEST_F(NetworkNamespacesTest, DiagnoseNamesTheHostWhoseLinkIsSlowed) {
  StartFleet(3);
  if (HasFatalFailure()) return;
  const int slowed = 3;
  std::string victim;
  for (const auto& w : Workers()) {
    if (Str(w, "address") == network_->Address(slowed)) victim = Str(w, "worker_id");
  }
  ASSERT_FALSE(victim.empty());
  ASSERT_TRUE(network_->Shape(slowed, "1gbit")) << network_->error();

  auto r = Cli({"diagnose", "--iterations", "5", "--json"}, std::chrono::seconds(240));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  bool network_finding = false;
  for (const auto& row : ParseJsonLines(r.out)) {
    if (Str(row, "kind") != "finding") continue;
    EXPECT_EQ(Str(row, "worker_ids"), victim) << r.out;
    if (Str(row, "metric") == "pair_busbw_gbps") {
      network_finding = true;
      EXPECT_THAT(Str(row, "subject"), HasSubstr(absl::StrCat("network of node ", victim)));
      EXPECT_LT(Num(row, "deviation"), -0.5) << r.out;  // 1 Gbit/s against veth's several
    }
  }
  EXPECT_TRUE(network_finding) << r.out << r.err;
}

}  // namespace
}  // namespace tokenmeter::testing
