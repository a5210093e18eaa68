#include "worker/metrics.h"

#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metric_names.h"
#include "common/metrics_server.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "workload/figures.h"

namespace tokenmeter::worker {
namespace {

namespace m = tokenmeter::metrics;
using Labels = std::map<std::string, std::string>;

class WorkerMetrics : public MeasurementObserver {
 public:
  WorkerMetrics(std::unique_ptr<m::MetricsServer> server, const v1::WorkerInventory& inventory)
      : registry_(std::make_shared<prometheus::Registry>()), inventory_(inventory), server_(std::move(server)) {
    prometheus::BuildGauge()
        .Name(m::kBuildInfo)
        .Help("tokenmeter build information; the value is always 1")
        .Register(*registry_)
        .Add({{m::kLabelVersion, TOKENMETER_VERSION}})
        .Set(1);
    steps_ = &prometheus::BuildHistogram()
                  .Name(m::kStepDuration)
                  .Help("Duration of each timed training step on a device, in seconds (scaled to full depth)")
                  .Register(*registry_);
    gemm_ = &prometheus::BuildGauge()
                 .Name(m::kGemmFlops)
                 .Help("GEMM FLOP/s of the latest measurement on a device, per shape and dtype")
                 .Register(*registry_);
    busbw_ = &prometheus::BuildGauge()
                  .Name(m::kBusBandwidth)
                  .Help("Collective bus bandwidth in bytes/s (nccl-tests' busbw, a flat-fabric re-calibration) "
                        "of the latest measurement on a device, per collective and size")
                  .Register(*registry_);
    power_ = &prometheus::BuildGauge()
                  .Name(m::kDevicePower)
                  .Help("Device power draw in watts, sampled by the worker where the device reports it "
                        "(cpu: RAPL average power of the whole host's packages, on device 0; cuda: NVML power usage)")
                  .Register(*registry_);
    // Every device's step histogram exists from the start, at zero, so the
    // first steps show as an increase to rate() rather than a new series.
    for (const auto& d : inventory_.devices()) {
      step_children_.emplace(d.index(), &steps_->Add(DeviceLabels(d.index()), StepBuckets()));
    }
    server_->RegisterCollectable(registry_);
  }

  // Measurement callbacks run between measurements, never inside a timed
  // loop; the lookups below are still cached so a repeated sweep finds its
  // child without building a label map.
  void OnGemm(int device, const v1::GemmMeasurement& g) override {
    const std::string dtype(workload::DTypeName(g.dtype()));
    prometheus::Gauge* child;
    {
      absl::MutexLock lock(&mu_);
      auto key = std::make_tuple(device, g.shape().name(), dtype);
      auto it = gemm_children_.find(key);
      if (it == gemm_children_.end()) {
        auto l = DeviceLabels(device);
        l[m::kLabelShape] = g.shape().name();
        l[m::kLabelDtype] = dtype;
        it = gemm_children_.emplace(key, &gemm_->Add(l)).first;
      }
      child = it->second;
    }
    child->Set(g.tflops() * 1e12);
  }

  void OnCollective(int device, const v1::CollectiveMeasurement& c) override {
    // Every rank times its own part of the collective: one series per device,
    // so a slow device or link stands out against its peers.
    const std::string op(workload::CollectiveOpName(c.op()));
    prometheus::Gauge* child;
    {
      absl::MutexLock lock(&mu_);
      auto key = std::make_tuple(device, op, c.size_bytes());
      auto it = busbw_children_.find(key);
      if (it == busbw_children_.end()) {
        auto l = DeviceLabels(device);
        l[m::kLabelCollective] = op;
        l[m::kLabelSizeBytes] = absl::StrCat(c.size_bytes());
        it = busbw_children_.emplace(key, &busbw_->Add(l)).first;
      }
      child = it->second;
    }
    child->Set(c.busbw_gbps() * 1e9);
  }

  void OnStep(int device, double seconds) override {
    prometheus::Histogram* child;
    {
      absl::MutexLock lock(&mu_);
      auto it = step_children_.find(device);
      if (it == step_children_.end()) {
        it = step_children_.emplace(device, &steps_->Add(DeviceLabels(device), StepBuckets())).first;
      }
      child = it->second;
    }
    child->Observe(seconds);
  }

  void OnPower(int device, double watts) override {
    prometheus::Gauge* child;
    {
      absl::MutexLock lock(&mu_);
      auto it = power_children_.find(device);
      if (it == power_children_.end()) it = power_children_.emplace(device, &power_->Add(DeviceLabels(device))).first;
      child = it->second;
    }
    child->Set(watts);
  }

  void OnPowerLost(int device) override {
    absl::MutexLock lock(&mu_);
    auto it = power_children_.find(device);
    if (it == power_children_.end()) return;
    power_->Remove(it->second);
    power_children_.erase(it);
  }

 private:
  static prometheus::Histogram::BucketBoundaries StepBuckets() {
    return {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  }

  // The device (its index in the inventory), labelled as dcgm-exporter
  // labels it.
  Labels DeviceLabels(int index) const {
    v1::DeviceInfo device;
    for (const auto& d : inventory_.devices()) {
      if (d.index() == index) device = d;
    }
    return {{m::kLabelGpu, absl::StrCat(device.index())},
            {m::kLabelUuid, device.uuid()},
            {m::kLabelDeviceModel, device.model()},
            {m::kLabelHostname, inventory_.hostname()},
            {m::kLabelSetup, inventory_.setup()}};
  }

  std::shared_ptr<prometheus::Registry> registry_;
  const v1::WorkerInventory inventory_;
  prometheus::Family<prometheus::Histogram>* steps_;
  prometheus::Family<prometheus::Gauge>* gemm_;
  prometheus::Family<prometheus::Gauge>* busbw_;
  prometheus::Family<prometheus::Gauge>* power_;
  absl::Mutex mu_;
  std::map<int, prometheus::Histogram*> step_children_ ABSL_GUARDED_BY(mu_);
  std::map<int, prometheus::Gauge*> power_children_ ABSL_GUARDED_BY(mu_);
  std::map<std::tuple<int, std::string, std::string>, prometheus::Gauge*> gemm_children_ ABSL_GUARDED_BY(mu_);
  std::map<std::tuple<int, std::string, int64_t>, prometheus::Gauge*> busbw_children_ ABSL_GUARDED_BY(mu_);
  // Last, so it stops serving before anything above goes away.
  std::unique_ptr<m::MetricsServer> server_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MeasurementObserver>> StartWorkerMetrics(const std::string& address,
                                                                        const v1::WorkerInventory& inventory,
                                                                        int* bound_port) {
  auto server = m::MetricsServer::Start(address);
  if (!server.ok()) return server.status();
  if (bound_port != nullptr) *bound_port = (*server)->port();
  return std::unique_ptr<MeasurementObserver>(new WorkerMetrics(*std::move(server), inventory));
}

}  // namespace tokenmeter::worker
