// The CUDA plugin is loaded only when it was built from the same sources as
// the binary (kernels/cuda_plugin.h): one from other sources, or a
// TOKENMETER_CUDA_PLUGIN that cannot be read, is a clear Unavailable, never
// a call into the wrong code and never another plugin in its place. Each case
// runs in a child process (a death test): the plugin is looked up once per
// process. Needs no GPU.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"

namespace tokenmeter::kernels {
namespace {

// In a child: points TOKENMETER_CUDA_PLUGIN at `path`, asks for the cuda
// devices and a backend, prints both errors and exits 0 when both are
// Unavailable.
void ListAndCreateWith(const char* path) {
  setenv("TOKENMETER_CUDA_PLUGIN", path, 1);
  auto devices = Backend::ListDevices("cuda");
  auto backend = Backend::Create("cuda", BackendOptions{});
  std::fprintf(stderr, "list: %s\ncreate: %s\n", devices.status().ToString().c_str(),
               backend.status().ToString().c_str());
  std::exit(absl::IsUnavailable(devices.status()) && absl::IsUnavailable(backend.status()) ? 0 : 1);
}

TEST(CudaPluginAbiDeathTest, PluginFromOtherSourcesIsRefusedNotCalled) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child starts afresh
  EXPECT_EXIT(ListAndCreateWith(TOKENMETER_FAKE_CUDA_PLUGIN), ::testing::ExitedWithCode(0),
              "built from other tokenmeter sources than this binary.*rebuild it");
}

TEST(CudaPluginAbiDeathTest, UnreadablePluginAskedForIsAnErrorNotAFallback) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child starts afresh
  EXPECT_EXIT(ListAndCreateWith("/nonexistent/libtokenmeter-cuda.so"), ::testing::ExitedWithCode(0),
              "/nonexistent/libtokenmeter-cuda.so \\(TOKENMETER_CUDA_PLUGIN\\): cannot be read");
}

TEST(CudaPluginAbiDeathTest, PluginBuiltWithThisBinaryLoads) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child starts afresh
  // The build's own plugin (found where the build put it) passes the check.
  EXPECT_EXIT(
      {
        unsetenv("TOKENMETER_CUDA_PLUGIN");
        auto devices = Backend::ListDevices("cuda");
        std::fprintf(stderr, "list: %s\n", devices.status().ToString().c_str());
        std::exit(devices.ok() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "list: OK");
}

}  // namespace
}  // namespace tokenmeter::kernels
