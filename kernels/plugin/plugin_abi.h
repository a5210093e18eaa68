/* The backend plugin ABI: how tokenmeter calls a kernels backend built
 * apart from it, with the vendor's own compiler and libraries, and shipped
 * as one shared library (as NCCL's net plugins and Triton's backends are).
 *
 * Plain C: fixed-size integers, plain structs, function pointers. Nothing
 * from C++, abseil or protobuf crosses it. Memory is the caller's: every
 * array a function fills, and every error message, is a buffer the caller
 * passes in. docs/backends.md is the guide to writing one.
 *
 * A plugin is a shared library named libtokenmeter-<name>.so exporting
 *   const tm_backend_plugin* tokenmeter_backend_plugin(uint32_t host_abi_version,
 *                                                      char* error);
 * which returns its table, or null with a message in `error` when it cannot
 * serve a host of that ABI version. The host refuses a table whose
 * abi_version is not its own, then calls initialize() once; a plugin whose
 * initialize fails is refused with its message. Every other entry may be
 * called from any thread, one call per tm_backend at a time (a Backend is
 * used by one thread at a time); list_devices and the power entries
 * concurrently with anything.
 *
 * Errors: each call returns a tm_status; anything but TM_OK comes with a
 * NUL-terminated message of at most TM_ERROR_CAPACITY bytes (with the NUL)
 * written to `error`. The codes are abseil's and gRPC's, number for number.
 */
#ifndef TOKENMETER_KERNELS_PLUGIN_PLUGIN_ABI_H_
#define TOKENMETER_KERNELS_PLUGIN_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever anything below changes. */
#define TOKENMETER_PLUGIN_ABI_VERSION 1u
/* The bytes of every `error` buffer, the NUL included. */
#define TM_ERROR_CAPACITY 2048u
#define TM_PLUGIN_ENTRY_POINT "tokenmeter_backend_plugin"

typedef enum tm_status {
  TM_OK = 0,
  TM_CANCELLED = 1,
  TM_UNKNOWN = 2,
  TM_INVALID_ARGUMENT = 3,
  TM_DEADLINE_EXCEEDED = 4,
  TM_NOT_FOUND = 5,
  TM_RESOURCE_EXHAUSTED = 8,
  TM_FAILED_PRECONDITION = 9,
  TM_ABORTED = 10,
  TM_UNIMPLEMENTED = 12,
  TM_INTERNAL = 13,
  TM_UNAVAILABLE = 14
} tm_status;

/* In the order of kernels/types.h's DType and CollectiveOp. */
typedef enum tm_dtype { TM_FP32 = 0, TM_TF32 = 1, TM_FP16 = 2, TM_BF16 = 3, TM_FP8_E4M3 = 4 } tm_dtype;
typedef enum tm_collective {
  TM_ALL_REDUCE = 0,
  TM_ALL_GATHER = 1,
  TM_REDUCE_SCATTER = 2,
  TM_ALL_TO_ALL = 3,
  TM_BROADCAST = 4,
  TM_REDUCE = 5
} tm_collective;

/* One device, as the worker's inventory lists it (kernels/types.h's
 * DeviceDescription). Strings are NUL-terminated within their arrays. */
typedef struct tm_device {
  char model[256];
  char uuid[128];
  int64_t memory_bytes;
  int32_t compute_units;
  char compute_capability[32];
  char driver_version[128];
} tm_device;

/* The job's rendezvous store (kernels/store.h), the host's: how the ranks'
 * communicators find each other. Every wait ends by its timeout with
 * TM_DEADLINE_EXCEEDED. get copies at most `capacity` bytes of the value and
 * sets *length to the value's full length; TM_RESOURCE_EXHAUSTED when it did
 * not fit (call again with *length bytes). */
typedef struct tm_store {
  void* context;
  tm_status (*set)(void* context, const char* key, const void* value, size_t length, char* error);
  tm_status (*get)(void* context, const char* key, int64_t timeout_ms, void* value, size_t capacity,
                   size_t* length, char* error);
  tm_status (*add)(void* context, const char* key, int64_t delta, int64_t* sum, char* error);
  tm_status (*wait)(void* context, const char* const* keys, size_t key_count, int64_t timeout_ms,
                    char* error);
} tm_store;

/* kernels/backend.h's BackendOptions. Strings and the store outlive the
 * tm_backend made with them. */
typedef struct tm_backend_options {
  int32_t rank;
  int32_t world_size;
  int32_t device_index;
  const tm_store* store; /* null when world_size is 1 */
  const char* store_prefix;
  int64_t timeout_ms;
  int32_t cpu_threads;
  const char* collective_host;
  const char* sysfs_root;
  /* The caller's stop request and progress counter (BackendOptions::stop,
   * iterations_begun), or null. The host sets *stop to 1 once the job is to
   * stop; the plugin reads it with an atomic load (C11 atomic_load_explicit,
   * GCC's __atomic_load_n) and adds to *iterations_begun atomically. */
  const uint8_t* stop;
  int64_t* iterations_begun;
} tm_backend_options;

typedef struct tm_iteration_plan {
  int32_t warmup;
  int32_t timed;
} tm_iteration_plan;

typedef struct tm_gemm_problem {
  int64_t m, n, k;
  int32_t dtype; /* tm_dtype */
} tm_gemm_problem;

/* iteration_seconds: the caller's array of plan.timed entries. */
typedef struct tm_gemm_result {
  double* iteration_seconds;
  int32_t verified;
  double max_error;
  int64_t wrong_elements;
} tm_gemm_result;

typedef struct tm_collective_result {
  double* iteration_seconds;
  int64_t checked_elements;
  int64_t wrong_elements;
} tm_collective_result;

/* kernels/step.h's StepOp, field for field (booleans as 0 / 1). */
typedef struct tm_step_op {
  int32_t kind; /* 0 GEMM, 1 elementwise, 2 collective */
  int64_t m, n, k, count;
  int32_t transpose_a, transpose_b;
  int64_t bytes;
  int32_t math; /* 0 memory, 1 exp */
  int64_t new_tensor_bytes;
  int32_t new_tensors;
  int32_t in_place;
  int32_t op; /* tm_collective */
  int32_t group;
  int32_t overlappable;
  int32_t waits_for_overlapped;
} tm_step_op;

/* StepProgram: group g's ranks are group_ranks[group_offsets[g] ..
 * group_offsets[g + 1]). */
typedef struct tm_step_program {
  int32_t dtype;
  int32_t collective_dtype;
  const int32_t* group_ranks;
  const size_t* group_offsets; /* group_count + 1 entries */
  size_t group_count;
  const tm_step_op* ops;
  size_t op_count;
} tm_step_program;

/* StepRun, in the caller's arrays: op_seconds and exposed_seconds hold
 * plan.timed × op_count entries, iteration by iteration; step_seconds
 * plan.timed. has_exposed is 0 when every op ran in line. */
typedef struct tm_step_result {
  double* op_seconds;
  double* exposed_seconds;
  int32_t has_exposed;
  double* step_seconds;
  int32_t overlapped;
  double timed_energy_joules; /* < 0: not reported */
} tm_step_result;

typedef struct tm_power_options {
  int32_t device_index;
  const char* uuid;
  const char* sysfs_root;
} tm_power_options;

/* The backend's collectives move their data through host memory (read from
 * the device, sent, written back), and their times include those copies:
 * reports say so beside the figures (Backend::CollectivesHostStaged). */
#define TM_FLAG_COLLECTIVES_HOST_STAGED 1u

typedef struct tm_backend tm_backend;
typedef struct tm_power_source tm_power_source;

/* The entries, each the C form of kernels/backend.h's Backend member or
 * factory of the same name and contract. run_step, describe_energy and the
 * three power entries may be null: the host then answers Unimplemented. */
typedef struct tm_backend_plugin {
  uint32_t abi_version; /* TOKENMETER_PLUGIN_ABI_VERSION it was built with */
  const char* name;     /* the backend's kind, as --backend names it */
  const char* version;  /* the plugin's own, for the worker's inventory */
  uint32_t flags;       /* TM_FLAG_* below, or'ed */

  tm_status (*initialize)(char* error);
  /* Fills up to `capacity` devices and sets *count to how many there are. */
  tm_status (*list_devices)(tm_device* devices, size_t capacity, size_t* count, char* error);
  tm_status (*create)(const tm_backend_options* options, tm_backend** backend, tm_device* device,
                      char* error);
  void (*destroy)(tm_backend* backend);
  int (*supports_gemm)(tm_backend* backend, int32_t dtype);
  int (*supports_collective)(tm_backend* backend, int32_t op, int32_t dtype);
  tm_status (*run_gemm)(tm_backend* backend, const tm_gemm_problem* problem,
                        const tm_iteration_plan* plan, tm_gemm_result* result, char* error);
  tm_status (*run_collective)(tm_backend* backend, int32_t op, int64_t count, int32_t dtype,
                              const tm_iteration_plan* plan, tm_collective_result* result,
                              char* error);
  tm_status (*run_step)(tm_backend* backend, const tm_step_program* program,
                        const tm_iteration_plan* plan, tm_step_result* result, char* error);
  tm_status (*energy_joules)(tm_backend* backend, double* joules, char* error);
  /* `text` is TM_ERROR_CAPACITY bytes, as `error`. */
  tm_status (*describe_energy)(const tm_backend_options* options, char* text, char* error);
  tm_status (*open_power_source)(const tm_power_options* options, tm_power_source** source,
                                 char* description, char* error);
  tm_status (*power_watts)(tm_power_source* source, double* watts, char* error);
  void (*close_power_source)(tm_power_source* source);
} tm_backend_plugin;

typedef const tm_backend_plugin* (*tm_backend_plugin_entry)(uint32_t host_abi_version, char* error);

#ifdef __cplusplus
}
#endif

#endif /* TOKENMETER_KERNELS_PLUGIN_PLUGIN_ABI_H_ */
