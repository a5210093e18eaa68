// Backend::Create("cuda") and ListDevices("cuda") reach the CUDA backend.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/backend.h"

namespace tokenmeter::kernels {
namespace {

TEST(CudaFactoryTest, CudaIsAnAvailableKind) {
  const std::vector<std::string> kinds = Backend::AvailableKinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "cuda"), kinds.end());
}

TEST(CudaFactoryTest, ListDevicesNeverFails) {
  absl::StatusOr<std::vector<DeviceDescription>> devices = Backend::ListDevices("cuda");
  ASSERT_TRUE(devices.ok()) << devices.status();
}

TEST(CudaFactoryTest, CreateMatchesDevicePresence) {
  absl::StatusOr<std::vector<DeviceDescription>> devices = Backend::ListDevices("cuda");
  ASSERT_TRUE(devices.ok()) << devices.status();
  absl::StatusOr<std::unique_ptr<Backend>> backend = Backend::Create("cuda", BackendOptions{});
  if (devices->empty()) {
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kUnavailable) << backend.status();
    return;
  }
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->kind(), "cuda");
  EXPECT_EQ((*backend)->device().model, (*devices)[0].model);
}

}  // namespace
}  // namespace tokenmeter::kernels
