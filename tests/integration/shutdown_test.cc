// SIGINT / SIGTERM stop everything cleanly: stored results stay, no child
// process is left behind. And every subcommand documents its flags.
#include <dirent.h>
#include <signal.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

// Processes whose command line mentions `needle`.
int ProcessesMentioning(const std::string& needle) {
  int n = 0;
  DIR* proc = opendir("/proc");
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(absl::StrCat("/proc/", e->d_name, "/cmdline"));
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string stat = ReadFile(absl::StrCat("/proc/", e->d_name, "/stat"));
    const bool zombie = stat.find(") Z ") != std::string::npos;
    if (!zombie && cmdline.find(needle) != std::string::npos) ++n;
  }
  closedir(proc);
  return n;
}

TEST(Shutdown, InterruptedLocalRunLeavesNoProcessAndKeepsStoredResults) {
  TempDir dir;
  const std::string store = dir.File("kept.db");
  auto first = RunTokenmeter({"run", "--local", "--workload", "gemm", "--iterations", "1", "--warmup", "0", "--store",
                              store, "--json"},
                             dir.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;

  Process run(TOKENMETER_BINARY,
              {"run", "--local", "--workload", "collective/all-reduce", "--iterations", "100000", "--store", store},
              dir.path(), "long-run");
  ASSERT_TRUE(Eventually([&] { return run.err().find("job job-") != std::string::npos; }, std::chrono::seconds(30)))
      << run.err();
  // run and the coordinator name the store; the workers name the coordinator.
  const std::string err = run.err();
  const auto at = err.find("local coordinator on ");
  ASSERT_NE(at, std::string::npos) << err;
  const std::string address = err.substr(at + 21, err.find(' ', at + 21) - (at + 21));
  EXPECT_EQ(ProcessesMentioning(store), 2);
  EXPECT_EQ(ProcessesMentioning("--coordinator " + address), 0);  // cmdline is NUL-separated
  EXPECT_EQ(ProcessesMentioning(address), 2);
  run.Signal(SIGINT);
  ASSERT_TRUE(run.Wait(std::chrono::seconds(30))) << "run did not stop on SIGINT";
  EXPECT_NE(run.exit_code(), 0);
  EXPECT_TRUE(Eventually([&] { return ProcessesMentioning(store) + ProcessesMentioning(address) == 0; },
                         std::chrono::seconds(5)))
      << ProcessesMentioning(store) + ProcessesMentioning(address) << " processes left";
  auto stored = RunTokenmeter({"results", "--store", store, "--json"}, dir.path());
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_EQ(ParseJsonLines(stored.out).size(), 1u);
}

// SIGTERM stops both, cleanly. SIGPIPE must not: a peer that dies while
// Gloo is sending to it raises SIGPIPE in the sender (writev on a closed
// socket), and that must fail the send, not kill the worker — a broadcast
// root whose receiver was killed once died this way, silently, and its job
// was reported as the loss of the wrong worker.
TEST(Shutdown, CoordinatorAndWorkerSurviveSigpipeAndStopOnSigterm) {
  TempDir dir;
  CoordinatorProcess coordinator(dir.path(), dir.File("s.db"));
  ASSERT_GT(coordinator.port(), 0);
  Process worker(TOKENMETER_BINARY, {"worker", "--coordinator", coordinator.address(), "--cpu-threads", "1"},
                 dir.path(), "worker");
  ASSERT_TRUE(Eventually([&] { return worker.err().find("registered as") != std::string::npos; },
                         std::chrono::seconds(20)));
  worker.Signal(SIGPIPE);
  coordinator.process().Signal(SIGPIPE);
  EXPECT_FALSE(worker.Wait(std::chrono::milliseconds(500))) << "worker died of SIGPIPE: exit " << worker.exit_code();
  EXPECT_TRUE(coordinator.process().Running()) << "coordinator died: exit " << coordinator.process().exit_code();
  auto status = RunTokenmeter({"status", "--coordinator", coordinator.address(), "--json"}, dir.path());
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("WORKER_IDLE"));

  worker.Signal(SIGTERM);
  ASSERT_TRUE(worker.Wait(std::chrono::seconds(10)));
  EXPECT_EQ(worker.exit_code(), 0) << worker.err();
  coordinator.process().Signal(SIGTERM);
  ASSERT_TRUE(coordinator.process().Wait(std::chrono::seconds(10)));
  EXPECT_EQ(coordinator.process().exit_code(), 0) << coordinator.process().err();
}

TEST(Help, EverySubcommandDescribesItsFlags) {
  TempDir dir;
  auto top = RunTokenmeter({"--help"}, dir.path());
  EXPECT_EQ(top.exit_code, 0);
  for (const char* sub : {"coordinator", "worker", "run", "suite", "workloads", "status", "results", "compare",
                          "report", "claim", "export", "import"}) {
    EXPECT_THAT(top.out, HasSubstr(sub));
    auto h = RunTokenmeter({sub, "--help"}, dir.path());
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_THAT(h.out, HasSubstr(absl::StrCat("usage: tokenmeter ", sub))) << sub;
    EXPECT_THAT(h.out, HasSubstr("--help")) << sub;
  }
  auto run = RunTokenmeter({"run", "--help"}, dir.path());
  for (const char* flag : {"--local", "--workers", "--coordinator", "--workload", "--spec", "--ranks", "--store",
                           "--json"}) {
    EXPECT_THAT(run.out, HasSubstr(flag));
  }
  auto coord = RunTokenmeter({"coordinator", "--help"}, dir.path());
  for (const char* flag : {"--listen", "--store", "--metrics", "--tls-cert", "--tls-key", "--tls-ca", "--token-file"}) {
    EXPECT_THAT(coord.out, HasSubstr(flag));
  }
  auto worker = RunTokenmeter({"worker", "--help"}, dir.path());
  for (const char* flag : {"--coordinator", "--backend", "--devices", "--metrics", "--setup",
                           "--price-per-device-hour"}) {
    EXPECT_THAT(worker.out, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace tokenmeter::testing
