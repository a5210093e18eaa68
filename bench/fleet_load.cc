// fleet_load: the coordinator at fleet scale, from one cheap process.
//
//   fleet_load --coordinator HOST:PORT --workers N [--seconds S] [--jobs J]
//              [--channels C] [--threads T] [--metrics HOST:PORT]
//              [--coordinator-pid PID] [--register-concurrency R]
//              [--poll-wait-ms W] [--register-timeout S] [--scrapes K]
//              [--heartbeat-phase spread|register] [--dump-heartbeats FILE]
//
// bench/fleet_load.sh runs it against fresh coordinators and prints a table.
//
// Simulates N workers, each with an inventory of 8 GPUs, over a few gRPC
// channels (HTTP/2 multiplexes them) and T threads, each driving its own
// completion queue with the async client API, so that thousands of workers
// cost the generator little. Each simulated worker does what worker/worker.cc
// does:
//   Register(inventory) -> worker id and heart-beat interval;
//   Heartbeat every interval (the next one `interval` after the last reply;
//   the first at a random phase of the interval, as in a fleet that has run
//   a while, or with --heartbeat-phase register right after registering, so
//   that a fleet registered in a burst beats in step);
//   PollTask long-poll (W ms, as the real worker's 2 s), re-issued at once,
//   so every worker's task wait is open all the time;
//   on a task, ReportResult with one synthetic GEMM row per rank, then poll
//   again.
// While the fleet is up it submits J one-rank jobs (spread over the first
// 80% of the window) and follows each with GetJob long-polls to its end.
//
// Nothing here measures a device. The results the simulated workers report
// are made up and labelled so: setup "synthetic-fleet", hosts "sim-N",
// workload "synthetic-fleet/gemm", shape "synthetic-64", a software_versions
// entry "fleet_load" saying so, and verified=false. Point it only at a
// coordinator with a throw-away store (bench/fleet_load.sh makes one).
//
// Measured over the window of S seconds that starts once all N are
// registered: every heart-beat's latency (client side, send to reply, all
// kept; percentiles by nearest rank over the sorted samples), completed RPCs
// per second, each job's submit-to-finish time, the coordinator's CPU
// (utime+stime from /proc/PID/stat over the window), its RSS and thread count
// (max of samples every 200 ms over the whole run), and the generator's own
// CPU. During the window it scrapes --metrics K times (at its start and spread
// over it; size, time); after
// it, ListWorkers(include_lost) counts simulated workers the coordinator marked
// lost. Prints one JSON line on stdout; progress goes to stderr.
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/alarm.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "tokenmeter/v1/coordinator.grpc.pb.h"

namespace {

namespace v1 = tokenmeter::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kSetup[] = "synthetic-fleet";
constexpr int kDevicesPerWorker = 8;
constexpr milliseconds kCallTimeout{5000};  // as worker/worker.cc
constexpr milliseconds kRetryPause{200};    // as worker/worker.cc
constexpr int64_t kGetJobWaitMs = 10000;    // the server's long-poll cap

// ------------------------------------------------------------------ flags

struct Options {
  std::string coordinator;
  std::string metrics;  // HOST:PORT of the coordinator's /metrics; "" = not scraped
  int workers = 1024;
  double seconds = 30;
  int jobs = 100;
  int channels = 8;
  int threads = 2;
  int register_concurrency = 256;
  int64_t poll_wait_ms = 10000;
  double register_timeout = 120;
  int coordinator_pid = 0;
  int scrapes = 3;
  bool spread = true;  // first heart-beat at a random phase of the interval
  std::string dump_heartbeats;  // FILE: one "send_ms latency_ms" line per beat of the window
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "fleet_load: " << why << "\n"
            << "usage: fleet_load --coordinator HOST:PORT --workers N [--seconds S] [--jobs J] [--channels C]\n"
            << "                  [--threads T] [--metrics HOST:PORT] [--coordinator-pid PID]\n"
            << "                  [--register-concurrency R] [--poll-wait-ms W] [--register-timeout S] [--scrapes K]\n"
            << "                  [--heartbeat-phase spread|register] [--dump-heartbeats FILE]\n";
  std::exit(2);
}

// One --flag value pair into the options; Usage on an unknown flag.
void ParseFlag(Options& o, const std::string& flag, const std::string& v) {
  if (flag == "--coordinator") {
    o.coordinator = v;
  } else if (flag == "--metrics") {
    o.metrics = v;
  } else if (flag == "--workers") {
    o.workers = std::stoi(v);
  } else if (flag == "--seconds") {
    o.seconds = std::stod(v);
  } else if (flag == "--jobs") {
    o.jobs = std::stoi(v);
  } else if (flag == "--channels") {
    o.channels = std::stoi(v);
  } else if (flag == "--threads") {
    o.threads = std::stoi(v);
  } else if (flag == "--register-concurrency") {
    o.register_concurrency = std::stoi(v);
  } else if (flag == "--poll-wait-ms") {
    o.poll_wait_ms = std::stoll(v);
  } else if (flag == "--register-timeout") {
    o.register_timeout = std::stod(v);
  } else if (flag == "--coordinator-pid") {
    o.coordinator_pid = std::stoi(v);
  } else if (flag == "--scrapes") {
    o.scrapes = std::stoi(v);
  } else if (flag == "--heartbeat-phase") {
    if (v != "spread" && v != "register") Usage("--heartbeat-phase must be spread or register");
    o.spread = v == "spread";
  } else if (flag == "--dump-heartbeats") {
    o.dump_heartbeats = v;
  } else {
    Usage("unknown flag " + flag);
  }
}

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const std::string v = argv[i + 1];
    try {
      ParseFlag(o, flag, v);
    } catch (const std::logic_error&) {  // std::stoi and friends: not a number
      Usage(flag + ": not a number: " + v);
    }
  }
  if (o.coordinator.empty()) Usage("--coordinator is required");
  if (o.workers < 1 || o.channels < 1 || o.threads < 1 || o.seconds <= 0 || o.jobs < 0 ||
      o.register_concurrency < 1 || o.poll_wait_ms < 1 || o.scrapes < 0) {
    Usage("counts must be positive");
  }
  return o;
}

// ------------------------------------------------------- what is simulated

v1::WorkerInventory SimulatedInventory(int index) {
  v1::WorkerInventory inv;
  inv.set_hostname("sim-" + std::to_string(index));
  inv.set_backend("cuda");
  inv.set_cpu_model("AMD EPYC 9454 48-Core Processor");
  inv.set_cpu_cores(96);
  inv.set_host_memory_bytes(int64_t{2} << 40);
  inv.set_interconnect("nvlink");
  inv.set_setup(kSetup);
  inv.set_collective_host("127.0.0.1");
  inv.set_pid(static_cast<int32_t>(getpid()));
  (*inv.mutable_software_versions())["tokenmeter"] = "0.1.0";
  (*inv.mutable_software_versions())["fleet_load"] = "simulated worker: no device, reported timings are synthetic";
  for (auto d : {v1::DTYPE_FP32, v1::DTYPE_TF32, v1::DTYPE_FP16, v1::DTYPE_BF16, v1::DTYPE_FP8_E4M3}) {
    inv.add_gemm_dtypes(d);
    if (d != v1::DTYPE_TF32 && d != v1::DTYPE_FP8_E4M3) inv.add_collective_dtypes(d);
  }
  for (int i = 0; i < kDevicesPerWorker; ++i) {
    auto* dev = inv.add_devices();
    dev->set_index(i);
    dev->set_model("NVIDIA H100 80GB HBM3");
    char uuid[64];
    std::snprintf(uuid, sizeof(uuid), "GPU-%08x-0000-4000-8000-%012x", static_cast<unsigned>(index),
                  static_cast<unsigned>(i));
    dev->set_uuid(uuid);
    dev->set_memory_bytes(int64_t{81559} << 20);  // what nvidia-smi reports for an H100 80GB
    dev->set_compute_units(132);
    dev->set_compute_capability("9.0");
    dev->set_driver_version("550.54.15");
  }
  return inv;
}

// A one-rank GEMM small enough that its report is a few hundred bytes.
v1::WorkloadSpec SyntheticSpec() {
  v1::WorkloadSpec spec;
  spec.set_name("synthetic-fleet/gemm");
  spec.set_version(1);
  spec.set_warmup_iterations(0);
  spec.set_timed_iterations(3);
  auto* shape = spec.mutable_gemm()->add_shapes();
  shape->set_name("synthetic-64");
  shape->set_m(64);
  shape->set_n(64);
  shape->set_k(64);
  spec.mutable_gemm()->add_dtypes(v1::DTYPE_BF16);
  return spec;
}

// Every assigned rank answered with made-up iteration times, unverified.
v1::ReportResultRequest SyntheticReport(const std::string& worker_id, const v1::WorkerInventory& inv,
                                        const v1::Task& task) {
  v1::ReportResultRequest report;
  report.set_worker_id(worker_id);
  report.set_job_id(task.job_id());
  for (const auto& a : task.ranks()) {
    auto* r = report.add_ranks();
    r->set_rank(a.rank());
    r->set_worker_id(worker_id);
    if (a.device_index() >= 0 && a.device_index() < inv.devices_size()) *r->mutable_device() = inv.devices(a.device_index());
    for (const auto& shape : task.spec().gemm().shapes()) {
      for (int dtype : task.spec().gemm().dtypes()) {
        auto* g = r->add_gemm();
        *g->mutable_shape() = shape;
        g->set_dtype(static_cast<v1::DType>(dtype));
        for (int i = 0; i < std::max(1, task.spec().timed_iterations()); ++i) g->add_iteration_seconds(1e-3);
        g->set_verified(false);  // nothing was computed
      }
    }
  }
  return report;
}

// --------------------------------------------------------------- the window

// Steady-clock nanoseconds; set once by the main thread, read by the loops.
std::atomic<int64_t> g_window_start{INT64_MAX};
std::atomic<int64_t> g_window_end{INT64_MAX};

int64_t Nanos(Clock::time_point t) { return t.time_since_epoch().count(); }
bool InWindow(Clock::time_point t) {
  const int64_t n = Nanos(t);
  return n >= g_window_start.load(std::memory_order_relaxed) && n < g_window_end.load(std::memory_order_relaxed);
}

std::chrono::system_clock::time_point Deadline(milliseconds from_now) { return std::chrono::system_clock::now() + from_now; }

// ---------------------------------------------------------- the event loop

// Everything posted to a completion queue is a Tag; the loop runs its Done.
struct Tag {
  virtual ~Tag() = default;
  virtual void Done(bool ok) = 0;
};

template <typename Request, typename Response>
struct Call final : Tag {
  grpc::ClientContext context;
  Request request;
  Response response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
  Clock::time_point sent;
  std::function<void(Call&)> on_done;
  void Done(bool) override { on_done(*this); }
};

struct Timer final : Tag {
  grpc::Alarm alarm;
  std::function<void()> fire;
  void Done(bool) override { fire(); }
};

// One thread, one completion queue, and the calls and timers posted to it.
// Only that thread touches the loop's state, so none of it is locked.
class EventLoop {
 public:
  virtual ~EventLoop() = default;

  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // From any thread: stop issuing calls, cancel the long ones, and end the
  // loop once every call and timer still out has come back.
  void RequestStop() {
    After(Clock::now(), [this] {
      stopping_ = true;
      OnStop();
    });
  }

  template <typename Request, typename Response, typename Prepare>
  Call<Request, Response>* Send(Prepare prepare, Request request, milliseconds timeout,
                                std::function<void(Call<Request, Response>&)> on_done) {
    auto* call = new Call<Request, Response>();
    call->request = std::move(request);
    call->on_done = std::move(on_done);
    call->context.set_deadline(Deadline(timeout));
    in_flight_.fetch_add(1);
    call->sent = Clock::now();
    call->reader = prepare(&call->context, call->request, &cq_);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
    return call;
  }

  void After(Clock::time_point when, std::function<void()> fire) {
    auto* timer = new Timer();
    timer->fire = std::move(fire);
    in_flight_.fetch_add(1);
    timer->alarm.Set(&cq_, std::chrono::system_clock::now() + (when - Clock::now()), timer);
  }

  // RPCs completed inside the window.
  int64_t completed_in_window() const { return completed_in_window_; }

 protected:
  virtual void OnStop() {}
  bool stopping() const { return stopping_; }
  void CountCompletion() {
    if (InWindow(Clock::now())) ++completed_in_window_;
  }

 private:
  void Run() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      auto* t = static_cast<Tag*>(tag);
      t->Done(ok);
      delete t;
      if (in_flight_.fetch_sub(1) == 1 && stopping_) cq_.Shutdown();
    }
  }

  grpc::CompletionQueue cq_;
  std::thread thread_;
  std::atomic<int> in_flight_{0};
  bool stopping_ = false;
  int64_t completed_in_window_ = 0;
};

// -------------------------------------------------------- simulated workers

struct Counters {
  int64_t registered = 0;
  int64_t register_errors = 0;
  int64_t heartbeats = 0;  // completed inside the window
  int64_t heartbeat_errors = 0;
  int64_t polls = 0;
  int64_t poll_errors = 0;
  int64_t tasks = 0;
  int64_t reports = 0;
  int64_t report_errors = 0;
  int64_t told_unknown = 0;  // NOT_FOUND: the coordinator forgot (lost) this worker
  int64_t heartbeat_interval_ms = 0;  // the longest cadence a reply told
  int64_t lost_after_ms = 0;
  std::map<std::string, int64_t> errors;  // "method: code message" -> count
};

struct SimWorker {
  int index = 0;
  v1::WorkerService::Stub* stub = nullptr;
  v1::WorkerInventory inventory;
  std::string id;
  std::string running_job;
  milliseconds heartbeat_interval{1000};
  bool dead = false;
  grpc::ClientContext* poll = nullptr;  // the open PollTask, to cancel at the end
};

std::atomic<int64_t> g_registered{0};
std::atomic<int64_t> g_last_registered_ns{0};

void NoteRegistered() {
  g_registered.fetch_add(1);
  const int64_t now = Nanos(Clock::now());
  int64_t seen = g_last_registered_ns.load();
  while (seen < now && !g_last_registered_ns.compare_exchange_weak(seen, now)) {
  }
}

// "Method: code N message", each word of the message holding a digit (an id,
// a number) folded to "#", so that one kind of error is counted once.
std::string Describe(const char* method, const grpc::Status& s) {
  std::istringstream words(s.error_message().substr(0, 160));
  std::string message, word;
  while (words >> word) {
    const bool has_digit = std::any_of(word.begin(), word.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    message += " " + (has_digit ? std::string("#") : word);
  }
  return std::string(method) + ": code " + std::to_string(s.error_code()) + message;
}

// The simulated workers of one thread.
class WorkerShard final : public EventLoop {
 public:
  WorkerShard(const Options& options, int max_registering) : options_(options), max_registering_(max_registering) {}

  void Add(int index, v1::WorkerService::Stub* stub) {
    auto w = std::make_unique<SimWorker>();
    w->index = index;
    w->stub = stub;
    w->inventory = SimulatedInventory(index);
    workers_.push_back(std::move(w));
  }

  // Starts registering; each worker starts heart-beating and polling once registered.
  void Begin() {
    After(Clock::now(), [this] {
      for (int i = 0; i < max_registering_ && next_to_register_ < workers_.size(); ++i) Register(*workers_[next_to_register_++]);
    });
  }

  const Counters& counters() const { return counters_; }
  const std::vector<int64_t>& heartbeat_ns() const { return heartbeat_ns_; }
  const std::vector<int64_t>& heartbeat_sent_ns() const { return heartbeat_sent_ns_; }

 private:
  using RegisterCall = Call<v1::RegisterRequest, v1::RegisterResponse>;
  using HeartbeatCall = Call<v1::HeartbeatRequest, v1::HeartbeatResponse>;
  using PollCall = Call<v1::PollTaskRequest, v1::PollTaskResponse>;
  using ReportCall = Call<v1::ReportResultRequest, v1::ReportResultResponse>;

  void OnStop() override {
    for (auto& w : workers_) {
      if (w->poll != nullptr) w->poll->TryCancel();
    }
  }

  void NoteError(const char* method, const grpc::Status& s) { ++counters_.errors[Describe(method, s)]; }

  void Register(SimWorker& w) {
    if (stopping()) return;
    v1::RegisterRequest request;
    *request.mutable_inventory() = w.inventory;
    auto* stub = w.stub;
    Send<v1::RegisterRequest, v1::RegisterResponse>(
        [stub](grpc::ClientContext* c, const v1::RegisterRequest& r, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncRegister(c, r, cq);
        },
        std::move(request), kCallTimeout, [this, &w](RegisterCall& call) { Registered(w, call); });
  }

  void Registered(SimWorker& w, RegisterCall& call) {
    CountCompletion();
    if (!call.status.ok()) {
      ++counters_.register_errors;
      NoteError("Register", call.status);
      After(Clock::now() + kRetryPause, [this, &w] { Register(w); });
      return;
    }
    ++counters_.registered;
    NoteRegistered();
    w.id = call.response.worker_id();
    w.heartbeat_interval = milliseconds(std::max<int64_t>(50, call.response.heartbeat_interval_ms()));
    counters_.heartbeat_interval_ms = std::max(counters_.heartbeat_interval_ms, call.response.heartbeat_interval_ms());
    counters_.lost_after_ms = std::max(counters_.lost_after_ms, call.response.lost_after_ms());
    if (next_to_register_ < workers_.size()) Register(*workers_[next_to_register_++]);
    if (options_.spread) {
      After(Clock::now() + FirstBeatDelay(w), [this, &w] { Heartbeat(w); });
    } else {
      Heartbeat(w);
    }
    Poll(w);
  }

  // A fleet that has run a while beats at random phases; one registered in a
  // burst would beat in step (--heartbeat-phase register, the real worker's
  // first beat right after registering).
  Clock::duration FirstBeatDelay(const SimWorker& w) {
    std::uniform_int_distribution<int64_t> phase(0, std::chrono::duration_cast<Clock::duration>(w.heartbeat_interval).count() - 1);
    return Clock::duration(phase(random_));
  }

  void Heartbeat(SimWorker& w) {
    if (stopping() || w.dead) return;
    v1::HeartbeatRequest request;
    request.set_worker_id(w.id);
    request.set_job_id(w.running_job);
    auto* stub = w.stub;
    const milliseconds timeout = std::max(w.heartbeat_interval * 2, milliseconds(1000));  // as worker/worker.cc
    Send<v1::HeartbeatRequest, v1::HeartbeatResponse>(
        [stub](grpc::ClientContext* c, const v1::HeartbeatRequest& r, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncHeartbeat(c, r, cq);
        },
        std::move(request), timeout, [this, &w](HeartbeatCall& call) { HeartbeatAnswered(w, call); });
  }

  void HeartbeatAnswered(SimWorker& w, HeartbeatCall& call) {
    const Clock::time_point now = Clock::now();
    CountCompletion();
    // Every heart-beat sent inside the window counts, failed ones too (a
    // deadline's latency is a lower bound on the real one).
    if (InWindow(call.sent)) {
      heartbeat_ns_.push_back(Nanos(now) - Nanos(call.sent));
      heartbeat_sent_ns_.push_back(Nanos(call.sent));
      ++counters_.heartbeats;
      if (!call.status.ok()) ++counters_.heartbeat_errors;
    }
    if (call.status.error_code() == grpc::StatusCode::NOT_FOUND) {
      ++counters_.told_unknown;
      w.dead = true;  // counted, not re-registered: the lost count stays exact
      return;
    }
    if (!call.status.ok() && !stopping()) NoteError("Heartbeat", call.status);
    Clock::duration next = w.heartbeat_interval;
    const milliseconds told(std::max<int64_t>(50, call.response.heartbeat_interval_ms()));
    if (call.status.ok() && call.response.heartbeat_interval_ms() > 0 && told != w.heartbeat_interval) {
      // The cadence grows with the fleet; as worker/worker.cc, the first beat
      // at the new one comes at a random phase of it.
      w.heartbeat_interval = told;
      next = FirstBeatDelay(w);
      counters_.heartbeat_interval_ms = std::max(counters_.heartbeat_interval_ms, call.response.heartbeat_interval_ms());
      counters_.lost_after_ms = std::max(counters_.lost_after_ms, call.response.lost_after_ms());
    }
    After(now + next, [this, &w] { Heartbeat(w); });
  }

  void Poll(SimWorker& w) {
    if (stopping() || w.dead) return;
    v1::PollTaskRequest request;
    request.set_worker_id(w.id);
    request.set_wait_ms(options_.poll_wait_ms);
    auto* stub = w.stub;
    auto* call = Send<v1::PollTaskRequest, v1::PollTaskResponse>(
        [stub](grpc::ClientContext* c, const v1::PollTaskRequest& r, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncPollTask(c, r, cq);
        },
        std::move(request), milliseconds(options_.poll_wait_ms) + kCallTimeout,
        [this, &w](PollCall& call) { PollAnswered(w, call); });
    w.poll = &call->context;
  }

  void PollAnswered(SimWorker& w, PollCall& call) {
    w.poll = nullptr;
    CountCompletion();
    if (stopping()) return;
    if (InWindow(call.sent)) ++counters_.polls;
    if (call.status.ok()) {
      if (call.response.has_task()) {
        ServeTask(w, call.response.task());
      } else {
        Poll(w);
      }
      return;
    }
    if (InWindow(call.sent)) ++counters_.poll_errors;
    NoteError("PollTask", call.status);
    if (call.status.error_code() == grpc::StatusCode::NOT_FOUND) {
      ++counters_.told_unknown;
      w.dead = true;
      return;
    }
    After(Clock::now() + kRetryPause, [this, &w] { Poll(w); });
  }

  void ServeTask(SimWorker& w, const v1::Task& task) {
    ++counters_.tasks;
    w.running_job = task.job_id();
    auto* stub = w.stub;
    Send<v1::ReportResultRequest, v1::ReportResultResponse>(
        [stub](grpc::ClientContext* c, const v1::ReportResultRequest& r, grpc::CompletionQueue* cq) {
          return stub->PrepareAsyncReportResult(c, r, cq);
        },
        SyntheticReport(w.id, w.inventory, task), kCallTimeout, [this, &w](ReportCall& call) {
          CountCompletion();
          ++counters_.reports;
          if (!call.status.ok()) {
            ++counters_.report_errors;
            NoteError("ReportResult", call.status);
          }
          w.running_job.clear();
          Poll(w);
        });
  }

  const Options& options_;
  const int max_registering_;
  std::vector<std::unique_ptr<SimWorker>> workers_;
  size_t next_to_register_ = 0;
  Counters counters_;
  std::vector<int64_t> heartbeat_ns_;
  std::vector<int64_t> heartbeat_sent_ns_;  // beside heartbeat_ns_, for --dump-heartbeats
  std::mt19937_64 random_{12345};
};

// ----------------------------------------------------------------- the jobs

struct JobRecord {
  Clock::time_point submitted;
  std::string id;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  int64_t submit_to_finish_ns = -1;
  std::string error;
};

// Submits one-rank jobs on a schedule and follows each to its end.
class JobDriver final : public EventLoop {
 public:
  explicit JobDriver(v1::Coordinator::Stub* stub) : stub_(stub) {}

  // J submissions, evenly over [start, start + span).
  void Schedule(int jobs, Clock::time_point start, Clock::duration span) {
    records_.resize(jobs);
    for (int i = 0; i < jobs; ++i) {
      const auto at = start + span * i / std::max(1, jobs);
      After(at, [this, i] { Submit(i); });
    }
  }

  const std::vector<JobRecord>& records() const { return records_; }
  std::map<std::string, int64_t> errors;

 private:
  using SubmitCall = Call<v1::SubmitJobRequest, v1::SubmitJobResponse>;
  using GetCall = Call<v1::GetJobRequest, v1::JobStatus>;

  void OnStop() override {
    for (auto* c : open_) c->TryCancel();
  }

  void Submit(int i) {
    if (stopping()) return;
    v1::SubmitJobRequest request;
    *request.mutable_spec() = SyntheticSpec();
    request.set_ranks(1);
    request.set_setup(kSetup);
    records_[i].submitted = Clock::now();
    Send<v1::SubmitJobRequest, v1::SubmitJobResponse>(
        [this](grpc::ClientContext* c, const v1::SubmitJobRequest& r, grpc::CompletionQueue* cq) {
          return stub_->PrepareAsyncSubmitJob(c, r, cq);
        },
        std::move(request), kCallTimeout, [this, i](SubmitCall& call) {
          CountCompletion();
          if (!call.status.ok()) {
            records_[i].error = call.status.error_message();
            ++errors[Describe("SubmitJob", call.status)];
            return;
          }
          records_[i].id = call.response.job_id();
          Follow(i);
        });
  }

  void Follow(int i) {
    if (stopping()) return;
    v1::GetJobRequest request;
    request.set_job_id(records_[i].id);
    request.set_wait_ms(kGetJobWaitMs);
    auto* call = Send<v1::GetJobRequest, v1::JobStatus>(
        [this](grpc::ClientContext* c, const v1::GetJobRequest& r, grpc::CompletionQueue* cq) {
          return stub_->PrepareAsyncGetJob(c, r, cq);
        },
        std::move(request), milliseconds(kGetJobWaitMs) + kCallTimeout, [this, i](GetCall& call) {
          open_.erase(std::remove(open_.begin(), open_.end(), &call.context), open_.end());
          CountCompletion();
          if (stopping()) return;
          if (!call.status.ok()) {
            ++errors[Describe("GetJob", call.status)];
            After(Clock::now() + kRetryPause, [this, i] { Follow(i); });
            return;
          }
          const auto state = call.response.state();
          if (state == v1::JOB_SUCCEEDED || state == v1::JOB_FAILED || state == v1::JOB_CANCELLED) {
            records_[i].state = state;
            records_[i].error = call.response.error();
            records_[i].submit_to_finish_ns = Nanos(Clock::now()) - Nanos(records_[i].submitted);
            return;
          }
          Follow(i);
        });
    open_.push_back(&call->context);
  }

  v1::Coordinator::Stub* stub_;
  std::vector<JobRecord> records_;
  std::vector<grpc::ClientContext*> open_;
};

// ------------------------------------------------------- the coordinator's

struct ProcTimes {
  bool ok = false;
  double cpu_seconds = 0;  // utime + stime
};

ProcTimes ReadCpu(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  ProcTimes t;
  if (!std::getline(in, line)) return t;
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return t;
  std::istringstream rest(line.substr(paren + 2));
  std::string field;
  // Fields after "pid (comm)": state is the 3rd of stat; utime and stime the 14th and 15th.
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  if (fields.size() < 13) return t;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  t.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
  t.ok = true;
  return t;
}

// Busy and total jiffies of all CPUs together (/proc/stat's first line).
struct MachineTimes {
  double busy = 0, total = 0;
};

MachineTimes ReadMachine() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  MachineTimes t;
  double v;
  for (int i = 0; i < 8 && in >> v; ++i) {  // user nice system idle iowait irq softirq steal
    t.total += v;
    if (i != 3 && i != 4) t.busy += v;
  }
  return t;
}

struct ProcStatus {
  int64_t rss_kib = -1;
  int threads = -1;
};

ProcStatus ReadStatus(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  ProcStatus s;
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") in >> s.rss_kib;
    else if (key == "Threads:") in >> s.threads;
    in.ignore(1 << 20, '\n');
  }
  return s;
}

// Samples a process's RSS and thread count until stopped; keeps the maxima.
class ProcSampler {
 public:
  explicit ProcSampler(std::string pid) : pid_(std::move(pid)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        const ProcStatus s = ReadStatus(pid_);
        max_rss_kib_ = std::max(max_rss_kib_.load(), s.rss_kib);
        max_threads_ = std::max(max_threads_.load(), s.threads);
        std::this_thread::sleep_for(milliseconds(200));
      }
    });
  }
  ~ProcSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t max_rss_kib() const { return max_rss_kib_; }
  int max_threads() const { return max_threads_; }

 private:
  std::string pid_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_rss_kib_{-1};
  std::atomic<int> max_threads_{-1};
  std::thread thread_;
};

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

struct Scrape {
  bool ok = false;
  int64_t body_bytes = 0;
  double ms = 0;
  std::string error;
};

// One plain HTTP/1.0 GET of /metrics, read to the end, as Prometheus reads it.
Scrape ScrapeMetrics(const std::string& host_port) {
  Scrape out;
  const auto colon = host_port.rfind(':');
  const std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const auto start = Clock::now();
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    out.error = "cannot resolve " + host_port;
    return out;
  }
  const int fd = socket(res->ai_family, res->ai_socktype, 0);
  timeval timeout{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    out.error = "cannot connect to " + host_port;
    freeaddrinfo(res);
    if (fd >= 0) close(fd);
    return out;
  }
  freeaddrinfo(res);
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: " + host_port + "\r\n\r\n";
  if (send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
    out.error = "send failed";
    close(fd);
    return out;
  }
  std::string response;
  char buf[1 << 16];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  out.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  const auto body = response.find("\r\n\r\n");
  if (n < 0 || body == std::string::npos || response.rfind("HTTP/1.", 0) != 0 ||
      response.find(" 200 ") > response.find("\r\n")) {
    out.error = "bad or partial response (" + std::to_string(response.size()) + " bytes)";
    return out;
  }
  out.body_bytes = static_cast<int64_t>(response.size() - body - 4);
  out.ok = true;
  return out;
}

struct FleetCount {
  bool ok = false;
  int64_t ours = 0, idle = 0, busy = 0, lost = 0, gone = 0;
  std::string error;
};

// The coordinator's own view of the simulated workers.
FleetCount CountWorkers(v1::Coordinator::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(Deadline(milliseconds(60000)));
  v1::ListWorkersRequest request;
  request.set_include_lost(true);
  v1::ListWorkersResponse response;
  const grpc::Status s = stub.ListWorkers(&context, request, &response);
  FleetCount c;
  if (!s.ok()) {
    c.error = s.error_message();
    return c;
  }
  c.ok = true;
  for (const auto& w : response.workers()) {
    if (w.inventory().setup() != kSetup) continue;
    ++c.ours;
    switch (w.state()) {
      case v1::WORKER_IDLE: ++c.idle; break;
      case v1::WORKER_BUSY: ++c.busy; break;
      case v1::WORKER_LOST: ++c.lost; break;
      case v1::WORKER_GONE: ++c.gone; break;
      default: break;
    }
  }
  return c;
}

// ------------------------------------------------------------------ output

// Nearest rank: the smallest sample with at least p of them at or below it.
double PercentileMs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return -1;
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1]) / 1e6;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out += ch;
  }
  return out + "\"";
}

class JsonLine {
 public:
  JsonLine& Add(const std::string& key, double v) {
    std::ostringstream s;
    s.precision(6);
    s << v;
    return Raw(key, std::isfinite(v) ? s.str() : "null");
  }
  JsonLine& Add(const std::string& key, int64_t v) { return Raw(key, std::to_string(v)); }
  JsonLine& Add(const std::string& key, const std::string& v) { return Raw(key, JsonString(v)); }
  JsonLine& Raw(const std::string& key, const std::string& v) {
    out_ += (out_.empty() ? "{" : ",") + JsonString(key) + ":" + v;
    return *this;
  }
  std::string str() const { return out_ + "}"; }

 private:
  std::string out_;
};

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, int index) {
  grpc::ChannelArguments args;
  // Separate connections: no shared subchannel, and an argument that differs.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("tokenmeter.fleet_load.channel", index);
  // Keepalive as worker/channel.cc sets it.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(512 << 20);  // ListWorkers of the whole fleet
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void SleepUntil(Clock::time_point t) { std::this_thread::sleep_until(t); }

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// ------------------------------------------------------------------- phases

// The channels, the simulated workers spread over threads, and the jobs.
struct Fleet {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::WorkerService::Stub>> stubs;
  std::unique_ptr<v1::Coordinator::Stub> coordinator;
  std::vector<std::unique_ptr<WorkerShard>> shards;
  std::unique_ptr<JobDriver> jobs;
};

// Worker i goes to thread i % T and channel i % C. Null when the
// coordinator cannot be reached.
std::unique_ptr<Fleet> MakeFleet(const Options& opt) {
  auto fleet = std::make_unique<Fleet>();
  for (int i = 0; i < opt.channels; ++i) {
    fleet->channels.push_back(MakeChannel(opt.coordinator, i));
    if (!fleet->channels.back()->WaitForConnected(Deadline(milliseconds(10000)))) return nullptr;
    fleet->stubs.push_back(v1::WorkerService::NewStub(fleet->channels.back()));
  }
  fleet->coordinator = v1::Coordinator::NewStub(fleet->channels[0]);
  const int per_shard_registering = std::max(1, opt.register_concurrency / opt.threads);
  for (int t = 0; t < opt.threads; ++t) {
    fleet->shards.push_back(std::make_unique<WorkerShard>(opt, per_shard_registering));
  }
  for (int i = 0; i < opt.workers; ++i) fleet->shards[i % opt.threads]->Add(i, fleet->stubs[i % opt.channels].get());
  fleet->jobs = std::make_unique<JobDriver>(fleet->coordinator.get());
  return fleet;
}

struct Registration {
  int64_t registered = 0;
  double seconds = -1;  // first Register sent to last answered
};

// Starts the loops; returns once all are registered or the timeout passed.
// Registered workers heart-beat and poll from then on.
Registration RegisterAll(const Options& opt, Fleet& fleet) {
  const auto begin = Clock::now();
  for (auto& s : fleet.shards) {
    s->Start();
    s->Begin();
  }
  fleet.jobs->Start();
  const auto give_up = begin + Seconds(opt.register_timeout);
  while (g_registered.load() < opt.workers && Clock::now() < give_up) std::this_thread::sleep_for(milliseconds(5));
  Registration r;
  r.registered = g_registered.load();
  if (r.registered > 0) r.seconds = static_cast<double>(g_last_registered_ns.load() - Nanos(begin)) / 1e9;
  return r;
}

struct WindowReadings {
  Clock::time_point start;
  double seconds = 0;
  ProcTimes coordinator_cpu0, coordinator_cpu1;
  double self_cpu0 = 0, self_cpu1 = 0;
  MachineTimes machine0, machine1;
  std::vector<Scrape> scrapes;
  FleetCount fleet;
};

// The measured window: jobs on a schedule, scrapes spread over it, CPU
// read at both ends, then the coordinator's count of the fleet (still
// heart-beating: any simulated worker it lists as lost, it lost wrongly).
constexpr auto kCountGrace = std::chrono::seconds(3);

WindowReadings MeasureWindow(const Options& opt, Fleet& fleet) {
  WindowReadings w;
  w.start = Clock::now();
  const auto window = Seconds(opt.seconds);
  w.seconds = std::chrono::duration<double>(window).count();
  g_window_end = Nanos(w.start + window);
  g_window_start = Nanos(w.start);
  if (opt.coordinator_pid > 0) w.coordinator_cpu0 = ReadCpu(opt.coordinator_pid);
  w.self_cpu0 = SelfCpuSeconds();
  w.machine0 = ReadMachine();
  fleet.jobs->Schedule(opt.jobs, w.start, window * 8 / 10);
  if (!opt.metrics.empty()) {
    // The first at once, while every registered worker still has its series.
    for (int k = 0; k < opt.scrapes; ++k) {
      SleepUntil(w.start + window * k / opt.scrapes);
      w.scrapes.push_back(ScrapeMetrics(opt.metrics));
      const Scrape& s = w.scrapes.back();
      std::cerr << "fleet_load: scrape " << k << ": " << s.body_bytes << " bytes in " << s.ms << " ms"
                << (s.ok ? "" : " (" + s.error + ")") << "\n";
    }
  }
  SleepUntil(w.start + window);
  if (opt.coordinator_pid > 0) w.coordinator_cpu1 = ReadCpu(opt.coordinator_pid);
  w.self_cpu1 = SelfCpuSeconds();
  w.machine1 = ReadMachine();
  // Listing the whole fleet copies every worker's status under the
  // scheduler's lock (a ~1 s stall at 16,384): wait until the beats sent in
  // the window have been answered, so that the window reads steady state.
  SleepUntil(w.start + window + kCountGrace);
  w.fleet = CountWorkers(*fleet.coordinator);
  return w;
}

void StopFleet(Fleet& fleet) {
  for (auto& s : fleet.shards) s->RequestStop();
  fleet.jobs->RequestStop();
  for (auto& s : fleet.shards) s->Join();
  fleet.jobs->Join();
}

struct Totals {
  Counters counters;
  std::vector<int64_t> heartbeat_ns;  // sorted
  int64_t completed = 0;              // RPCs, in the window
};

Totals Merge(const Fleet& fleet) {
  Totals t;
  Counters& total = t.counters;
  for (const auto& s : fleet.shards) {
    const Counters& c = s->counters();
    total.registered += c.registered;
    total.register_errors += c.register_errors;
    total.heartbeats += c.heartbeats;
    total.heartbeat_errors += c.heartbeat_errors;
    total.polls += c.polls;
    total.poll_errors += c.poll_errors;
    total.tasks += c.tasks;
    total.reports += c.reports;
    total.report_errors += c.report_errors;
    total.told_unknown += c.told_unknown;
    total.heartbeat_interval_ms = std::max(total.heartbeat_interval_ms, c.heartbeat_interval_ms);
    total.lost_after_ms = std::max(total.lost_after_ms, c.lost_after_ms);
    for (const auto& [k, n] : c.errors) total.errors[k] += n;
    t.heartbeat_ns.insert(t.heartbeat_ns.end(), s->heartbeat_ns().begin(), s->heartbeat_ns().end());
    t.completed += s->completed_in_window();
  }
  t.completed += fleet.jobs->completed_in_window();
  for (const auto& [k, n] : fleet.jobs->errors) total.errors[k] += n;
  std::sort(t.heartbeat_ns.begin(), t.heartbeat_ns.end());
  return t;
}

// One "send_ms latency_ms" line per heart-beat of the window, send time from its start.
void DumpHeartbeats(const std::string& path, const Fleet& fleet, Clock::time_point start) {
  std::ofstream dump(path);
  for (const auto& s : fleet.shards) {
    for (size_t i = 0; i < s->heartbeat_ns().size(); ++i) {
      dump << static_cast<double>(s->heartbeat_sent_ns()[i] - Nanos(start)) / 1e6 << " "
           << static_cast<double>(s->heartbeat_ns()[i]) / 1e6 << "\n";
    }
  }
}

struct JobSummary {
  std::vector<int64_t> submit_to_finish_ns;  // sorted, of jobs that ended
  int64_t succeeded = 0, failed = 0, unfinished = 0, not_submitted = 0;
  std::string first_error;
};

JobSummary SummarizeJobs(const std::vector<JobRecord>& records) {
  JobSummary j;
  for (const auto& r : records) {
    if (r.id.empty()) {
      ++j.not_submitted;
      if (j.first_error.empty()) j.first_error = r.error;
    } else if (r.submit_to_finish_ns < 0) {
      ++j.unfinished;
    } else {
      j.submit_to_finish_ns.push_back(r.submit_to_finish_ns);
      if (r.state == v1::JOB_SUCCEEDED) {
        ++j.succeeded;
      } else {
        ++j.failed;
        if (j.first_error.empty()) j.first_error = r.error;
      }
    }
  }
  std::sort(j.submit_to_finish_ns.begin(), j.submit_to_finish_ns.end());
  return j;
}

std::string ToJson(const Options& opt, const Registration& reg, const WindowReadings& w, const Totals& t,
                   const JobSummary& jobs, const ProcSampler* coordinator, const ProcSampler& self) {
  const Counters& c = t.counters;
  const std::vector<int64_t>& hb = t.heartbeat_ns;
  JsonLine out;
  out.Add("workers", static_cast<int64_t>(opt.workers))
      .Add("channels", static_cast<int64_t>(opt.channels))
      .Add("threads", static_cast<int64_t>(opt.threads))
      .Add("poll_wait_ms", opt.poll_wait_ms)
      .Add("heartbeat_phase", std::string(opt.spread ? "spread" : "register"))
      .Add("registered", reg.registered)
      .Add("register_seconds", reg.seconds)
      .Add("register_errors", c.register_errors)
      .Add("window_seconds", w.seconds)
      .Add("heartbeats", c.heartbeats)
      .Add("heartbeat_errors", c.heartbeat_errors)
      .Add("hb_p50_ms", PercentileMs(hb, 0.50))
      .Add("hb_p99_ms", PercentileMs(hb, 0.99))
      .Add("hb_p999_ms", PercentileMs(hb, 0.999))
      .Add("hb_max_ms", hb.empty() ? -1.0 : static_cast<double>(hb.back()) / 1e6)
      .Add("polls", c.polls)
      .Add("poll_errors", c.poll_errors)
      .Add("rpcs", t.completed)
      .Add("rps", static_cast<double>(t.completed) / w.seconds)
      .Add("jobs", static_cast<int64_t>(opt.jobs))
      .Add("jobs_succeeded", jobs.succeeded)
      .Add("jobs_failed", jobs.failed)
      .Add("jobs_unfinished", jobs.unfinished)
      .Add("jobs_not_submitted", jobs.not_submitted)
      .Add("job_error", jobs.first_error)
      .Add("job_p50_ms", PercentileMs(jobs.submit_to_finish_ns, 0.50))
      .Add("job_p99_ms", PercentileMs(jobs.submit_to_finish_ns, 0.99))
      .Add("tasks", c.tasks)
      .Add("report_errors", c.report_errors)
      .Add("told_unknown", c.told_unknown)
      .Add("heartbeat_interval_ms", c.heartbeat_interval_ms)
      .Add("lost_after_ms", c.lost_after_ms)
      .Add("listed", w.fleet.ours)
      .Add("idle", w.fleet.idle)
      .Add("busy", w.fleet.busy)
      .Add("lost", w.fleet.ok ? w.fleet.lost : -1)
      .Add("gone", w.fleet.gone)
      .Add("list_error", w.fleet.error);
  if (w.coordinator_cpu0.ok && w.coordinator_cpu1.ok) {
    out.Add("coordinator_cpu_percent",
            100.0 * (w.coordinator_cpu1.cpu_seconds - w.coordinator_cpu0.cpu_seconds) / w.seconds);
  } else {
    out.Raw("coordinator_cpu_percent", "null");
  }
  // All CPUs' busy time over the window, in % of one CPU (as the others).
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  out.Add("cpus", static_cast<int64_t>(std::thread::hardware_concurrency()))
      .Add("machine_cpu_percent", 100.0 * (w.machine1.busy - w.machine0.busy) / ticks / w.seconds)
      .Add("coordinator_rss_mib_max", coordinator ? static_cast<double>(coordinator->max_rss_kib()) / 1024 : -1.0)
      .Add("coordinator_threads_max", coordinator ? static_cast<int64_t>(coordinator->max_threads()) : -1)
      .Add("generator_cpu_percent", 100.0 * (w.self_cpu1 - w.self_cpu0) / w.seconds)
      .Add("generator_rss_mib_max", static_cast<double>(self.max_rss_kib()) / 1024)
      .Add("generator_threads_max", static_cast<int64_t>(self.max_threads()));
  int64_t metrics_bytes = -1;  // the largest body: the most series seen
  double scrape_max = -1;
  std::string scrape_list = "[", bytes_list = "[";
  for (const auto& s : w.scrapes) {
    if (s.ok) metrics_bytes = std::max(metrics_bytes, s.body_bytes);
    bytes_list += (bytes_list.size() > 1 ? "," : "") + std::to_string(s.ok ? s.body_bytes : -1);
    scrape_max = std::max(scrape_max, s.ok ? s.ms : INFINITY);  // a failed scrape: null
    scrape_list += (scrape_list.size() > 1 ? "," : "") + (s.ok ? std::to_string(s.ms) : std::string("null"));
  }
  out.Add("metrics_bytes", metrics_bytes).Add("scrape_ms_max", scrape_max).Raw("scrape_ms", scrape_list + "]")
      .Raw("scrape_bytes", bytes_list + "]");
  std::string errors = "{";
  for (const auto& [k, n] : c.errors) errors += (errors.size() > 1 ? "," : "") + JsonString(k) + ":" + std::to_string(n);
  out.Raw("errors", errors + "}");
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = ParseFlags(argc, argv);
  // Debian's Abseil checks every lock for deadlock cycles (it is built
  // without NDEBUG), and gRPC locks absl::Mutex on every call: the checks
  // would make the generator dearer, and the generator shares the CPUs.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  std::unique_ptr<Fleet> fleet = MakeFleet(opt);
  if (fleet == nullptr) {
    std::cerr << "fleet_load: cannot reach the coordinator at " << opt.coordinator << "\n";
    return 1;
  }
  std::unique_ptr<ProcSampler> coordinator;
  if (opt.coordinator_pid > 0) coordinator = std::make_unique<ProcSampler>(std::to_string(opt.coordinator_pid));
  ProcSampler self("self");

  std::cerr << "fleet_load: registering " << opt.workers << " simulated workers (" << kDevicesPerWorker
            << " GPUs each) over " << opt.channels << " channels and " << opt.threads << " threads\n";
  const Registration reg = RegisterAll(opt, *fleet);
  std::cerr << "fleet_load: " << reg.registered << " registered in " << reg.seconds << " s; measuring for "
            << opt.seconds << " s\n";
  const WindowReadings window = MeasureWindow(opt, *fleet);
  StopFleet(*fleet);
  if (coordinator) coordinator->Stop();
  self.Stop();

  const Totals totals = Merge(*fleet);
  if (!opt.dump_heartbeats.empty()) DumpHeartbeats(opt.dump_heartbeats, *fleet, window.start);
  std::cout << ToJson(opt, reg, window, totals, SummarizeJobs(fleet->jobs->records()), coordinator.get(), self)
            << std::endl;
  return reg.registered == opt.workers ? 0 : 1;
}
