#include "kernels/plugin/plugin_export.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/plugin/plugin_convert.h"
#include "kernels/store.h"

// The C types are opaque to the host; here they hold the C++ objects.
struct tm_backend {
  std::unique_ptr<tokenmeter::kernels::Store> store;  // before backend: outlives it
  std::unique_ptr<tokenmeter::kernels::Backend> backend;
};
struct tm_power_source {
  std::unique_ptr<tokenmeter::kernels::PowerSource> source;
};

namespace tokenmeter::kernels::plugin {
namespace {

const PluginFactories* factories = nullptr;

// The host's store, as a kernels::Store for the backend's communicators.
class HostStore : public Store {
 public:
  explicit HostStore(const tm_store* store) : store_(*store) {}

  absl::Status Set(const std::string& key, const std::string& value) override {
    char error[TM_ERROR_CAPACITY] = {};
    return StatusFromC(store_.set(store_.context, key.c_str(), value.data(), value.size(), error), error);
  }
  absl::StatusOr<std::string> Get(const std::string& key, std::chrono::milliseconds timeout) override {
    char error[TM_ERROR_CAPACITY] = {};
    std::string value(256, '\0');
    for (;;) {
      size_t length = 0;
      const tm_status code = store_.get(store_.context, key.c_str(), timeout.count(), value.data(),
                                        value.size(), &length, error);
      if (code == TM_RESOURCE_EXHAUSTED && length > value.size()) {
        value.resize(length);  // the value grew between calls at most: try again
        continue;
      }
      if (code != TM_OK) return StatusFromC(code, error);
      value.resize(length);
      return value;
    }
  }
  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) override {
    char error[TM_ERROR_CAPACITY] = {};
    int64_t sum = 0;
    const tm_status code = store_.add(store_.context, key.c_str(), delta, &sum, error);
    if (code != TM_OK) return StatusFromC(code, error);
    return sum;
  }
  absl::Status Wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override {
    char error[TM_ERROR_CAPACITY] = {};
    std::vector<const char*> names;
    for (const std::string& key : keys) names.push_back(key.c_str());
    return StatusFromC(store_.wait(store_.context, names.data(), names.size(), timeout.count(), error),
                       error);
  }

 private:
  const tm_store store_;
};

BackendOptions OptionsFromC(const tm_backend_options& c) {
  BackendOptions options;
  options.rank = c.rank;
  options.world_size = c.world_size;
  options.device_index = c.device_index;
  if (c.store_prefix != nullptr) options.store_prefix = c.store_prefix;
  options.timeout = std::chrono::milliseconds(c.timeout_ms);
  options.cpu_threads = c.cpu_threads;
  if (c.collective_host != nullptr) options.collective_host = c.collective_host;
  if (c.sysfs_root != nullptr) options.sysfs_root = c.sysfs_root;
  options.stop = reinterpret_cast<const std::atomic<bool>*>(c.stop);
  options.iterations_begun = reinterpret_cast<std::atomic<int64_t>*>(c.iterations_begun);
  return options;
}

// Runs `body`, turning an escaping exception into TM_INTERNAL: nothing may
// unwind across the C boundary.
template <typename Body>
tm_status Guarded(char* error, Body body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return StatusToC(absl::InternalError(absl::StrCat("uncaught exception: ", e.what())), error);
  } catch (...) {
    return StatusToC(absl::InternalError("uncaught exception"), error);
  }
}

tm_status Initialize(char* error) {
  return Guarded(error, [&] {
    return factories->initialize == nullptr ? TM_OK : StatusToC(factories->initialize(), error);
  });
}

tm_status ListDevices(tm_device* devices, size_t capacity, size_t* count, char* error) {
  return Guarded(error, [&] {
    auto listed = factories->list_devices();
    if (!listed.ok()) return StatusToC(listed.status(), error);
    *count = listed->size();
    for (size_t i = 0; i < std::min(capacity, listed->size()); ++i) DeviceToC((*listed)[i], &devices[i]);
    return TM_OK;
  });
}

tm_status Create(const tm_backend_options* c, tm_backend** out, tm_device* device, char* error) {
  return Guarded(error, [&] {
    auto handle = std::make_unique<tm_backend>();
    BackendOptions options = OptionsFromC(*c);
    if (c->store != nullptr) {
      handle->store = std::make_unique<HostStore>(c->store);
      options.store = handle->store.get();
    }
    auto backend = factories->new_backend(options);
    if (!backend.ok()) return StatusToC(backend.status(), error);
    handle->backend = *std::move(backend);
    DeviceToC(handle->backend->device(), device);
    *out = handle.release();
    return TM_OK;
  });
}

void Destroy(tm_backend* backend) { delete backend; }

int SupportsGemm(tm_backend* b, int32_t dtype) { return b->backend->SupportsGemm(static_cast<DType>(dtype)); }

int SupportsCollective(tm_backend* b, int32_t op, int32_t dtype) {
  return b->backend->SupportsCollective(static_cast<CollectiveOp>(op), static_cast<DType>(dtype));
}

IterationPlan PlanFromC(const tm_iteration_plan& plan) { return {plan.warmup, plan.timed}; }

// Copies a run's per-iteration times into the host's array of plan.timed.
void CopyTimes(const std::vector<double>& times, const tm_iteration_plan& plan, double* out) {
  std::fill_n(out, plan.timed, 0.0);
  std::copy_n(times.begin(), std::min<size_t>(times.size(), plan.timed), out);
}

tm_status RunGemm(tm_backend* b, const tm_gemm_problem* problem, const tm_iteration_plan* plan,
                  tm_gemm_result* result, char* error) {
  return Guarded(error, [&] {
    GemmProblem p{problem->m, problem->n, problem->k, static_cast<DType>(problem->dtype)};
    auto run = b->backend->RunGemm(p, PlanFromC(*plan));
    if (!run.ok()) return StatusToC(run.status(), error);
    CopyTimes(run->iteration_seconds, *plan, result->iteration_seconds);
    result->verified = run->verified;
    result->max_error = run->max_error;
    result->wrong_elements = run->wrong_elements;
    return TM_OK;
  });
}

tm_status RunCollective(tm_backend* b, int32_t op, int64_t count, int32_t dtype,
                        const tm_iteration_plan* plan, tm_collective_result* result, char* error) {
  return Guarded(error, [&] {
    auto run = b->backend->RunCollective(static_cast<CollectiveOp>(op), count,
                                         static_cast<DType>(dtype), PlanFromC(*plan));
    if (!run.ok()) return StatusToC(run.status(), error);
    CopyTimes(run->iteration_seconds, *plan, result->iteration_seconds);
    result->checked_elements = run->checked_elements;
    result->wrong_elements = run->wrong_elements;
    return TM_OK;
  });
}

tm_status RunStep(tm_backend* b, const tm_step_program* program, const tm_iteration_plan* plan,
                  tm_step_result* result, char* error) {
  return Guarded(error, [&] {
    auto run = b->backend->RunStep(StepProgramFromC(*program), PlanFromC(*plan));
    if (!run.ok()) return StatusToC(run.status(), error);
    const size_t ops = program->op_count;
    for (int i = 0; i < plan->timed; ++i) {
      const bool have = static_cast<size_t>(i) < run->op_seconds.size();
      for (size_t j = 0; j < ops; ++j) {
        const double seconds = have && j < run->op_seconds[i].size() ? run->op_seconds[i][j] : 0;
        result->op_seconds[i * ops + j] = seconds;
        const bool exposed = static_cast<size_t>(i) < run->exposed_seconds.size() &&
                             j < run->exposed_seconds[i].size();
        result->exposed_seconds[i * ops + j] = exposed ? run->exposed_seconds[i][j] : seconds;
      }
    }
    result->has_exposed = !run->exposed_seconds.empty();
    CopyTimes(run->step_seconds, *plan, result->step_seconds);
    result->overlapped = run->overlapped;
    result->timed_energy_joules = run->timed_energy_joules;
    return TM_OK;
  });
}

tm_status EnergyJoules(tm_backend* b, double* joules, char* error) {
  return Guarded(error, [&] {
    auto energy = b->backend->EnergyJoules();
    if (!energy.ok()) return StatusToC(energy.status(), error);
    *joules = *energy;
    return TM_OK;
  });
}

tm_status DescribeEnergy(const tm_backend_options* c, char* text, char* error) {
  return Guarded(error, [&] {
    auto described = factories->describe_energy(OptionsFromC(*c));
    if (!described.ok()) return StatusToC(described.status(), error);
    CopyString(*described, text, TM_ERROR_CAPACITY);
    return TM_OK;
  });
}

tm_status OpenPowerSource(const tm_power_options* c, tm_power_source** out, char* description,
                          char* error) {
  return Guarded(error, [&] {
    PowerSourceOptions options;
    options.device_index = c->device_index;
    if (c->uuid != nullptr) options.uuid = c->uuid;
    if (c->sysfs_root != nullptr) options.sysfs_root = c->sysfs_root;
    auto source = factories->open_power_source(options);
    if (!source.ok()) return StatusToC(source.status(), error);
    CopyString((*source)->Describe(), description, TM_ERROR_CAPACITY);
    *out = new tm_power_source{*std::move(source)};
    return TM_OK;
  });
}

tm_status PowerWatts(tm_power_source* s, double* watts, char* error) {
  return Guarded(error, [&] {
    auto read = s->source->Watts();
    if (!read.ok()) return StatusToC(read.status(), error);
    *watts = *read;
    return TM_OK;
  });
}

void ClosePowerSource(tm_power_source* s) { delete s; }

}  // namespace

const tm_backend_plugin* ExportBackendPlugin(const PluginFactories* exported, uint32_t host_abi_version,
                                             char* error) {
  if (host_abi_version != TOKENMETER_PLUGIN_ABI_VERSION) {
    CopyString(absl::StrCat("plugin ", exported->name, " speaks plugin ABI ",
                            TOKENMETER_PLUGIN_ABI_VERSION, ", the host ", host_abi_version),
               error, TM_ERROR_CAPACITY);
    return nullptr;
  }
  static const tm_backend_plugin table = [exported] {
    factories = exported;
    tm_backend_plugin t{};
    t.abi_version = TOKENMETER_PLUGIN_ABI_VERSION;
    t.name = exported->name;
    t.version = exported->version;
    t.flags = exported->collectives_host_staged ? TM_FLAG_COLLECTIVES_HOST_STAGED : 0;
    t.initialize = Initialize;
    t.list_devices = ListDevices;
    t.create = Create;
    t.destroy = Destroy;
    t.supports_gemm = SupportsGemm;
    t.supports_collective = SupportsCollective;
    t.run_gemm = RunGemm;
    t.run_collective = RunCollective;
    t.run_step = RunStep;
    t.energy_joules = EnergyJoules;
    if (exported->describe_energy != nullptr) t.describe_energy = DescribeEnergy;
    if (exported->open_power_source != nullptr) {
      t.open_power_source = OpenPowerSource;
      t.power_watts = PowerWatts;
      t.close_power_source = ClosePowerSource;
    }
    return t;
  }();
  return &table;
}

}  // namespace tokenmeter::kernels::plugin
