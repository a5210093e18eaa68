#include "kernels/plugin/plugin_host.h"

#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kernels/plugin/plugin_abi.h"
#include "kernels/plugin/plugin_convert.h"

namespace tokenmeter::kernels::plugin {
namespace {

constexpr char kPrefix[] = "libtokenmeter-";
constexpr char kSuffix[] = ".so";

// ---- Finding ----

std::string ExecutableDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

// The directories looked in, in order, each with how it came to be there.
std::vector<std::pair<std::string, std::string>> SearchPath() {
  std::vector<std::pair<std::string, std::string>> dirs;
  // Set but empty (a container passing the variable through) counts as unset.
  if (const char* env = std::getenv("TOKENMETER_PLUGIN_PATH"); env != nullptr && *env != '\0') {
    for (absl::string_view dir : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      dirs.emplace_back(std::string(dir), "$TOKENMETER_PLUGIN_PATH");
    }
  }
  const std::string exe = ExecutableDir();
  dirs.emplace_back(exe, "beside the executable");
  dirs.emplace_back(exe + "/../lib", "");
#ifdef TOKENMETER_PLUGIN_BUILD_DIR
  dirs.emplace_back(TOKENMETER_PLUGIN_BUILD_DIR, "this build's");
#endif
  return dirs;
}

bool IsPluginName(std::string_view kind) {
  return !kind.empty() && std::all_of(kind.begin(), kind.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// The file `kind` names: a path as given, or the first readable
// libtokenmeter-<kind>.so on the search path.
absl::StatusOr<std::string> Resolve(std::string_view kind) {
  if (kind.find('/') != std::string_view::npos) return std::string(kind);
  if (!IsPluginName(kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backend '", std::string(kind), "': a backend is cpu, a plugin's name ([a-z0-9_-]+) or a plugin's path"));
  }
  const std::string file = absl::StrCat(kPrefix, std::string(kind), kSuffix);
  std::vector<std::string> looked;
  for (const auto& [dir, why] : SearchPath()) {
    const std::string path = absl::StrCat(dir, "/", file);
    if (access(path.c_str(), R_OK) == 0) return path;
    looked.push_back(why.empty() ? dir : absl::StrCat(dir, " (", why, ")"));
  }
  return absl::UnavailableError(absl::StrCat("backend '", std::string(kind), "': no plugin ", file, " in ",
                                             absl::StrJoin(looked, ", "),
                                             "; the built-in backend is cpu"));
}

// ---- Loading ----

struct Loaded {
  const tm_backend_plugin* table = nullptr;
  PluginIdentity identity;
  absl::Status refusal;  // OK when table is usable
};

std::string MissingEntries(const tm_backend_plugin& t) {
  std::vector<std::string> missing;
  if (t.name == nullptr) missing.push_back("name");
  if (t.initialize == nullptr) missing.push_back("initialize");
  if (t.list_devices == nullptr) missing.push_back("list_devices");
  if (t.create == nullptr) missing.push_back("create");
  if (t.destroy == nullptr) missing.push_back("destroy");
  if (t.supports_gemm == nullptr) missing.push_back("supports_gemm");
  if (t.supports_collective == nullptr) missing.push_back("supports_collective");
  if (t.run_gemm == nullptr) missing.push_back("run_gemm");
  if (t.run_collective == nullptr) missing.push_back("run_collective");
  if (t.energy_joules == nullptr) missing.push_back("energy_joules");
  if ((t.open_power_source == nullptr) != (t.power_watts == nullptr) ||
      (t.open_power_source == nullptr) != (t.close_power_source == nullptr)) {
    missing.push_back("all three power entries or none");
  }
  return absl::StrJoin(missing, ", ");
}

// Loads, checks and initialises the plugin at `path`. A library refused
// after dlopen stays loaded, never called: unloading one whose static state
// has been constructed is not reliably safe.
Loaded LoadPath(const std::string& path) {
  Loaded loaded;
  loaded.identity.path = path;
  auto refuse = [&](std::string why) {
    loaded.table = nullptr;
    loaded.refusal = absl::UnavailableError(absl::StrCat("backend plugin ", path, ": ", why));
    return loaded;
  };
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return refuse(absl::StrCat("cannot be loaded: ", dlerror()));
  auto entry = reinterpret_cast<tm_backend_plugin_entry>(dlsym(handle, TM_PLUGIN_ENTRY_POINT));
  if (entry == nullptr) {
    return refuse(absl::StrCat("not a tokenmeter backend plugin (no ", TM_PLUGIN_ENTRY_POINT, " entry)"));
  }
  char error[TM_ERROR_CAPACITY] = {};
  const tm_backend_plugin* table = entry(TOKENMETER_PLUGIN_ABI_VERSION, error);
  if (table == nullptr) {
    return refuse(absl::StrCat("refused this host (plugin ABI ", TOKENMETER_PLUGIN_ABI_VERSION,
                               "): ", StatusFromC(TM_UNAVAILABLE, error).message()));
  }
  if (table->abi_version != TOKENMETER_PLUGIN_ABI_VERSION) {
    return refuse(absl::StrCat("built for plugin ABI ", table->abi_version, ", this tokenmeter speaks ",
                               TOKENMETER_PLUGIN_ABI_VERSION,
                               ": rebuild it against this version's kernels/plugin/plugin_abi.h"));
  }
  if (std::string missing = MissingEntries(*table); !missing.empty()) {
    return refuse(absl::StrCat("its table lacks ", missing));
  }
  loaded.identity.name = std::string(table->name, strnlen(table->name, 256));
  loaded.identity.version = table->version == nullptr ? "" : table->version;
  if (tm_status code = table->initialize(error); code != TM_OK) {
    return refuse(absl::StrCat("failed to initialise: ", StatusFromC(code, error).message()));
  }
  loaded.table = table;
  return loaded;
}

// The plugin for `kind`, loaded once per file.
absl::StatusOr<const Loaded*> Load(std::string_view kind) {
  absl::StatusOr<std::string> path = Resolve(kind);
  if (!path.ok()) return path.status();
  static std::mutex mu;
  static std::map<std::string, Loaded>* loaded = new std::map<std::string, Loaded>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded->find(*path);
  if (it == loaded->end()) it = loaded->emplace(*path, LoadPath(*path)).first;
  const Loaded& plugin = it->second;
  if (!plugin.refusal.ok()) return plugin.refusal;
  if (kind.find('/') == std::string_view::npos && plugin.identity.name != kind) {
    return absl::UnavailableError(absl::StrCat("backend plugin ", *path, " names itself backend '",
                                               plugin.identity.name, "', not '", std::string(kind), "'"));
  }
  return &plugin;
}

// ---- The host's store, to the plugin ----

Store* AsStore(void* context) { return static_cast<Store*>(context); }

tm_status StoreSet(void* context, const char* key, const void* value, size_t length, char* error) {
  return StatusToC(AsStore(context)->Set(key, std::string(static_cast<const char*>(value), length)), error);
}

tm_status StoreGet(void* context, const char* key, int64_t timeout_ms, void* value, size_t capacity,
                   size_t* length, char* error) {
  absl::StatusOr<std::string> got = AsStore(context)->Get(key, std::chrono::milliseconds(timeout_ms));
  if (!got.ok()) return StatusToC(got.status(), error);
  *length = got->size();
  if (got->size() > capacity) {
    return StatusToC(absl::ResourceExhaustedError(absl::StrCat("value of ", key, " is ", got->size(),
                                                               " bytes, the buffer ", capacity)),
                     error);
  }
  std::copy(got->begin(), got->end(), static_cast<char*>(value));
  return TM_OK;
}

tm_status StoreAdd(void* context, const char* key, int64_t delta, int64_t* sum, char* error) {
  absl::StatusOr<int64_t> added = AsStore(context)->Add(key, delta);
  if (!added.ok()) return StatusToC(added.status(), error);
  *sum = *added;
  return TM_OK;
}

tm_status StoreWait(void* context, const char* const* keys, size_t key_count, int64_t timeout_ms,
                    char* error) {
  std::vector<std::string> names(keys, keys + key_count);
  return StatusToC(AsStore(context)->Wait(names, std::chrono::milliseconds(timeout_ms)), error);
}

// BackendOptions as the C struct, pointing into `options` (and `store`).
tm_backend_options OptionsToC(const BackendOptions& options, const tm_store* store) {
  tm_backend_options c{};
  c.rank = options.rank;
  c.world_size = options.world_size;
  c.device_index = options.device_index;
  c.store = options.store == nullptr ? nullptr : store;
  c.store_prefix = options.store_prefix.c_str();
  c.timeout_ms = options.timeout.count();
  c.cpu_threads = options.cpu_threads;
  c.collective_host = options.collective_host.c_str();
  c.sysfs_root = options.sysfs_root.c_str();
  c.stop = reinterpret_cast<const uint8_t*>(options.stop);
  c.iterations_begun = reinterpret_cast<int64_t*>(options.iterations_begun);
  return c;
}

// ---- The plugin's backend, as a Backend ----

class PluginBackend : public Backend {
 public:
  PluginBackend(const Loaded& plugin, const BackendOptions& options)
      : plugin_(plugin), table_(*plugin.table), options_(options) {
    store_.context = options_.store;
    store_.set = StoreSet;
    store_.get = StoreGet;
    store_.add = StoreAdd;
    store_.wait = StoreWait;
  }
  ~PluginBackend() override {
    if (handle_ != nullptr) table_.destroy(handle_);
  }

  absl::Status Connect() {
    const tm_backend_options c = OptionsToC(options_, &store_);
    char error[TM_ERROR_CAPACITY] = {};
    tm_device device{};
    tm_backend* handle = nullptr;
    if (tm_status code = table_.create(&c, &handle, &device, error); code != TM_OK) {
      return StatusFromC(code, error);
    }
    handle_ = handle;
    device_ = DeviceFromC(device);
    return absl::OkStatus();
  }

  std::string_view kind() const override { return plugin_.identity.name; }
  const DeviceDescription& device() const override { return device_; }
  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }

  bool SupportsGemm(DType dtype) const override {
    return table_.supports_gemm(handle_, static_cast<int32_t>(dtype)) != 0;
  }
  bool SupportsCollective(CollectiveOp op, DType dtype) const override {
    return table_.supports_collective(handle_, static_cast<int32_t>(op), static_cast<int32_t>(dtype)) != 0;
  }

  absl::StatusOr<GemmRun> RunGemm(const GemmProblem& problem, const IterationPlan& plan) override {
    if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
    const tm_gemm_problem c{problem.m, problem.n, problem.k, static_cast<int32_t>(problem.dtype)};
    const tm_iteration_plan p{plan.warmup, plan.timed};
    GemmRun run;
    run.iteration_seconds.assign(plan.timed, 0.0);
    tm_gemm_result result{};
    result.iteration_seconds = run.iteration_seconds.data();
    char error[TM_ERROR_CAPACITY] = {};
    if (tm_status code = table_.run_gemm(handle_, &c, &p, &result, error); code != TM_OK) {
      return StatusFromC(code, error);
    }
    run.verified = result.verified != 0;
    run.max_error = result.max_error;
    run.wrong_elements = result.wrong_elements;
    return run;
  }

  absl::StatusOr<CollectiveRun> RunCollective(CollectiveOp op, int64_t count, DType dtype,
                                              const IterationPlan& plan) override {
    if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
    const tm_iteration_plan p{plan.warmup, plan.timed};
    CollectiveRun run;
    run.iteration_seconds.assign(plan.timed, 0.0);
    tm_collective_result result{};
    result.iteration_seconds = run.iteration_seconds.data();
    char error[TM_ERROR_CAPACITY] = {};
    if (tm_status code = table_.run_collective(handle_, static_cast<int32_t>(op), count,
                                               static_cast<int32_t>(dtype), &p, &result, error);
        code != TM_OK) {
      return StatusFromC(code, error);
    }
    run.checked_elements = result.checked_elements;
    run.wrong_elements = result.wrong_elements;
    return run;
  }

  absl::StatusOr<StepRun> RunStep(const StepProgram& program, const IterationPlan& plan) override {
    if (table_.run_step == nullptr) return Backend::RunStep(program, plan);
    if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
    if (absl::Status valid = ValidateStepProgram(program, options_.rank, options_.world_size); !valid.ok()) {
      return valid;
    }
    const CStepProgram c(program);
    const tm_iteration_plan p{plan.warmup, plan.timed};
    const size_t ops = program.ops.size(), timed = static_cast<size_t>(plan.timed);
    std::vector<double> op_seconds(timed * ops), exposed(timed * ops);
    StepRun run;
    run.step_seconds.assign(timed, 0.0);
    tm_step_result result{};
    result.op_seconds = op_seconds.data();
    result.exposed_seconds = exposed.data();
    result.step_seconds = run.step_seconds.data();
    result.timed_energy_joules = -1;
    char error[TM_ERROR_CAPACITY] = {};
    if (tm_status code = table_.run_step(handle_, c.get(), &p, &result, error); code != TM_OK) {
      return StatusFromC(code, error);
    }
    for (size_t i = 0; i < timed; ++i) {
      run.op_seconds.emplace_back(op_seconds.begin() + i * ops, op_seconds.begin() + (i + 1) * ops);
      if (result.has_exposed != 0) {
        run.exposed_seconds.emplace_back(exposed.begin() + i * ops, exposed.begin() + (i + 1) * ops);
      }
    }
    run.overlapped = result.overlapped != 0;
    run.timed_energy_joules = result.timed_energy_joules;
    return run;
  }

  bool CollectivesHostStaged() const override {
    return (table_.flags & TM_FLAG_COLLECTIVES_HOST_STAGED) != 0;
  }

  absl::StatusOr<double> EnergyJoules() override {
    double joules = 0;
    char error[TM_ERROR_CAPACITY] = {};
    if (tm_status code = table_.energy_joules(handle_, &joules, error); code != TM_OK) {
      return StatusFromC(code, error);
    }
    return joules;
  }

 private:
  const Loaded& plugin_;
  const tm_backend_plugin& table_;
  const BackendOptions options_;  // its strings are what the plugin's options point into
  tm_store store_{};
  tm_backend* handle_ = nullptr;
  DeviceDescription device_;
};

class PluginPowerSource : public PowerSource {
 public:
  PluginPowerSource(const tm_backend_plugin& table, tm_power_source* source, std::string description)
      : table_(table), source_(source), description_(std::move(description)) {}
  ~PluginPowerSource() override { table_.close_power_source(source_); }

  absl::StatusOr<double> Watts() override {
    double watts = 0;
    char error[TM_ERROR_CAPACITY] = {};
    if (tm_status code = table_.power_watts(source_, &watts, error); code != TM_OK) {
      return StatusFromC(code, error);
    }
    return watts;
  }
  std::string Describe() const override { return description_; }

 private:
  const tm_backend_plugin& table_;
  tm_power_source* source_;
  const std::string description_;
};

}  // namespace

absl::StatusOr<PluginIdentity> FindPlugin(std::string_view kind) {
  absl::StatusOr<const Loaded*> plugin = Load(kind);
  if (!plugin.ok()) return plugin.status();
  return (*plugin)->identity;
}

absl::StatusOr<std::unique_ptr<Backend>> CreatePluginBackend(std::string_view kind,
                                                             const BackendOptions& options) {
  absl::StatusOr<const Loaded*> plugin = Load(kind);
  if (!plugin.ok()) return plugin.status();
  auto backend = std::make_unique<PluginBackend>(**plugin, options);
  if (absl::Status connected = backend->Connect(); !connected.ok()) return connected;
  return backend;
}

absl::StatusOr<std::vector<DeviceDescription>> ListPluginDevices(std::string_view kind) {
  absl::StatusOr<const Loaded*> plugin = Load(kind);
  if (!plugin.ok()) return plugin.status();
  const tm_backend_plugin& table = *(*plugin)->table;
  std::vector<tm_device> devices(16);
  for (;;) {
    size_t count = 0;
    char error[TM_ERROR_CAPACITY] = {};
    if (tm_status code = table.list_devices(devices.data(), devices.size(), &count, error); code != TM_OK) {
      return StatusFromC(code, error);
    }
    if (count > devices.size()) {  // more than the buffer held: again, with room
      devices.resize(count);
      continue;
    }
    std::vector<DeviceDescription> out;
    for (size_t i = 0; i < count; ++i) out.push_back(DeviceFromC(devices[i]));
    return out;
  }
}

absl::StatusOr<std::string> DescribePluginEnergy(std::string_view kind, const BackendOptions& options) {
  absl::StatusOr<const Loaded*> plugin = Load(kind);
  if (!plugin.ok()) return plugin.status();
  const tm_backend_plugin& table = *(*plugin)->table;
  if (table.describe_energy == nullptr) {
    return absl::UnimplementedError(absl::StrCat("backend ", std::string(kind), " does not say how it measures energy"));
  }
  const tm_store none{};
  const tm_backend_options c = OptionsToC(options, &none);
  char text[TM_ERROR_CAPACITY] = {}, error[TM_ERROR_CAPACITY] = {};
  if (tm_status code = table.describe_energy(&c, text, error); code != TM_OK) {
    return StatusFromC(code, error);
  }
  return std::string(text, strnlen(text, sizeof text));
}

absl::StatusOr<std::unique_ptr<PowerSource>> OpenPluginPowerSource(std::string_view kind,
                                                                   const PowerSourceOptions& options) {
  absl::StatusOr<const Loaded*> plugin = Load(kind);
  if (!plugin.ok()) return plugin.status();
  const tm_backend_plugin& table = *(*plugin)->table;
  if (table.open_power_source == nullptr) {
    return absl::UnimplementedError(absl::StrCat("backend ", std::string(kind), " reports no power"));
  }
  tm_power_options c{};
  c.device_index = options.device_index;
  c.uuid = options.uuid.c_str();
  c.sysfs_root = options.sysfs_root.c_str();
  tm_power_source* source = nullptr;
  char description[TM_ERROR_CAPACITY] = {}, error[TM_ERROR_CAPACITY] = {};
  if (tm_status code = table.open_power_source(&c, &source, description, error); code != TM_OK) {
    return StatusFromC(code, error);
  }
  return std::make_unique<PluginPowerSource>(table, source,
                                             std::string(description, strnlen(description, sizeof description)));
}

std::vector<std::string> DiscoverPlugins() {
  std::set<std::string> names;
  const std::string prefix = kPrefix, suffix = kSuffix;
  for (const auto& [dir, why] : SearchPath()) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* entry = readdir(d)) {
      const std::string file = entry->d_name;
      if (file.size() <= prefix.size() + suffix.size() || !file.starts_with(prefix) ||
          !file.ends_with(suffix)) {
        continue;
      }
      const std::string name = file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
      if (IsPluginName(name)) names.insert(name);
    }
    closedir(d);
  }
  return {names.begin(), names.end()};
}

}  // namespace tokenmeter::kernels::plugin
