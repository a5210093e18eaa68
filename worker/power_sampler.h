// The worker's live device power: a thread that reads each device's
// kernels::PowerSource every sampling period, with or without a job running,
// and feeds MeasurementObserver::OnPower (the `tokenmeter_device_power_watts`
// gauge, docs/metrics.md). A device without a power source has no series:
// never 0, never a guess.
#ifndef TOKENMETER_WORKER_POWER_SAMPLER_H_
#define TOKENMETER_WORKER_POWER_SAMPLER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kernels/power.h"
#include "tokenmeter/v1/inventory.pb.h"
#include "worker/task_runner.h"

namespace tokenmeter::worker {

// One second: the window NVML itself averages power over on Ampere and newer,
// short enough that a 5 s scrape (deploy/prometheus/prometheus.yml) sees a
// recent figure and long enough that RAPL's Δenergy/Δt is within a fraction of
// a per cent of the true average (its counters tick about every millisecond).
// A reading costs a few file reads (RAPL) or one NVML call per device.
inline constexpr absl::Duration kPowerSamplePeriod = absl::Seconds(1);

// Owns the sampling thread; Stop() (or destruction) ends it. Thread-safe.
class PowerSampler {
 public:
  struct Device {
    int index = 0;  // in the worker's inventory: the observer's device
    std::unique_ptr<kernels::PowerSource> source;
  };

  // Opens a power source for every device of `inventory` (through
  // kernels::Backend::OpenPowerSource, cpu reading RAPL under sysfs_root) and
  // logs, per device, where its power comes from or why it has none. Returns
  // null when no device has a source (nothing to sample, no thread), else a
  // sampler already running. `observer` is not owned and must outlive it.
  static std::unique_ptr<PowerSampler> Start(const v1::WorkerInventory& inventory, const std::string& sysfs_root,
                                             MeasurementObserver* observer,
                                             absl::Duration period = kPowerSamplePeriod);

  // Starts sampling `devices` every `period` (the first reading one period
  // from now: a RAPL average needs an interval). REQUIRES: period > 0,
  // observer not null.
  PowerSampler(std::vector<Device> devices, MeasurementObserver* observer, absl::Duration period);
  ~PowerSampler();  // Stop() and wait for the thread.
  PowerSampler(const PowerSampler&) = delete;
  PowerSampler& operator=(const PowerSampler&) = delete;

  // Asks the thread to end and returns at once; safe from any thread, any
  // number of times (e.g. from a signal-handling thread).
  void Stop();

 private:
  void Loop();

  std::vector<Device> devices_;  // used by the sampling thread only
  MeasurementObserver* const observer_;
  const absl::Duration period_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_POWER_SAMPLER_H_
