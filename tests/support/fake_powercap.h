// TEST DATA: a fake Linux powercap tree for RAPL energy tests. Laid out like
// the kernel's (<root>/class/powercap/intel-rapl:N/{name,energy_uj,
// max_energy_range_uj}, sub-zones intel-rapl:N:M beside them), under a
// temporary directory that a worker's --sysfs-root (or RaplEnergy::Start)
// points at. Its counters are made up by the test — a constant power it
// chooses — and never stand for a real measurement.
#ifndef TOKENMETER_TESTS_SUPPORT_FAKE_POWERCAP_H_
#define TOKENMETER_TESTS_SUPPORT_FAKE_POWERCAP_H_

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace tokenmeter::testing {

class FakePowercap {
 public:
  // Creates sysfs_root/class/powercap (sysfs_root must exist).
  explicit FakePowercap(std::string sysfs_root) : root_(std::move(sysfs_root)) {
    std::filesystem::create_directories(dir());
  }
  ~FakePowercap() { StopPower(); }
  FakePowercap(const FakePowercap&) = delete;
  FakePowercap& operator=(const FakePowercap&) = delete;

  const std::string& sysfs_root() const { return root_; }
  // What RaplEnergy::Start reads: sysfs_root/class/powercap.
  std::string dir() const { return root_ + "/class/powercap"; }
  std::string ZoneDir(const std::string& zone) const { return dir() + "/" + zone; }

  // A zone as the kernel lays it out: `zone` ("intel-rapl:0", or a
  // sub-zone "intel-rapl:0:1"), its `name` ("package-0", "dram", "psys"),
  // its counter and the counter's range. A range < 0 leaves
  // max_energy_range_uj out.
  void AddZone(const std::string& zone, const std::string& name, int64_t energy_uj,
               int64_t max_energy_range_uj = kDefaultRangeUj) {
    std::filesystem::create_directories(ZoneDir(zone));
    Write(ZoneDir(zone) + "/name", name + "\n");
    if (max_energy_range_uj >= 0) {
      Write(ZoneDir(zone) + "/max_energy_range_uj", std::to_string(max_energy_range_uj) + "\n");
    }
    SetEnergy(zone, energy_uj);
  }

  // Replaces the counter atomically (a temporary file renamed over it), so a
  // reader sees the old value or the new one, never a partial write.
  void SetEnergy(const std::string& zone, int64_t energy_uj) {
    Write(ZoneDir(zone) + "/energy_uj", std::to_string(energy_uj) + "\n");
  }

  // Starts a thread that advances `zone`'s counter as a constant `watts`
  // would: every `period` it writes start + watts × elapsed seconds × 1e6 µJ
  // (wrapping past max_range_uj to 0 as the kernel's counter does), elapsed
  // measured on the steady clock from this call. The value written is exact
  // for its instant; a reader sees it at most one period (plus scheduling
  // delay) late; MaxWriteGap() says how late it has been. One such thread at
  // a time.
  void StartPower(const std::string& zone, double watts, std::chrono::microseconds period,
                  int64_t start_uj = 0, int64_t max_range_uj = kDefaultRangeUj) {
    StopPower();
    stop_ = false;
    max_gap_us_ = 0;
    writer_ = std::thread([=, this] {
      const auto t0 = std::chrono::steady_clock::now();
      auto last = t0;
      while (!stop_) {
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - t0).count();
        const int64_t uj = start_uj + static_cast<int64_t>(watts * seconds * 1e6);
        SetEnergy(zone, uj % (max_range_uj + 1));
        const int64_t gap = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - last).count();
        if (gap > max_gap_us_) max_gap_us_ = gap;
        last = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(period);
      }
    });
  }
  // The longest time between two of the writer's updates so far (its period
  // plus however long the machine kept it from running): how stale a reader's
  // value can have been. A test derives its tolerance from it instead of
  // assuming an idle machine.
  std::chrono::microseconds MaxWriteGap() const { return std::chrono::microseconds(max_gap_us_.load()); }
  // How late one end of a measured window may read, in seconds, given the
  // writer's longest gap over it: a value as stale as that gap, plus the
  // reader's own delay between reading the counter and the clock, allowed as
  // the same and at least 10 ms. A window's two ends: twice this.
  static double WindowEndLagSeconds(std::chrono::microseconds max_write_gap) {
    const double gap = std::chrono::duration<double>(max_write_gap).count();
    return gap + std::max(gap, 0.010);
  }
  // Starts MaxWriteGap() over, for a test that measures several windows.
  void ResetMaxWriteGap() { max_gap_us_ = 0; }
  void StopPower() {
    stop_ = true;
    if (writer_.joinable()) writer_.join();
  }

  // A typical package range (2^32 × 61.035 µJ, as on many Intel CPUs).
  static constexpr int64_t kDefaultRangeUj = 262143328850;

 private:
  static void Write(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    { std::ofstream(tmp) << text; }
    std::filesystem::rename(tmp, path);
  }

  std::string root_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_gap_us_{0};
  std::thread writer_;
};

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_SUPPORT_FAKE_POWERCAP_H_
