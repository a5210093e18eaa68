#include "worker/power_sampler.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "kernels/backend.h"

namespace tokenmeter::worker {

std::unique_ptr<PowerSampler> PowerSampler::Start(const v1::WorkerInventory& inventory, const std::string& sysfs_root,
                                                  MeasurementObserver* observer, absl::Duration period) {
  std::vector<Device> devices;
  for (const auto& d : inventory.devices()) {
    kernels::PowerSourceOptions options;
    options.device_index = d.index();
    options.uuid = d.uuid();
    options.sysfs_root = sysfs_root;
    auto source = kernels::Backend::OpenPowerSource(inventory.backend(), options);
    if (!source.ok()) {
      Log("worker", "power: device ", d.index(), ": not reported (", source.status().message(), ")");
      continue;
    }
    Log("worker", "power: device ", d.index(), ": ", (*source)->Describe(), ", sampled every ",
        absl::FormatDuration(period));
    devices.push_back({d.index(), *std::move(source)});
  }
  if (devices.empty()) return nullptr;
  return std::make_unique<PowerSampler>(std::move(devices), observer, period);
}

PowerSampler::PowerSampler(std::vector<Device> devices, MeasurementObserver* observer, absl::Duration period)
    : devices_(std::move(devices)), observer_(observer), period_(period) {
  thread_ = std::thread([this] { Loop(); });
}

PowerSampler::~PowerSampler() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void PowerSampler::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
}

void PowerSampler::Loop() {
  // Whether each device's last reading failed, so a failure is logged once
  // when it starts and once when it ends, not every period.
  std::vector<bool> failing(devices_.size(), false);
  // Deadlines on a fixed grid: a slow reading does not push later ones back.
  absl::Time next = absl::Now() + period_;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithDeadline(absl::Condition(&stop_), next)) return;
    }
    for (size_t i = 0; i < devices_.size(); ++i) {
      const Device& d = devices_[i];
      absl::StatusOr<double> watts = d.source->Watts();
      if (watts.ok()) {
        observer_->OnPower(d.index, *watts);
        if (failing[i]) Log("worker", "power: device ", d.index, ": reported again");
        failing[i] = false;
      } else {
        // The last figure would go stale: the series goes until a reading
        // succeeds again.
        observer_->OnPowerLost(d.index);
        if (!failing[i]) Log("worker", "power: device ", d.index, ": no reading (", watts.status().message(), ")");
        failing[i] = true;
      }
    }
    const absl::Time now = absl::Now();
    next += period_;
    if (next <= now) next = now + period_;  // fell behind (a stalled read): skip the missed ticks
  }
}

}  // namespace tokenmeter::worker
