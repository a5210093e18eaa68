#include "worker/metrics.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metric_names.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "workload/figures.h"

namespace tokenmeter::worker {
namespace {

namespace m = tokenmeter::metrics;

class WorkerMetrics : public MeasurementObserver {
 public:
  WorkerMetrics(std::unique_ptr<prometheus::Exposer> exposer, const v1::WorkerInventory& inventory)
      : exposer_(std::move(exposer)), registry_(std::make_shared<prometheus::Registry>()), inventory_(inventory) {
    prometheus::BuildGauge()
        .Name(m::kBuildInfo)
        .Help("tokenmeter build; the value is always 1")
        .Register(*registry_)
        .Add({{m::kLabelVersion, TOKENMETER_VERSION}})
        .Set(1);
    steps_ = &prometheus::BuildHistogram()
                  .Name(m::kStepDuration)
                  .Help("Duration of each timed training step, in seconds")
                  .Register(*registry_);
    gemm_ = &prometheus::BuildGauge()
                 .Name(m::kGemmFlops)
                 .Help("GEMM FLOP/s of the latest measurement per device, shape and dtype")
                 .Register(*registry_);
    busbw_ = &prometheus::BuildGauge()
                  .Name(m::kBusBandwidth)
                  .Help("Collective bus bandwidth (nccl-tests' busbw, bytes/s; a flat-fabric re-calibration) "
                        "of the latest measurement per collective and size")
                  .Register(*registry_);
    power_ = &prometheus::BuildGauge()
                  .Name(m::kDevicePower)
                  .Help("Device power draw in watts, where the device reports it")
                  .Register(*registry_);
    exposer_->RegisterCollectable(registry_);
  }

  void OnGemm(int rank, const v1::GemmMeasurement& g) override {
    auto l = DeviceLabels(rank);
    l[m::kLabelShape] = g.shape().name();
    l[m::kLabelDtype] = std::string(workload::DTypeName(g.dtype()));
    gemm_->Add(l).Set(g.tflops() * 1e12);
  }
  void OnCollective(int rank, const v1::CollectiveMeasurement& c) override {
    if (rank != 0) return;  // every rank sees the same collective; one series each
    busbw_->Add({{m::kLabelHostname, inventory_.hostname()},
                 {m::kLabelCollective, std::string(workload::CollectiveOpName(c.op()))},
                 {m::kLabelSizeBytes, absl::StrCat(c.size_bytes())}})
        .Set(c.busbw_gbps() * 1e9);
  }
  void OnStep(int rank, double seconds) override {
    absl::MutexLock lock(&mu_);
    auto it = step_children_.find(rank);
    if (it == step_children_.end()) {
      it = step_children_
               .emplace(rank, &steps_->Add(DeviceLabels(rank),
                                           prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.25,
                                                                                   0.5, 1, 2.5, 5, 10, 30, 60}))
               .first;
    }
    it->second->Observe(seconds);
  }
  void OnPower(int rank, double watts) override { power_->Add(DeviceLabels(rank)).Set(watts); }

 private:
  std::map<std::string, std::string> DeviceLabels(int rank) const {
    std::string model = inventory_.devices_size() > 0 ? inventory_.devices(0).model() : "";
    return {{m::kLabelGpu, absl::StrCat(rank)}, {m::kLabelModelName, model}, {m::kLabelHostname, inventory_.hostname()}};
  }

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  const v1::WorkerInventory inventory_;
  prometheus::Family<prometheus::Histogram>* steps_;
  prometheus::Family<prometheus::Gauge>* gemm_;
  prometheus::Family<prometheus::Gauge>* busbw_;
  prometheus::Family<prometheus::Gauge>* power_;
  absl::Mutex mu_;
  std::map<int, prometheus::Histogram*> step_children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<MeasurementObserver>> StartWorkerMetrics(const std::string& address,
                                                                        const v1::WorkerInventory& inventory,
                                                                        int* bound_port) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  auto ports = exposer->GetListeningPorts();
  if (bound_port != nullptr) *bound_port = ports.empty() ? 0 : ports.front();
  return std::unique_ptr<MeasurementObserver>(new WorkerMetrics(std::move(exposer), inventory));
}

}  // namespace tokenmeter::worker
