// Test support: a process really slowed down. CpuQuota moves a process
// (every thread of it) into a cgroup of its own whose CPU bandwidth is
// capped at `fraction` of one core (the kernel's CFS quota), and moves it
// back and removes the cgroup when it goes away. cgroup v1 (the cpu
// controller's cpu.cfs_quota_us) and v2 (cpu.max) are both handled.
//
// Needs a writable cgroup hierarchy with the cpu controller (root on most
// machines); ok() is false, with error() saying why, where there is none.
#ifndef TOKENMETER_TESTS_SUPPORT_CPU_QUOTA_H_
#define TOKENMETER_TESTS_SUPPORT_CPU_QUOTA_H_

#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace tokenmeter::testing {

class CpuQuota {
 public:
  CpuQuota(pid_t pid, double fraction) { ok_ = Move(pid, fraction); }
  ~CpuQuota() {
    if (pid_ > 0) Write(parent_ + "/cgroup.procs", absl::StrCat(pid_));  // fails harmlessly once it has exited
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove(dir_, ec);
    }
  }
  CpuQuota(const CpuQuota&) = delete;
  CpuQuota& operator=(const CpuQuota&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  static bool Write(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text << std::flush;
    return static_cast<bool>(out);
  }
  bool Failed(std::string why) {
    error_ = std::move(why);
    return false;
  }

  bool Move(pid_t pid, double fraction) {
    namespace fs = std::filesystem;
    constexpr int kPeriodUs = 100000;
    const int quota_us = static_cast<int>(fraction * kPeriodUs);
    const std::string name = absl::StrCat("tokenmeter-test-", getpid(), "-", pid);
    std::error_code ec;
    if (fs::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) {  // v1
      parent_ = "/sys/fs/cgroup/cpu";
      dir_ = absl::StrCat(parent_, "/", name);
      if (!fs::create_directory(dir_, ec)) return Failed("cannot make " + dir_ + ": " + ec.message());
      if (!Write(dir_ + "/cpu.cfs_period_us", absl::StrCat(kPeriodUs)) ||
          !Write(dir_ + "/cpu.cfs_quota_us", absl::StrCat(quota_us))) {
        return Failed("cannot set the quota in " + dir_);
      }
    } else if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) {  // v2
      parent_ = "/sys/fs/cgroup";
      Write(parent_ + "/cgroup.subtree_control", "+cpu");  // may already be on
      dir_ = absl::StrCat(parent_, "/", name);
      if (!fs::create_directory(dir_, ec)) return Failed("cannot make " + dir_ + ": " + ec.message());
      if (!Write(dir_ + "/cpu.max", absl::StrCat(quota_us, " ", kPeriodUs))) {
        return Failed("cannot set cpu.max in " + dir_);
      }
    } else {
      return Failed("no cgroup cpu controller under /sys/fs/cgroup");
    }
    if (!Write(dir_ + "/cgroup.procs", absl::StrCat(pid))) return Failed("cannot move pid into " + dir_);
    pid_ = pid;
    return true;
  }

  std::string parent_, dir_, error_;
  pid_t pid_ = 0;
  bool ok_ = false;
};

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_SUPPORT_CPU_QUOTA_H_
