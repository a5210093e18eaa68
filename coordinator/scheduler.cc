#include "coordinator/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "coordinator/ids.h"
#include "google/protobuf/util/time_util.h"
#include "workload/estimate.h"
#include "workload/fleet_health.h"
#include "workload/result_assembly.h"
#include "workload/spec.h"

namespace tokenmeter::coordinator {
namespace {

using google::protobuf::util::TimeUtil;

bool IsFinal(v1::JobState s) { return s == v1::JOB_SUCCEEDED || s == v1::JOB_FAILED || s == v1::JOB_CANCELLED; }

int64_t LargestDeviceMemory(const std::vector<const v1::WorkerStatus*>& workers) {
  int64_t largest = 0;
  for (const auto* w : workers) {
    for (const auto& d : w->inventory().devices()) largest = std::max(largest, d.memory_bytes());
  }
  return largest;
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, ResultsStore* store, RendezvousStore* rendezvous, const Clock* clock)
    : options_(std::move(options)),
      store_(store),
      rendezvous_(rendezvous),
      clock_(clock),
      registry_(options_.registry),
      writer_(store) {}

google::protobuf::Timestamp Scheduler::NowProto() const {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(clock_->Now()));
}

void Scheduler::Persist(const v1::JobStatus& status, StoreWriter::Done done) {
  if (done == nullptr) {
    done = [id = status.job_id()](absl::Status s) {
      if (!s.ok()) Log("coordinator", "cannot store job ", id, ": ", s.message());
    };
  }
  writer_.Queue([status](ResultsStore& store) { return store.SaveJob(status); }, std::move(done));
}

void Scheduler::NoteGemmRates(const v1::JobResult& result) {
  std::map<int, double> best;
  for (const auto& g : result.gemm()) {
    if (g.verified()) best[g.dtype()] = std::max(best[g.dtype()], g.tflops() * 1e12);
  }
  for (const auto& [dtype, rate] : best) {
    if (rate > 0) newest_gemm_rate_[{result.setup(), dtype}] = rate;
  }
}

absl::Status Scheduler::Recover() {
  auto jobs = store_->LoadJobs();
  if (!jobs.ok()) return jobs.status();
  auto results = store_->ListResults({});
  if (!results.ok()) return results.status();
  {
    absl::MutexLock lock(&mu_);
    // Oldest first, so that each setup's newest result is noted last.
    for (auto it = results->rbegin(); it != results->rend(); ++it) NoteGemmRates(*it);
    int requeued = 0, failed = 0;
    for (auto& status : *jobs) {
      Job& job = jobs_[status.job_id()];
      job.status = std::move(status);
      if (job.status.state() == v1::JOB_QUEUED) {
        queue_.push_back(job.status.job_id());
        ++requeued;
      } else if (job.status.state() == v1::JOB_RUNNING) {
        job.status.set_state(v1::JOB_FAILED);
        job.status.set_error("the coordinator restarted while the job was running");
        *job.status.mutable_finished_at() = NowProto();
        Persist(job.status);
        ++failed;
      }
      job.final_stored = IsFinal(job.status.state());
    }
    if (!jobs_.empty()) {
      Log("coordinator", "recovered ", jobs_.size(), " jobs from ", store_->path(), " (", requeued, " queued again, ",
          failed, " failed by the restart)");
    }
  }
  return absl::OkStatus();
}

void Scheduler::SubmitAsync(const v1::SubmitJobRequest& request, SubmitCallback done) {
  auto id = AddJob(request);
  if (!id.ok()) {
    done(id.status());
    return;
  }
  // AddJob queued the job's row: once it is durable, the job is queued.
  writer_.AfterQueuedWrites([this, id = *id, done = std::move(done)] { JobRowStored(id, done); });
}

absl::StatusOr<std::string> Scheduler::Submit(const v1::SubmitJobRequest& request) {
  return BlockUntilAnswered<absl::StatusOr<std::string>>(
      absl::InfiniteFuture(), [&](SubmitCallback done) { SubmitAsync(request, std::move(done)); }, [](absl::Time) {});
}

absl::StatusOr<std::string> Scheduler::Submit(const v1::WorkloadSpec& spec, int ranks, const std::string& setup,
                                              bool span_setups, int max_attempts) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  request.set_ranks(ranks);
  request.set_setup(setup);
  request.set_span_setups(span_setups);
  request.set_max_attempts(max_attempts);
  return Submit(request);
}

void Scheduler::RecordHealthAsync(const v1::RecordHealthRequest& request, SubmitCallback done) {
  const auto& report = request.report();
  constexpr int kMaxCheckedWorkers = 1 << 20;
  if (request.setup().empty()) return done(absl::InvalidArgumentError("setup must be set"));
  if (report.worker_ids().empty() || report.worker_ids_size() > kMaxCheckedWorkers) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("report.worker_ids must name 1 to ", kMaxCheckedWorkers, " workers, got ", report.worker_ids_size())));
  }
  if (report.hostnames_size() != report.worker_ids_size()) {
    return done(absl::InvalidArgumentError(absl::StrCat("report.hostnames must have one per worker (",
                                                        report.worker_ids_size(), "), got ", report.hostnames_size())));
  }
  v1::JobStatus status;
  v1::JobResult result;
  {
    absl::MutexLock lock(&mu_);
    status.set_job_id(NewJobId(clock_->Now()));
    status.set_state(v1::JOB_SUCCEEDED);
    status.mutable_spec()->set_name(std::string(workload::kFleetCheckWorkload));
    status.mutable_spec()->set_version(1);
    status.set_ranks(report.worker_ids_size());
    status.set_setup(request.setup());
    *status.mutable_worker_ids() = report.worker_ids();
    *status.mutable_started_at() = request.has_started_at() ? request.started_at() : NowProto();
    *status.mutable_submitted_at() = status.started_at();
    *status.mutable_finished_at() = NowProto();
    status.set_attempt(1);
    result.set_job_id(status.job_id());
    *result.mutable_spec() = status.spec();
    result.set_setup(request.setup());
    result.set_world_size(status.ranks());
    for (const auto& id : report.worker_ids()) {
      if (const auto* w = registry_.Find(id)) *result.add_inventory() = w->inventory();
    }
    if (!result.inventory().empty() && !result.inventory(0).devices().empty()) {
      result.set_device_model(result.inventory(0).devices(0).model());
    }
    *result.mutable_started_at() = status.started_at();
    *result.mutable_finished_at() = status.finished_at();
    result.set_tokenmeter_version(TOKENMETER_VERSION);
    result.set_attempts(1);
    *result.mutable_health() = report;
    *status.mutable_result() = result;
  }
  Log("coordinator", "fleet-check ", status.job_id(), " of setup ", request.setup(), ": ", report.workers(),
      " workers, ", report.findings_size(), " findings");
  writer_.Queue([status, result](ResultsStore& store) { return store.SaveFinishedJob(status, result); },
                [this, id = status.job_id(), result, done = std::move(done)](absl::Status s) {
                  if (!s.ok()) return done(absl::UnavailableError(absl::StrCat("the record could not be stored: ",
                                                                               s.message())));
                  if (options_.on_result_recorded) options_.on_result_recorded(result);
                  done(id);
                });
}

absl::StatusOr<std::string> Scheduler::RecordHealth(const v1::RecordHealthRequest& request) {
  return BlockUntilAnswered<absl::StatusOr<std::string>>(
      absl::InfiniteFuture(), [&](SubmitCallback done) { RecordHealthAsync(request, std::move(done)); },
      [](absl::Time) {});
}

void Scheduler::JobRowStored(const std::string& job_id, const SubmitCallback& done) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    --awaiting_row_;
    Job& job = jobs_.at(job_id);
    if (!job.row_error.empty()) {
      status = absl::UnavailableError(absl::StrCat("the job could not be stored: ", job.row_error));
      jobs_.erase(job_id);
    } else if (job.status.state() == v1::JOB_QUEUED) {
      queue_.push_back(job_id);
      TrySchedule();
    }
  }
  Announce();
  if (status.ok()) {
    done(job_id);
  } else {
    done(status);
  }
}

void Scheduler::Announce() {
  std::vector<v1::JobStatus> finished;
  std::vector<std::function<void()>> answers;
  {
    absl::MutexLock lock(&mu_);
    finished.swap(finished_);
    answers.swap(answers_);
  }
  if (options_.on_job_finished) {
    for (const auto& j : finished) options_.on_job_finished(j);
  }
  for (auto& answer : answers) answer();
}

void Scheduler::HandOutTask(const std::string& worker_id) {
  auto task = pending_tasks_.find(worker_id);
  if (task == pending_tasks_.end()) return;
  auto waiting = task_waits_.Take(worker_id);
  if (waiting.empty()) return;
  // Only the newest poll is live (PollTaskAsync releases older ones).
  answers_.push_back([done = std::move(waiting.back()), t = std::move(task->second)]() mutable {
    done(std::optional<v1::Task>(std::move(t)));
  });
  pending_tasks_.erase(task);
  for (size_t i = 0; i + 1 < waiting.size(); ++i) {
    answers_.push_back([done = std::move(waiting[i])] { done(std::optional<v1::Task>()); });
  }
}

void Scheduler::ReleaseTaskWaits(const std::string& worker_id) {
  for (auto& done : task_waits_.Take(worker_id)) {
    answers_.push_back([done = std::move(done)] { done(std::optional<v1::Task>()); });
  }
}

absl::StatusOr<std::string> Scheduler::AddJob(const v1::SubmitJobRequest& request) {
  const v1::WorkloadSpec& spec = request.spec();
  const int ranks = request.ranks();
  const std::string& setup = request.setup();
  const bool span_setups = request.span_setups();
  int max_attempts = request.max_attempts();
  const std::vector<std::string> workers(request.workers().begin(), request.workers().end());
  absl::MutexLock lock(&mu_);
  if (max_attempts == 0) max_attempts = 1;
  if (max_attempts < 1 || max_attempts > kMaxAttempts) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be in [1, ", kMaxAttempts, "], got ", max_attempts));
  }
  if (span_setups && !setup.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("span_setups with setup '", setup, "': a job given a setup runs inside that one setup"));
  }
  if (auto s = CheckWorkerList(workers, ranks); !s.ok()) return s;
  const auto live = registry_.LiveWorkers();
  // Bound sizes by the largest device registered now; placement checks again
  // against the devices actually chosen.
  if (auto s = workload::ValidateSpec(spec, {ranks, LargestDeviceMemory(live)}); !s.ok()) return s;
  if (auto s = CheckSatisfiable(RequestFor(spec, ranks, setup, span_setups, workers), live); !s.ok()) return s;
  if (const auto least = workload::LeastJobTime(spec, ranks); least.seconds > options_.limits.max_job_seconds) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s asks for at least %.3g s of work (%s); the bound is --max-job-seconds %g", spec.name(), least.seconds,
        least.work, options_.limits.max_job_seconds));
  }
  // Jobs whose row is still being written count: they queue next.
  int queued = awaiting_row_;
  for (const auto& id : queue_) queued += jobs_.at(id).status.state() == v1::JOB_QUEUED;
  if (queued >= options_.limits.max_queued_jobs) {
    return absl::ResourceExhaustedError(absl::StrCat("the queue holds ", queued, " jobs; the bound is --max-queued-jobs ",
                                                     options_.limits.max_queued_jobs));
  }
  Job job;
  job.status.set_job_id(NewJobId(clock_->Now()));
  job.status.set_state(v1::JOB_QUEUED);
  *job.status.mutable_spec() = spec;
  job.status.set_ranks(ranks);
  job.status.set_setup(setup);
  job.status.set_span_setups(span_setups);
  job.status.set_max_attempts(max_attempts);
  *job.status.mutable_pinned_workers() = request.workers();
  *job.status.mutable_submitted_at() = NowProto();
  const std::string id = job.status.job_id();
  Persist(job.status, [this, id](absl::Status s) {
    if (s.ok()) return;
    absl::MutexLock lock(&mu_);
    jobs_.at(id).row_error = std::string(s.message());
  });
  Log("coordinator", "job ", id, " queued: ", spec.name(), " on ", ranks, " ranks",
      setup.empty() ? "" : absl::StrCat(" in setup ", setup), span_setups ? " (may span setups)" : "",
      workers.empty() ? "" : absl::StrCat(" on workers ", absl::StrJoin(workers, ", ")));
  jobs_.emplace(id, std::move(job));
  ++awaiting_row_;
  return id;
}

void Scheduler::TrySchedule() {
  while (!queue_.empty()) {
    Job& job = jobs_.at(queue_.front());
    if (job.status.state() != v1::JOB_QUEUED) {
      queue_.pop_front();
      continue;
    }
    const PlacementRequest request =
        RequestFor(job.status.spec(), job.status.ranks(), job.status.setup(), job.status.span_setups(),
                   {job.status.pinned_workers().begin(), job.status.pinned_workers().end()});
    auto plan = Place(request, registry_.IdleWorkers());
    if (!plan.ok()) {
      const auto live = registry_.LiveWorkers();
      // Fail at once when no registered worker could ever run it. A setup
      // none of whose workers is registered now is not such a case: after a
      // restart, or a lost worker, its workers may still (re-)register.
      const bool setup_absent =
          !request.setup.empty() && std::none_of(live.begin(), live.end(), [&](const v1::WorkerStatus* w) {
            return w->inventory().setup() == request.setup;
          });
      if (auto s = CheckSatisfiable(request, live); !s.ok() && !setup_absent) {
        queue_.pop_front();
        FinishJob(job, v1::JOB_FAILED, std::string(s.message()), nullptr);
        continue;
      }
      // Shown to the user (GetJob, status) and logged once per change, not
      // on every attempt.
      if (job.status.waiting_for() != plan.status().message()) {
        job.status.set_waiting_for(std::string(plan.status().message()));
        Log("coordinator", "job ", job.status.job_id(), " ", job.status.waiting_for());
      }
      return;  // FIFO: later jobs wait behind the head
    }
    queue_.pop_front();
    if (auto s = workload::ValidateSpec(job.status.spec(), {job.status.ranks(), plan->min_device_memory_bytes}); !s.ok()) {
      FinishJob(job, v1::JOB_FAILED, std::string(s.message()), nullptr);
      continue;
    }
    StartJob(job, *std::move(plan));
  }
}

void Scheduler::StartJob(Job& job, PlacementPlan plan) {
  const std::string& id = job.status.job_id();
  job.status.set_state(v1::JOB_RUNNING);
  job.status.clear_waiting_for();
  job.status.set_attempt(job.status.attempt() + 1);
  *job.status.mutable_started_at() = NowProto();
  rendezvous_->OpenJob(id);
  for (auto& share : plan.shares) {
    v1::Task task;
    task.set_job_id(id);
    *task.mutable_spec() = job.status.spec();
    task.set_world_size(job.status.ranks());
    for (const auto& r : share.ranks) *task.add_ranks() = r;
    task.set_collective_timeout_ms(absl::ToInt64Milliseconds(options_.collective_timeout));
    task.set_attempt(job.status.attempt());
    pending_tasks_[share.worker_id] = std::move(task);
    HandOutTask(share.worker_id);
    registry_.SetBusy(share.worker_id, id);
    job.status.add_worker_ids(share.worker_id);
    job.unreported.insert(share.worker_id);
    if (const auto* w = registry_.Find(share.worker_id)) {
      job.inventory.push_back(w->inventory());
      job.inventory_of.push_back(share.worker_id);
    }
  }
  job.shares = std::move(plan.shares);
  Persist(job.status);
  Log("coordinator", "job ", id, " running on ", job.shares.size(), " workers");
}

void Scheduler::FinishJob(Job& job, v1::JobState state, const std::string& error, const v1::JobResult* result) {
  const std::string& id = job.status.job_id();
  job.status.set_state(state);
  job.status.clear_waiting_for();
  job.status.clear_progress();
  job.status.set_error(error);
  *job.status.mutable_finished_at() = NowProto();
  auto stored = [this, id](absl::Status s) { FinalStateStored(id, s); };
  if (result != nullptr) {
    writer_.Queue([status = job.status, result = *result](ResultsStore& store) {
      return store.SaveFinishedJob(status, result);
    }, stored);
    *job.status.mutable_result() = *result;
  } else {
    Persist(job.status, stored);
  }
  rendezvous_->CloseJob(id);
  StopUnreported(job);
  job.unreported.clear();
  job.rank_results.clear();
  Log("coordinator", "job ", id, " ", v1::JobState_Name(job.status.state()),
      job.status.error().empty() ? "" : absl::StrCat(": ", job.status.error()));
}

void Scheduler::NoteProgress(const std::string& worker_id, const std::string& job_id,
                             const v1::JobProgress& progress) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.status.state() != v1::JOB_RUNNING) return;
  // The job's first rank runs on its first placed worker; only that one's
  // progress is the job's.
  const auto& workers = it->second.status.worker_ids();
  if (workers.empty() || workers[0] != worker_id) return;
  *it->second.status.mutable_progress() = progress;
}

void Scheduler::StopUnreported(const Job& job) {
  const std::string& id = job.status.job_id();
  for (const auto& worker : job.unreported) {
    // A worker that has not taken its task yet is simply freed; one that is
    // running it is told to abort on its next heart-beat.
    auto pending = pending_tasks_.find(worker);
    if (pending != pending_tasks_.end() && pending->second.job_id() == id) {
      pending_tasks_.erase(pending);
      registry_.SetIdle(worker);
    } else if (registry_.IsAlive(worker)) {
      aborts_[worker].insert(id);
    }
  }
}

void Scheduler::EndOrRetry(Job& job, const std::string& error) {
  const std::string& id = job.status.job_id();
  const int max_attempts = std::max(1, job.status.max_attempts());
  if (job.status.attempt() >= max_attempts) {
    FinishJob(job, v1::JOB_FAILED,
              max_attempts > 1 ? absl::StrCat(error, " (attempt ", job.status.attempt(), " of ", max_attempts, ")")
                               : error,
              nullptr);
    return;
  }
  Log("coordinator", "job ", id, " attempt ", job.status.attempt(), " of ", max_attempts, " failed: ", error,
      "; placing it again");
  job.status.add_attempt_errors(absl::StrCat("attempt ", job.status.attempt(), ": ", error));
  // The ranks still running are told to stop, and are busy until they
  // report (their report of this attempt is then ignored); a rendezvous
  // wait of theirs ends at once. The next attempt meets in a fresh
  // namespace, under keys its tasks' attempt number sets apart.
  rendezvous_->CloseJob(id);
  StopUnreported(job);
  job.shares.clear();
  job.unreported.clear();
  job.reported.clear();
  job.rank_results.clear();
  job.inventory.clear();
  job.inventory_of.clear();
  job.held_error.clear();
  job.status.set_state(v1::JOB_QUEUED);
  job.status.clear_worker_ids();
  job.status.clear_started_at();
  job.status.clear_progress();
  Persist(job.status);
  queue_.push_front(id);  // it was running: ahead of the jobs queued behind it
}

void Scheduler::FinalStateStored(const std::string& job_id, const absl::Status& stored) {
  {
    absl::MutexLock lock(&mu_);
    Job& job = jobs_.at(job_id);
    if (!stored.ok() && job.status.has_result()) {
      // What is not stored did not happen: the job failed.
      job.status.clear_result();
      job.status.set_state(v1::JOB_FAILED);
      job.status.set_error(absl::StrCat("the result could not be stored: ", stored.message()));
      Log("coordinator", "job ", job_id, " ", job.status.error());
      Persist(job.status);
    } else if (!stored.ok()) {
      Log("coordinator", "cannot store job ", job_id, ": ", stored.message());
    } else if (job.status.has_result()) {
      NoteGemmRates(job.status.result());
    }
    job.final_stored = true;
    finished_.push_back(job.status);
    for (auto& done : job_waits_.Take(job_id)) {
      answers_.push_back([done = std::move(done), status = job.status] { done(status); });
    }
  }
  Announce();
}

void Scheduler::GetJobAsync(const std::string& job_id, absl::Time deadline, JobCallback done) {
  absl::StatusOr<v1::JobStatus> now_answer;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      now_answer = absl::NotFoundError(absl::StrCat("no job ", job_id));
    } else if (it->second.final_stored || deadline <= absl::Now()) {
      now_answer = it->second.status;
    } else {
      job_waits_.Add(job_id, deadline, std::move(done));
      return;
    }
  }
  done(std::move(now_answer));
}

absl::StatusOr<v1::JobStatus> Scheduler::GetJob(const std::string& job_id, absl::Time deadline) {
  return BlockUntilAnswered<absl::StatusOr<v1::JobStatus>>(
      deadline, [&](JobCallback done) { GetJobAsync(job_id, deadline, std::move(done)); },
      [this](absl::Time now) { ExpireWaits(now); });
}

void Scheduler::CancelAsync(const std::string& job_id, StatusCallback done) {
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      answers_.push_back([done, job_id] { done(absl::NotFoundError(absl::StrCat("no job ", job_id))); });
    } else {
      if (!IsFinal(it->second.status.state())) FinishJob(it->second, v1::JOB_CANCELLED, "cancelled by the user", nullptr);
      TrySchedule();
      writer_.AfterQueuedWrites([done] { done(absl::OkStatus()); });
    }
  }
  Announce();
}

absl::Status Scheduler::Cancel(const std::string& job_id) {
  return BlockUntilAnswered<absl::Status>(
      absl::InfiniteFuture(), [&](StatusCallback done) { CancelAsync(job_id, std::move(done)); }, [](absl::Time) {});
}

std::vector<v1::WorkerStatus> Scheduler::ListWorkers(bool include_lost) {
  // Copying 16,384 statuses with their inventories takes hundreds of ms: a
  // slice at a time, the lock released between slices, a beat waits for one
  // slice at most. Each worker is shown as of its slice's moment.
  constexpr size_t kSlice = 256;
  std::vector<v1::WorkerStatus> out;
  for (size_t from = 0;;) {
    absl::MutexLock lock(&mu_);
    if (from >= registry_.registered()) break;
    from = registry_.ListSlice(clock_->Now(), include_lost, from, kSlice, &out);
  }
  return out;
}

std::vector<WorkerAge> Scheduler::WorkerAges() {
  absl::MutexLock lock(&mu_);
  return registry_.Ages(clock_->Now());
}

std::vector<v1::JobStatus> Scheduler::ListJobs(int limit) {
  absl::MutexLock lock(&mu_);
  std::vector<v1::JobStatus> out;
  out.reserve(jobs_.size());
  for (auto& [id, job] : jobs_) {
    // Without its result, which can be megabytes: the result is set aside
    // (a pointer swap) while the status is copied, under the lock.
    v1::JobResult result;
    const bool has_result = job.status.has_result();
    if (has_result) result.Swap(job.status.mutable_result());
    out.push_back(job.status);
    out.back().clear_result();
    if (has_result) job.status.mutable_result()->Swap(&result);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return TimeUtil::TimestampToNanoseconds(a.submitted_at()) > TimeUtil::TimestampToNanoseconds(b.submitted_at());
  });
  if (limit > 0 && static_cast<int>(out.size()) > limit) out.resize(limit);
  return out;
}

absl::StatusOr<v1::RegisterResponse> Scheduler::RegisterWorker(const v1::WorkerInventory& inventory) {
  auto response = AddWorker(inventory);
  Announce();
  return response;
}

absl::StatusOr<v1::RegisterResponse> Scheduler::AddWorker(const v1::WorkerInventory& inventory) {
  absl::MutexLock lock(&mu_);
  auto id = registry_.Register(inventory, clock_->Now());
  if (!id.ok()) return id.status();
  Log("coordinator", "registered ", registry_.Describe(*id), ": ", inventory.devices_size(), " x ",
      inventory.devices(0).model(), " (", inventory.backend(), ", setup ", inventory.setup(), ")");
  v1::RegisterResponse response;
  response.set_worker_id(*id);
  const HeartbeatCadence cadence = registry_.Cadence();
  response.set_heartbeat_interval_ms(absl::ToInt64Milliseconds(cadence.interval));
  response.set_lost_after_ms(absl::ToInt64Milliseconds(cadence.lost_after));
  TrySchedule();
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> Scheduler::Heartbeat(const v1::HeartbeatRequest& beat) {
  const std::string& worker_id = beat.worker_id();
  absl::MutexLock lock(&mu_);
  auto cadence = registry_.Heartbeat(worker_id, clock_->Now());
  if (!cadence.ok()) return cadence.status();
  if (beat.has_progress()) NoteProgress(worker_id, beat.job_id(), beat.progress());
  v1::HeartbeatResponse response;
  if (auto it = aborts_.find(worker_id); it != aborts_.end()) {
    for (const auto& id : it->second) response.add_abort_job_ids(id);
  }
  response.set_heartbeat_interval_ms(absl::ToInt64Milliseconds(cadence->interval));
  response.set_lost_after_ms(absl::ToInt64Milliseconds(cadence->lost_after));
  return response;
}

void Scheduler::PollTaskAsync(const std::string& worker_id, absl::Time deadline, TaskCallback done) {
  absl::StatusOr<std::optional<v1::Task>> now_answer;
  bool waits = false;
  {
    absl::MutexLock lock(&mu_);
    // A worker polls again when its last poll's reply was lost or its
    // deadline passed on its side first: the older poll is dead, so a task
    // must never go to it.
    ReleaseTaskWaits(worker_id);
    if (!registry_.IsAlive(worker_id)) {
      now_answer = absl::NotFoundError(absl::StrCat("unknown worker ", worker_id, ": register again"));
    } else if (auto it = pending_tasks_.find(worker_id); it != pending_tasks_.end()) {
      now_answer = std::optional<v1::Task>(std::move(it->second));
      pending_tasks_.erase(it);
    } else if (deadline <= absl::Now()) {
      now_answer = std::optional<v1::Task>();
    } else {
      task_waits_.Add(worker_id, deadline, std::move(done));
      waits = true;
    }
  }
  Announce();
  if (!waits) done(std::move(now_answer));
}

absl::StatusOr<std::optional<v1::Task>> Scheduler::PollTask(const std::string& worker_id, absl::Time deadline) {
  return BlockUntilAnswered<absl::StatusOr<std::optional<v1::Task>>>(
      deadline, [&](TaskCallback done) { PollTaskAsync(worker_id, deadline, std::move(done)); },
      [this](absl::Time now) { ExpireWaits(now); });
}

void Scheduler::ExpireWaits(absl::Time now) {
  {
    absl::MutexLock lock(&mu_);
    for (auto& [worker, done] : task_waits_.TakeExpired(now)) {
      answers_.push_back([done = std::move(done)] { done(std::optional<v1::Task>()); });
    }
    for (auto& [job_id, done] : job_waits_.TakeExpired(now)) {
      answers_.push_back([done = std::move(done), status = jobs_.at(job_id).status] { done(status); });
    }
  }
  Announce();
}

absl::Status Scheduler::ReportResult(const v1::ReportResultRequest& report) {
  return BlockUntilAnswered<absl::Status>(
      absl::InfiniteFuture(), [&](StatusCallback done) { ReportResultAsync(report, std::move(done)); },
      [](absl::Time) {});
}

void Scheduler::ReportResultAsync(const v1::ReportResultRequest& report, StatusCallback done) {
  {
    absl::MutexLock lock(&mu_);
    absl::Status status = ApplyReport(report);
    TrySchedule();
    writer_.AfterQueuedWrites([done = std::move(done), status] { done(status); });
  }
  Announce();
}

absl::Status Scheduler::ApplyReport(const v1::ReportResultRequest& report) {
  absl::Status status = absl::OkStatus();
  {
    const std::string& worker = report.worker_id();
    auto it = jobs_.find(report.job_id());
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", report.job_id()));
    Job& job = it->second;
    const int attempt = std::max(1, report.attempt());
    if (attempt > job.status.attempt()) {
      return absl::FailedPreconditionError(absl::StrCat("job ", report.job_id(), " has had ", job.status.attempt(),
                                                        " attempts, not ", attempt));
    }
    // Whatever the job's state, the worker is done with it now.
    if (auto a = aborts_.find(worker); a != aborts_.end()) a->second.erase(report.job_id());
    registry_.SetIdle(worker);
    if (IsFinal(job.status.state()) || job.status.state() == v1::JOB_QUEUED || attempt < job.status.attempt()) {
      // A late report of a job that already ended (a peer was lost), or of
      // an earlier attempt (a job queued again has no placement of its own
      // yet): ignored.
    } else if (job.reported.count(worker)) {
      // The same report again: its reply was lost and the worker retried.
      Log("coordinator", registry_.Describe(worker), " reported job ", report.job_id(), " again; kept the first");
    } else if (!job.unreported.count(worker)) {
      status = absl::FailedPreconditionError(
          absl::StrCat(registry_.Describe(worker), " is not placed on job ", report.job_id(), " or already reported"));
    } else if (!report.error().empty()) {
      job.unreported.erase(worker);
      job.reported.insert(worker);
      if (job.held_error.empty()) {
        job.held_error = absl::StrCat(registry_.Describe(worker), ": ", report.error());
        job.held_since = clock_->Now();
      }
      // The other ranks cannot finish without this one: stop them now.
      for (const auto& peer : job.unreported) aborts_[peer].insert(job.status.job_id());
      if (job.unreported.empty()) FinishJob(job, v1::JOB_FAILED, job.held_error, nullptr);
    } else if (!job.held_error.empty()) {
      // A late success of a rank of a job that is already failing.
      job.unreported.erase(worker);
      job.reported.insert(worker);
      if (job.unreported.empty()) FinishJob(job, v1::JOB_FAILED, job.held_error, nullptr);
    } else {
      // Every rank the worker was given must be in its report.
      const auto share = std::find_if(job.shares.begin(), job.shares.end(),
                                      [&](const WorkerShare& s) { return s.worker_id == worker; });
      std::set<int> expected, got;
      for (const auto& r : share->ranks) expected.insert(r.rank());
      for (const auto& r : report.ranks()) got.insert(r.rank());
      absl::Status shape = absl::OkStatus();
      for (const auto& r : report.ranks()) {
        if (shape.ok()) shape = workload::CheckReportShape(job.status.spec(), job.status.ranks(), r);
      }
      if (expected != got) {
        FinishJob(job, v1::JOB_FAILED,
                  absl::StrCat(registry_.Describe(worker), " reported ranks that differ from those it was given"),
                  nullptr);
      } else if (!shape.ok()) {
        FinishJob(job, v1::JOB_FAILED, absl::StrCat(registry_.Describe(worker), ": ", shape.message()), nullptr);
        status = shape;
      } else {
        job.unreported.erase(worker);
        job.reported.insert(worker);
        for (const auto& r : report.ranks()) job.rank_results.push_back(r);
        if (job.unreported.empty()) {
          workload::AssemblyContext context;
          context.catalogue = options_.catalogue;
          context.worker_ids = job.inventory_of;
          if (job.status.spec().has_train_step()) {
            context.mamf_flops_per_device =
                StoredMamf(workload::JobSetupName(job.inventory), job.status.spec().train_step().dtype());
          }
          v1::JobResult result = workload::AssembleJobResult(job.status.job_id(), job.status.spec(), job.inventory,
                                                             std::move(job.rank_results), context);
          *result.mutable_started_at() = job.status.started_at();
          *result.mutable_finished_at() = NowProto();
          result.set_tokenmeter_version(TOKENMETER_VERSION);
          result.set_attempts(job.status.attempt());
          FinishJob(job, v1::JOB_SUCCEEDED, "", &result);
        }
      }
    }
  }
  return status;
}

void Scheduler::Goodbye(const std::string& worker_id) {
  {
    absl::MutexLock lock(&mu_);
    Log("coordinator", registry_.Describe(worker_id), " said goodbye");
    registry_.Deregister(worker_id);
    ReleaseTaskWaits(worker_id);
    pending_tasks_.erase(worker_id);
    aborts_.erase(worker_id);
    for (auto& [id, job] : jobs_) {
      if (job.status.state() == v1::JOB_RUNNING && job.unreported.count(worker_id)) {
        EndOrRetry(job, absl::StrCat(registry_.Describe(worker_id), " left while running the job"));
      }
    }
  }
  CheckLiveness();  // announces and reschedules
}

bool Scheduler::IsPlaced(const std::string& job_id, const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.status.state() != v1::JOB_RUNNING) return false;
  const auto& ids = it->second.status.worker_ids();
  return std::find(ids.begin(), ids.end(), worker_id) != ids.end();
}

void Scheduler::CheckLiveness() {
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (const auto& worker : registry_.ExpireSilent(now)) {
      const std::string who = registry_.Describe(worker);
      const std::string silence = absl::FormatDuration(registry_.LostAfter(worker));
      Log("coordinator", who, " lost: no heart-beat for ", silence);
      ReleaseTaskWaits(worker);
      pending_tasks_.erase(worker);
      aborts_.erase(worker);
      for (auto& [id, job] : jobs_) {
        if (job.status.state() == v1::JOB_RUNNING && job.unreported.count(worker)) {
          std::string error =
              absl::StrCat(who, " lost: no heart-beat for ", silence);
          if (!job.held_error.empty()) absl::StrAppend(&error, "; then ", job.held_error);
          EndOrRetry(job, error);
        }
      }
    }
    ReleaseHeldErrors();
    TrySchedule();
  }
  Announce();
}

void Scheduler::ReleaseHeldErrors() {
  const absl::Time now = clock_->Now();
  for (auto& [id, job] : jobs_) {
    if (job.status.state() == v1::JOB_RUNNING && !job.held_error.empty() &&
        now - job.held_since > registry_.Cadence().lost_after) {
      FinishJob(job, v1::JOB_FAILED, job.held_error, nullptr);
    }
  }
}

double Scheduler::StoredMamf(const std::string& setup, v1::DType dtype) {
  auto it = newest_gemm_rate_.find({setup, dtype});
  return it == newest_gemm_rate_.end() ? 0 : it->second;
}

}  // namespace tokenmeter::coordinator
