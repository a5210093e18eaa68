// Test support: hosts of their own on one machine. A VirtualNetwork is a
// switch (a Linux bridge inside a network namespace of its own) and hosts,
// each a network namespace with one veth link, "eth0", plugged into the
// switch and one address in 198.18.0.0/24 (RFC 2544's range for benchmark
// networks, which no real network routes). Traffic between two hosts
// crosses both their links and the bridge: there is no loopback shortcut.
//
// It needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip` (and
// `tc` to shape a link).
// The machine's own network namespace is never touched. Every namespace is
// deleted when the object goes away (which removes its links), and ones left
// by a test process that died are deleted by the next one made.
//
// Not thread-safe: use it from the test's own thread.
#ifndef TOKENMETER_TESTS_SUPPORT_NETWORK_NAMESPACES_H_
#define TOKENMETER_TESTS_SUPPORT_NETWORK_NAMESPACES_H_

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {

class VirtualNetwork {
 public:
  // Makes the switch; ok() is false, with error() saying why, where network
  // namespaces cannot be made here. `dir` keeps the output of the `ip`
  // commands it runs.
  explicit VirtualNetwork(std::string dir) : dir_(std::move(dir)), ip_(FindIp()) {
    if (ip_.empty()) {
      error_ = "iproute2's ip is not installed (Debian: apt-get install iproute2)";
      return;
    }
    if (geteuid() != 0) {
      error_ = "network namespaces need root";
      return;
    }
    DeleteOrphans();
    const std::string sw = Namespace("sw");
    if (!Ip({"netns", "add", sw})) return;
    namespaces_.push_back(sw);
    if (!Ip({"-n", sw, "link", "add", "br0", "type", "bridge"}) || !Ip({"-n", sw, "link", "set", "br0", "up"})) return;
    ok_ = true;
  }
  ~VirtualNetwork() {
    for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) Ip({"netns", "del", *it});
  }
  VirtualNetwork(const VirtualNetwork&) = delete;
  VirtualNetwork& operator=(const VirtualNetwork&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  // Adds a host: its namespace, its link on the switch, address
  // 198.18.0.<hosts so far + 1>/24 and loopback up. Returns its index, or -1
  // (ok() false, error() set).
  int AddHost() {
    if (!ok_) return -1;
    const int index = static_cast<int>(hosts_.size());
    const std::string ns = Namespace(absl::StrCat("h", index));
    const std::string port = SwitchPort(index);
    const std::string address = absl::StrCat("198.18.0.", index + 1);
    ok_ = Ip({"netns", "add", ns});
    if (ok_) namespaces_.push_back(ns);
    ok_ = ok_ && Ip({"-n", SwitchNamespace(), "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns}) &&
          Ip({"-n", SwitchNamespace(), "link", "set", port, "master", "br0", "up"}) &&
          Ip({"-n", ns, "addr", "add", address + "/24", "dev", "eth0"}) && Ip({"-n", ns, "link", "set", "eth0", "up"}) &&
          Ip({"-n", ns, "link", "set", "lo", "up"});
    if (!ok_) return -1;
    hosts_.push_back({ns, address});
    return index;
  }

  // The host's address, as its peers reach it.
  const std::string& Address(int host) const { return hosts_.at(host).address; }
  const std::string& NamespaceOf(int host) const { return hosts_.at(host).ns; }

  // argv to run `binary args...` inside the host (as Process and RunCommand
  // take them: the first is the executable). `ip netns exec` execs the
  // binary, so the process's pid is the binary's.
  std::vector<std::string> In(int host, const std::string& binary, const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {ip_, "netns", "exec", NamespaceOf(host), binary};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Cuts the host off the switch (its switch port down: its packets go
  // nowhere, as when a cable is pulled), or plugs it back in.
  bool CutOff(int host) { return Ip({"-n", SwitchNamespace(), "link", "set", SwitchPort(host), "down"}); }
  bool Reconnect(int host) { return Ip({"-n", SwitchNamespace(), "link", "set", SwitchPort(host), "up"}); }

  // Slows the host's link to `rate` (tc's units: "1gbit", "400mbit") both
  // ways, with a token-bucket shaper (tbf) on each end of it: the host's
  // eth0 for what it sends, the switch port for what it receives.
  bool Shape(int host, const std::string& rate) {
    const std::vector<std::string> tbf = {"root", "tbf", "rate", rate, "burst", "256kbit", "latency", "50ms"};
    std::vector<std::string> out = {"-n", NamespaceOf(host), "qdisc", "add", "dev", "eth0"};
    std::vector<std::string> in = {"-n", SwitchNamespace(), "qdisc", "add", "dev", SwitchPort(host)};
    out.insert(out.end(), tbf.begin(), tbf.end());
    in.insert(in.end(), tbf.begin(), tbf.end());
    return Tc(out) && Tc(in);
  }

  // Bytes that crossed the host's link so far, both directions, from the
  // switch port's counters; -1 when they cannot be read.
  int64_t BytesThrough(int host) {
    const std::string base = absl::StrCat("/sys/class/net/", SwitchPort(host), "/statistics/");
    auto r = RunCommand({ip_, "netns", "exec", SwitchNamespace(), "cat", base + "rx_bytes", base + "tx_bytes"}, dir_,
                        std::chrono::seconds(10));
    int64_t total = 0;
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      int64_t n = 0;
      if (!absl::SimpleAtoi(line, &n)) return -1;
      total += n;
    }
    return r.ok() ? total : -1;
  }

 private:
  struct Host {
    std::string ns, address;
  };

  bool Tc(const std::vector<std::string>& args) {
    std::string tc = FindExecutable("tc");
    if (tc.empty()) tc = FindExecutable("/usr/sbin/tc");
    if (tc.empty()) {
      error_ = "iproute2's tc is not installed";
      return false;
    }
    std::vector<std::string> argv = {tc};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, dir_, std::chrono::seconds(20));
    if (!r.ok()) error_ = absl::StrCat("tc ", absl::StrJoin(args, " "), ": ", Tail(r.err, 3));
    return r.ok();
  }

  static std::string FindIp() {
    for (const char* candidate : {"ip", "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"}) {
      std::string path = FindExecutable(candidate);
      if (!path.empty()) return path;
    }
    return "";
  }
  static constexpr const char* kPrefix = "tmnet-";
  std::string Namespace(const std::string& role) const { return absl::StrCat(kPrefix, getpid(), "-", role); }
  const std::string& SwitchNamespace() const { return namespaces_.front(); }
  static std::string SwitchPort(int host) { return absl::StrCat("port", host); }

  // Namespaces named for a process that no longer runs.
  void DeleteOrphans() {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
      const std::string name = entry.path().filename();
      if (name.rfind(kPrefix, 0) != 0) continue;
      std::vector<std::string> parts = absl::StrSplit(name.substr(std::string(kPrefix).size()), '-');
      int pid = 0;
      if (parts.empty() || !absl::SimpleAtoi(parts[0], &pid) || pid <= 0) continue;
      if (kill(pid, 0) != 0 && errno == ESRCH) Ip({"netns", "del", name});
    }
  }

  bool Ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ip_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, dir_, std::chrono::seconds(20));
    if (!r.ok() && error_.empty()) error_ = absl::StrCat("ip ", absl::StrJoin(args, " "), ": ", Tail(r.err, 3));
    return r.ok();
  }

  std::string dir_, ip_, error_;
  bool ok_ = false;
  std::vector<std::string> namespaces_;  // the switch's first
  std::vector<Host> hosts_;
};

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_SUPPORT_NETWORK_NAMESPACES_H_
