// Backends behind the C plugin ABI (kernels/plugin/plugin_abi.h), through
// Backend's factories: a plugin written in C found by name on
// $TOKENMETER_PLUGIN_PATH and by path, every entry crossing the boundary (a
// checked GEMM, an all-reduce among two ranks through the host's store, the
// stop flag, the progress counter, errors with their codes and messages);
// and each way a plugin is refused, with the message that says why.
#include <cstdlib>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/plugin/plugin_host.h"

namespace tokenmeter::kernels {
namespace {

using ::testing::HasSubstr;

class PluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("TOKENMETER_PLUGIN_PATH", TOKENMETER_FAKE_PLUGIN_DIR, 1); }
};

TEST_F(PluginTest, APluginIsFoundByNameAndNamesItself) {
  auto plugin = plugin::FindPlugin("fake");
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ(plugin->name, "fake");
  EXPECT_EQ(plugin->version, "0.1-test");
  EXPECT_EQ(plugin->path, std::string(TOKENMETER_FAKE_PLUGIN_DIR) + "/libtokenmeter-fake.so");
  const std::vector<std::string> kinds = Backend::AvailableKinds();
  EXPECT_EQ(kinds.front(), "cpu");
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "fake"), kinds.end());
}

TEST_F(PluginTest, DevicesAndAGemmCrossTheAbi) {
  auto devices = Backend::ListDevices("fake");
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].model, "tokenmeter fake device");
  EXPECT_EQ((*devices)[0].memory_bytes, int64_t{1} << 30);

  std::atomic<int64_t> begun{0};
  BackendOptions options;
  options.iterations_begun = &begun;
  auto backend = Backend::Create("fake", options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->kind(), "fake");
  EXPECT_EQ((*backend)->device().uuid, "fake-0");
  EXPECT_TRUE((*backend)->SupportsGemm(DType::kFp32));
  EXPECT_TRUE((*backend)->CollectivesHostStaged());  // the table's flag
  EXPECT_FALSE((*backend)->SupportsGemm(DType::kBf16));
  auto run = (*backend)->RunGemm({64, 48, 32, DType::kFp32}, {.warmup = 1, .timed = 4});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->verified);
  EXPECT_LE(run->max_error, 1);
  EXPECT_EQ(run->wrong_elements, 0);
  ASSERT_EQ(run->iteration_seconds.size(), 4u);
  for (double s : run->iteration_seconds) EXPECT_GT(s, 0);
  EXPECT_EQ(begun.load(), 5);

  // The plugin's errors keep their codes and messages.
  auto half = (*backend)->RunGemm({8, 8, 8, DType::kFp16}, {});
  EXPECT_EQ(half.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(half.status().message(), HasSubstr("fake: GEMM in fp32 only"));
  auto big = (*backend)->RunGemm({1000, 8, 8, DType::kFp32}, {});
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("m, n and k must be in [1, 512]"));
  // What the plugin leaves out, the host answers.
  EXPECT_EQ((*backend)->RunStep(StepProgram{}, {}).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ((*backend)->EnergyJoules().status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(Backend::OpenPowerSource("fake", {}).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(Backend::DescribeEnergy("fake", {}).status().code(), absl::StatusCode::kUnimplemented);
  // The host checks the plan before the plugin sees it.
  auto no_timed = (*backend)->RunGemm({8, 8, 8, DType::kFp32}, {.warmup = 0, .timed = 0});
  EXPECT_EQ(no_timed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PluginTest, TwoRanksAllReduceThroughTheHostsStore) {
  std::unique_ptr<Store> store = NewInMemoryStore();
  CollectiveRun runs[2];
  absl::Status status[2];
  std::thread ranks[2];
  for (int r = 0; r < 2; ++r) {
    ranks[r] = std::thread([&, r] {
      BackendOptions options;
      options.rank = r;
      options.world_size = 2;
      options.store = store.get();
      options.store_prefix = "job-1";
      options.timeout = std::chrono::seconds(10);
      auto backend = Backend::Create("fake", options);
      if (!backend.ok()) {
        status[r] = backend.status();
        return;
      }
      auto run = (*backend)->RunCollective(CollectiveOp::kAllReduce, 1000, DType::kFp32, {.warmup = 1, .timed = 3});
      status[r] = run.status();
      if (run.ok()) runs[r] = *run;
    });
  }
  for (auto& t : ranks) t.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r];
    EXPECT_EQ(runs[r].checked_elements, 1000);
    EXPECT_EQ(runs[r].wrong_elements, 0);
    EXPECT_EQ(runs[r].iteration_seconds.size(), 3u);
  }
}

TEST_F(PluginTest, AStoreWaitEndsAtItsTimeoutWithItsCode) {
  std::unique_ptr<Store> store = NewInMemoryStore();
  BackendOptions options;
  options.world_size = 2;  // the peer never comes
  options.store = store.get();
  options.timeout = std::chrono::milliseconds(200);
  auto backend = Backend::Create("fake", options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto run = (*backend)->RunCollective(CollectiveOp::kAllReduce, 10, DType::kFp32, {.warmup = 0, .timed = 1});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kDeadlineExceeded) << run.status();
}

TEST_F(PluginTest, TheStopFlagReachesThePlugin) {
  std::atomic<bool> stop{true};
  BackendOptions options;
  options.stop = &stop;
  auto backend = Backend::Create("fake", options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto run = (*backend)->RunGemm({8, 8, 8, DType::kFp32}, {});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(run.status().message(), HasSubstr("stopped on request"));
}

TEST_F(PluginTest, APluginIsFoundByPath) {
  const std::string path = std::string(TOKENMETER_FAKE_PLUGIN_DIR) + "/libtokenmeter-fake.so";
  auto backend = Backend::Create(path, {});
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->kind(), "fake");
}

void ExpectRefused(const std::string& kind, absl::StatusCode code, const std::string& why) {
  auto backend = Backend::Create(kind, {});
  EXPECT_EQ(backend.status().code(), code) << kind << ": " << backend.status();
  EXPECT_THAT(backend.status().message(), HasSubstr(why)) << kind;
  auto devices = Backend::ListDevices(kind);
  EXPECT_EQ(devices.status().code(), code) << kind;
  EXPECT_EQ(devices.status().message(), backend.status().message()) << "a refusal is remembered";
}

TEST_F(PluginTest, APluginOfAnotherAbiVersionIsRefused) {
  ExpectRefused("fake_old_abi", absl::StatusCode::kUnavailable,
                "libtokenmeter-fake_old_abi.so: built for plugin ABI 2, this tokenmeter speaks 1: "
                "rebuild it against this version's kernels/plugin/plugin_abi.h");
}

TEST_F(PluginTest, APluginWhoseInitialisationFailsIsRefusedWithItsMessage) {
  ExpectRefused("fake_init_fails", absl::StatusCode::kUnavailable,
                "libtokenmeter-fake_init_fails.so: failed to initialise: no fake device driver is loaded");
}

TEST_F(PluginTest, ALibraryWithoutTheEntryPointIsRefused) {
  ExpectRefused("fake_no_entry", absl::StatusCode::kUnavailable,
                "not a tokenmeter backend plugin (no tokenmeter_backend_plugin entry)");
}

TEST_F(PluginTest, APluginNamingItselfAnotherBackendIsRefused) {
  ExpectRefused("fake_misnamed", absl::StatusCode::kUnavailable, "names itself backend 'other', not 'fake_misnamed'");
}

TEST_F(PluginTest, AMissingPluginSaysWhereItWasLookedFor) {
  ExpectRefused("nosuch", absl::StatusCode::kUnavailable,
                std::string("backend 'nosuch': no plugin libtokenmeter-nosuch.so in ") + TOKENMETER_FAKE_PLUGIN_DIR +
                    " ($TOKENMETER_PLUGIN_PATH)");
  ExpectRefused("/nonexistent/libtokenmeter-x.so", absl::StatusCode::kUnavailable,
                "backend plugin /nonexistent/libtokenmeter-x.so: cannot be loaded");
  ExpectRefused("Bad Name", absl::StatusCode::kInvalidArgument, "a plugin's name ([a-z0-9_-]+)");
}

}  // namespace
}  // namespace tokenmeter::kernels
