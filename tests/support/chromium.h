// Test support: a page loaded in headless Chromium (Debian's `chromium`,
// which scripts/install-deps.sh installs for the tests): its DOM after
// loading, its console messages, and every URL requested for it (from the
// browser's net-log), so that a test can check what a user's browser makes of
// a page tokenmeter wrote.
#ifndef TOKENMETER_TESTS_SUPPORT_CHROMIUM_H_
#define TOKENMETER_TESTS_SUPPORT_CHROMIUM_H_

#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {

inline constexpr char kInstallHint[] =
    "headless Chromium is needed: apt-get install -y chromium (scripts/install-deps.sh installs it for the tests)";

inline std::string ChromiumPath() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    if (auto path = FindExecutable(name); !path.empty()) return path;
  }
  return "";
}

// Headless, with a profile of its own, and with the browser's own background
// services (updates, sync, time checks) kept quiet; no host name resolves,
// so nothing reaches a network even if a request were made.
inline std::vector<std::string> ChromiumArgs(const std::string& profile_dir) {
  return {ChromiumPath(),
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          absl::StrCat("--user-data-dir=", profile_dir),
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--disable-extensions",
          "--host-resolver-rules=MAP * ~NOTFOUND"};
}

// What Chromium made of one page: its DOM, its console messages about the
// page, and every URL it requested for the page.
struct ChromiumPage {
  std::string dom;
  std::vector<std::string> console;       // "[...:INFO:CONSOLE:1] "message", source: file:///... (1)"
  std::set<std::string> page_requests;    // URLs requested on the page's behalf
  std::set<std::string> browser_requests;  // the browser's own (updates, accounts), not the page's
  std::string error;                       // empty when Chromium ran and the net-log parsed
};

inline std::string WithoutQuery(const std::string& url) { return url.substr(0, url.find('?')); }

// The net-log's URL requests, split into the page's and the browser's. A
// request made for a page carries the page's site in its network isolation
// key and site-for-cookies ("file://" here); the browser's own carry none of
// it. (A file:// load itself is no network request and is not in the log.)
inline void ReadNetLog(const std::string& path, ChromiumPage* loaded) {
  std::string json = ReadFile(path);
  // A browser stopped before it closes the log leaves the event list open.
  while (!json.empty() && std::isspace(static_cast<unsigned char>(json.back()))) json.pop_back();
  if (!json.empty() && json.back() != '}') json += "]}";
  google::protobuf::Struct log;
  if (!google::protobuf::util::JsonStringToMessage(json, &log).ok()) {
    loaded->error = absl::StrCat("the net-log ", path, " is not JSON (", json.size(), " bytes)");
    return;
  }
  const auto& types = log.fields().at("constants").struct_value().fields().at("logEventTypes").struct_value();
  const double start_job = types.fields().at("URL_REQUEST_START_JOB").number_value();
  for (const auto& event : log.fields().at("events").list_value().values()) {
    const auto& e = event.struct_value().fields();
    auto params = e.find("params");
    if (params == e.end()) continue;
    const auto& p = params->second.struct_value().fields();
    auto url = p.find("url");
    if (url == p.end()) continue;
    const bool started = e.at("type").number_value() == start_job;
    auto text = [&](const char* key) { return p.count(key) ? p.at(key).string_value() : std::string(); };
    const bool for_page = started && (absl::StrContains(text("network_isolation_key"), "file://") ||
                                      absl::StrContains(text("site_for_cookies"), "file://"));
    (for_page ? loaded->page_requests : loaded->browser_requests).insert(url->second.string_value());
  }
  for (const auto& url : loaded->page_requests) loaded->browser_requests.erase(url);
}

inline ChromiumPage LoadInChromium(const std::string& page, const TempDir& dir, const std::string& name) {
  ChromiumPage loaded;
  const std::string net_log = dir.File(name + "-netlog.json");
  auto argv = ChromiumArgs(dir.File(name + "-profile"));
  argv.insert(argv.end(), {"--enable-logging=stderr", "--v=0", absl::StrCat("--log-net-log=", net_log), "--dump-dom",
                           absl::StrCat("file://", page)});
  auto r = RunCommand(argv, dir.path(), std::chrono::seconds(60));
  if (!r.ok()) {
    loaded.error = absl::StrCat("chromium --dump-dom exited ", r.exit_code, r.timed_out ? " (timed out)" : "", ":\n",
                                Tail(r.err));
    return loaded;
  }
  loaded.dom = r.out;
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StrContains(line, ":CONSOLE")) loaded.console.push_back(line);
  }
  ReadNetLog(net_log, &loaded);
  return loaded;
}

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_SUPPORT_CHROMIUM_H_
