// Runs one task: the worker's ranks of a job, each on its own device and
// thread, each measuring the workload on a kernels::Backend.
#ifndef TOKENMETER_WORKER_TASK_RUNNER_H_
#define TOKENMETER_WORKER_TASK_RUNNER_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/store.h"
#include "worker/task_progress.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::worker {

// Told of every measurement as it completes (metrics), with the index of the
// device (in the worker's inventory) that made it; called from rank threads,
// so implementations must be thread-safe.
class MeasurementObserver {
 public:
  virtual ~MeasurementObserver() = default;
  virtual void OnGemm(int device, const v1::GemmMeasurement& m) = 0;
  virtual void OnCollective(int device, const v1::CollectiveMeasurement& m) = 0;
  virtual void OnStep(int device, double seconds) = 0;
  // The device's power draw (worker/power_sampler.h, every sampling period,
  // from the sampler's thread, with or without a job).
  virtual void OnPower(int device, double watts) = 0;
  // The device's power reading failed: its last figure must not stay shown.
  virtual void OnPowerLost(int device) = 0;
};

struct TaskEnvironment {
  std::string backend = "cpu";
  std::string worker_id;
  std::string collective_host = "127.0.0.1";
  int cpu_threads_per_rank = 0;
  std::string sysfs_root = "/sys";          // kernels::BackendOptions::sysfs_root
  v1::DeviceInfo device_template;           // filled per rank from the inventory
  const v1::WorkerInventory* inventory = nullptr;
  kernels::Store* store = nullptr;          // the job's rendezvous
  const std::atomic<bool>* abort = nullptr; // set when the job must stop
  MeasurementObserver* observer = nullptr;  // may be null
  TaskProgress* progress = nullptr;         // told by the task's first rank; may be null
};

// Runs every rank of `task` in parallel and returns their results in rank
// order. The first rank error (with its rank number) fails the whole task;
// Aborted when *env.abort was set.
absl::StatusOr<std::vector<v1::RankResult>> RunTask(const v1::Task& task, const TaskEnvironment& env);

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_TASK_RUNNER_H_
