// The worker process: registers this host's devices with a coordinator,
// heart-beats, takes tasks, runs them on a kernels backend and reports every
// iteration's time. Survives a coordinator restart by registering again.
#ifndef TOKENMETER_WORKER_WORKER_H_
#define TOKENMETER_WORKER_WORKER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"
#include "worker/channel.h"
#include "worker/inventory.h"
#include "worker/power_sampler.h"
#include "worker/task_runner.h"

namespace tokenmeter::worker {

struct WorkerOptions {
  ChannelOptions coordinator;
  InventoryOptions inventory;
  // Give up when the coordinator cannot be reached at start for this long.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Give up when a reachable coordinator then stays unreachable this long.
  absl::Duration reconnect_timeout = absl::Seconds(60);
  // Prometheus /metrics address; "" = no exposer.
  std::string metrics_address;
  // Where sysfs is mounted (cpu backend: RAPL energy counters under
  // sysfs_root/class/powercap); a container may mount the host's elsewhere.
  std::string sysfs_root = "/sys";
  // How often device power is read for the metrics exposer (only with
  // metrics_address); see kPowerSamplePeriod.
  absl::Duration power_sample_period = kPowerSamplePeriod;
};

// Run() blocks until Stop() or a fatal error. Stop() is thread-safe and may be
// called from a signal-handling thread.
class Worker {
 public:
  // Probes the inventory and makes the channel. InvalidArgument for bad
  // options; Unavailable when the backend has no device.
  static absl::StatusOr<std::unique_ptr<Worker>> Create(const WorkerOptions& options);
  ~Worker();

  // Registers and serves tasks until Stop(). Unavailable when the
  // coordinator cannot be reached within the connect or reconnect timeout.
  absl::Status Run();
  void Stop();

  const v1::WorkerInventory& inventory() const { return inventory_; }
  // The port of the metrics exposer; 0 when none.
  int metrics_port() const { return metrics_port_; }

 private:
  Worker() = default;
  absl::Status Register(absl::Duration timeout);
  void HeartbeatLoop();
  void ServeTask(const v1::Task& task);

  WorkerOptions options_;
  v1::WorkerInventory inventory_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::unique_ptr<MeasurementObserver> metrics_;
  // Feeds metrics_' power gauge; declared after it so that it stops (and
  // joins its thread) before metrics_ goes. Null without metrics or without
  // any device reporting power.
  std::unique_ptr<PowerSampler> power_;
  int metrics_port_ = 0;
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(1);

  absl::Mutex mu_;
  std::string worker_id_ ABSL_GUARDED_BY(mu_);
  std::string running_job_ ABSL_GUARDED_BY(mu_);
  // The running job's progress where this worker has its rank 0 (the one
  // the coordinator shows), else null.
  std::shared_ptr<TaskProgress> progress_ ABSL_GUARDED_BY(mu_);
  bool must_register_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time last_contact_ ABSL_GUARDED_BY(mu_);
  // The task long-poll in flight, if any: Stop() cancels it so that a worker
  // stops at once rather than at the end of the poll.
  grpc::ClientContext* poll_ ABSL_GUARDED_BY(mu_) = nullptr;

  std::atomic<bool> abort_task_{false};
  std::atomic<bool> stopping_{false};
  absl::Notification stopped_;
  std::thread heartbeat_;
};

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_WORKER_H_
