// The registry of workers: who is registered, what they have, whether they are
// alive (heart-beats), and which job each runs. As Ray's GcsNodeManager and
// GcsHealthCheckManager together: a worker silent for longer than the
// lost_after it was last told is marked lost.
//
// The fleet's heart-beat rate is bounded: with more live workers than
// max_heartbeats_per_second × heartbeat_interval, the cadence told to workers
// (interval and lost_after together) is doubled until they fit, as a
// Kubernetes node lease trades detection time for API load. Each worker is
// held to the lost_after of its last reply, so a fleet that shrinks never
// declares lost a worker still beating at the longer interval it was given.
#ifndef TOKENMETER_COORDINATOR_WORKER_REGISTRY_H_
#define TOKENMETER_COORDINATOR_WORKER_REGISTRY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::coordinator {

// What the metrics need of a worker, without copying its inventory.
struct WorkerAge {
  std::string worker_id;
  std::string hostname;
  v1::WorkerState state = v1::WORKER_STATE_UNSPECIFIED;
  double heartbeat_age_seconds = 0;
};

struct RegistryOptions {
  // Workers send a heart-beat this often (at most; see the file comment).
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // A worker silent for this long is lost; its job fails (scaled with the
  // interval).
  absl::Duration lost_after = absl::Seconds(5);
  // The fleet's heart-beats per second the cadence is scaled to stay under.
  double max_heartbeats_per_second = 4000;
};

// What a worker is told in each register and heart-beat reply.
struct HeartbeatCadence {
  absl::Duration interval;
  absl::Duration lost_after;
};

// Not thread-safe: the Coordinator calls it under its own mutex.
class WorkerRegistry {
 public:
  explicit WorkerRegistry(RegistryOptions options) : options_(options) {}

  const RegistryOptions& options() const { return options_; }

  // Adds a worker; returns its new id. InvalidArgument when the inventory has
  // no device or no backend. The worker is held to Cadence() as of after it.
  absl::StatusOr<std::string> Register(const v1::WorkerInventory& inventory, absl::Time now);

  // Records a heart-beat and returns the cadence the worker is now held to.
  // NotFound for an unknown worker (the coordinator restarted, or it was
  // lost): the worker must register again.
  absl::StatusOr<HeartbeatCadence> Heartbeat(const std::string& worker_id, absl::Time now);

  // The cadence for the fleet as it is now: the configured one, doubled until
  // the live workers' heart-beats fit under max_heartbeats_per_second.
  HeartbeatCadence Cadence() const;

  // Marks workers silent for longer than the lost_after each was told as lost
  // and returns their ids (only those that became lost by this call).
  std::vector<std::string> ExpireSilent(absl::Time now);

  // Removes a worker that said goodbye. Its status stays listed as gone.
  void Deregister(const std::string& worker_id);

  // Job bookkeeping: a busy worker runs exactly one job.
  void SetBusy(const std::string& worker_id, const std::string& job_id);
  void SetIdle(const std::string& worker_id);

  // nullptr when unknown.
  const v1::WorkerStatus* Find(const std::string& worker_id) const;
  bool IsAlive(const std::string& worker_id) const;

  // Workers that are alive and idle, in registration order.
  std::vector<const v1::WorkerStatus*> IdleWorkers() const;
  // Workers that are alive (idle or busy), in registration order.
  std::vector<const v1::WorkerStatus*> LiveWorkers() const;

  // A snapshot with heart-beat ages as of now, in registration order.
  std::vector<v1::WorkerStatus> List(absl::Time now, bool include_lost) const;
  // List, a slice at a time: appends to out what List would show of the
  // workers at positions [from, from + count) of registration order, and
  // returns the position after them. A caller lists a large fleet slice by
  // slice, each under its own hold of the lock, so that no heart-beat waits
  // for a copy of the whole fleet.
  size_t ListSlice(absl::Time now, bool include_lost, size_t from, size_t count,
                   std::vector<v1::WorkerStatus>* out) const;
  // Workers ever registered (positions of registration order).
  size_t registered() const { return in_order_.size(); }
  // Every worker's state and heart-beat age as of now, in no order: cheap
  // enough to take often under the scheduler's lock at fleet scale.
  std::vector<WorkerAge> Ages(absl::Time now) const;

  // The lost_after the worker was last told; zero when unknown.
  absl::Duration LostAfter(const std::string& worker_id) const;

  // Human name for errors: "worker <id> (<host>, <collective address>, pid
  // <pid>)", the address left out where the worker gave none.
  std::string Describe(const std::string& worker_id) const;

 private:
  struct Entry {
    v1::WorkerStatus status;
    absl::Time last_heartbeat;
    absl::Duration lost_after;  // as told in the worker's last reply
  };
  RegistryOptions options_;
  std::map<std::string, Entry> workers_;
  // Every entry of workers_ in registration order (entries are never erased,
  // and std::map's nodes do not move): placement walks it at each attempt,
  // so that it costs no sort of the fleet under the scheduler's lock.
  std::vector<const Entry*> in_order_;
  int64_t live_count_ = 0;  // idle or busy
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_WORKER_REGISTRY_H_
