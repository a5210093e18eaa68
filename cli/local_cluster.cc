#include "cli/local_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/coordinator_client.h"
#include "common/log.h"

namespace tokenmeter::cli {
namespace {

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "tokenmeter";
}

bool Alive(pid_t pid) { return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0; }

// Waits for pid up to timeout; true when it exited.
bool Reap(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

std::string Seconds(absl::Duration d) { return absl::StrFormat("%.3f", absl::ToDoubleSeconds(d)); }

}  // namespace

absl::StatusOr<pid_t> LocalCluster::Spawn(const std::string& name, const std::vector<std::string>& args) {
  const std::string exe = SelfExe();
  const std::string log = absl::StrCat(dir_, "/", name, ".log");
  std::vector<std::string> argv_store = {exe};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("cannot start ", name, ": fork failed"));
  if (pid == 0) {
    // A child never outlives `run`, even when run is killed.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Children have no business with the user's terminal signals: `run`
    // stops them itself, in order.
    setpgid(0, 0);
    int out = options_.verbose ? STDERR_FILENO : open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
    }
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::string LocalCluster::LogTail(const std::string& name) const {
  if (options_.verbose) return "";
  std::ifstream in(absl::StrCat(dir_, "/", name, ".log"));
  std::string line, last;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  for (size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i) absl::StrAppend(&last, "\n  ", lines[i]);
  return last;
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(const LocalClusterOptions& options) {
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  c->options_ = options;
  char tmpl[] = "/tmp/tokenmeter-local-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("cannot create a temporary directory in /tmp");
  c->dir_ = tmpl;
  c->store_path_ = options.store_path.empty() ? absl::StrCat(c->dir_, "/results.db") : options.store_path;
  const std::string port_file = absl::StrCat(c->dir_, "/coordinator.port");
  const absl::Duration heartbeat = std::max(absl::Milliseconds(100), options.lost_after / 5);

  std::vector<std::string> coordinator_args = {
      "coordinator",  "--listen",           "127.0.0.1:0",
      "--store",      c->store_path_,       "--port-file",
      port_file,      "--heartbeat-interval", Seconds(heartbeat),
      "--lost-after", Seconds(options.lost_after), "--collective-timeout",
      Seconds(options.collective_timeout)};
  if (!options.catalogue_file.empty()) coordinator_args.insert(coordinator_args.end(), {"--catalogue", options.catalogue_file});
  auto coordinator = c->Spawn("coordinator", coordinator_args);
  if (!coordinator.ok()) return coordinator.status();
  c->coordinator_ = *coordinator;

  const absl::Duration start_timeout = options.start_timeout > absl::ZeroDuration() ? options.start_timeout
                                       : options.backend == "cpu"                 ? absl::Seconds(20)
                                                                                  : absl::Seconds(120);
  const absl::Time deadline = absl::Now() + start_timeout;
  while (true) {
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      c->address_ = absl::StrCat("127.0.0.1:", port);
      break;
    }
    if (!Alive(c->coordinator_)) {
      c->keep_dir_ = true;
      return absl::UnavailableError(absl::StrCat("the local coordinator exited at start:", c->LogTail("coordinator")));
    }
    if (absl::Now() > deadline) {
      c->keep_dir_ = true;
      return absl::DeadlineExceededError("the local coordinator did not start in time");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads =
      options.cpu_threads_per_worker > 0 ? options.cpu_threads_per_worker : std::max(1, cores / options.workers);
  const std::string setup = options.setup.empty() ? absl::StrCat("local-", options.backend) : options.setup;
  // A CPU worker offers one device (its cores); a GPU worker all its GPUs
  // unless told otherwise.
  const int devices_each = options.devices_per_worker > 0 ? options.devices_per_worker
                           : options.backend == "cpu"      ? 1
                                                           : 0;
  for (int i = 0; i < options.workers; ++i) {
    std::vector<std::string> args = {"worker",  "--coordinator", c->address_, "--backend",     options.backend,
                                     "--setup", setup,           "--devices", absl::StrCat(devices_each)};
    if (options.backend == "cpu") {
      args.insert(args.end(), {"--cpu-threads", absl::StrCat(threads)});
    }
    if (!options.sysfs_root.empty()) args.insert(args.end(), {"--sysfs-root", options.sysfs_root});
    if (options.price_per_device_hour > 0) {
      args.insert(args.end(), {"--price-per-device-hour", absl::StrFormat("%.17g", options.price_per_device_hour)});
    }
    auto pid = c->Spawn(absl::StrCat("worker-", i), args);
    if (!pid.ok()) return pid.status();
    c->workers_.push_back(*pid);
  }

  worker::ChannelOptions channel;
  channel.address = c->address_;
  auto client = CoordinatorClient::Connect(channel, absl::Seconds(5));
  if (!client.ok()) return client.status();
  while (true) {
    if (auto devices = (*client)->WaitForWorkers(options.workers, absl::Milliseconds(500)); devices.ok()) {
      c->devices_ = *devices;
      break;
    }
    for (int i = 0; i < options.workers; ++i) {
      if (!Alive(c->workers_[i])) {
        c->keep_dir_ = true;
        return absl::UnavailableError(
            absl::StrCat("local worker ", i, " exited at start:", c->LogTail(absl::StrCat("worker-", i))));
      }
    }
    if (absl::Now() > deadline) {
      c->keep_dir_ = true;
      return absl::DeadlineExceededError(
          absl::StrCat("the local workers did not register within ", absl::FormatDuration(start_timeout),
                       " (--start-timeout); logs in ", c->dir_));
    }
  }
  Log("run", "local coordinator on ", c->address_, " with ", options.workers, " ", options.backend, " workers",
      options.backend == "cpu" ? absl::StrCat(" (", threads, " threads each)") : "", ", store ", c->store_path_);
  return c;
}

bool LocalCluster::Stop() {
  bool clean = true;
  // Workers first, so they say goodbye to a coordinator that is still there.
  for (pid_t pid : workers_) {
    if (pid > 0) kill(pid, SIGTERM);
  }
  for (pid_t pid : workers_) {
    if (pid > 0 && !Reap(pid, absl::Seconds(10))) {
      kill(pid, SIGKILL);
      Reap(pid, absl::Seconds(2));
      clean = false;
    }
  }
  workers_.clear();
  if (coordinator_ > 0) {
    kill(coordinator_, SIGTERM);
    if (!Reap(coordinator_, absl::Seconds(10))) {
      kill(coordinator_, SIGKILL);
      Reap(coordinator_, absl::Seconds(2));
      clean = false;
    }
    coordinator_ = -1;
  }
  if (!dir_.empty()) {
    if (keep_dir_) {
      Log("run", "logs of the local processes kept in ", dir_);
    } else {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
    dir_.clear();
  }
  return clean;
}

LocalCluster::~LocalCluster() { Stop(); }

}  // namespace tokenmeter::cli
