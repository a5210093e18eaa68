#include "workload/result_assembly.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "workload/catalogue.h"
#include "workload/cost.h"
#include "workload/figures.h"
#include "workload/sweep.h"

namespace tokenmeter::workload {

std::string JobSetupName(const std::vector<v1::WorkerInventory>& inventory) {
  std::set<std::string> setups;
  for (const auto& inv : inventory) setups.insert(inv.setup());
  return absl::StrJoin(setups, "+");
}

namespace {

// The train step's figures, from the ranks' step measurements.
v1::TrainStepFigures TrainStepFigures(const v1::WorkloadSpec& spec, const std::vector<v1::WorkerInventory>& inventory,
                                      const std::vector<v1::RankResult>& ranks, const std::string& device_model,
                                      const AssemblyContext& context) {
  TrainStepRun run;
  run.devices = static_cast<int>(ranks.size());
  // Per iteration, the step ends when its slowest rank does.
  std::vector<double> slowest;
  const v1::TrainStepMeasurement* slowest_rank = nullptr;
  // Energy counts once per device, not once per rank: ranks sharing a
  // device report the same counter (the CPU backend's ranks on one host each
  // read the host's RAPL packages), so such a device's energy is its largest
  // reading (the longest timed window). Unknown unless every rank reports.
  std::map<std::string, double> energy_by_device;
  bool energy_everywhere = !ranks.empty();
  double calibration = 0;
  for (const auto& r : ranks) {
    const auto& m = r.train_step();
    for (int i = 0; i < m.iteration_seconds_size(); ++i) {
      if (static_cast<int>(slowest.size()) <= i) slowest.push_back(0);
      slowest[i] = std::max(slowest[i], m.iteration_seconds(i));
    }
    if (slowest_rank == nullptr || m.timing().median_seconds() > slowest_rank->timing().median_seconds()) {
      slowest_rank = &m;
    }
    const std::string device = r.device().uuid().empty() ? absl::StrCat("rank ", r.rank()) : r.device().uuid();
    energy_by_device[device] = std::max(energy_by_device[device], m.energy_joules());
    energy_everywhere = energy_everywhere && m.energy_joules() > 0;
    calibration += m.calibration_flops_per_second() / static_cast<double>(ranks.size());
  }
  run.step = Summarize({slowest.data(), slowest.size()});
  if (slowest_rank != nullptr) {
    for (const auto& [phase, t] : slowest_rank->phase_seconds()) run.phase_seconds[phase] = t;
    // Overlap and its figures from the same rank as the phases.
    run.grad_sync_overlapped = slowest_rank->grad_sync_overlapped();
    run.grad_sync_seconds = slowest_rank->grad_sync_seconds();
    run.grad_sync_exposed_seconds = slowest_rank->grad_sync_exposed_seconds();
    run.depth_scale = slowest_rank->depth_scale();
  }
  const v1::DType dtype = spec.train_step().dtype();
  const DeviceCatalogue& catalogue = context.catalogue ? *context.catalogue : DeviceCatalogue::BuiltIn();
  const DeviceSpec* device = catalogue.Find(device_model);
  if (device != nullptr) {
    run.peak_flops_per_device = device->PeakFlops(dtype);
  } else if (calibration > 0) {
    run.peak_flops_per_device = calibration;
    run.peak_is_measured = true;
  }
  run.mamf_flops_per_device = context.mamf_flops_per_device;
  double first_price = 0;
  for (const auto& inv : inventory) {
    if (inv.price_per_device_hour() > 0) {
      first_price = inv.price_per_device_hour();
      break;
    }
  }
  const double default_price = device != nullptr ? device->price_per_device_hour : 0;
  for (const auto& r : ranks) {
    double price = first_price;
    for (size_t i = 0; i < context.worker_ids.size() && i < inventory.size(); ++i) {
      if (context.worker_ids[i] == r.worker_id()) {
        price = inventory[i].price_per_device_hour();
        break;
      }
    }
    run.device_prices.push_back(price > 0 ? price : default_price);
  }
  double energy = 0;
  for (const auto& [device, joules] : energy_by_device) energy += joules;
  run.energy_joules = energy_everywhere ? energy : 0;
  auto figures = ComputeTrainStepFigures(spec.train_step(), run);
  return figures.ok() ? *figures : v1::TrainStepFigures();
}

}  // namespace

v1::JobResult AssembleJobResult(const std::string& job_id, const v1::WorkloadSpec& spec,
                                const std::vector<v1::WorkerInventory>& inventory, std::vector<v1::RankResult> ranks,
                                const AssemblyContext& context) {
  std::sort(ranks.begin(), ranks.end(), [](const auto& a, const auto& b) { return a.rank() < b.rank(); });
  v1::JobResult result;
  result.set_job_id(job_id);
  *result.mutable_spec() = spec;
  result.set_setup(JobSetupName(inventory));
  if (!ranks.empty()) result.set_device_model(ranks.front().device().model());
  result.set_world_size(static_cast<int32_t>(ranks.size()));
  for (const auto& inv : inventory) *result.add_inventory() = inv;

  using GemmKey = std::tuple<std::string, int64_t, int64_t, int64_t, int>;
  std::map<GemmKey, v1::GemmMeasurement> gemm;
  std::vector<GemmKey> gemm_order;
  using CollectiveKey = std::tuple<int, int64_t>;
  std::map<CollectiveKey, v1::CollectiveMeasurement> collective;
  std::vector<CollectiveKey> collective_order;

  // Figures are recomputed from the iteration times here, the one place they
  // are derived for a job, rather than trusted as each worker sent them.
  for (auto& rank : ranks) {
    for (auto& g : *rank.mutable_gemm()) CompleteGemmMeasurement(&g);
    for (auto& c : *rank.mutable_collective()) CompleteCollectiveMeasurement(&c, static_cast<int>(ranks.size()));
  }
  for (const auto& rank : ranks) {
    for (const auto& g : rank.gemm()) {
      GemmKey key{g.shape().name(), g.shape().m(), g.shape().n(), g.shape().k(), g.dtype()};
      auto [it, inserted] = gemm.try_emplace(key, g);
      if (inserted) {
        gemm_order.push_back(key);
        continue;
      }
      const bool verified = it->second.verified() && g.verified();
      const int64_t wrong = it->second.wrong_elements() + g.wrong_elements();
      const double max_error = std::max(it->second.max_error(), g.max_error());
      if (g.timing().median_seconds() > it->second.timing().median_seconds()) it->second = g;
      it->second.set_verified(verified);
      it->second.set_wrong_elements(wrong);
      it->second.set_max_error(max_error);
    }
    for (const auto& c : rank.collective()) {
      CollectiveKey key{c.op(), c.size_bytes()};
      auto [it, inserted] = collective.try_emplace(key, c);
      if (inserted) {
        collective_order.push_back(key);
        continue;
      }
      const int64_t wrong = it->second.wrong_elements() + c.wrong_elements();
      if (c.timing().median_seconds() > it->second.timing().median_seconds()) it->second = c;
      it->second.set_wrong_elements(wrong);
    }
  }
  double mamf = 0;
  for (const auto& key : gemm_order) {
    auto& g = gemm[key];
    CompleteGemmMeasurement(&g);
    mamf = std::max(mamf, g.tflops());
    *result.add_gemm() = g;
  }
  result.set_mamf_tflops(mamf);
  for (const auto& key : collective_order) {
    auto& c = collective[key];
    CompleteCollectiveMeasurement(&c, result.world_size());
    *result.add_collective() = c;
  }
  if (spec.has_train_step()) {
    *result.mutable_train_step() = TrainStepFigures(spec, inventory, ranks, result.device_model(), context);
  }
  for (auto& rank : ranks) *result.add_ranks() = std::move(rank);
  return result;
}

absl::Status CheckReportShape(const v1::WorkloadSpec& spec, int ranks, const v1::RankResult& report) {
  const int64_t timed = spec.timed_iterations();
  const std::string where = absl::StrCat("the report of rank ", report.rank());
  auto too_many = [&](absl::string_view field, int64_t got, int64_t bound, absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", field, " has ", got, "; the spec asks for at most ", bound, " (", why, ")"));
  };
  const int64_t gemm_rows =
      spec.has_gemm() ? int64_t{spec.gemm().shapes_size()} * std::max(1, spec.gemm().dtypes_size()) : 0;
  if (report.gemm_size() > gemm_rows) return too_many("gemm", report.gemm_size(), gemm_rows, "shapes x dtypes");
  for (int i = 0; i < report.gemm_size(); ++i) {
    if (report.gemm(i).iteration_seconds_size() > timed) {
      return too_many(absl::StrCat("gemm[", i, "].iteration_seconds"), report.gemm(i).iteration_seconds_size(), timed,
                      "timed_iterations");
    }
  }
  int64_t collective_rows = 0;
  if (spec.has_collective()) {
    for (int op = 0; op < spec.collective().ops_size(); ++op) {
      collective_rows += static_cast<int64_t>(CollectiveSizes(spec.collective(), spec.collective().ops(op), ranks).size());
    }
  }
  if (report.collective_size() > collective_rows) {
    return too_many("collective", report.collective_size(), collective_rows, "the sizes of every op");
  }
  for (int i = 0; i < report.collective_size(); ++i) {
    if (report.collective(i).iteration_seconds_size() > timed) {
      return too_many(absl::StrCat("collective[", i, "].iteration_seconds"),
                      report.collective(i).iteration_seconds_size(), timed, "timed_iterations");
    }
  }
  if (report.train_step().iteration_seconds_size() > (spec.has_train_step() ? timed : 0)) {
    return too_many("train_step.iteration_seconds", report.train_step().iteration_seconds_size(),
                    spec.has_train_step() ? timed : 0, "timed_iterations of a train-step spec");
  }
  return absl::OkStatus();
}

}  // namespace tokenmeter::workload
