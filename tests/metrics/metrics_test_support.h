// Test support for tests/metrics, on top of tests/support/subprocess.h
// (processes, temporary directories, ports, files): a tiny HTTP/1.0 GET over
// a socket with URL encoding, JSON through protobuf's own reader, and the
// dashboards' panels, queries and variables.
#ifndef TOKENMETER_TESTS_METRICS_METRICS_TEST_SUPPORT_H_
#define TOKENMETER_TESTS_METRICS_METRICS_TEST_SUPPORT_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/metric_names.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::metrics_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

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

// Evidence that a worker's collective sweep is under way: it has exported the
// bus bandwidth of a size it finished (the gauge appears with its first size).
inline bool CollectiveSweepUnderWay(int worker_metrics_port) {
  return HttpGet(worker_metrics_port, "/metrics").body.find(std::string(::tokenmeter::metrics::kBusBandwidth) + "{") !=
         std::string::npos;
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
    auto v = ParseJson(::tokenmeter::testing::ReadFile(f.string()));
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
