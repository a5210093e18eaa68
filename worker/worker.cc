#include "worker/worker.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "kernels/backend.h"
#include "worker/grpc_store.h"
#include "worker/metrics.h"

namespace tokenmeter::worker {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(5);
// As long as the coordinator holds a poll (its kMaxLongPoll): a parked poll
// costs it no thread, and each re-poll is a call it serves. Stop() cancels a
// poll at once, and the coordinator answers it early when this worker is lost.
constexpr absl::Duration kPollWait = absl::Seconds(10);
constexpr absl::Duration kRetryPause = absl::Milliseconds(200);

bool IsTransient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(const WorkerOptions& options) {
  std::unique_ptr<Worker> w(new Worker());
  w->options_ = options;
  auto channel = MakeChannel(options.coordinator);
  if (!channel.ok()) return channel.status();
  w->channel_ = *std::move(channel);
  w->stub_ = v1::WorkerService::NewStub(w->channel_);
  if (w->options_.inventory.collective_host.empty()) {
    w->options_.inventory.collective_host = LocalAddressToward(options.coordinator.address);
  }
  auto inventory = BuildInventory(w->options_.inventory);
  if (!inventory.ok()) return inventory.status();
  w->inventory_ = *std::move(inventory);
  // Whether results will carry energy, and from where (each job's backend
  // reads the counters again).
  kernels::BackendOptions backend_options;
  backend_options.sysfs_root = options.sysfs_root;
  if (auto energy = kernels::Backend::DescribeEnergy(w->inventory_.backend(), backend_options); energy.ok()) {
    Log("worker", "energy: ", *energy);
  } else {
    Log("worker", "energy: not reported (", energy.status().message(), ")");
  }
  if (!options.metrics_address.empty()) {
    auto metrics = StartWorkerMetrics(options.metrics_address, w->inventory_, &w->metrics_port_);
    if (!metrics.ok()) return metrics.status();
    w->metrics_ = *std::move(metrics);
    // Live power, job or not, as dcgm-exporter's power gauge; logs per device
    // where it comes from or why there is none.
    w->power_ = PowerSampler::Start(w->inventory_, options.sysfs_root, w->metrics_.get(),
                                    options.power_sample_period);
  }
  return w;
}

Worker::~Worker() {
  Stop();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void Worker::Stop() {
  if (power_ != nullptr) power_->Stop();
  stopping_ = true;
  abort_task_ = true;
  if (!stopped_.HasBeenNotified()) stopped_.Notify();
  absl::MutexLock lock(&mu_);
  if (poll_ != nullptr) poll_->TryCancel();
}

absl::Status Worker::Register(absl::Duration timeout) {
  if (auto s = WaitForConnected(*channel_, options_.coordinator.address, timeout); !s.ok()) return s;
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallTimeout));
  v1::RegisterRequest request;
  *request.mutable_inventory() = inventory_;
  v1::RegisterResponse response;
  grpc::Status s = stub_->Register(&context, request, &response);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("registering with ", options_.coordinator.address, ": ", s.error_message()));
  }
  absl::MutexLock lock(&mu_);
  worker_id_ = response.worker_id();
  heartbeat_interval_ = absl::Milliseconds(std::max<int64_t>(50, response.heartbeat_interval_ms()));
  must_register_ = false;
  last_contact_ = absl::Now();
  Log("worker", "registered as ", worker_id_, " with ", options_.coordinator.address, ": ", inventory_.devices_size(),
      " x ", inventory_.devices(0).model(), " (", inventory_.backend(), ")");
  return absl::OkStatus();
}

absl::Status Worker::Run() {
  if (auto s = Register(options_.connect_timeout); !s.ok()) return s;
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  absl::Status exit_status;
  while (!stopping_) {
    bool must_register;
    std::string worker_id;
    absl::Time last_contact;
    {
      absl::MutexLock lock(&mu_);
      must_register = must_register_;
      worker_id = worker_id_;
      last_contact = last_contact_;
    }
    if (absl::Now() - last_contact > options_.reconnect_timeout) {
      exit_status = absl::UnavailableError(absl::StrCat("lost the coordinator at ", options_.coordinator.address,
                                                        " for longer than ",
                                                        absl::FormatDuration(options_.reconnect_timeout)));
      break;
    }
    if (must_register) {
      if (!Register(kCallTimeout).ok()) stopped_.WaitForNotificationWithTimeout(kRetryPause);
      continue;
    }
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kPollWait + kCallTimeout));
    v1::PollTaskRequest request;
    request.set_worker_id(worker_id);
    request.set_wait_ms(absl::ToInt64Milliseconds(kPollWait));
    v1::PollTaskResponse response;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;  // Stop() came before the poll could be cancelled
      poll_ = &context;
    }
    grpc::Status s = stub_->PollTask(&context, request, &response);
    {
      absl::MutexLock lock(&mu_);
      poll_ = nullptr;
    }
    if (stopping_) break;  // a task that came with the cancelled poll is not run
    if (s.ok()) {
      {
        absl::MutexLock lock(&mu_);
        last_contact_ = absl::Now();
      }
      if (response.has_task()) ServeTask(response.task());
    } else if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      Log("worker", "the coordinator does not know ", worker_id, " (it restarted?); registering again");
      absl::MutexLock lock(&mu_);
      must_register_ = true;
    } else {
      stopped_.WaitForNotificationWithTimeout(kRetryPause);
    }
  }
  stopping_ = true;
  if (heartbeat_.joinable()) heartbeat_.join();
  if (exit_status.ok()) {
    // Say goodbye so the coordinator frees this worker at once.
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(absl::Seconds(1)));
    v1::GoodbyeRequest request;
    {
      absl::MutexLock lock(&mu_);
      request.set_worker_id(worker_id_);
    }
    v1::GoodbyeResponse response;
    stub_->Goodbye(&context, request, &response);
    Log("worker", "stopped");
  }
  return exit_status;
}

namespace {

absl::Duration RandomPhase(absl::Duration interval) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return interval * std::uniform_real_distribution<double>(0, 1)(rng);
}

}  // namespace

void Worker::HeartbeatLoop() {
  while (!stopping_) {
    std::string worker_id, job;
    absl::Duration interval;
    bool must_register;
    std::shared_ptr<TaskProgress> progress;
    {
      absl::MutexLock lock(&mu_);
      worker_id = worker_id_;
      job = running_job_;
      progress = progress_;
      interval = heartbeat_interval_;
      must_register = must_register_;
    }
    if (!must_register) {
      grpc::ClientContext context;
      context.set_deadline(DeadlineIn(std::max(interval * 2, absl::Seconds(1))));
      v1::HeartbeatRequest request;
      request.set_worker_id(worker_id);
      request.set_job_id(job);
      if (progress != nullptr) *request.mutable_progress() = progress->Snapshot();
      v1::HeartbeatResponse response;
      grpc::Status s = stub_->Heartbeat(&context, request, &response);
      absl::MutexLock lock(&mu_);
      if (s.ok()) {
        last_contact_ = absl::Now();
        const absl::Duration told = absl::Milliseconds(std::max<int64_t>(50, response.heartbeat_interval_ms()));
        if (response.heartbeat_interval_ms() > 0 && told != heartbeat_interval_) {
          heartbeat_interval_ = told;
          // A fleet that registered in a burst is told its new cadence in the
          // same second; without a fresh random phase every worker would keep
          // beating in that second (bench/fleet_load found beats bunched into
          // 4 s of every 8). One beat up to one interval late is well inside
          // lost_after.
          interval = RandomPhase(told);
          Log("worker", "the coordinator asks for a heart-beat every ", absl::FormatDuration(told), " (lost after ",
              absl::FormatDuration(absl::Milliseconds(response.lost_after_ms())), ")");
        }
        for (const auto& id : response.abort_job_ids()) {
          if (id == running_job_ && !abort_task_) {
            Log("worker", "the coordinator ended job ", id, "; aborting it");
            abort_task_ = true;
          }
        }
      } else if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
        must_register_ = true;
        if (!running_job_.empty()) abort_task_ = true;  // the job died with the coordinator's memory of us
      }
    }
    stopped_.WaitForNotificationWithTimeout(interval);
  }
}

void Worker::ServeTask(const v1::Task& task) {
  std::string worker_id;
  std::shared_ptr<TaskProgress> progress;
  {
    // Reset before the job is published: the heart-beat thread sets the flag
    // for running_job_ under mu_, and an abort of this job must not be lost.
    absl::MutexLock lock(&mu_);
    abort_task_ = stopping_.load();
    running_job_ = task.job_id();
    worker_id = worker_id_;
    progress_ = task.ranks(0).rank() == 0 ? std::make_shared<TaskProgress>() : nullptr;
    progress = progress_;
  }
  Log("worker", "job ", task.job_id(), ": ", task.spec().name(), ", ranks ", task.ranks(0).rank(), "..",
      task.ranks(task.ranks_size() - 1).rank(), " of ", task.world_size());
  GrpcStore store(channel_, task.job_id(), worker_id);
  TaskEnvironment env;
  env.backend = inventory_.backend();
  env.worker_id = worker_id;
  env.collective_host = inventory_.collective_host();
  env.cpu_threads_per_rank = inventory_.cpu_threads_per_rank();
  env.sysfs_root = options_.sysfs_root;
  env.inventory = &inventory_;
  env.store = &store;
  env.abort = &abort_task_;
  env.observer = metrics_.get();
  env.progress = progress.get();
  auto ranks = RunTask(task, env);

  v1::ReportResultRequest report;
  report.set_worker_id(worker_id);
  report.set_job_id(task.job_id());
  report.set_attempt(task.attempt());
  if (ranks.ok()) {
    for (auto& r : *ranks) *report.add_ranks() = std::move(r);
  } else {
    report.set_error(std::string(ranks.status().message()));
    Log("worker", "job ", task.job_id(), " failed here: ", ranks.status().message());
  }
  // The report is the job's result: retry it through a coordinator restart.
  const absl::Time give_up = absl::Now() + options_.reconnect_timeout;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    v1::ReportResultResponse response;
    grpc::Status s = stub_->ReportResult(&context, report, &response);
    if (s.ok() || !IsTransient(s.error_code()) || absl::Now() > give_up) {
      if (!s.ok()) Log("worker", "could not report job ", task.job_id(), ": ", s.error_message());
      break;
    }
    stopped_.WaitForNotificationWithTimeout(kRetryPause);
  }
  absl::MutexLock lock(&mu_);
  running_job_.clear();
  progress_.reset();
}

}  // namespace tokenmeter::worker
