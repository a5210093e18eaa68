// RunTask, the worker's task runner, without a coordinator: several ranks in
// one worker process (a worker with --devices 2), each on its own thread and
// backend, rendezvousing through an in-memory store; both sweeps; the
// observer told of every measurement with the right device; a stop between
// entries; the energy delta against a fake RAPL counter at a known power.
#include "worker/task_runner.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/store.h"
#include "tests/support/fake_powercap.h"
#include "tests/support/subprocess.h"
#include "workload/spec.h"
#include "workload/sweep.h"

namespace tokenmeter::worker {
namespace {

using ::testing::HasSubstr;

// Records what it is told, by device.
class Recorder : public MeasurementObserver {
 public:
  void OnGemm(int device, const v1::GemmMeasurement&) override { Count(device, "gemm"); }
  void OnCollective(int device, const v1::CollectiveMeasurement&) override {
    Count(device, "collective");
    if (on_collective) on_collective();
  }
  void OnStep(int device, double) override { Count(device, "step"); }
  void OnPower(int, double) override {}
  void OnPowerLost(int) override {}
  int Seen(int device, const std::string& kind) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[{device, kind}];
  }
  std::function<void()> on_collective;

 private:
  void Count(int device, const std::string& kind) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[{device, kind}];
  }
  std::mutex mu_;
  std::map<std::pair<int, std::string>, int> counts_;
};

v1::WorkerInventory TwoDevices() {
  v1::WorkerInventory inventory;
  inventory.set_hostname("test-host");
  for (int i = 0; i < 2; ++i) {
    auto* d = inventory.add_devices();
    d->set_index(i);
    d->set_model("test cpu");
    d->set_uuid("test-cpu-" + std::to_string(i));
  }
  return inventory;
}

v1::Task TwoRankTask(v1::WorkloadSpec spec) {
  v1::Task task;
  task.set_job_id("job-task-runner-test");
  *task.mutable_spec() = std::move(spec);
  task.set_world_size(2);
  task.set_collective_timeout_ms(10000);
  for (int r = 0; r < 2; ++r) {
    auto* a = task.add_ranks();
    a->set_rank(r);
    a->set_device_index(r);
  }
  return task;
}

v1::WorkloadSpec SmallCollectives() {
  v1::WorkloadSpec spec = *workload::ResolveWorkload("collective");
  spec.set_warmup_iterations(1);
  spec.set_timed_iterations(3);
  spec.mutable_collective()->set_max_bytes(64 << 10);
  return spec;
}

struct Env {
  std::unique_ptr<kernels::Store> store = kernels::NewInMemoryStore();
  v1::WorkerInventory inventory = TwoDevices();
  std::atomic<bool> abort{false};
  Recorder recorder;
  TaskEnvironment Make(const std::string& sysfs_root = "/nonexistent") {
    TaskEnvironment env;
    env.worker_id = "w-test";
    env.cpu_threads_per_rank = 1;
    env.sysfs_root = sysfs_root;
    env.inventory = &inventory;
    env.store = store.get();
    env.abort = &abort;
    env.observer = &recorder;
    return env;
  }
};

TEST(TaskRunner, TwoRanksInOneWorkerRunTheCollectiveSweepInRankOrder) {
  Env e;
  const v1::WorkloadSpec spec = SmallCollectives();
  auto results = RunTask(TwoRankTask(spec), e.Make());
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  size_t expected = 0;
  for (int op : spec.collective().ops()) {
    expected += workload::CollectiveSizes(spec.collective(), static_cast<v1::CollectiveOp>(op), 2).size();
  }
  for (int r = 0; r < 2; ++r) {
    const v1::RankResult& result = (*results)[r];
    EXPECT_EQ(result.rank(), r);
    EXPECT_EQ(result.device().uuid(), "test-cpu-" + std::to_string(r));  // its own device
    ASSERT_EQ(static_cast<size_t>(result.collective_size()), expected);
    for (const auto& m : result.collective()) {
      EXPECT_EQ(m.wrong_elements(), 0) << m.size_bytes();
      EXPECT_EQ(m.iteration_seconds_size(), 3);
    }
    EXPECT_EQ(e.recorder.Seen(r, "collective"), static_cast<int>(expected));
  }
}

TEST(TaskRunner, TwoRanksInOneWorkerRunTheGemmSweep) {
  Env e;
  v1::WorkloadSpec spec = *workload::ResolveWorkload("gemm");
  spec.set_warmup_iterations(0);
  spec.set_timed_iterations(1);
  auto results = RunTask(TwoRankTask(spec), e.Make());
  ASSERT_TRUE(results.ok()) << results.status();
  for (int r = 0; r < 2; ++r) {
    const v1::RankResult& result = (*results)[r];
    ASSERT_EQ(result.gemm_size(), spec.gemm().shapes_size());  // fp32 only on the cpu
    for (const auto& g : result.gemm()) EXPECT_TRUE(g.verified()) << g.shape().name();
    EXPECT_EQ(e.recorder.Seen(r, "gemm"), spec.gemm().shapes_size());
    EXPECT_EQ(result.energy_joules(), 0);  // no RAPL under the sysfs root: not reported
  }
}

TEST(TaskRunner, AStopBetweenEntriesEndsTheTaskAbortedWithoutRunningTheRest) {
  Env e;
  const v1::WorkloadSpec spec = SmallCollectives();
  e.recorder.on_collective = [&] { e.abort = true; };
  const auto start = std::chrono::steady_clock::now();
  auto results = RunTask(TwoRankTask(spec), e.Make());
  EXPECT_EQ(results.status().code(), absl::StatusCode::kAborted) << results.status();
  EXPECT_THAT(std::string(results.status().message()), HasSubstr("stopped"));
  // Each rank finished at most the entry it was in when the flag rose.
  EXPECT_LE(e.recorder.Seen(0, "collective"), 2);
  EXPECT_LE(e.recorder.Seen(1, "collective"), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(TaskRunner, EnergyIsTheCountersAdvanceOverTheRanksRun) {
  testing::TempDir dir;
  testing::FakePowercap powercap(dir.path());
  powercap.AddZone("intel-rapl:0", "package-0", 0, testing::FakePowercap::kDefaultRangeUj);
  constexpr double kWatts = 50;
  powercap.StartPower("intel-rapl:0", kWatts, std::chrono::milliseconds(1));
  Env e;
  v1::WorkloadSpec spec = *workload::ResolveWorkload("gemm");
  spec.set_warmup_iterations(0);
  spec.set_timed_iterations(2);
  const auto start = std::chrono::steady_clock::now();
  auto results = RunTask(TwoRankTask(spec), e.Make(dir.path()));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(results.ok()) << results.status();
  for (const auto& result : *results) {
    double timed = 0;
    for (const auto& g : result.gemm()) {
      for (double t : g.iteration_seconds()) timed += t;
    }
    // The counter read before and after the rank's sweep: at least the timed
    // calls' energy, at most the whole task's, each within one write period.
    EXPECT_GE(result.energy_joules(), kWatts * (timed - 0.002)) << "rank " << result.rank();
    EXPECT_LE(result.energy_joules(), kWatts * (wall + 0.002)) << "rank " << result.rank();
  }
}

}  // namespace
}  // namespace tokenmeter::worker
