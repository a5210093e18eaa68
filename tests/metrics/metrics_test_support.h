// Test support for tests/metrics: child processes (tokenmeter, prometheus,
// promtool) that never outlive the test, a tiny HTTP/1.0 GET over a socket,
// JSON through protobuf's own reader, and the dashboards' panels.
//
// Every wait is bounded. A child is killed (with its process group) when its
// Process object goes away, and PR_SET_PDEATHSIG kills it if the test
// process itself dies first, so nothing is left behind even on a crash.
//
// (tests/support/subprocess.h, in progress beside this, has a similar
// Process; this header stays self-contained until that one settles.)
#ifndef TOKENMETER_TESTS_METRICS_METRICS_TEST_SUPPORT_H_
#define TOKENMETER_TESTS_METRICS_METRICS_TEST_SUPPORT_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace tokenmeter::metrics_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// The last n lines of text (for failure messages).
inline std::string Tail(std::string text, int n = 15) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t pos = text.size();
  for (int i = 0; i < n && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

// An executable on PATH (or an absolute path), or "" when there is none.
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

// A fresh directory under /tmp, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tokenmeter-metrics-test-XXXXXX";
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

// A loopback port nobody listens on right now (bound and released; a
// process started right after can take it).
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

// A child process with stdout+stderr in a file; killed (its whole process
// group) when this object goes away.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path, const std::string& stdin_path = "")
      : log_path_(log_path) {
    std::vector<std::string> store = argv;
    std::vector<char*> args;
    for (auto& a : store) args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      if (getppid() != parent) _exit(1);
      setpgid(0, 0);
      int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
      int in = open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY);
      dup2(in, STDIN_FILENO);
      execv(store[0].c_str(), args.data());
      _exit(127);
    }
  }
  ~Process() { Stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // SIGTERM, then SIGKILL after grace; waits for it (bounded).
  void Stop(milliseconds grace = milliseconds(3000)) {
    if (pid_ <= 0 || exited_) return;
    kill(-pid_, SIGTERM);
    kill(pid_, SIGTERM);
    if (!Wait(grace)) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      Wait(seconds(10));
    }
  }
  // True when it exited within timeout (exit_code() is then valid).
  bool Wait(milliseconds timeout) {
    if (exited_) return true;
    const auto deadline = Clock::now() + timeout;
    do {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      }
      std::this_thread::sleep_for(milliseconds(10));
    } while (Clock::now() < deadline);
    return false;
  }
  bool Running() { return !Wait(milliseconds(0)); }
  int exit_code() const { return exit_code_; }
  std::string log() const { return ReadFile(log_path_); }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

struct CommandResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  // stdout and stderr together
};

// Runs argv to completion (killed after timeout).
inline CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& dir,
                                milliseconds timeout = seconds(120), const std::string& stdin_path = "") {
  static int counter = 0;
  const std::string log = dir + "/command-" + std::to_string(counter++) + ".log";
  Process p(argv, log, stdin_path);
  CommandResult r;
  r.timed_out = !p.Wait(timeout);
  if (r.timed_out) p.Stop(milliseconds(100));
  r.exit_code = p.exit_code();
  r.output = p.log();
  return r;
}

// Polls condition every 100 ms until it holds or timeout passes.
template <typename F>
bool Eventually(F condition, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return condition();
}

struct HttpResponse {
  int status = 0;  // 0: no response (connection refused, timeout)
  std::string body;
};

// GET http://127.0.0.1:port/path over a plain socket (HTTP/1.0: the server
// closes the connection, no chunked encoding). Bounded by timeout.
inline HttpResponse HttpGet(int port, const std::string& path, milliseconds timeout = seconds(10)) {
  HttpResponse r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  timeval tv{};
  tv.tv_sec = static_cast<long>(timeout.count() / 1000);
  tv.tv_usec = static_cast<long>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return r;
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) +
                              "\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return r;
  }
  std::string raw;
  char buf[65536];
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t header_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || header_end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  r.body = raw.substr(header_end + 4);
  return r;
}

inline std::string UrlEncode(const std::string& s) {
  std::string out;
  char hex[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// JSON text as a google.protobuf.Value (protobuf's own JSON reader); nullopt
// when it does not parse.
inline std::optional<google::protobuf::Value> ParseJson(const std::string& text) {
  google::protobuf::Value v;
  if (!google::protobuf::util::JsonStringToMessage(text, &v).ok()) return std::nullopt;
  return v;
}

inline const google::protobuf::Value* Field(const google::protobuf::Value& v, const std::string& key) {
  if (v.kind_case() != google::protobuf::Value::kStructValue) return nullptr;
  auto it = v.struct_value().fields().find(key);
  return it == v.struct_value().fields().end() ? nullptr : &it->second;
}

inline std::string StringField(const google::protobuf::Value& v, const std::string& key) {
  const auto* f = Field(v, key);
  return f != nullptr && f->kind_case() == google::protobuf::Value::kStringValue ? f->string_value() : "";
}

// One query of one panel of one dashboard.
struct PanelQuery {
  std::string dashboard;  // file name
  std::string panel;      // title
  std::string ref_id;
  std::string expr;  // as written, variables unresolved
  std::string Name() const { return dashboard + " / \"" + panel + "\" / " + ref_id; }
};

struct Dashboard {
  std::string file;
  google::protobuf::Value json;
};

// Every *.json under dir, parsed. A file that does not parse is reported in
// *errors.
inline std::vector<Dashboard> LoadDashboards(const std::string& dir, std::vector<std::string>* errors) {
  std::vector<Dashboard> out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto v = ParseJson(ReadFile(f.string()));
    if (!v) {
      errors->push_back(f.filename().string() + ": not valid JSON");
      continue;
    }
    out.push_back({f.filename().string(), *v});
  }
  return out;
}

// The panels of a dashboard, rows' nested panels included.
inline void CollectPanels(const google::protobuf::Value& panels, std::vector<const google::protobuf::Value*>* out) {
  if (panels.kind_case() != google::protobuf::Value::kListValue) return;
  for (const auto& p : panels.list_value().values()) {
    out->push_back(&p);
    if (const auto* nested = Field(p, "panels")) CollectPanels(*nested, out);
  }
}

inline std::vector<const google::protobuf::Value*> Panels(const Dashboard& d) {
  std::vector<const google::protobuf::Value*> out;
  if (const auto* panels = Field(d.json, "panels")) CollectPanels(*panels, &out);
  return out;
}

// The dashboard's template variables.
inline std::vector<const google::protobuf::Value*> Variables(const Dashboard& d) {
  std::vector<const google::protobuf::Value*> out;
  const auto* templating = Field(d.json, "templating");
  const auto* list = templating ? Field(*templating, "list") : nullptr;
  if (list == nullptr || list->kind_case() != google::protobuf::Value::kListValue) return out;
  for (const auto& v : list->list_value().values()) out.push_back(&v);
  return out;
}

inline std::vector<PanelQuery> PanelQueries(const Dashboard& d) {
  std::vector<PanelQuery> out;
  for (const auto* p : Panels(d)) {
    const auto* targets = Field(*p, "targets");
    if (targets == nullptr || targets->kind_case() != google::protobuf::Value::kListValue) continue;
    for (const auto& t : targets->list_value().values()) {
      out.push_back({d.file, StringField(*p, "title"), StringField(t, "refId"), StringField(t, "expr")});
    }
  }
  return out;
}

inline void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos + to.size())) {
    s->replace(pos, from.size(), to);
  }
}

// Resolves Grafana's built-in interval variables and the dashboard's own
// variables as a user who picked "All" would see them (their allValue).
// Returns the expression; *unresolved gets any `$name` left over.
inline std::string Substitute(const Dashboard& d, std::string expr, std::string* unresolved) {
  // Built-ins: a 5-minute window covers the whole test run, so rates see
  // every sample; a real dashboard uses its own range.
  ReplaceAll(&expr, "${__rate_interval}", "5m");
  ReplaceAll(&expr, "$__rate_interval", "5m");
  ReplaceAll(&expr, "${__interval}", "15s");
  ReplaceAll(&expr, "$__interval", "15s");
  ReplaceAll(&expr, "${__range}", "5m");
  ReplaceAll(&expr, "$__range", "5m");
  std::vector<std::pair<std::string, std::string>> vars;
  for (const auto* v : Variables(d)) {
    const std::string name = StringField(*v, "name");
    const std::string all = StringField(*v, "allValue");
    if (!all.empty()) vars.push_back({name, all});
  }
  // Longer names first, so $setup never eats the front of $setup_name.
  std::sort(vars.begin(), vars.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [name, value] : vars) {
    for (const char* fmt : {"", ":regex", ":pipe", ":raw"}) ReplaceAll(&expr, "${" + name + fmt + "}", value);
    ReplaceAll(&expr, "[[" + name + "]]", value);
    ReplaceAll(&expr, "$" + name, value);
  }
  if (size_t pos = expr.find('$'); pos != std::string::npos && unresolved != nullptr) {
    *unresolved = expr.substr(pos, 30);
  }
  return expr;
}

// Grafana's label_values(metric{selector}, label) as the PromQL that returns
// one series per value: count by (label) (metric{selector}).
inline std::optional<std::string> LabelValuesAsQuery(const std::string& query) {
  const std::string prefix = "label_values(";
  if (query.compare(0, prefix.size(), prefix) != 0 || query.back() != ')') return std::nullopt;
  const std::string inner = query.substr(prefix.size(), query.size() - prefix.size() - 1);
  const size_t comma = inner.rfind(',');
  if (comma == std::string::npos) return std::nullopt;
  std::string label = inner.substr(comma + 1);
  label.erase(std::remove(label.begin(), label.end(), ' '), label.end());
  return "count by (" + label + ") (" + inner.substr(0, comma) + ")";
}

}  // namespace tokenmeter::metrics_test

#endif  // TOKENMETER_TESTS_METRICS_METRICS_TEST_SUPPORT_H_
