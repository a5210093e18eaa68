// RAPL energy (kernels/cpu/rapl_energy.h) on fake powercap trees built in a
// temporary directory (tests/support/fake_powercap.h): every counter here is
// TEST DATA written by the test, laid out as the kernel lays out
// /sys/class/powercap. Expected joules come from the values written.
#include "kernels/cpu/rapl_energy.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/support/fake_powercap.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::kernels::cpu {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::tokenmeter::testing::FakePowercap;
using ::tokenmeter::testing::TempDir;

using Clock = std::chrono::steady_clock;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(RaplEnergyTest, PowercapDirIsUnderTheSysfsRoot) {
  EXPECT_EQ(RaplEnergy::PowercapDir("/sys"), "/sys/class/powercap");
  EXPECT_EQ(RaplEnergy::PowercapDir("/host/sys/"), "/host/sys/class/powercap");
  EXPECT_EQ(RaplEnergy::PowercapDir("/"), "/class/powercap");
}

TEST(RaplEnergyTest, StartsAtZeroAndSumsThePackages) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 1'000'000);
  fake.AddZone("intel-rapl:1", "package-1", 7'000'000);
  auto energy = RaplEnergy::Start(fake.dir());
  ASSERT_TRUE(energy.ok()) << energy.status();
  EXPECT_THAT(energy->zones(), ElementsAre("intel-rapl:0", "intel-rapl:1"));
  auto j = energy->Joules();
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, 0);
  fake.SetEnergy("intel-rapl:0", 3'500'000);  // +2.5 J
  fake.SetEnergy("intel-rapl:1", 7'250'000);  // +0.25 J
  j = energy->Joules();
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_DOUBLE_EQ(*j, 2.75);
  fake.SetEnergy("intel-rapl:1", 8'250'000);  // +1 J more
  EXPECT_DOUBLE_EQ(*energy->Joules(), 3.75);  // since Start(), not since the last call
}

// Sub-zones (core, uncore, dram) are inside their package's count; the
// platform zone "psys" contains the packages; intel-rapl-mmio is another
// view of the same package. None is added again.
TEST(RaplEnergyTest, OnlyPackageZonesCount) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 0);
  fake.AddZone("intel-rapl:0:0", "core", 0);
  fake.AddZone("intel-rapl:0:1", "dram", 0);
  fake.AddZone("intel-rapl:1", "psys", 0);
  fake.AddZone("intel-rapl-mmio:0", "package-0", 0);
  std::filesystem::create_directories(fake.ZoneDir("intel-rapl"));  // the control type, no zone
  auto energy = RaplEnergy::Start(fake.dir());
  ASSERT_TRUE(energy.ok()) << energy.status();
  EXPECT_THAT(energy->zones(), ElementsAre("intel-rapl:0"));
  for (const char* zone : {"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1", "intel-rapl-mmio:0"}) {
    fake.SetEnergy(zone, 4'000'000);
  }
  EXPECT_DOUBLE_EQ(*energy->Joules(), 4.0);
}

// energy_uj runs from 0 to max_energy_range_uj and then starts again at 0: a
// counter lower than at the last read adds range + 1 − last + now.
TEST(RaplEnergyTest, CountsWrapArounds) {
  TempDir dir;
  FakePowercap fake(dir.path());
  const int64_t range = 1'000'000;
  fake.AddZone("intel-rapl:0", "package-0", 999'000, range);
  fake.AddZone("intel-rapl:1", "package-1", 10, range);
  auto energy = RaplEnergy::Start(fake.dir());
  ASSERT_TRUE(energy.ok()) << energy.status();
  fake.SetEnergy("intel-rapl:0", 500);     // wrapped: 1'000 up to the range, 1 to 0, 500 after
  fake.SetEnergy("intel-rapl:1", 20);      // did not
  EXPECT_DOUBLE_EQ(*energy->Joules(), (1'000 + 1 + 500 + 10) * 1e-6);
  fake.SetEnergy("intel-rapl:0", 900'000);  // no wrap
  fake.SetEnergy("intel-rapl:1", 5);        // wrapped: 999'980 up to the range, 1 to 0, 5 after
  EXPECT_DOUBLE_EQ(*energy->Joules(), (1'000 + 1 + 500 + 10 + 899'500 + 999'980 + 1 + 5) * 1e-6);
}

// A counter that went backwards with no known range cannot be counted: an
// error, never a guess, and the state stays at the last good read.
TEST(RaplEnergyTest, AWrapWithoutARangeIsAnError) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 5'000'000, /*max_energy_range_uj=*/-1);
  auto energy = RaplEnergy::Start(fake.dir());
  ASSERT_TRUE(energy.ok()) << energy.status();
  fake.SetEnergy("intel-rapl:0", 6'000'000);
  EXPECT_DOUBLE_EQ(*energy->Joules(), 1.0);
  fake.SetEnergy("intel-rapl:0", 100);
  auto j = energy->Joules();
  EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(j.status()), HasSubstr("intel-rapl:0/energy_uj went backwards"));
  EXPECT_THAT(Message(j.status()), HasSubstr("max_energy_range_uj"));
  fake.SetEnergy("intel-rapl:0", 6'500'000);
  EXPECT_DOUBLE_EQ(*energy->Joules(), 1.5);
}

TEST(RaplEnergyTest, NoPackageZoneIsUnimplemented) {
  TempDir dir;
  // No powercap directory at all (a VM, most containers).
  auto missing = RaplEnergy::Start(dir.File("class/powercap"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(missing.status()), HasSubstr("backend cpu does not report energy on this host"));
  EXPECT_THAT(Message(missing.status()), HasSubstr(dir.File("class/powercap")));
  // A powercap directory with sub-zones and psys only.
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0:0", "core", 0);
  fake.AddZone("intel-rapl:1", "psys", 0);
  auto none = RaplEnergy::Start(fake.dir());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(none.status()), HasSubstr("no RAPL package zone under " + fake.dir()));
}

// An unreadable package counter makes the host's energy unreported, naming
// the file and the reason; summing only the readable packages would
// understate it. (Root reads any file, so "unreadable" here is a counter that
// is a directory, or missing.)
TEST(RaplEnergyTest, AnUnreadablePackageCounterIsUnimplementedNamingIt) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 0);
  fake.AddZone("intel-rapl:1", "package-1", 0);
  std::filesystem::remove(fake.ZoneDir("intel-rapl:1") + "/energy_uj");
  auto missing = RaplEnergy::Start(fake.dir());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(missing.status()), HasSubstr("cannot read " + fake.ZoneDir("intel-rapl:1") + "/energy_uj"));
  EXPECT_THAT(Message(missing.status()), HasSubstr("No such file"));

  std::filesystem::create_directory(fake.ZoneDir("intel-rapl:1") + "/energy_uj");
  auto unreadable = RaplEnergy::Start(fake.dir());
  EXPECT_EQ(unreadable.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(unreadable.status()), HasSubstr("cannot read " + fake.ZoneDir("intel-rapl:1") + "/energy_uj"));

  std::filesystem::remove(fake.ZoneDir("intel-rapl:1") + "/energy_uj");
  fake.SetEnergy("intel-rapl:1", 0);
  std::filesystem::remove(fake.ZoneDir("intel-rapl:0") + "/energy_uj");
  {
    std::ofstream(fake.ZoneDir("intel-rapl:0") + "/energy_uj") << "not a number\n";
  }
  auto garbage = RaplEnergy::Start(fake.dir());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(garbage.status()), HasSubstr("does not hold a non-negative counter"));
}

// A counter that disappears after Start() (a hot-unplugged zone, an unmounted
// sysfs) is Unavailable, naming the file; the state is kept.
TEST(RaplEnergyTest, ACounterLostLaterIsUnavailable) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 0);
  fake.AddZone("intel-rapl:1", "package-1", 0);
  auto energy = RaplEnergy::Start(fake.dir());
  ASSERT_TRUE(energy.ok()) << energy.status();
  fake.SetEnergy("intel-rapl:0", 1'000'000);
  std::filesystem::remove(fake.ZoneDir("intel-rapl:1") + "/energy_uj");
  auto j = energy->Joules();
  EXPECT_EQ(j.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(j.status()), HasSubstr(fake.ZoneDir("intel-rapl:1") + "/energy_uj"));
  fake.SetEnergy("intel-rapl:1", 0);
  EXPECT_DOUBLE_EQ(*energy->Joules(), 1.0);
}

// The fake's constant power, read through wrap-arounds: a range of 10 J at
// 50 W wraps every 0.2 s, and reads every 20 ms see every wrap. The counter a
// reader sees lags the truth by at most the writer's period plus its
// scheduling delay, at each end of the window: 50 W × 50 ms = 2.5 J of slack.
TEST(RaplEnergyTest, AConstantPowerThroughWrapArounds) {
  TempDir dir;
  FakePowercap fake(dir.path());
  const int64_t range = 10'000'000;
  fake.AddZone("intel-rapl:0", "package-0", 0, range);
  fake.StartPower("intel-rapl:0", 50.0, std::chrono::milliseconds(2), 0, range);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto energy = RaplEnergy::Start(fake.dir());
  ASSERT_TRUE(energy.ok()) << energy.status();
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::milliseconds(600)) {
    ASSERT_TRUE(energy->Joules().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto j = energy->Joules();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  fake.StopPower();
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_NEAR(*j, 50.0 * seconds, 2.5) << seconds << " s";
  EXPECT_GT(50.0 * seconds, 2.5 * range * 1e-6);  // at least two wraps seen
}

// ---- Through the cpu backend: BackendOptions::sysfs_root ----

TEST(RaplEnergyTest, TheCpuBackendReadsUnderItsSysfsRoot) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 2'000'000);
  BackendOptions options;
  options.cpu_threads = 1;
  options.sysfs_root = dir.path();
  auto described = Backend::DescribeEnergy("cpu", options);
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_THAT(*described, HasSubstr("intel-rapl:0 under " + fake.dir()));
  auto backend = Backend::Create("cpu", options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  fake.SetEnergy("intel-rapl:0", 5'000'000);
  auto j = (*backend)->EnergyJoules();
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_DOUBLE_EQ(*j, 3.0);

  options.sysfs_root = dir.File("elsewhere");
  auto none = Backend::DescribeEnergy("cpu", options);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(none.status()), HasSubstr(dir.File("elsewhere/class/powercap")));
}

// A step's timed energy is the counter's advance over the timed loop: at a
// constant 50 W, 50 × the loop's seconds, within the counter's lag at each
// end (50 W × 50 ms, as above).
TEST(RaplEnergyTest, AStepsTimedEnergyIsThePowerTimesTheTimedLoop) {
  TempDir dir;
  FakePowercap fake(dir.path());
  fake.AddZone("intel-rapl:0", "package-0", 0);
  fake.StartPower("intel-rapl:0", 50.0, std::chrono::milliseconds(2));
  BackendOptions options;
  options.cpu_threads = 1;
  options.sysfs_root = dir.path();
  auto backend = Backend::Create("cpu", options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  StepProgram program;
  program.groups = {{0}};
  StepOp gemm;
  gemm.kind = StepOp::Kind::kGemm;
  gemm.m = gemm.n = gemm.k = 256;
  gemm.count = 16;
  program.ops = {gemm};
  // Sized by measured time, not by an assumed speed: grow the step until the
  // timed loop lasts at least 0.3 s (~15 J at 50 W) on this machine, and
  // until the allowance the machine's measured stalls call for (below) is at
  // most 15% of the energy expected: a window a long stall dominates
  // checks nothing, so it is measured again, longer, rather than allowed for.
  constexpr double kWatts = 50.0;
  absl::StatusOr<StepRun> run;
  double seconds = 0, gap = 0, allowance = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    fake.ResetMaxWriteGap();
    run = (*backend)->RunStep(program, {.warmup = 1, .timed = 4});
    ASSERT_TRUE(run.ok()) << run.status();
    seconds = 0;
    for (double s : run->step_seconds) seconds += s;
    // Each end of the window may read a value as stale as the writer's
    // longest gap, plus the reader's own delay (allowed as the same and at
    // least 10 ms), and 0.5 J for the rest.
    gap = std::chrono::duration<double>(fake.MaxWriteGap()).count();
    allowance = kWatts * 2 * FakePowercap::WindowEndLagSeconds(fake.MaxWriteGap()) + 0.5;
    if (seconds >= 0.3 && allowance <= 0.15 * kWatts * seconds) break;
    program.ops[0].count = static_cast<int64_t>(program.ops[0].count * std::max(2.0, 0.4 / std::max(seconds, 1e-3)));
  }
  fake.StopPower();
  ASSERT_GE(seconds, 0.3) << "the window is long enough for the check to mean something";
  ASSERT_LE(allowance, 0.15 * kWatts * seconds)
      << "eight windows up to " << seconds << " s each had a writer stall of " << gap * 1e3
      << " ms or more: this machine was too busy for the check to mean anything";
  EXPECT_NEAR(run->timed_energy_joules, kWatts * seconds, allowance)
      << seconds << " s of timed steps, writer's longest gap " << gap * 1e3 << " ms";
}

}  // namespace
}  // namespace tokenmeter::kernels::cpu
