#include "kernels/cpu/gloo_collectives.h"

#include <gloo/barrier.h>
#include <gloo/common/logging.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/gloo_op.h"
#include "kernels/cpu/gloo_store_adapter.h"

namespace tokenmeter::kernels::cpu {
namespace {

using Buffer = std::unique_ptr<float[]>;

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
  std::shared_ptr<gloo::Context> context;
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
  const GlooOpBuffers buffers = BuffersOf(op, count, world_size, rank);
  int64_t elements, bytes;
  if (__builtin_add_overflow(buffers.input_elements, buffers.output_elements, &elements) ||
      __builtin_add_overflow(elements, buffers.scratch_elements, &elements) ||
      __builtin_mul_overflow(elements, static_cast<int64_t>(sizeof(float)), &bytes)) {
    return std::numeric_limits<int64_t>::max();
  }
  return bytes;
}

absl::StatusOr<CollectiveRun> GlooCommunicator::Run(CollectiveOp op, int64_t count, DType dtype,
                                                    const IterationPlan& plan) {
  return RunStaged(op, count, dtype, plan, HostStaging{}, "cpu");
}

absl::StatusOr<CollectiveRun> GlooCommunicator::RunStaged(CollectiveOp op, int64_t count, DType dtype,
                                                          const IterationPlan& plan,
                                                          const HostStaging& staging,
                                                          const std::string& backend) {
  Impl& s = *impl_;
  const bool staged = static_cast<bool>(staging.to_host);
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
  if (absl::Status valid = ValidateIterationPlan(plan); !valid.ok()) return valid;
  if (!Supports(op, dtype)) {
    return absl::UnimplementedError(
        absl::StrCat("backend ", backend, " does not support ", name, " in ", std::string(DTypeName(dtype))));
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
  const uint32_t tag = s.next_tag++;
  const GlooOpBuffers buffers = BuffersOf(op, count, n, rank);
  Buffer in = std::make_unique_for_overwrite<float[]>(buffers.input_elements);
  Buffer own_out = std::make_unique_for_overwrite<float[]>(buffers.output_elements);
  std::fill_n(own_out.get(), buffers.output_elements, std::nanf(""));  // never written cannot pass
  // In place, an element never written still holds its input, never its sum.
  float* out = buffers.in_place ? in.get() : own_out.get();
  const int64_t out_elements = buffers.in_place ? buffers.input_elements : buffers.output_elements;
  CollectiveRun run;
  // Untimed, around every call: its round's input before, its check after.
  int round = 0;
  auto prepare = [&](int call) {
    round = call % 2;
    FillCollectiveInput(in.get(), buffers.input_elements, rank, round);
    if (staged) {
      staging.load(in.get(), buffers.input_elements);
      std::fill_n(in.get(), buffers.input_elements, std::nanf(""));
    }
  };
  auto check = [&] {
    if (staged) {
      std::fill_n(out, out_elements, std::nanf(""));
      staging.read_back(out, out_elements);
    }
    run.checked_elements += buffers.checked_elements;
    run.wrong_elements += CountWrongOutputs(op, out, count, n, rank, round);
  };

  try {
    const std::function<void()> call = MakeGlooCall(op, GlooGroup{s.context, n, rank}, in.get(), out, count, tag);
    const std::function<void()> iterate = !staged ? call : [&] {
      staging.to_host(in.get(), buffers.input_elements);
      call();
      staging.to_device(out, out_elements);
    };
    const std::atomic<bool>* stop = s.options.stop;
    for (int i = 0; i < plan.warmup; ++i) {
      if (StopRequested(stop)) return s.broken = StoppedError(absl::StrCat(what, ", warm-up call ", i));
      NoteIterationBegun(s.options.iterations_begun);
      prepare(i);
      iterate();
      check();
    }
    gloo::BarrierOptions barrier(s.context);
    barrier.setTag(tag);
    gloo::barrier(barrier);
    run.iteration_seconds.reserve(plan.timed);
    for (int i = 0; i < plan.timed; ++i) {
      if (StopRequested(stop)) return s.broken = StoppedError(absl::StrCat(what, ", timed call ", i));
      NoteIterationBegun(s.options.iterations_begun);
      prepare(plan.warmup + i);
      // The untimed work between calls takes each rank its own time; without
      // re-aligning, a rank's call would time its wait for a slower peer.
      gloo::barrier(barrier);
      const auto start = std::chrono::steady_clock::now();
      iterate();
      const auto end = std::chrono::steady_clock::now();
      run.iteration_seconds.push_back(std::chrono::duration<double>(end - start).count());
      check();
    }
    // A rank that returned and tore down its connections could cut off a
    // peer still finishing its last call; past this barrier every rank has
    // received all it waits for.
    gloo::barrier(barrier);
  } catch (...) {
    s.broken = FromException(what);
    return s.broken;
  }
  return run;
}

}  // namespace tokenmeter::kernels::cpu
