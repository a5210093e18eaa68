#include "kernels/plugin/plugin_convert.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace tokenmeter::kernels::plugin {

void CopyString(absl::string_view text, char* out, size_t capacity) {
  if (out == nullptr || capacity == 0) return;
  const size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

tm_status StatusToC(const absl::Status& status, char* error) {
  if (status.ok()) return TM_OK;
  CopyString(status.message(), error, TM_ERROR_CAPACITY);
  return static_cast<tm_status>(status.code());
}

absl::Status StatusFromC(tm_status code, const char* error, absl::string_view context) {
  if (code == TM_OK) return absl::OkStatus();
  // The message may be unterminated in a faulty plugin: read at most the capacity.
  const std::string message =
      error == nullptr ? std::string() : std::string(error, strnlen(error, TM_ERROR_CAPACITY));
  const int value = static_cast<int>(code);
  const bool known = value >= 1 && value <= 16;
  return absl::Status(known ? static_cast<absl::StatusCode>(value) : absl::StatusCode::kUnknown,
                      absl::StrCat(context, message.empty() ? "(no message)" : message,
                                   known ? "" : absl::StrCat(" (status code ", value, ")")));
}

namespace {

template <size_t N>
std::string FromArray(const char (&text)[N]) {
  return std::string(text, strnlen(text, N));
}

}  // namespace

void DeviceToC(const DeviceDescription& device, tm_device* out) {
  *out = tm_device{};
  CopyString(device.model, out->model, sizeof out->model);
  CopyString(device.uuid, out->uuid, sizeof out->uuid);
  out->memory_bytes = device.memory_bytes;
  out->compute_units = device.compute_units;
  CopyString(device.compute_capability, out->compute_capability, sizeof out->compute_capability);
  CopyString(device.driver_version, out->driver_version, sizeof out->driver_version);
}

DeviceDescription DeviceFromC(const tm_device& device) {
  DeviceDescription out;
  out.model = FromArray(device.model);
  out.uuid = FromArray(device.uuid);
  out.memory_bytes = device.memory_bytes;
  out.compute_units = device.compute_units;
  out.compute_capability = FromArray(device.compute_capability);
  out.driver_version = FromArray(device.driver_version);
  return out;
}

CStepProgram::CStepProgram(const StepProgram& program) {
  offsets_.push_back(0);
  for (const std::vector<int>& group : program.groups) {
    ranks_.insert(ranks_.end(), group.begin(), group.end());
    offsets_.push_back(ranks_.size());
  }
  for (const StepOp& op : program.ops) {
    tm_step_op c{};
    c.kind = static_cast<int32_t>(op.kind);
    c.m = op.m;
    c.n = op.n;
    c.k = op.k;
    c.count = op.count;
    c.transpose_a = op.transpose_a;
    c.transpose_b = op.transpose_b;
    c.bytes = op.bytes;
    c.math = static_cast<int32_t>(op.math);
    c.new_tensor_bytes = op.new_tensor_bytes;
    c.new_tensors = op.new_tensors;
    c.in_place = op.in_place;
    c.op = static_cast<int32_t>(op.op);
    c.group = op.group;
    c.overlappable = op.overlappable;
    c.waits_for_overlapped = op.waits_for_overlapped;
    ops_.push_back(c);
  }
  view_.dtype = static_cast<int32_t>(program.dtype);
  view_.collective_dtype = static_cast<int32_t>(program.collective_dtype);
  view_.group_ranks = ranks_.data();
  view_.group_offsets = offsets_.data();
  view_.group_count = program.groups.size();
  view_.ops = ops_.data();
  view_.op_count = ops_.size();
}

StepProgram StepProgramFromC(const tm_step_program& program) {
  StepProgram out;
  out.dtype = static_cast<DType>(program.dtype);
  out.collective_dtype = static_cast<DType>(program.collective_dtype);
  for (size_t g = 0; g < program.group_count; ++g) {
    out.groups.emplace_back(program.group_ranks + program.group_offsets[g],
                            program.group_ranks + program.group_offsets[g + 1]);
  }
  for (size_t j = 0; j < program.op_count; ++j) {
    const tm_step_op& c = program.ops[j];
    StepOp op;
    op.kind = static_cast<StepOp::Kind>(c.kind);
    op.m = c.m;
    op.n = c.n;
    op.k = c.k;
    op.count = c.count;
    op.transpose_a = c.transpose_a != 0;
    op.transpose_b = c.transpose_b != 0;
    op.bytes = c.bytes;
    op.math = static_cast<ElementwiseMath>(c.math);
    op.new_tensor_bytes = c.new_tensor_bytes;
    op.new_tensors = c.new_tensors;
    op.in_place = c.in_place != 0;
    op.op = static_cast<CollectiveOp>(c.op);
    op.group = c.group;
    op.overlappable = c.overlappable != 0;
    op.waits_for_overlapped = c.waits_for_overlapped != 0;
    out.ops.push_back(op);
  }
  return out;
}

}  // namespace tokenmeter::kernels::plugin
