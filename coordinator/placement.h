// Placement: which workers and devices a job runs on, and which ranks each
// gets. A pure function of the request and the workers' states.
#ifndef TOKENMETER_COORDINATOR_PLACEMENT_H_
#define TOKENMETER_COORDINATOR_PLACEMENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::coordinator {

struct PlacementRequest {
  int ranks = 1;
  std::string setup;                     // "" = any one setup
  // A result measures one setup, so by default a job's devices all come from
  // one setup; true lets them come from several (still one backend and one
  // device model). Meaningless with `setup` set.
  bool span_setups = false;
  // Where set, the job goes on exactly these workers, in this order (its
  // ranks fill each one's devices in turn, every one given at least one),
  // and waits until all of them are idle. The setup rules still apply.
  std::vector<std::string> workers;
  std::vector<v1::DType> gemm_dtypes;    // the dtypes its GEMMs need
  std::vector<v1::DType> collective_dtypes;
};

// The dtypes a spec needs from a backend, and where the job may go.
PlacementRequest RequestFor(const v1::WorkloadSpec& spec, int ranks, const std::string& setup,
                            bool span_setups = false, std::vector<std::string> workers = {});

// A job's list of workers, on its own: InvalidArgument for a worker listed
// twice, an empty id, or more workers than ranks (each takes one at least).
absl::Status CheckWorkerList(const std::vector<std::string>& workers, int ranks);

struct WorkerShare {
  std::string worker_id;
  std::vector<v1::RankAssignment> ranks;  // consecutive ranks, one per device
  int64_t min_device_memory_bytes = 0;
};

struct PlacementPlan {
  std::vector<WorkerShare> shares;        // in rank order
  int64_t min_device_memory_bytes = 0;    // smallest device used
};

// Places a job on `idle` workers (in registration order): the first group of
// one backend, one device model and one setup (any setup of that backend and
// model with request.span_setups) whose devices suffice; ranks are given out
// consecutively, filling each worker's devices in index order. Workers
// lacking a needed dtype are skipped. Unavailable when the idle workers do
// not suffice now; its message names the setups when only spanning them
// would. With request.workers, only those (see PlacementRequest); Unavailable
// naming the first of them that is not idle.
absl::StatusOr<PlacementPlan> Place(const PlacementRequest& request, const std::vector<const v1::WorkerStatus*>& idle);

// OK when some group of `live` workers could ever run the job (whether busy
// or idle now). FailedPrecondition naming what is missing when workers exist
// but none can (a dtype no backend has, a setup with too few devices); OK
// when no worker is registered yet, since one may still come. With
// request.workers: FailedPrecondition when one of them is not live (a
// worker's id does not come back), lacks a dtype, is outside the setup, or
// they are of several backends or models, or have too few devices.
absl::Status CheckSatisfiable(const PlacementRequest& request, const std::vector<const v1::WorkerStatus*>& live);

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_PLACEMENT_H_
