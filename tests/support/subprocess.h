// Test support: real child processes (the tokenmeter binary, or any other
// executable such as prometheus or promtool), with their output captured,
// every wait bounded, and no child left behind.
//
// A child is SIGKILLed, with its process group, when its Process object goes
// away, and PR_SET_PDEATHSIG kills it if the test process dies first, so
// nothing is left behind even on a crash. The death signal is tied to the
// thread that started the child: start processes from the test's own thread
// (or one that outlives them), never from a short-lived helper thread.
//
// Not thread-safe: use each object from one thread.
#ifndef TOKENMETER_TESTS_SUPPORT_SUBPROCESS_H_
#define TOKENMETER_TESTS_SUPPORT_SUBPROCESS_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tokenmeter::testing {

// A fresh directory under /tmp, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tokenmeter-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The whole file, or "" when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Replaces the file's contents with text.
inline void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// The last n lines of text (for failure messages); all of it when shorter.
inline std::string Tail(std::string text, int n = 15) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t pos = text.size();
  for (int i = 0; i < n && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

// The path of an executable on PATH (or `name` itself when it contains a
// '/' and is executable), or "" when there is none. Process and RunCommand
// take a path, not a bare name: resolve one here first.
inline std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A loopback port nobody listens on right now (bound and released; a
// process started right after can take it).
inline int FreePort() {
  // Below Linux's ephemeral range (32768-60999): a port the kernel hands out
  // for binding to port 0 is also one it hands to the next outgoing
  // connection, which made tests running side by side collide. A random port
  // here that binds now is free unless another test picks the same one.
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  std::uniform_int_distribution<int> pick(20000, 32000);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = pick(rng);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

struct ProcessOptions {
  // The child's stdin; "" is /dev/null.
  std::string stdin_path;
};

class Process {
 public:
  // Starts `binary args...` (binary: a path, see FindExecutable) in its own
  // process group, with stdout in dir/name.out and stderr in dir/name.err.
  Process(const std::string& binary, const std::vector<std::string>& args, const std::string& dir,
          const std::string& name, const ProcessOptions& options = {})
      : out_path_(dir + "/" + name + ".out"), err_path_(dir + "/" + name + ".err") {
    std::vector<std::string> store = {binary};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      if (getppid() != parent) _exit(1);
      setpgid(0, 0);  // its own group, so a test can signal it and its children
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      int in = open(options.stdin_path.empty() ? "/dev/null" : options.stdin_path.c_str(), O_RDONLY);
      dup2(in, STDIN_FILENO);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    started_ = std::chrono::steady_clock::now();
  }
  // SIGKILLs the process group if still running, and waits for the child.
  ~Process() {
    if (pid_ <= 0 || exited_) return;
    kill(-pid_, SIGKILL);
    Kill(SIGKILL);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // Sends sig to the process itself (not its group) unless it has exited.
  void Signal(int sig) {
    if (pid_ > 0 && !exited_) kill(pid_, sig);
  }
  // Sends sig to the process and waits for it (up to 10 s).
  void Kill(int sig = SIGKILL) {
    if (pid_ <= 0 || exited_) return;
    kill(pid_, sig);
    Wait(std::chrono::seconds(10));
  }
  // Waits up to timeout (polling at least once); true when it exited (then
  // exit_code() is valid: the exit status, or 128 + signal).
  bool Wait(std::chrono::milliseconds timeout) {
    if (exited_) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        elapsed_ = std::chrono::steady_clock::now() - started_;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }
  bool Running() { return !Wait(std::chrono::milliseconds(0)); }
  int exit_code() const { return exit_code_; }
  double elapsed_seconds() const { return std::chrono::duration<double>(elapsed_).count(); }
  // What it wrote so far.
  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }

 private:
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::duration elapsed_{};
};

// A command run to completion.
struct Result {
  int exit_code = -1;  // the exit status, or 128 + signal
  std::string out, err;
  double seconds = 0;
  bool timed_out = false;  // SIGKILLed at the timeout
  // Exited 0 within the timeout.
  bool ok() const { return exit_code == 0 && !timed_out; }
};

// Runs argv (argv[0]: a path, see FindExecutable) to completion, SIGKILLed
// after timeout. Its output files are dir/cmdN.out and dir/cmdN.err.
// REQUIRES: argv is not empty.
inline Result RunCommand(const std::vector<std::string>& argv, const std::string& dir,
                         std::chrono::milliseconds timeout = std::chrono::seconds(120),
                         const ProcessOptions& options = {}) {
  static int counter = 0;
  Process p(argv.front(), std::vector<std::string>(argv.begin() + 1, argv.end()), dir,
            "cmd" + std::to_string(counter++), options);
  Result r;
  r.timed_out = !p.Wait(timeout);
  if (r.timed_out) p.Kill();
  r.exit_code = p.exit_code();
  r.out = p.out();
  r.err = p.err();
  r.seconds = p.elapsed_seconds();
  return r;
}

// Runs the tokenmeter binary with args, as RunCommand does.
inline Result RunTokenmeter(const std::vector<std::string>& args, const std::string& dir,
                            std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> argv = {TOKENMETER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, dir, timeout);
}

// Polls `condition` every 50 ms up to timeout; its last value.
template <typename F>
bool Eventually(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

// A coordinator process listening on a free loopback port (it writes the
// port to dir/name.port) with its store in `store`; `extra` flags are
// appended. port() is 0 when it did not report a port within 20 s.
class CoordinatorProcess {
 public:
  CoordinatorProcess(const std::string& dir, const std::string& store, std::vector<std::string> extra = {},
                     const std::string& name = "coordinator") {
    const std::string port_file = dir + "/" + name + ".port";
    std::filesystem::remove(port_file);
    std::vector<std::string> args = {"coordinator", "--listen", "127.0.0.1:0", "--store", store, "--port-file",
                                     port_file};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Process>(TOKENMETER_BINARY, args, dir, name);
    Eventually(
        [&] {
          std::ifstream in(port_file);
          return static_cast<bool>(in >> port_) && port_ > 0;
        },
        std::chrono::seconds(20));
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_SUPPORT_SUBPROCESS_H_
