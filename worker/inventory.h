// What a worker registers: its host, its devices and what its backend can do.
#ifndef TOKENMETER_WORKER_INVENTORY_H_
#define TOKENMETER_WORKER_INVENTORY_H_

#include <string>

#include "absl/status/statusor.h"
#include "kernels/types.h"
#include "tokenmeter/v1/inventory.pb.h"
#include "tokenmeter/v1/workload.pb.h"

namespace tokenmeter::worker {

struct InventoryOptions {
  std::string backend = "cpu";
  int devices = 0;                   // 0 = every device the backend sees
  int cpu_threads_per_rank = 0;      // cpu: 0 = the host's cores / devices
  std::string setup;                 // "" = "<hostname>-<backend>"
  double price_per_device_hour = 0;  // 0 = unknown
  std::string collective_host;       // where peers reach this worker
};

// Probes the backend (devices, supported dtypes) and the host.
// InvalidArgument when more devices are asked for than the backend sees;
// Unavailable when the backend has no device here.
absl::StatusOr<v1::WorkerInventory> BuildInventory(const InventoryOptions& options);

// Conversions between the proto enums and the kernels' plain ones.
absl::StatusOr<kernels::DType> ToKernels(v1::DType dtype);
absl::StatusOr<kernels::CollectiveOp> ToKernels(v1::CollectiveOp op);

// The local address this host uses to reach host:port (the address of the
// interface the route goes through); "127.0.0.1" for a loopback target.
std::string LocalAddressToward(const std::string& host_port);

}  // namespace tokenmeter::worker

#endif  // TOKENMETER_WORKER_INVENTORY_H_
