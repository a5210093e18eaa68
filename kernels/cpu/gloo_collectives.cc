#include "kernels/cpu/gloo_collectives.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/logging.h>
#include <gloo/math.h>
#include <gloo/reduce.h>
#include <gloo/reduce_scatter.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/gloo_store_adapter.h"

namespace tokenmeter::kernels::cpu {
namespace {

using Buffer = std::unique_ptr<float[]>;

// ReduceScatterHalvingDoubling keeps its byte count in an int.
constexpr int64_t kMaxReduceScatterElements = INT_MAX / static_cast<int64_t>(sizeof(float));

float InputValue(int rank, int64_t i) { return CollectiveInputValue(rank, i); }
float SumValue(int n, int64_t i) { return CollectiveSumValue(n, i); }

Buffer Allocate(int64_t elements, float value) {
  Buffer buffer = std::make_unique_for_overwrite<float[]>(elements);
  std::fill_n(buffer.get(), elements, value);
  return buffer;
}

Buffer InputFor(int rank, int64_t elements) {
  Buffer buffer = std::make_unique_for_overwrite<float[]>(elements);
  for (int64_t i = 0; i < elements; ++i) buffer[i] = InputValue(rank, i);
  return buffer;
}

// The one gloo reduction our function-API calls use.
void SumFloats(void* c, const void* a, const void* b, size_t n) { gloo::sum<float>(c, a, b, n); }

absl::Status FromException(const std::string& what) { return GlooExceptionToStatus(what); }

}  // namespace

// Gloo reports every failure as an exception. A store failure keeps its
// Status; Gloo's own timeouts become DeadlineExceeded; a broken connection
// (a peer that died) Unavailable; a failed GLOO_ENFORCE is Internal.
absl::Status GlooExceptionToStatus(const std::string& what) {
  try {
    throw;
  } catch (const StoreException& e) {
    return absl::Status(e.status().code(), absl::StrCat(what, ": ", e.status().message()));
  } catch (const gloo::EnforceNotMet& e) {
    return absl::InternalError(absl::StrCat(what, ": Gloo check failed: ", e.what()));
  } catch (const std::exception& e) {
    const std::string message = e.what();
    const std::string lower = absl::AsciiStrToLower(message);
    if (absl::StrContains(lower, "timed out") || absl::StrContains(lower, "timeout")) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": ", message));
    }
    return absl::UnavailableError(absl::StrCat(what, ": ", message));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what, ": unknown exception"));
  }
}

struct GlooCommunicator::Impl {
  BackendOptions options;
  std::unique_ptr<kernels::Store> own_store;  // world_size 1 only
  kernels::Store* store = nullptr;
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::Context> context;     // function API only
  std::shared_ptr<gloo::Context> rs_context;  // ReduceScatterHalvingDoubling only
  absl::Status broken;                        // the failure that ended this communicator
  uint32_t next_tag = 0;

  std::string Where() const {
    return absl::StrCat("rank ", options.rank, " of ", options.world_size);
  }

  absl::StatusOr<std::shared_ptr<gloo::Context>> ConnectContext(const std::string& suffix) {
    return ConnectContext(suffix, options.rank, options.world_size);
  }

  // A context in which this rank is `rank` of `size`.
  absl::StatusOr<std::shared_ptr<gloo::Context>> ConnectContext(const std::string& suffix,
                                                                int rank, int size) {
    const std::string prefix = absl::StrCat(options.store_prefix, "/", suffix);
    try {
      GlooStoreAdapter adapter(store, prefix, options.timeout);
      auto connected = std::make_shared<gloo::rendezvous::Context>(rank, size);
      // Before connecting: the pairs take their timeout from the context.
      connected->setTimeout(options.timeout);
      connected->connectFullMesh(adapter, device);
      return std::shared_ptr<gloo::Context>(std::move(connected));
    } catch (...) {
      return FromException(absl::StrCat("gloo rendezvous under '", prefix, "' (", Where(),
                                        ", timeout ", options.timeout.count(), " ms)"));
    }
  }
};

GlooCommunicator::GlooCommunicator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GlooCommunicator::~GlooCommunicator() = default;

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Connect(
    const BackendOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->store = options.store;
  if (impl->store == nullptr) {
    if (options.world_size > 1) {
      return absl::InvalidArgumentError("a store is required when world_size > 1");
    }
    // Gloo still wants a rendezvous for a context of one.
    impl->own_store = NewInMemoryStore();
    impl->store = impl->own_store.get();
  }
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = options.collective_host;
    impl->device = gloo::transport::tcp::CreateDevice(attr);
  } catch (...) {
    return FromException(absl::StrCat("gloo TCP transport on collective_host '",
                                      options.collective_host, "' (", impl->Where(), ")"));
  }
  absl::StatusOr<std::shared_ptr<gloo::Context>> context = impl->ConnectContext("gloo");
  if (!context.ok()) return context.status();
  impl->context = *std::move(context);
  return std::unique_ptr<GlooCommunicator>(new GlooCommunicator(std::move(impl)));
}

const BackendOptions& GlooCommunicator::options() const { return impl_->options; }

std::shared_ptr<gloo::Context> GlooCommunicator::context() const { return impl_->context; }

absl::StatusOr<std::shared_ptr<gloo::Context>> GlooCommunicator::ReduceScatterContext() {
  Impl& s = *impl_;
  if (s.rs_context == nullptr) {
    absl::StatusOr<std::shared_ptr<gloo::Context>> rs = s.ConnectContext("gloo-reduce-scatter");
    if (!rs.ok()) {
      MarkBroken(rs.status());
      return rs.status();
    }
    s.rs_context = *std::move(rs);
  }
  return s.rs_context;
}

absl::StatusOr<std::shared_ptr<gloo::Context>> GlooCommunicator::ConnectGroup(
    const std::vector<int>& ranks, const std::string& suffix) {
  const auto me = std::find(ranks.begin(), ranks.end(), impl_->options.rank);
  if (me == ranks.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(impl_->Where(), " is not in the group it was asked to connect"));
  }
  return impl_->ConnectContext(suffix, static_cast<int>(me - ranks.begin()),
                               static_cast<int>(ranks.size()));
}

absl::Status GlooCommunicator::broken() const { return impl_->broken; }

void GlooCommunicator::MarkBroken(absl::Status failure) {
  if (impl_->broken.ok()) impl_->broken = std::move(failure);
}

bool GlooCommunicator::Supports(CollectiveOp op, DType dtype) { return dtype == DType::kFp32; }

int64_t GlooCommunicator::BytesNeeded(CollectiveOp op, int64_t count, int world_size, int rank) {
  int64_t buffers = 0;  // in units of count elements
  switch (op) {
    case CollectiveOp::kAllReduce:
    case CollectiveOp::kAllToAll:
    case CollectiveOp::kReduce:
      buffers = 2;  // input, output
      break;
    case CollectiveOp::kBroadcast:
      buffers = rank == 0 ? 2 : 1;  // non-roots have no input
      break;
    case CollectiveOp::kAllGather:
      buffers = 2;  // input is count/world_size; rounded up to a whole count
      break;
    case CollectiveOp::kReduceScatter:
      buffers = 4;  // pristine input, working copy, and the algorithm's two receive buffers
      break;
  }
  int64_t bytes;
  if (__builtin_mul_overflow(count, buffers * static_cast<int64_t>(sizeof(float)), &bytes)) {
    return std::numeric_limits<int64_t>::max();
  }
  return bytes;
}

absl::StatusOr<CollectiveRun> GlooCommunicator::Run(CollectiveOp op, int64_t count, DType dtype,
                                                    const IterationPlan& plan) {
  Impl& s = *impl_;
  const int n = s.options.world_size;
  const int rank = s.options.rank;
  const std::string name(CollectiveOpName(op));
  if (count <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, " count must be positive, got ", count));
  }
  const bool splits = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter ||
                      op == CollectiveOp::kAllToAll;
  if (splits && count % n != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, " count ", count,
                                                   " is not divisible by world_size ", n));
  }
  if (plan.warmup < 0 || plan.timed < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("iteration plan needs warmup >= 0 and timed >= 1, got warmup ", plan.warmup,
                     ", timed ", plan.timed));
  }
  if (!Supports(op, dtype)) {
    return absl::UnimplementedError(
        absl::StrCat("backend cpu does not support ", name, " in ", std::string(DTypeName(dtype))));
  }
  if (op == CollectiveOp::kReduceScatter && count > kMaxReduceScatterElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reduce_scatter count ", count, " exceeds ", kMaxReduceScatterElements,
        " fp32 elements, the most Gloo's ReduceScatterHalvingDoubling can index"));
  }
  const int64_t needed = BytesNeeded(op, count, n, rank);
  const int64_t available = HostMemoryAvailableBytes();
  if (needed > available) {
    return absl::ResourceExhaustedError(absl::StrCat(name, " of ", count, " fp32 elements needs ",
                                                     needed, " bytes of host memory on ", s.Where(),
                                                     ", only ", available, " available"));
  }
  if (!s.broken.ok()) {
    return absl::UnavailableError(absl::StrCat("gloo communicator of ", s.Where(),
                                               " is unusable after an earlier failure: ",
                                               s.broken.message()));
  }

  const std::string what = absl::StrCat(name, " of ", count, " fp32 elements (",
                                        count * static_cast<int64_t>(sizeof(float)), " bytes) on ",
                                        s.Where(), ", timeout ", s.options.timeout.count(), " ms");
  if (op == CollectiveOp::kReduceScatter && s.rs_context == nullptr) {
    absl::StatusOr<std::shared_ptr<gloo::Context>> rs = s.ConnectContext("gloo-reduce-scatter");
    if (!rs.ok()) {
      s.broken = rs.status();
      return absl::Status(rs.status().code(), absl::StrCat(what, ": ", rs.status().message()));
    }
    s.rs_context = *std::move(rs);
  }

  const int64_t chunk = count / n;
  const uint32_t tag = s.next_tag++;
  const float kUnwritten = std::nanf("");
  Buffer in, out, pristine;
  // Each op sets `iterate` (one collective), `correct` and `checked` (the
  // expected output), and may set `prepare` (untimed work before each
  // iteration).
  std::function<void()> prepare = [] {};
  std::function<void()> iterate;
  std::function<bool(int64_t)> correct;  // output element j holds its expected value
  int64_t checked = 0;                   // output elements this rank owns
  std::unique_ptr<gloo::ReduceScatterHalvingDoubling<float>> reduce_scatter;

  CollectiveRun run;
  try {
    switch (op) {
      case CollectiveOp::kAllReduce: {
        in = InputFor(rank, count);
        out = Allocate(count, kUnwritten);
        auto opts = std::make_shared<gloo::AllreduceOptions>(s.context);
        opts->setInput(in.get(), count);
        opts->setOutput(out.get(), count);
        opts->setReduceFunction(&SumFloats);
        opts->setTag(tag);
        iterate = [opts] { gloo::allreduce(*opts); };
        correct = [&](int64_t j) { return out[j] == SumValue(n, j); };
        checked = count;
        break;
      }
      case CollectiveOp::kAllGather: {
        in = InputFor(rank, chunk);
        out = Allocate(count, kUnwritten);
        auto opts = std::make_shared<gloo::AllgatherOptions>(s.context);
        opts->setInput(in.get(), chunk);
        opts->setOutput(out.get(), count);
        opts->setTag(tag);
        iterate = [opts] { gloo::allgather(*opts); };
        correct = [&](int64_t j) { return out[j] == InputValue(j / chunk, j % chunk); };
        checked = count;
        break;
      }
      case CollectiveOp::kAllToAll: {
        in = InputFor(rank, count);
        out = Allocate(count, kUnwritten);
        auto opts = std::make_shared<gloo::AlltoallOptions>(s.context);
        opts->setInput(in.get(), count);
        opts->setOutput(out.get(), count);
        opts->setTag(tag);
        iterate = [opts] { gloo::alltoall(*opts); };
        // Block s of the output is block `rank` of sender s's input.
        correct = [&](int64_t j) {
          return out[j] == InputValue(j / chunk, rank * chunk + j % chunk);
        };
        checked = count;
        break;
      }
      case CollectiveOp::kBroadcast: {
        out = Allocate(count, kUnwritten);
        auto opts = std::make_shared<gloo::BroadcastOptions>(s.context);
        if (rank == 0) {
          in = InputFor(rank, count);
          opts->setInput(in.get(), count);  // Gloo refuses an input on non-roots
        }
        opts->setOutput(out.get(), count);
        opts->setRoot(0);
        opts->setTag(tag);
        iterate = [opts] { gloo::broadcast(*opts); };
        correct = [&](int64_t j) { return out[j] == InputValue(0, j); };
        checked = count;
        break;
      }
      case CollectiveOp::kReduce: {
        in = InputFor(rank, count);
        // Every rank needs the output: gloo::reduce uses it as scratch.
        out = Allocate(count, kUnwritten);
        auto opts = std::make_shared<gloo::ReduceOptions>(s.context);
        opts->setInput(in.get(), count);
        opts->setOutput(out.get(), count);
        opts->setRoot(0);
        opts->setReduceFunction(&SumFloats);
        opts->setTag(tag);
        iterate = [opts] { gloo::reduce(*opts); };
        correct = [&](int64_t j) { return out[j] == SumValue(n, j); };
        checked = rank == 0 ? count : 0;
        break;
      }
      case CollectiveOp::kReduceScatter: {
        pristine = InputFor(rank, count);
        in = Allocate(count, kUnwritten);  // the working copy, reduced in place
        float* work = in.get();
        reduce_scatter = std::make_unique<gloo::ReduceScatterHalvingDoubling<float>>(
            s.rs_context, std::vector<float*>{work}, static_cast<int>(count),
            std::vector<int>(n, static_cast<int>(chunk)));
        prepare = [&, work] { std::copy_n(pristine.get(), count, work); };
        iterate = [&] { reduce_scatter->run(); };
        // This rank's reduced block lands at the front of the buffer.
        correct = [&, work](int64_t j) { return work[j] == SumValue(n, rank * chunk + j); };
        checked = chunk;
        break;
      }
    }

    for (int i = 0; i < plan.warmup; ++i) {
      prepare();
      iterate();
    }
    gloo::BarrierOptions barrier(s.context);
    barrier.setTag(tag);
    gloo::barrier(barrier);
    run.iteration_seconds.reserve(plan.timed);
    for (int i = 0; i < plan.timed; ++i) {
      prepare();
      const auto start = std::chrono::steady_clock::now();
      iterate();
      const auto stop = std::chrono::steady_clock::now();
      run.iteration_seconds.push_back(std::chrono::duration<double>(stop - start).count());
    }
    // ReduceScatterHalvingDoubling::run() returns with its last
    // notifications possibly still in flight; a rank that then tore down its
    // connections would cut its peers off mid-collective. Once every rank
    // has passed this barrier, every rank has received all it waits for.
    gloo::barrier(barrier);
  } catch (...) {
    s.broken = FromException(what);
    return s.broken;
  }

  run.checked_elements = checked;
  for (int64_t j = 0; j < checked; ++j) {
    if (!correct(j)) ++run.wrong_elements;
  }
  return run;
}

}  // namespace tokenmeter::kernels::cpu
