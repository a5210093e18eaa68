// tokenmeter_gpu_sweep: GEMM TFLOP/s and collective bandwidth through the
// "cuda" backend, for the GPU machine (bench/device/run-gpu-checks.sh runs it).
// Links only the CUDA backend, so it carries with a handful of shared libs.
//
//   tokenmeter_gpu_sweep [--gemm SHAPES] [--dtypes LIST] [--gemm-warmup N] [--gemm-timed N]
//                        [--collectives LIST] [--coll-dtype D] [--min-bytes B] [--max-bytes B]
//                        [--coll-warmup N] [--coll-timed N] [--world N] [--jsonl FILE]
//   SHAPES: MxNxK[:dtype],...  (a shape without :dtype runs in every --dtypes)
//
// Tables on stdout (nccl-tests style for collectives: busbw is a flat-fabric
// re-calibration of algbw); with --jsonl, one JSON object per result line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_backend.h"

namespace tk = tokenmeter::kernels;

namespace {

// Shortest call whose average power is printed (see call_W).
constexpr double kMinPowerWindowSeconds = 0.5;

struct Options {
  std::string gemm = "4096x4096x4096,8192x8192x8192,16384x16384x16384,8192x28672x8192,"
                     "8192x8192x28672,4096x14336x4096";
  std::string dtypes = "bf16";
  int gemm_warmup = 10;
  int gemm_timed = 30;
  std::string collectives = "all_reduce,all_gather,reduce_scatter,all_to_all,broadcast,reduce";
  std::string coll_dtype = "bf16";
  int64_t min_bytes = 8;
  int64_t max_bytes = int64_t{1} << 30;
  int coll_warmup = 5;
  int coll_timed = 20;
  int world = 0;  // 0: every GPU on the host
  std::string jsonl;
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool ParseDType(const std::string& s, tk::DType* out) {
  for (tk::DType d : {tk::DType::kFp32, tk::DType::kTf32, tk::DType::kFp16, tk::DType::kBf16,
                      tk::DType::kFp8E4M3}) {
    if (tk::DTypeName(d) == s) {
      *out = d;
      return true;
    }
  }
  return false;
}

bool ParseOp(const std::string& s, tk::CollectiveOp* out) {
  for (tk::CollectiveOp op : {tk::CollectiveOp::kAllReduce, tk::CollectiveOp::kAllGather,
                              tk::CollectiveOp::kReduceScatter, tk::CollectiveOp::kAllToAll,
                              tk::CollectiveOp::kBroadcast, tk::CollectiveOp::kReduce}) {
    if (tk::CollectiveOpName(op) == s) {
      *out = op;
      return true;
    }
  }
  return false;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double BusFactor(tk::CollectiveOp op, int n) {
  switch (op) {
    case tk::CollectiveOp::kAllReduce: return 2.0 * (n - 1) / n;
    case tk::CollectiveOp::kAllGather:
    case tk::CollectiveOp::kReduceScatter:
    case tk::CollectiveOp::kAllToAll: return static_cast<double>(n - 1) / n;
    default: return 1.0;
  }
}

class JsonLines {
 public:
  explicit JsonLines(const std::string& path) {
    if (!path.empty()) out_.open(path);
  }
  void Write(const std::string& line) {
    if (out_.is_open()) out_ << line << "\n" << std::flush;
  }

 private:
  std::ofstream out_;
};

int RunGemms(const Options& o, JsonLines& json) {
  std::vector<tk::DType> dtypes;
  for (const std::string& s : Split(o.dtypes, ',')) {
    tk::DType d;
    if (!ParseDType(s, &d)) {
      std::fprintf(stderr, "unknown dtype '%s'\n", s.c_str());
      return 2;
    }
    dtypes.push_back(d);
  }
  absl::StatusOr<std::unique_ptr<tk::Backend>> backend = tk::NewCudaBackend(tk::BackendOptions{});
  if (!backend.ok()) {
    std::fprintf(stderr, "cuda backend: %s\n", backend.status().ToString().c_str());
    return 1;
  }
  tk::Backend& b = **backend;
  std::printf("# device: %s (%s), cc %s, %d SMs, %.1f GiB, driver %s\n", b.device().model.c_str(),
              b.device().uuid.c_str(), b.device().compute_capability.c_str(),
              b.device().compute_units, b.device().memory_bytes / 1073741824.0,
              b.device().driver_version.c_str());
  std::printf("# GEMM: C = A*B, column-major TN (A row-major m x k, B col-major k x n); "
              "FLOPs = 2mnk; %d warm-up, %d timed iterations\n",
              o.gemm_warmup, o.gemm_timed);
  std::printf("# call_W: average power over the whole RunGemm call (allocation, fill, check, "
              "warm-up and timed iterations), not over the timed iterations alone; nan for "
              "calls under %.1f s (the energy counter's steps)\n",
              kMinPowerWindowSeconds);
  std::printf("# split_k: cuBLASLt's split-K count and, above 1, its reduction scheme\n");
  std::printf("#%9s %6s %6s %6s %9s %10s %10s %9s %9s %10s %7s %16s %7s\n", "dtype", "m", "n", "k",
              "median_ms", "min_ms", "TFLOP/s", "best_TF/s", "max_err", "wrong", "call_W",
              "split_k", "status");
  int failures = 0;
  for (const std::string& spec : Split(o.gemm, ',')) {
    std::vector<std::string> parts = Split(spec, ':');
    std::vector<std::string> dims = Split(parts[0], 'x');
    if (dims.size() != 3) {
      std::fprintf(stderr, "bad shape '%s' (want MxNxK)\n", spec.c_str());
      ++failures;
      continue;
    }
    std::vector<tk::DType> shape_dtypes = dtypes;
    if (parts.size() > 1) {
      tk::DType d;
      if (!ParseDType(parts[1], &d)) {
        std::fprintf(stderr, "bad dtype in '%s'\n", spec.c_str());
        ++failures;
        continue;
      }
      shape_dtypes = {d};
    }
    for (tk::DType dtype : shape_dtypes) {
      tk::GemmProblem p{std::atoll(dims[0].c_str()), std::atoll(dims[1].c_str()),
                        std::atoll(dims[2].c_str()), dtype};
      absl::StatusOr<double> e0 = b.EnergyJoules();
      const auto t0 = std::chrono::steady_clock::now();
      absl::StatusOr<tk::GemmRun> run = b.RunGemm(p, {o.gemm_warmup, o.gemm_timed});
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      absl::StatusOr<double> e1 = b.EnergyJoules();
      const std::string dname(tk::DTypeName(dtype));
      if (!run.ok()) {
        std::printf(" %9s %6lld %6lld %6lld  error: %s\n", dname.c_str(), (long long)p.m,
                    (long long)p.n, (long long)p.k, run.status().ToString().c_str());
        ++failures;
        continue;
      }
      const double flops = 2.0 * p.m * p.n * p.k;
      const double med = Median(run->iteration_seconds);
      const double best = run->iteration_seconds.empty()
                              ? 0
                              : *std::min_element(run->iteration_seconds.begin(),
                                                  run->iteration_seconds.end());
      // Energy over the whole call: RunGemm does not split out its timed part.
      // Only for calls of kMinPowerWindowSeconds or more: NVML's energy
      // counter advances in steps of tens of ms, so a shorter window reads
      // anything (an H200 run printed 110 W and 1662 W for calls of ~20 ms).
      const double call_watts = (e0.ok() && e1.ok() && wall >= kMinPowerWindowSeconds)
                                    ? (*e1 - *e0) / wall
                                    : NAN;
      const bool ok = run->verified && run->wrong_elements == 0;
      if (!ok) ++failures;
      // The algorithm RunGemm used (cached, no second lookup), so that a run
      // shows where split-K rounds partial sums in C's type.
      absl::StatusOr<tk::CudaGemmAlgorithm> algo = tk::DescribeCudaGemmAlgorithm(b, p);
      if (!algo.ok()) {
        std::fprintf(stderr, "gemm %s: %s\n", spec.c_str(), algo.status().ToString().c_str());
      }
      const int split_k = algo.ok() ? algo->split_k : -1;
      const std::string scheme = algo.ok() ? algo->reduction_scheme : "unknown";
      const std::string split_cell =
          split_k == 1 ? "1" : absl::StrCat(split_k, "/", scheme);
      std::printf(" %9s %6lld %6lld %6lld %9.3f %10.3f %10.1f %9.1f %9.3g %10lld %7.0f %16s %7s\n",
                  dname.c_str(), (long long)p.m, (long long)p.n, (long long)p.k, med * 1e3,
                  best * 1e3, flops / med / 1e12, flops / best / 1e12, run->max_error,
                  (long long)run->wrong_elements, call_watts, split_cell.c_str(),
                  ok ? "OK" : "WRONG");
      char line[768];
      std::snprintf(line, sizeof(line),
                    "{\"schema\":1,\"kind\":\"gemm\",\"device_model\":\"%s\",\"dtype\":\"%s\","
                    "\"m\":%lld,\"n\":%lld,\"k\":%lld,\"seconds_median\":%.9g,\"seconds_min\":%.9g,"
                    "\"tflops\":%.6g,\"tflops_best\":%.6g,\"max_error\":%.6g,\"wrong_elements\":%lld,"
                    "\"verified\":%s,\"call_avg_power_watts\":%.6g,\"algo_id\":%d,\"split_k\":%d,"
                    "\"reduction_scheme\":\"%s\",\"check_widened_for_split_k\":%s}",
                    b.device().model.c_str(), dname.c_str(), (long long)p.m, (long long)p.n,
                    (long long)p.k, med, best, flops / med / 1e12, flops / best / 1e12,
                    run->max_error, (long long)run->wrong_elements, run->verified ? "true" : "false",
                    std::isnan(call_watts) ? -1.0 : call_watts, algo.ok() ? algo->algo_id : -1,
                    split_k, scheme.c_str(), algo.ok() && algo->check_widened ? "true" : "false");
      json.Write(line);
      std::fflush(stdout);
    }
  }
  return failures;
}

// One rank's result of one call: creating its backend, or one size of one
// collective.
struct RankResult {
  bool ok = false;
  std::string error;   // when !ok
  double median = 0;   // seconds: this rank's median iteration
  int64_t wrong = 0;   // output elements this rank found wrong
};

// Where the ranks' threads meet after every call, so that they stay in step:
// a rank that stopped alone would leave the others waiting out a timeout in
// their next collective. The last to arrive sees every rank's result (the
// row shows the slowest rank's median, as cli/output.cc reports) before any
// rank goes on.
class Lockstep {
 public:
  using Complete = std::function<void(const std::vector<RankResult>&)>;
  explicit Lockstep(int ranks) : results_(static_cast<size_t>(ranks)) {}

  // Records `mine` as `rank`'s result of this round and waits for every
  // rank's; the last to arrive runs `complete` on all of them, under the
  // lock (so output is not interleaved). Returns whether every rank's call
  // succeeded; when not, all ranks stop together.
  bool Arrive(int rank, RankResult mine, const Complete& complete) {
    std::unique_lock<std::mutex> lock(mu_);
    results_[static_cast<size_t>(rank)] = std::move(mine);
    if (++arrived_ == results_.size()) {
      complete(results_);
      all_ok_ = std::all_of(results_.begin(), results_.end(),
                            [](const RankResult& r) { return r.ok; });
      arrived_ = 0;
      ++round_;
      cv_.notify_all();
      return all_ok_;
    }
    // all_ok_ stays until the next round completes, which needs this rank.
    const uint64_t round = round_;
    cv_.wait(lock, [&] { return round_ != round; });
    return all_ok_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RankResult> results_;
  size_t arrived_ = 0;
  uint64_t round_ = 0;
  bool all_ok_ = true;
};

int RunCollectives(const Options& o, JsonLines& json) {
  std::vector<tk::CollectiveOp> ops;
  for (const std::string& s : Split(o.collectives, ',')) {
    tk::CollectiveOp op;
    if (!ParseOp(s, &op)) {
      std::fprintf(stderr, "unknown collective '%s'\n", s.c_str());
      return 2;
    }
    ops.push_back(op);
  }
  tk::DType dtype;
  if (!ParseDType(o.coll_dtype, &dtype)) {
    std::fprintf(stderr, "unknown dtype '%s'\n", o.coll_dtype.c_str());
    return 2;
  }
  absl::StatusOr<std::vector<tk::DeviceDescription>> devices = tk::ListCudaDevices();
  const int world = o.world > 0 ? o.world : (devices.ok() ? static_cast<int>(devices->size()) : 0);
  if (world == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  const int64_t esize = tk::DTypeBytes(dtype);
  // Like nccl-tests: each size's count rounded down to a multiple of the world.
  std::vector<int64_t> counts;
  for (int64_t bytes = o.min_bytes; bytes > 0 && bytes <= o.max_bytes; bytes *= 2) {
    int64_t count = bytes / esize;
    count -= count % world;
    if (count > 0) counts.push_back(count);
  }
  std::unique_ptr<tk::Store> store = tk::NewInMemoryStore();
  Lockstep lockstep(world);
  // Touched only by Lockstep's `complete`, which runs under its lock.
  int failures = 0;
  double busbw_sum = 0;
  int rows = 0;
  bool op_ok = true;

  // Prints the errors of the ranks whose call failed; true when none did.
  auto report = [&](const std::vector<RankResult>& all, const char* doing) {
    bool all_ok = true;
    for (size_t q = 0; q < all.size(); ++q) {
      if (all[q].ok) continue;
      std::fprintf(stderr, "rank %zu, %s: %s\n", q, doing, all[q].error.c_str());
      all_ok = false;
    }
    if (!all_ok) ++failures;
    return all_ok;
  };
  // One row: the slowest rank's median and every rank's wrong elements.
  auto print_row = [&](tk::CollectiveOp op, size_t row, int64_t count,
                       const std::vector<RankResult>& all) {
    const std::string name(tk::CollectiveOpName(op));
    if (row == 0) {
      busbw_sum = 0;
      rows = 0;
      op_ok = true;
      std::printf("\n# %s, %s, %d rank(s), %d warm-up / %d timed iterations, out of place\n",
                  name.c_str(), o.coll_dtype.c_str(), world, o.coll_warmup, o.coll_timed);
      std::printf("# busbw = algbw x %.3f: a re-calibration for a flat fabric (nccl-tests)\n",
                  BusFactor(op, world));
      std::printf("# time: the slowest rank's median; #wrong: summed over the ranks\n");
      std::printf("#%12s %12s %6s %10s %10s %10s %8s\n", "size(B)", "count", "type", "time(us)",
                  "algbw", "busbw", "#wrong");
      std::printf("#%12s %12s %6s %10s %10s %10s %8s\n", "", "(elements)", "", "median",
                  "(GB/s)", "(GB/s)", "");
    }
    const bool all_ok = report(all, name.c_str());
    if (all_ok) {
      double t = 0;
      int slowest = 0;
      int64_t wrong = 0;
      for (size_t q = 0; q < all.size(); ++q) {
        if (all[q].median > t) {
          t = all[q].median;
          slowest = static_cast<int>(q);
        }
        wrong += all[q].wrong;
      }
      if (wrong != 0) {
        ++failures;
        op_ok = false;
      }
      const double s_bytes = static_cast<double>(count * esize);
      const double algbw = t > 0 ? s_bytes / t / 1e9 : 0;
      const double busbw = algbw * BusFactor(op, world);
      busbw_sum += busbw;
      ++rows;
      std::printf(" %12lld %12lld %6s %10.2f %10.2f %10.2f %8lld\n", (long long)(count * esize),
                  (long long)count, o.coll_dtype.c_str(), t * 1e6, algbw, busbw, (long long)wrong);
      char line[512];
      std::snprintf(line, sizeof(line),
                    "{\"schema\":1,\"kind\":\"collective\",\"collective\":\"%s\",\"dtype\":\"%s\","
                    "\"ranks\":%d,\"size_bytes\":%lld,\"count\":%lld,\"seconds_median\":%.9g,"
                    "\"slowest_rank\":%d,\"algbw_gbps\":%.6g,\"busbw_gbps\":%.6g,"
                    "\"wrong_elements\":%lld}",
                    name.c_str(), o.coll_dtype.c_str(), world, (long long)(count * esize),
                    (long long)count, t, slowest, algbw, busbw, (long long)wrong);
      json.Write(line);
    } else {
      op_ok = false;
    }
    if (!all_ok || row + 1 == counts.size()) {
      std::printf("# Avg bus bandwidth    : %.3f GB/s\n# %s\n", rows ? busbw_sum / rows : 0.0,
                  op_ok ? "OK" : "FAILED");
    }
    if (!all_ok) {
      std::printf("# stopped: a rank's call failed (its communicator may be aborted), so every "
                  "rank stops here\n");
    }
    std::fflush(stdout);
  };

  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      tk::BackendOptions bo;
      bo.rank = r;
      bo.world_size = world;
      bo.device_index = r;
      bo.store = store.get();
      bo.store_prefix = "gpu-sweep";
      bo.timeout = std::chrono::seconds(60);
      absl::StatusOr<std::unique_ptr<tk::Backend>> backend = tk::NewCudaBackend(bo);
      RankResult created;
      created.ok = backend.ok();
      if (!backend.ok()) created.error = backend.status().ToString();
      if (!lockstep.Arrive(r, std::move(created), [&](const std::vector<RankResult>& all) {
            report(all, "creating the cuda backend");
          })) {
        return;
      }
      for (tk::CollectiveOp op : ops) {
        for (size_t row = 0; row < counts.size(); ++row) {
          absl::StatusOr<tk::CollectiveRun> run =
              (*backend)->RunCollective(op, counts[row], dtype, {o.coll_warmup, o.coll_timed});
          RankResult mine;
          mine.ok = run.ok();
          if (run.ok()) {
            mine.median = Median(run->iteration_seconds);
            mine.wrong = run->wrong_elements;
          } else {
            mine.error = run.status().ToString();
          }
          if (!lockstep.Arrive(r, std::move(mine), [&](const std::vector<RankResult>& all) {
                print_row(op, row, counts[row], all);
              })) {
            return;  // every rank returns here, together
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool do_gemm = true, do_coll = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--gemm") o.gemm = next();
    else if (a == "--dtypes") o.dtypes = next();
    else if (a == "--gemm-warmup") o.gemm_warmup = std::atoi(next().c_str());
    else if (a == "--gemm-timed") o.gemm_timed = std::atoi(next().c_str());
    else if (a == "--collectives") o.collectives = next();
    else if (a == "--coll-dtype") o.coll_dtype = next();
    else if (a == "--min-bytes") o.min_bytes = std::atoll(next().c_str());
    else if (a == "--max-bytes") o.max_bytes = std::atoll(next().c_str());
    else if (a == "--coll-warmup") o.coll_warmup = std::atoi(next().c_str());
    else if (a == "--coll-timed") o.coll_timed = std::atoi(next().c_str());
    else if (a == "--world") o.world = std::atoi(next().c_str());
    else if (a == "--jsonl") o.jsonl = next();
    else if (a == "--no-gemm") do_gemm = false;
    else if (a == "--no-collectives") do_coll = false;
    else {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of gpu_sweep.cc)\n", a.c_str());
      return 2;
    }
  }
  JsonLines json(o.jsonl);
  int failures = 0;
  if (do_gemm) failures += RunGemms(o, json);
  if (do_coll) failures += RunCollectives(o, json);
  std::printf("\n# %s (%d failure(s))\n", failures == 0 ? "OK" : "FAILED", failures);
  return failures == 0 ? 0 : 1;
}
