// `run --local`: a coordinator and N worker processes on this machine, on
// loopback, started from this very binary and stopped cleanly afterwards.
#ifndef TOKENMETER_CLI_LOCAL_CLUSTER_H_
#define TOKENMETER_CLI_LOCAL_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokenmeter::cli {

struct LocalClusterOptions {
  int workers = 2;
  std::string backend = "cpu";
  int devices_per_worker = 0;         // 0 = the backend's default (cpu: 1, cuda: all GPUs)
  int cpu_threads_per_worker = 0;     // 0 = cores / workers
  std::string store_path;             // "" = a temporary file
  std::string setup;                  // "" = "local-<backend>"
  double price_per_device_hour = 0;   // 0 = no price
  std::string catalogue_file;         // device catalogue overrides for the coordinator
  std::string sysfs_root;             // the workers' --sysfs-root; "" = their default (/sys)
  bool verbose = false;               // children's logs on stderr, not in files
  // To start and register, all together; 0 = the backend's default: 20 s for
  // cpu, 120 s for others (a cuda worker loads cuBLASLt, NCCL and a CUDA
  // context per GPU first).
  absl::Duration start_timeout = absl::ZeroDuration();
  absl::Duration lost_after = absl::Seconds(5);
  absl::Duration collective_timeout = absl::Seconds(30);
};

// Owns its child processes; the destructor stops them (SIGTERM, then SIGKILL
// after a grace period), so none is left behind. Not thread-safe.
class LocalCluster {
 public:
  // Starts the coordinator, waits for its port, starts the workers and waits
  // until they have registered. Errors quote the failing child's log.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options);
  ~LocalCluster();

  const std::string& address() const { return address_; }
  const std::string& store_path() const { return store_path_; }
  // Devices the registered workers offer in all.
  int devices() const { return devices_; }

  // Stops every child; returns false when one had to be killed.
  bool Stop();

 private:
  LocalCluster() = default;
  absl::StatusOr<pid_t> Spawn(const std::string& name, const std::vector<std::string>& args);
  std::string LogTail(const std::string& name) const;

  LocalClusterOptions options_;
  std::string dir_;
  std::string address_;
  std::string store_path_;
  int devices_ = 0;
  pid_t coordinator_ = -1;
  std::vector<pid_t> workers_;
  bool keep_dir_ = false;
};

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_LOCAL_CLUSTER_H_
