// The C structs of plugin_abi.h to and from the C++ types of kernels/: one
// place for each conversion, used by the host's loader (plugin_host.h) and
// by a C++ backend exported as a plugin (plugin_export.h).
#ifndef TOKENMETER_KERNELS_PLUGIN_PLUGIN_CONVERT_H_
#define TOKENMETER_KERNELS_PLUGIN_PLUGIN_CONVERT_H_

#include <atomic>
#include <cstdint>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "kernels/plugin/plugin_abi.h"
#include "kernels/step.h"
#include "kernels/types.h"

namespace tokenmeter::kernels::plugin {

// BackendOptions' stop flag and progress counter cross as the plain memory
// under the atomics: this is what makes that sound.
static_assert(sizeof(std::atomic<bool>) == 1 && std::atomic<bool>::is_always_lock_free);
static_assert(sizeof(std::atomic<int64_t>) == 8 && std::atomic<int64_t>::is_always_lock_free);

// `status`'s code, with its message written to `error` (TM_ERROR_CAPACITY
// bytes, truncated to fit) when it is not OK.
tm_status StatusToC(const absl::Status& status, char* error);
// The Status of a call that returned `code` with `error`, the message
// prefixed by `context` ("plugin cuda: "). A code outside tm_status is
// Unknown.
absl::Status StatusFromC(tm_status code, const char* error, absl::string_view context = "");
// Writes `text` NUL-terminated into `out` of `capacity` bytes, truncated.
void CopyString(absl::string_view text, char* out, size_t capacity);

void DeviceToC(const DeviceDescription& device, tm_device* out);
DeviceDescription DeviceFromC(const tm_device& device);

// A StepProgram as plugin_abi.h's tm_step_program: owns the flat arrays the
// view points into. Neither copyable nor movable (the view points into it).
class CStepProgram {
 public:
  explicit CStepProgram(const StepProgram& program);
  CStepProgram(const CStepProgram&) = delete;
  CStepProgram& operator=(const CStepProgram&) = delete;
  const tm_step_program* get() const { return &view_; }

 private:
  std::vector<int32_t> ranks_;
  std::vector<size_t> offsets_;
  std::vector<tm_step_op> ops_;
  tm_step_program view_{};
};

// The program a tm_step_program describes. REQUIRES: its arrays are as
// plugin_abi.h says (the host's CStepProgram makes them so).
StepProgram StepProgramFromC(const tm_step_program& program);

}  // namespace tokenmeter::kernels::plugin

#endif  // TOKENMETER_KERNELS_PLUGIN_PLUGIN_CONVERT_H_
