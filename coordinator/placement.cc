#include "coordinator/placement.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "workload/figures.h"

namespace tokenmeter::coordinator {
namespace {

bool Has(const google::protobuf::RepeatedField<int>& have, v1::DType want) {
  return std::find(have.begin(), have.end(), static_cast<int>(want)) != have.end();
}

// Empty when the worker can run the request's dtypes, else what it lacks.
std::string Lacks(const PlacementRequest& request, const v1::WorkerInventory& inv) {
  for (auto d : request.gemm_dtypes) {
    if (!Has(inv.gemm_dtypes(), d)) return absl::StrCat("GEMM in ", workload::DTypeName(d));
  }
  for (auto d : request.collective_dtypes) {
    if (!Has(inv.collective_dtypes(), d)) return absl::StrCat("collectives in ", workload::DTypeName(d));
  }
  return "";
}

bool Matches(const PlacementRequest& request, const v1::WorkerStatus& w) {
  return (request.setup.empty() || w.inventory().setup() == request.setup) && Lacks(request, w.inventory()).empty();
}

// The group a worker's devices count in: one setup of one backend and model,
// or, spanning setups, every setup of that backend and model. Views into the
// inventory: placement compares one per idle worker, and builds no string.
struct PlacementGroup {
  absl::string_view backend, model;
  absl::string_view setup;  // empty when spanning setups
  bool spans_setups = false;
  bool operator==(const PlacementGroup&) const = default;
};

PlacementGroup GroupOf(const PlacementRequest& request, const v1::WorkerInventory& inv) {
  return {inv.backend(), inv.devices(0).model(), request.span_setups ? absl::string_view() : inv.setup(),
          request.span_setups};
}

// "backend/model": how messages name the devices of a group.
std::string DeviceKind(const PlacementGroup& g) { return absl::StrCat(g.backend, "/", g.model); }

// "backend/model/setup", or "backend/model" spanning setups.
std::string Name(const PlacementGroup& g) {
  return g.spans_setups ? DeviceKind(g) : absl::StrCat(DeviceKind(g), "/", g.setup);
}

// Ranks 0..ranks-1 over `workers` in order, filling each one's devices.
PlacementPlan PlanOn(const std::vector<const v1::WorkerStatus*>& workers, int ranks) {
  PlacementPlan plan;
  int next_rank = 0;
  for (const auto* w : workers) {
    if (next_rank == ranks) break;
    WorkerShare share;
    share.worker_id = w->worker_id();
    for (const auto& d : w->inventory().devices()) {
      if (next_rank == ranks) break;
      v1::RankAssignment a;
      a.set_rank(next_rank++);
      a.set_device_index(d.index());
      share.ranks.push_back(a);
      if (share.min_device_memory_bytes == 0 || d.memory_bytes() < share.min_device_memory_bytes) {
        share.min_device_memory_bytes = d.memory_bytes();
      }
    }
    if (plan.min_device_memory_bytes == 0 || share.min_device_memory_bytes < plan.min_device_memory_bytes) {
      plan.min_device_memory_bytes = share.min_device_memory_bytes;
    }
    plan.shares.push_back(std::move(share));
  }
  return plan;
}

const v1::WorkerStatus* FindIn(const std::vector<const v1::WorkerStatus*>& workers, const std::string& id) {
  for (const auto* w : workers) {
    if (w->worker_id() == id) return w;
  }
  return nullptr;
}

// Why the listed workers can never run the request; "" when they can.
std::string ListedWorkersCannot(const PlacementRequest& request, const std::vector<const v1::WorkerStatus*>& live) {
  std::optional<PlacementGroup> group;
  int devices = 0, before_last = 0;
  for (const auto& id : request.workers) {
    const auto* w = FindIn(live, id);
    if (w == nullptr) return absl::StrCat("worker ", id, " is not registered");
    if (w->inventory().devices().empty()) return absl::StrCat("worker ", id, " has no devices");
    if (!request.setup.empty() && w->inventory().setup() != request.setup) {
      return absl::StrCat("worker ", id, " is in setup '", w->inventory().setup(), "', not '", request.setup, "'");
    }
    if (std::string lacks = Lacks(request, w->inventory()); !lacks.empty()) {
      return absl::StrCat("worker ", id, " (backend ", w->inventory().backend(), ") lacks ", lacks);
    }
    const PlacementGroup g = GroupOf(request, w->inventory());
    if (group && g != *group) {
      return absl::StrCat("the listed workers are not of one backend, device model",
                          request.span_setups ? "" : " and setup", ": ", Name(*group), " and ", Name(g));
    }
    group = g;
    before_last = devices;
    devices += w->inventory().devices_size();
  }
  if (devices < request.ranks) {
    return absl::StrCat("the listed workers have ", devices, " devices for ", request.ranks, " ranks");
  }
  if (before_last >= request.ranks) {
    return absl::StrCat("the listed workers before the last already hold the ", request.ranks,
                        " ranks: every listed worker must take one");
  }
  return "";
}

absl::StatusOr<PlacementPlan> PlaceOnListed(const PlacementRequest& request,
                                            const std::vector<const v1::WorkerStatus*>& idle) {
  std::vector<const v1::WorkerStatus*> chosen;
  for (const auto& id : request.workers) {
    const auto* w = FindIn(idle, id);
    if (w == nullptr) return absl::UnavailableError(absl::StrCat("waiting for worker ", id, " to be idle"));
    chosen.push_back(w);
  }
  if (std::string why = ListedWorkersCannot(request, chosen); !why.empty()) return absl::UnavailableError(why);
  return PlanOn(chosen, request.ranks);
}

}  // namespace

absl::Status CheckWorkerList(const std::vector<std::string>& workers, int ranks) {
  if (static_cast<int>(workers.size()) > ranks) {
    return absl::InvalidArgumentError(absl::StrCat("workers lists ", workers.size(), " workers for ", ranks,
                                                   " ranks: every listed worker takes one rank at least"));
  }
  for (size_t i = 0; i < workers.size(); ++i) {
    if (workers[i].empty()) return absl::InvalidArgumentError(absl::StrCat("workers[", i, "] is empty"));
    for (size_t j = 0; j < i; ++j) {
      if (workers[j] == workers[i]) {
        return absl::InvalidArgumentError(absl::StrCat("workers[", i, "] '", workers[i], "' is listed twice"));
      }
    }
  }
  return absl::OkStatus();
}

PlacementRequest RequestFor(const v1::WorkloadSpec& spec, int ranks, const std::string& setup, bool span_setups,
                            std::vector<std::string> workers) {
  PlacementRequest r;
  r.workers = std::move(workers);
  r.ranks = ranks;
  r.setup = setup;
  r.span_setups = span_setups;
  switch (spec.kind_case()) {
    case v1::WorkloadSpec::kGemm:
      for (int d : spec.gemm().dtypes()) r.gemm_dtypes.push_back(static_cast<v1::DType>(d));
      break;
    case v1::WorkloadSpec::kCollective:
      r.collective_dtypes.push_back(spec.collective().dtype());
      break;
    case v1::WorkloadSpec::kTrainStep:
      r.gemm_dtypes.push_back(spec.train_step().dtype());
      break;
    case v1::WorkloadSpec::KIND_NOT_SET:
      break;
  }
  return r;
}

absl::StatusOr<PlacementPlan> Place(const PlacementRequest& request, const std::vector<const v1::WorkerStatus*>& idle) {
  if (!request.workers.empty()) return PlaceOnListed(request, idle);
  // Groups in order of their first worker; each keeps registration order.
  // A placement attempt runs under the scheduler's lock for every queued job
  // at every change of the fleet, so a fleet of thousands is walked without
  // building a string per worker, and only until the first group suffices.
  struct Group {
    PlacementGroup key;
    std::vector<const v1::WorkerStatus*> workers;
    int devices = 0;
  };
  std::vector<Group> groups;
  for (const auto* w : idle) {
    if (w->inventory().devices().empty() || !Matches(request, *w)) continue;
    const PlacementGroup key = GroupOf(request, w->inventory());
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.key == key; });
    if (g == groups.end()) g = groups.insert(groups.end(), Group{key, {}, 0});
    g->workers.push_back(w);
    g->devices += w->inventory().devices_size();
    // A later group may fill before an earlier one; only the first is sure.
    if (groups.front().devices >= request.ranks) return PlanOn(groups.front().workers, request.ranks);
  }
  for (const auto& g : groups) {
    if (g.devices >= request.ranks) return PlanOn(g.workers, request.ranks);
  }
  if (!request.span_setups && request.setup.empty()) {
    // Idle devices per backend/model, by setup: to say why a job waits when
    // only spanning setups would place it.
    std::map<std::string, std::map<std::string, int>> by_setup;
    for (const auto& g : groups) by_setup[DeviceKind(g.key)][std::string(g.key.setup)] += g.devices;
    for (const auto& [group, setups] : by_setup) {
      int all = 0;
      for (const auto& [setup, n] : setups) all += n;
      if (setups.size() > 1 && all >= request.ranks) {
        std::vector<std::string> parts;
        for (const auto& [setup, n] : setups) parts.push_back(absl::StrCat(setup, " ", n));
        return absl::UnavailableError(absl::StrCat("waiting for ", request.ranks,
                                                   " idle devices of one model in one setup: idle ", group,
                                                   " devices by setup: ", absl::StrJoin(parts, ", "),
                                                   " (run --span-setups would place the job across them)"));
      }
    }
  }
  return absl::UnavailableError(absl::StrCat("waiting for ", request.ranks, " idle devices of one model",
                                             !request.setup.empty() ? absl::StrCat(" in setup ", request.setup)
                                             : request.span_setups  ? ""
                                                                    : " in one setup"));
}

absl::Status CheckSatisfiable(const PlacementRequest& request, const std::vector<const v1::WorkerStatus*>& live) {
  if (!request.workers.empty()) {
    std::string why = ListedWorkersCannot(request, live);
    return why.empty() ? absl::OkStatus() : absl::FailedPreconditionError(why);
  }
  if (live.empty()) return absl::OkStatus();
  std::vector<std::string> refusals;
  for (const auto* w : live) {
    if (!request.setup.empty() && w->inventory().setup() != request.setup) continue;
    if (std::string lacks = Lacks(request, w->inventory()); !lacks.empty()) {
      refusals.push_back(absl::StrCat(w->worker_id(), " (backend ", w->inventory().backend(), ") lacks ", lacks));
      continue;
    }
    return absl::OkStatus();  // one worker can: enough devices may still register
  }
  if (refusals.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no registered worker is in setup '", request.setup, "'"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("no registered worker can run this job: ", absl::StrJoin(refusals, "; ")));
}

}  // namespace tokenmeter::coordinator
