// Test support: real child processes of the tokenmeter binary, with their
// output captured, every wait bounded, and no child left behind (RAII).
#ifndef TOKENMETER_TESTS_SUPPORT_SUBPROCESS_H_
#define TOKENMETER_TESTS_SUPPORT_SUBPROCESS_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
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
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A port nobody listens on right now (bound and released).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class Process {
 public:
  // Starts `binary args...` with stdout and stderr in files under dir.
  Process(const std::string& binary, const std::vector<std::string>& args, const std::string& dir,
          const std::string& name)
      : out_path_(dir + "/" + name + ".out"), err_path_(dir + "/" + name + ".err") {
    std::vector<std::string> store = {binary};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);  // its own group, so a test can signal it and its children
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, STDIN_FILENO);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    started_ = std::chrono::steady_clock::now();
  }
  ~Process() { Kill(SIGKILL); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  void Signal(int sig) {
    if (pid_ > 0 && !exited_) kill(pid_, sig);
  }
  // Kills the process and waits for it.
  void Kill(int sig = SIGKILL) {
    if (pid_ <= 0 || exited_) return;
    kill(pid_, sig);
    Wait(std::chrono::seconds(10));
  }
  // Waits up to timeout; true when it exited (then exit_code() is valid).
  bool Wait(std::chrono::milliseconds timeout) {
    if (exited_) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        elapsed_ = std::chrono::steady_clock::now() - started_;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  bool Running() { return !Wait(std::chrono::milliseconds(0)); }
  int exit_code() const { return exit_code_; }
  double elapsed_seconds() const { return std::chrono::duration<double>(elapsed_).count(); }
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

// Runs the tokenmeter binary to completion (bounded) and returns it.
struct Result {
  int exit_code = -1;
  std::string out, err;
  double seconds = 0;
  bool timed_out = false;
};

inline Result RunTokenmeter(const std::vector<std::string>& args, const std::string& dir,
                            std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  static int counter = 0;
  Process p(TOKENMETER_BINARY, args, dir, "cmd" + std::to_string(counter++));
  Result r;
  r.timed_out = !p.Wait(timeout);
  if (r.timed_out) p.Kill();
  r.exit_code = p.exit_code();
  r.out = p.out();
  r.err = p.err();
  r.seconds = p.elapsed_seconds();
  return r;
}

// Polls `condition` every 50 ms up to timeout.
template <typename F>
bool Eventually(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

// A coordinator process on a free port with its store in dir.
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
