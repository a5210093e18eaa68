// The worker's power sampler (worker/power_sampler.h): feeds OnPower every
// period from the device's power source, drops the series when a reading
// fails, opens no source (and no thread) where the devices report no power,
// and stops at once. Power sources here are scripted or read a fake powercap
// tree (TEST DATA, tests/support/fake_powercap.h).
#include "worker/power_sampler.h"

#include <chrono>
#include <cmath>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_powercap.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::worker {
namespace {

using ::testing::ElementsAre;
using ::tokenmeter::testing::Eventually;
using ::tokenmeter::testing::FakePowercap;
using ::tokenmeter::testing::TempDir;
using namespace std::chrono_literals;

// Records the power callbacks as "power 3 10" / "lost 3".
class Recorder : public MeasurementObserver {
 public:
  void OnGemm(int, const v1::GemmMeasurement&) override {}
  void OnCollective(int, const v1::CollectiveMeasurement&) override {}
  void OnStep(int, double) override {}
  void OnPower(int device, double watts) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(absl::StrCat("power ", device, " ", watts));
  }
  void OnPowerLost(int device) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(absl::StrCat("lost ", device));
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

// Gives the scripted readings in turn (NaN: a failed reading), then keeps
// failing.
class ScriptedSource : public kernels::PowerSource {
 public:
  explicit ScriptedSource(std::deque<double> readings) : readings_(std::move(readings)) {}
  absl::StatusOr<double> Watts() override {
    if (readings_.empty()) return absl::UnavailableError("script ended");
    const double watts = readings_.front();
    readings_.pop_front();
    if (std::isnan(watts)) return absl::UnavailableError("counter gone");
    return watts;
  }
  std::string Describe() const override { return "scripted"; }

 private:
  std::deque<double> readings_;
};

TEST(PowerSamplerTest, FeedsEachReadingAndDropsTheSeriesOnAFailure) {
  Recorder recorder;
  std::vector<PowerSampler::Device> devices;
  devices.push_back({3, std::make_unique<ScriptedSource>(std::deque<double>{10.0, std::nan(""), 20.0})});
  PowerSampler sampler(std::move(devices), &recorder, absl::Milliseconds(10));
  ASSERT_TRUE(Eventually([&] { return recorder.events().size() >= 4; }, 5s));
  sampler.Stop();
  const auto events = recorder.events();
  EXPECT_THAT(std::vector<std::string>(events.begin(), events.begin() + 4),
              ElementsAre("power 3 10", "lost 3", "power 3 20", "lost 3"));
}

// Stop() ends the thread without waiting out the period (shutdown is prompt
// whatever the period).
TEST(PowerSamplerTest, StopsAtOnce) {
  Recorder recorder;
  std::vector<PowerSampler::Device> devices;
  devices.push_back({0, std::make_unique<ScriptedSource>(std::deque<double>{1.0})});
  const auto start = std::chrono::steady_clock::now();
  {
    PowerSampler sampler(std::move(devices), &recorder, absl::Hours(1));
    sampler.Stop();
  }  // joins
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(recorder.events().empty());
}

v1::WorkerInventory CpuInventory() {
  v1::WorkerInventory inventory;
  inventory.set_backend("cpu");
  auto* d = inventory.add_devices();
  d->set_index(0);
  d->set_uuid("host-cpu");
  return inventory;
}

// No RAPL under the sysfs root (as on most VMs): no source, no sampler, no
// series — never a 0.
TEST(PowerSamplerTest, NothingToSampleWithoutAPowerSource) {
  TempDir dir;
  Recorder recorder;
  EXPECT_EQ(PowerSampler::Start(CpuInventory(), dir.path(), &recorder, absl::Milliseconds(10)), nullptr);
}

// A cpu worker's device 0 reads the host's RAPL counters; the fake's
// counter advances at 50 W (TEST DATA) while no job runs.
TEST(PowerSamplerTest, SamplesRaplWithoutAJob) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 0);
  fake.StartPower("intel-rapl:0", 50.0, 1ms);
  Recorder recorder;
  auto sampler = PowerSampler::Start(CpuInventory(), fake.sysfs_root(), &recorder, absl::Milliseconds(100));
  ASSERT_NE(sampler, nullptr);
  ASSERT_TRUE(Eventually([&] { return !recorder.events().empty(); }, 5s));
  sampler.reset();
  // The figure itself is checked against the known rate in
  // tests/kernels/kernels_rapl_power_test.cc; here, that it came through.
  EXPECT_THAT(recorder.events().front(), ::testing::StartsWith("power 0 "));
}

}  // namespace
}  // namespace tokenmeter::worker
