#include "coordinator/worker_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "coordinator/ids.h"
#include "google/protobuf/util/time_util.h"

namespace tokenmeter::coordinator {

absl::StatusOr<std::string> WorkerRegistry::Register(const v1::WorkerInventory& inventory, absl::Time now) {
  if (inventory.backend().empty()) return absl::InvalidArgumentError("inventory.backend must be set");
  if (inventory.devices().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("inventory.devices: worker on ", inventory.hostname(),
                                                   " registered no device"));
  }
  std::string id = NewWorkerId(inventory.hostname());
  while (workers_.count(id)) id = NewWorkerId(inventory.hostname());
  Entry& e = workers_[id];
  e.status.set_worker_id(id);
  *e.status.mutable_inventory() = inventory;
  e.status.set_state(v1::WORKER_IDLE);
  *e.status.mutable_registered_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  e.last_heartbeat = now;
  in_order_.push_back(&e);
  ++live_count_;
  e.lost_after = Cadence().lost_after;
  return id;
}

absl::StatusOr<HeartbeatCadence> WorkerRegistry::Heartbeat(const std::string& worker_id, absl::Time now) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.status.state() == v1::WORKER_LOST ||
      it->second.status.state() == v1::WORKER_GONE) {
    return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id, ": register again"));
  }
  const HeartbeatCadence cadence = Cadence();
  it->second.last_heartbeat = now;
  it->second.lost_after = cadence.lost_after;
  return cadence;
}

HeartbeatCadence WorkerRegistry::Cadence() const {
  const double per_second_at_base =
      static_cast<double>(live_count_) / absl::ToDoubleSeconds(options_.heartbeat_interval);
  int64_t factor = 1;
  while (per_second_at_base / static_cast<double>(factor) > options_.max_heartbeats_per_second) factor *= 2;
  return {options_.heartbeat_interval * factor, options_.lost_after * factor};
}

std::vector<std::string> WorkerRegistry::ExpireSilent(absl::Time now) {
  std::vector<std::string> lost;
  for (auto& [id, e] : workers_) {
    const auto state = e.status.state();
    if ((state == v1::WORKER_IDLE || state == v1::WORKER_BUSY) && now - e.last_heartbeat > e.lost_after) {
      e.status.set_state(v1::WORKER_LOST);
      --live_count_;
      lost.push_back(id);
    }
  }
  return lost;
}

void WorkerRegistry::Deregister(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  if (IsAlive(worker_id)) --live_count_;
  it->second.status.set_state(v1::WORKER_GONE);
}

void WorkerRegistry::SetBusy(const std::string& worker_id, const std::string& job_id) {
  if (auto it = workers_.find(worker_id); it != workers_.end() && it->second.status.state() == v1::WORKER_IDLE) {
    it->second.status.set_state(v1::WORKER_BUSY);
    it->second.status.set_job_id(job_id);
  }
}

void WorkerRegistry::SetIdle(const std::string& worker_id) {
  if (auto it = workers_.find(worker_id); it != workers_.end() && it->second.status.state() == v1::WORKER_BUSY) {
    it->second.status.set_state(v1::WORKER_IDLE);
    it->second.status.clear_job_id();
  }
}

const v1::WorkerStatus* WorkerRegistry::Find(const std::string& worker_id) const {
  auto it = workers_.find(worker_id);
  return it == workers_.end() ? nullptr : &it->second.status;
}

bool WorkerRegistry::IsAlive(const std::string& worker_id) const {
  const auto* s = Find(worker_id);
  return s != nullptr && (s->state() == v1::WORKER_IDLE || s->state() == v1::WORKER_BUSY);
}

namespace {
template <typename Entry, typename Pred>
std::vector<const v1::WorkerStatus*> InOrder(const std::vector<const Entry*>& entries, Pred keep) {
  std::vector<const v1::WorkerStatus*> out;
  for (const Entry* e : entries) {
    if (keep(e->status)) out.push_back(&e->status);
  }
  return out;
}
}  // namespace

std::vector<const v1::WorkerStatus*> WorkerRegistry::IdleWorkers() const {
  return InOrder(in_order_, [](const v1::WorkerStatus& s) { return s.state() == v1::WORKER_IDLE; });
}

std::vector<const v1::WorkerStatus*> WorkerRegistry::LiveWorkers() const {
  return InOrder(in_order_, [](const v1::WorkerStatus& s) {
    return s.state() == v1::WORKER_IDLE || s.state() == v1::WORKER_BUSY;
  });
}

std::vector<v1::WorkerStatus> WorkerRegistry::List(absl::Time now, bool include_lost) const {
  std::vector<v1::WorkerStatus> out;
  ListSlice(now, include_lost, 0, in_order_.size(), &out);
  return out;
}

size_t WorkerRegistry::ListSlice(absl::Time now, bool include_lost, size_t from, size_t count,
                                 std::vector<v1::WorkerStatus>* out) const {
  const size_t end = std::min(in_order_.size(), from + std::min(count, in_order_.size()));
  for (size_t i = from; i < end; ++i) {
    const Entry& e = *in_order_[i];
    const v1::WorkerState state = e.status.state();
    if (!include_lost && state != v1::WORKER_IDLE && state != v1::WORKER_BUSY) continue;
    v1::WorkerStatus& copy = out->emplace_back(e.status);
    copy.set_heartbeat_age_seconds(absl::ToDoubleSeconds(now - e.last_heartbeat));
  }
  return std::max(from, end);
}

std::vector<WorkerAge> WorkerRegistry::Ages(absl::Time now) const {
  std::vector<WorkerAge> out;
  out.reserve(workers_.size());
  for (const auto& [id, e] : workers_) {
    out.push_back({id, e.status.inventory().hostname(), e.status.state(), absl::ToDoubleSeconds(now - e.last_heartbeat)});
  }
  return out;
}

absl::Duration WorkerRegistry::LostAfter(const std::string& worker_id) const {
  auto it = workers_.find(worker_id);
  return it == workers_.end() ? absl::ZeroDuration() : it->second.lost_after;
}

std::string WorkerRegistry::Describe(const std::string& worker_id) const {
  const auto* s = Find(worker_id);
  if (s == nullptr) return absl::StrCat("worker ", worker_id);
  // Hosts behind one name (containers, network namespaces, a NAT) differ by
  // the address their peers reach them on: name it too.
  const auto& inv = s->inventory();
  const std::string address = inv.collective_host().empty() ? "" : absl::StrCat(", ", inv.collective_host());
  return absl::StrCat("worker ", worker_id, " (", inv.hostname(), address, ", pid ", inv.pid(), ")");
}

}  // namespace tokenmeter::coordinator
