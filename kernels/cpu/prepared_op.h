// One op of a training step (kernels/step.h) as the cpu backend's step runner
// (cpu_step.h) holds it once its buffers and contexts exist: what running it,
// checking it and naming it in a message take. Private to kernels/cpu.
#ifndef TOKENMETER_KERNELS_CPU_PREPARED_OP_H_
#define TOKENMETER_KERNELS_CPU_PREPARED_OP_H_

#include <cstdint>
#include <functional>
#include <string>

namespace tokenmeter::kernels::cpu {

struct PreparedOp {
  std::string what;  // "step op 3 (all_reduce of 4800 fp32 elements in group [0,1])"
  bool collective = false;
  bool trivial = false;          // a collective in a group of one: skipped, timed 0
  bool compute = false;          // a GEMM or elementwise op
  bool async = false;            // runs on the communication thread (overlapped)
  bool waits = false;            // waits for the overlapped ops issued before it
  std::function<void()> run;     // one execution; Gloo failures throw
  std::function<void()> refresh;  // before the checked execution: inputs, NaN outputs
  std::function<int64_t()> wrong;  // after it: output elements off their expected value
  int64_t checked = 0;             // output elements `wrong` compares
};

}  // namespace tokenmeter::kernels::cpu

#endif  // TOKENMETER_KERNELS_CPU_PREPARED_OP_H_
