// The rocm plugin as built here (kernels/rocm/rocm_backend.h): it loads
// through the C ABI, lists this host's AMD GPUs through the HIP runtime —
// none where there is no /dev/kfd, as in CI — and refuses, naming the
// missing library, whatever it cannot run yet. On a host with an AMD GPU
// the list is not empty and a one-rank backend is created on it.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/plugin/plugin_host.h"

namespace tokenmeter::kernels {
namespace {

using ::testing::HasSubstr;

TEST(RocmPluginTest, LoadsAndListsTheHostsAmdGpus) {
  auto plugin = plugin::FindPlugin("rocm");
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ(plugin->name, "rocm");
  auto devices = Backend::ListDevices("rocm");
  ASSERT_TRUE(devices.ok()) << devices.status();
  for (const DeviceDescription& d : *devices) {
    EXPECT_FALSE(d.model.empty());
    EXPECT_GT(d.memory_bytes, 0);
    EXPECT_THAT(d.compute_capability, HasSubstr("gfx"));
  }
}

TEST(RocmPluginTest, SaysWhatItCannotRunYet) {
  auto devices = Backend::ListDevices("rocm");
  ASSERT_TRUE(devices.ok()) << devices.status();
  BackendOptions two;
  two.world_size = 2;
  auto store = NewInMemoryStore();
  two.store = store.get();
  auto multi = Backend::Create("rocm", two);
  EXPECT_EQ(multi.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(multi.status().message(), HasSubstr("needs RCCL"));
  auto backend = Backend::Create("rocm", {});
  if (devices->empty()) {
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kUnavailable) << backend.status();
    EXPECT_THAT(backend.status().message(), HasSubstr("no AMD GPU on this host"));
    return;
  }
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_FALSE((*backend)->SupportsGemm(DType::kBf16));
  auto gemm = (*backend)->RunGemm({64, 64, 64, DType::kFp32}, {});
  EXPECT_EQ(gemm.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(gemm.status().message(), HasSubstr("hipBLASLt"));
}

}  // namespace
}  // namespace tokenmeter::kernels
