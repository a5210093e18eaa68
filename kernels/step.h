// A training step as the kernels see it: a flat program of GEMMs, memory
// passes and collectives, with the rank groups the collectives run in. The
// worker builds it from the step plan (workload/step_plan.h); a backend runs
// it and times every op of every iteration.
#ifndef TOKENMETER_KERNELS_STEP_H_
#define TOKENMETER_KERNELS_STEP_H_

#include <cstdint>
#include <vector>

#include "kernels/types.h"

namespace tokenmeter::kernels {

struct StepOp {
  enum class Kind {
    kGemm,         // `count` GEMMs of m×n×k in the program's dtype, one after another
    kElementwise,  // one pass reading and writing `bytes` of memory (y = a·x + y)
    kCollective,   // `op` over `count` elements (nccl-tests' S) among `group`
  };
  Kind kind = Kind::kGemm;
  int64_t m = 0, n = 0, k = 0;
  int64_t count = 1;
  int64_t bytes = 0;
  CollectiveOp op = CollectiveOp::kAllReduce;
  int group = -1;  // index into StepProgram::groups
};

struct StepProgram {
  DType dtype = DType::kFp32;             // GEMM dtype
  DType collective_dtype = DType::kFp32;  // element type of collectives
  // Rank lists (ascending world ranks, each containing this rank) that the
  // collectives run among. A list equal to every rank is the world. The
  // backend makes one communicator per distinct list, on first use, through
  // its store under a key derived from the list.
  std::vector<std::vector<int>> groups;
  std::vector<StepOp> ops;
};

struct StepRun {
  // op_seconds[i][j]: time of op j in timed iteration i, timed on the device.
  std::vector<std::vector<double>> op_seconds;
  // Wall time of each timed iteration as executed (device-timed).
  std::vector<double> step_seconds;
  // Device energy over the timed iterations; < 0 when not reported.
  double timed_energy_joules = -1;
};

}  // namespace tokenmeter::kernels

#endif  // TOKENMETER_KERNELS_STEP_H_
