// Bad input gets a one-line error naming the problem, a non-zero exit, within
// a few seconds; nothing crashes or hangs.
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

// Exit code 1 or 2, within `seconds`, and an error on stderr containing `what`.
void ExpectRefused(const Result& r, const std::string& what, double seconds = 10) {
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << "exit " << r.exit_code << "\n" << r.err;
  EXPECT_THAT(r.err, HasSubstr(what));
  EXPECT_LT(r.seconds, seconds);
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("Segmentation")));
}

TEST(BadInput, UnknownWorkload) {
  TempDir dir;
  auto r = RunTokenmeter({"run", "--local", "--workload", "gemmm"}, dir.path());
  ExpectRefused(r, "unknown workload 'gemmm'", 5);
}

TEST(BadInput, ZeroRanks) {
  TempDir dir;
  ExpectRefused(RunTokenmeter({"run", "--local", "--workload", "gemm", "--ranks", "0"}, dir.path()), "--ranks", 5);
  ExpectRefused(RunTokenmeter({"run", "--local", "--workload", "gemm", "--workers", "-1"}, dir.path()), "--workers", 5);
}

TEST(BadInput, NegativeAndAbsurdSizes) {
  TempDir dir;
  const std::string negative = dir.File("negative.json");
  std::ofstream(negative) << R"({"name": "g", "version": 1, "timed_iterations": 1,
      "gemm": {"shapes": [{"name": "neg", "m": -64, "n": 64, "k": 64}], "dtypes": ["DTYPE_FP32"]}})";
  ExpectRefused(RunTokenmeter({"run", "--local", "--spec", negative}, dir.path()), "gemm.shapes[0].m", 5);
  // 2^20 × 2^20 fp32 matrices: terabytes, more than this host has.
  const std::string absurd = dir.File("absurd.json");
  std::ofstream(absurd) << R"({"name": "g", "version": 1, "timed_iterations": 1,
      "gemm": {"shapes": [{"name": "huge", "m": 1048576, "n": 1048576, "k": 1048576}], "dtypes": ["DTYPE_FP32"]}})";
  ExpectRefused(RunTokenmeter({"run", "--local", "--spec", absurd}, dir.path()), "GiB", 5);
  ExpectRefused(
      RunTokenmeter({"run", "--local", "--workload", "collective/all-reduce", "--max-bytes", "1T"}, dir.path()),
      "collective.max_bytes", 5);
  const std::string unknown = dir.File("unknown.json");
  std::ofstream(unknown) << R"({"name": "g", "version": 1, "timed_iterations": 1, "gemm": {"shapez": []}})";
  ExpectRefused(RunTokenmeter({"run", "--local", "--spec", unknown}, dir.path()), "shapez", 5);
}

TEST(BadInput, UnreachableCoordinator) {
  TempDir dir;
  const std::string nobody = absl::StrCat("127.0.0.1:", FreePort());
  ExpectRefused(RunTokenmeter({"run", "--coordinator", nobody, "--workload", "gemm"}, dir.path()), nobody);
  ExpectRefused(RunTokenmeter({"status", "--coordinator", nobody}, dir.path()), nobody);
  ExpectRefused(RunTokenmeter({"worker", "--coordinator", nobody, "--connect-timeout", "2"}, dir.path()), nobody);
  ExpectRefused(RunTokenmeter({"status", "--coordinator", "no-port-here"}, dir.path()), "HOST:PORT", 5);
}

// --sysfs-root given explicitly must name a directory: a typo is an error
// naming the flag, not a silent "energy not reported".
TEST(BadInput, SysfsRootMustBeADirectory) {
  TempDir dir;
  const std::string missing = dir.File("no-such-sys");
  const std::string nobody = absl::StrCat("127.0.0.1:", FreePort());
  auto worker = RunTokenmeter({"worker", "--coordinator", nobody, "--sysfs-root", missing}, dir.path());
  ExpectRefused(worker, "--sysfs-root", 5);
  EXPECT_THAT(worker.err, HasSubstr(missing));
  EXPECT_EQ(worker.exit_code, 2);
  auto local = RunTokenmeter({"run", "--local", "--workload", "gemm", "--sysfs-root", missing}, dir.path());
  ExpectRefused(local, "--sysfs-root", 5);
  EXPECT_THAT(local.err, HasSubstr(missing));
  ExpectRefused(RunTokenmeter({"run", "--coordinator", nobody, "--workload", "gemm", "--sysfs-root", dir.path()},
                              dir.path()),
                "--sysfs-root applies to --local only", 5);
}

TEST(BadInput, PortAlreadyInUse) {
  TempDir dir;
  // Hold a port with a plain listening socket.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string taken = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  ExpectRefused(RunTokenmeter({"coordinator", "--listen", taken, "--store", dir.File("s.db")}, dir.path()), taken, 5);
  // A coordinator on the port is refused too (no silent SO_REUSEPORT sharing).
  close(fd);
  CoordinatorProcess first(dir.path(), dir.File("a.db"));
  ASSERT_GT(first.port(), 0);
  ExpectRefused(RunTokenmeter({"coordinator", "--listen", first.address(), "--store", dir.File("b.db")}, dir.path()),
                first.address(), 5);
  EXPECT_TRUE(first.process().Running());
  ExpectRefused(RunTokenmeter({"coordinator", "--listen", "127.0.0.1:0", "--store", dir.File("c.db"), "--metrics",
                               "127.0.0.1:notaport"},
                              dir.path()),
                "metrics", 5);
}

TEST(BadInput, ErrorsAreOneLine) {
  TempDir dir;
  auto r = RunTokenmeter({"run", "--local", "--workload", "nope"}, dir.path());
  std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u) << r.err;
  auto u = RunTokenmeter({"run", "--bogus-flag"}, dir.path());
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_THAT(u.err, HasSubstr("--bogus-flag"));
}

TEST(BadInput, ResultsFromAMissingStoreIsAnErrorAndCreatesNothing) {
  TempDir dir;
  ExpectRefused(RunTokenmeter({"results", "--store", dir.File("missing.db")}, dir.path()), "missing.db", 5);
  EXPECT_FALSE(std::filesystem::exists(dir.File("missing.db")));
}

// claim --dtype: an unknown dtype, or one the device has no peak for, names
// the flag and what there is to choose from, and prints no figure (never the
// MFU against another dtype's peak).
TEST(BadInput, ClaimDtypeTheDeviceHasNoPeakFor) {
  TempDir dir;
  const std::vector<std::string> claim = {"claim", "--model", "deepseek-v3", "--tokens", "14.8e12",
                                          "--device-hours", "2.664e6"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = claim;
    args.insert(args.end(), more.begin(), more.end());
    return RunTokenmeter(args, dir.path());
  };
  auto a100 = with({"--device", "A100", "--dtype", "fp8"});
  ExpectRefused(a100, "--dtype", 5);
  EXPECT_THAT(a100.err, HasSubstr("no fp8_e4m3 peak for NVIDIA A100"));
  EXPECT_THAT(a100.err, HasSubstr("(it has: fp32, tf32, fp16, bf16)"));
  EXPECT_EQ(a100.exit_code, 2);
  EXPECT_EQ(a100.out, "");
  auto unknown = with({"--device", "H800", "--dtype", "int4"});
  ExpectRefused(unknown, "--dtype must be one of fp32, tf32, fp16, bf16, fp8", 5);
  EXPECT_THAT(unknown.err, HasSubstr("got 'int4'"));
  EXPECT_EQ(unknown.out, "");
}

TEST(BadInput, AHeartBeatRateOutOfBoundsIsRefusedNamingTheFlag) {
  TempDir dir;
  auto r = RunTokenmeter({"coordinator", "--listen", "127.0.0.1:0", "--store", dir.File("s.db"),
                          "--max-heartbeats-per-second", "0"},
                         dir.path());
  ExpectRefused(r, "--max-heartbeats-per-second", 5);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.File("s.db")));
}

// A store file that is not a tokenmeter store is refused by every command
// that opens one, and left exactly as it was.
TEST(BadInput, ACorruptStoreIsRefusedByEveryCommandAndUnchanged) {
  TempDir dir;
  const std::string path = dir.File("corrupt.db");
  std::ofstream(path) << std::string(4096, 'x');
  const std::string before = ReadFile(path);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"results", "--store", path},
           {"compare", "--workload", "gemm", "--store", path},
           {"export", "--store", path},
           {"coordinator", "--listen", "127.0.0.1:0", "--store", path}}) {
    auto r = RunTokenmeter(args, dir.path(), std::chrono::seconds(20));
    ExpectRefused(r, "is not a tokenmeter results store", 10);
    EXPECT_EQ(ReadFile(path), before) << args[0];
  }
}

TEST(BadInput, RawIterationsNeedOneJob) {
  TempDir dir;
  auto r = RunTokenmeter({"results", "--store", dir.File("results.db"), "--iterations"}, dir.path());
  ExpectRefused(r, "--iterations needs --job", 5);
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace tokenmeter::testing
