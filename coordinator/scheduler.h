// The scheduler: the job queue, placement of jobs on workers, the life of a
// job (queued → running → succeeded / failed / cancelled), and the workers'
// side of it (registration, heart-beats, tasks, reports). It owns the worker
// registry and persists every job change to the results store, so a
// coordinator restart loses no stored result and no queued job.
#ifndef TOKENMETER_COORDINATOR_SCHEDULER_H_
#define TOKENMETER_COORDINATOR_SCHEDULER_H_

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"
#include "coordinator/placement.h"
#include "coordinator/rendezvous_store.h"
#include "coordinator/results_store.h"
#include "coordinator/store_writer.h"
#include "coordinator/wait_list.h"
#include "coordinator/worker_registry.h"
#include "tokenmeter/v1/coordinator.pb.h"
#include "workload/catalogue.h"

namespace tokenmeter::coordinator {

// What a client can make the coordinator hold or do (docs/operations.md,
// "Limits"); each refusal names its bound and the flag that sets it.
struct JobLimits {
  int max_queued_jobs = 10000;      // --max-queued-jobs
  double max_job_seconds = 86400;   // --max-job-seconds: a spec's least time (workload/estimate.h)
};

struct SchedulerOptions {
  RegistryOptions registry;
  JobLimits limits;
  // Given to every task: the bound on any rendezvous wait or collective.
  absl::Duration collective_timeout = absl::Seconds(30);
  // Datasheet peaks and default prices for train-step figures; null = the
  // built-in catalogue. Not owned.
  const workload::DeviceCatalogue* catalogue = nullptr;
  // Called (under no lock) whenever a job reaches a final state.
  std::function<void(const v1::JobStatus&)> on_job_finished;
  // Called (under no lock) once a recorded result (RecordHealth) is stored.
  std::function<void(const v1::JobResult&)> on_result_recorded;
};

// Thread-safe: every method may be called from any gRPC thread. Long-polls
// (PollTaskAsync, GetJobAsync) hold no thread while they wait: their callback
// runs once the answer is known — on the caller's thread when it is known at
// once, otherwise on the thread whose call placed the task or ended the job,
// or in ExpireWaits at the deadline — and never under the scheduler's lock.
//
// The scheduler's lock never covers disk I/O or a scan of the store: job
// changes are written by a StoreWriter in the order they happened, and a call
// that changes stored state (submit, cancel, report) is answered only once
// what it changed is durable; so is a job poll waiting for a job's end.
class Scheduler {
 public:
  static constexpr int kMaxAttempts = 10;
  using TaskCallback = std::function<void(absl::StatusOr<std::optional<v1::Task>>)>;
  using JobCallback = std::function<void(absl::StatusOr<v1::JobStatus>)>;
  using SubmitCallback = std::function<void(absl::StatusOr<std::string>)>;
  using StatusCallback = std::function<void(absl::Status)>;

  // store, rendezvous and clock are not owned and must outlive the scheduler.
  Scheduler(SchedulerOptions options, ResultsStore* store, RendezvousStore* rendezvous, const Clock* clock);

  // Reloads jobs from the store: queued jobs queue again; jobs that were
  // running when the coordinator stopped fail with that reason.
  absl::Status Recover();

  // ---- public API
  // Validates and queues a job (SubmitJobRequest); returns its id. The job
  // keeps its setup ("" = any one setup), span_setups (may run across
  // setups) and workers (placed only on those) through queueing,
  // re-queueing and a restart, and is placed accordingly.
  // InvalidArgument naming the field for a bad spec, for span_setups with a
  // setup, or for a worker listed twice; FailedPrecondition when registered
  // workers exist but none can run it (none in `setup`, a dtype no backend
  // has, a listed worker not registered); ResourceExhausted when the queue
  // is at JobLimits::max_queued_jobs; InvalidArgument when the spec's least
  // time passes JobLimits::max_job_seconds. The job joins the queue, and
  // `done` is answered, once its row is durable. max_attempts (0 = 1, at
  // most kMaxAttempts): placements allowed when a worker of the job is lost
  // or leaves mid-run.
  void SubmitAsync(const v1::SubmitJobRequest& request, SubmitCallback done);
  // The same, blocking the calling thread (tools and tests).
  absl::StatusOr<std::string> Submit(const v1::SubmitJobRequest& request);
  absl::StatusOr<std::string> Submit(const v1::WorkloadSpec& spec, int ranks, const std::string& setup,
                                     bool span_setups = false, int max_attempts = 1);
  // Stores a diagnosis (RecordHealthRequest) as a finished `fleet-check`
  // job whose result carries the report, with the inventory of the checked
  // workers still registered; answers its id once durable. InvalidArgument
  // naming the field for no setup, no worker, or hostnames that do not
  // match the workers one for one.
  void RecordHealthAsync(const v1::RecordHealthRequest& request, SubmitCallback done);
  absl::StatusOr<std::string> RecordHealth(const v1::RecordHealthRequest& request);
  // The job's status once it reaches a final state, or as it is at the
  // deadline. NotFound for an unknown id.
  void GetJobAsync(const std::string& job_id, absl::Time deadline, JobCallback done);
  // The same, blocking the calling thread (tools and tests).
  absl::StatusOr<v1::JobStatus> GetJob(const std::string& job_id, absl::Time deadline);
  void CancelAsync(const std::string& job_id, StatusCallback done);
  absl::Status Cancel(const std::string& job_id);
  std::vector<v1::WorkerStatus> ListWorkers(bool include_lost);
  // Every worker's state and heart-beat age (the metrics' per-worker series).
  std::vector<WorkerAge> WorkerAges();
  std::vector<v1::JobStatus> ListJobs(int limit);

  // ---- worker side
  absl::StatusOr<v1::RegisterResponse> RegisterWorker(const v1::WorkerInventory& inventory);
  // The jobs the worker must abort and its cadence from now on. NotFound:
  // register again.
  // A running job's progress (docs/architecture.md, "Progress") is taken
  // from the beats of the worker of its first rank.
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& beat);
  // The worker's next task as soon as one is placed; nullopt at the
  // deadline, when the worker is lost, or when a newer poll of the same
  // worker replaces this one. NotFound for an unknown worker: register again.
  void PollTaskAsync(const std::string& worker_id, absl::Time deadline, TaskCallback done);
  // The same, blocking the calling thread (tools and tests).
  absl::StatusOr<std::optional<v1::Task>> PollTask(const std::string& worker_id, absl::Time deadline);
  // Answered once the job's change (its end, when this was its last rank)
  // is durable.
  void ReportResultAsync(const v1::ReportResultRequest& report, StatusCallback done);
  absl::Status ReportResult(const v1::ReportResultRequest& report);
  void Goodbye(const std::string& worker_id);
  // Whether worker_id is placed on job_id (rendezvous access check).
  bool IsPlaced(const std::string& job_id, const std::string& worker_id);

  // Marks silent workers lost and fails their jobs. Called periodically.
  void CheckLiveness();
  // Answers every long-poll whose deadline is at or before now. Called
  // often (the server's wait timer); InfiniteFuture answers them all.
  void ExpireWaits(absl::Time now);

 private:
  struct Job {
    v1::JobStatus status;
    std::vector<WorkerShare> shares;
    std::set<std::string> unreported;  // placed workers that have not reported
    std::set<std::string> reported;    // placed workers that have, this attempt
    std::vector<v1::RankResult> rank_results;
    std::vector<v1::WorkerInventory> inventory;
    std::vector<std::string> inventory_of;  // inventory_of[i]: the worker inventory[i] is
    // A rank's failure is held back for up to lost_after before it ends the
    // job: when a peer died, the peer's loss is the cause to report, and the
    // ranks that saw their connection drop only the symptom.
    std::string held_error;
    absl::Time held_since;
    // The job's final state is in the store: job polls may be answered.
    bool final_stored = false;
    // Why the job's first row could not be stored ("" = it was, or is pending).
    std::string row_error;
  };
  // Ends jobs whose held error has waited long enough.
  void ReleaseHeldErrors() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Validates and adds the job (not yet queued), queueing its row's write.
  absl::StatusOr<std::string> AddJob(const v1::SubmitJobRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  // The job's row is durable (or failed to be): queue it, answer the client.
  void JobRowStored(const std::string& job_id, const SubmitCallback& done) ABSL_LOCKS_EXCLUDED(mu_);
  // A job's final state is durable (or failed to be): announce it, answer its polls.
  void FinalStateStored(const std::string& job_id, const absl::Status& stored) ABSL_LOCKS_EXCLUDED(mu_);
  // Applies a worker's report to its job; the answer to give it.
  absl::Status ApplyReport(const v1::ReportResultRequest& report) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a stored result's GEMM rates as its setup's newest.
  void NoteGemmRates(const v1::JobResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers the worker and places what it can now run; takes the lock.
  absl::StatusOr<v1::RegisterResponse> AddWorker(const v1::WorkerInventory& inventory) ABSL_LOCKS_EXCLUDED(mu_);
  // Hands finished jobs to options_.on_job_finished and runs the long-polls'
  // answers, outside the lock.
  void Announce() ABSL_LOCKS_EXCLUDED(mu_);
  // Gives the worker's pending task to its waiting poll, if one waits.
  void HandOutTask(const std::string& worker_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Answers the worker's waiting polls with "no task".
  void ReleaseTaskWaits(const std::string& worker_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TrySchedule() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartJob(Job& job, PlacementPlan plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves a job to a final state, persists it, frees and aborts its workers.
  void FinishJob(Job& job, v1::JobState state, const std::string& error, const v1::JobResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the job's row; `done` as StoreWriter's (null = log a failure).
  // Frees the job's placed workers that have not taken their task, and tells
  // those running it to abort (on their next heart-beat).
  void StopUnreported(const Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteProgress(const std::string& worker_id, const std::string& job_id, const v1::JobProgress& progress)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A worker of the running job was lost or left: the job queues again
  // (first in line) while attempts remain, else fails with `error`.
  void EndOrRetry(Job& job, const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Persist(const v1::JobStatus& status, StoreWriter::Done done = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Best verified GEMM FLOP/s per device in `dtype` of the newest stored
  // result on `setup` that has such rows; 0 when none. From memory.
  double StoredMamf(const std::string& setup, v1::DType dtype) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  google::protobuf::Timestamp NowProto() const;

  const SchedulerOptions options_;
  ResultsStore* const store_;
  RendezvousStore* const rendezvous_;
  const Clock* const clock_;

  absl::Mutex mu_;
  WorkerRegistry registry_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  int awaiting_row_ ABSL_GUARDED_BY(mu_) = 0;  // submitted, row not yet durable
  std::map<std::string, v1::Task> pending_tasks_ ABSL_GUARDED_BY(mu_);          // by worker
  std::map<std::string, std::set<std::string>> aborts_ ABSL_GUARDED_BY(mu_);    // by worker
  std::vector<v1::JobStatus> finished_ ABSL_GUARDED_BY(mu_);  // to announce outside the lock
  WaitList<std::string, TaskCallback> task_waits_ ABSL_GUARDED_BY(mu_);  // by worker
  WaitList<std::string, JobCallback> job_waits_ ABSL_GUARDED_BY(mu_);    // by job
  std::vector<std::function<void()>> answers_ ABSL_GUARDED_BY(mu_);     // to run outside the lock
  // (setup, dtype) → best verified GEMM FLOP/s per device of the newest stored result with such rows.
  std::map<std::pair<std::string, int>, double> newest_gemm_rate_ ABSL_GUARDED_BY(mu_);
  // Last: destroyed first, so its queued writes and their callbacks finish
  // while everything they touch is alive.
  StoreWriter writer_;
};

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_SCHEDULER_H_
