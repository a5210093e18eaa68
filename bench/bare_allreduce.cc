// The reference tokenmeter's all-reduce figures are held to: a bare Gloo loop
// between processes (gloo::allreduce, ring, in place, over TCP, FileStore
// rendezvous), timed the same way (steady_clock around each call, after
// warm-up, each call after a barrier) and summarised the same way: a job is as fast as its slowest rank,
// so the figure is the largest of the ranks' medians.
// usage: bare_allreduce RANK SIZE STORE_DIR WARMUP ITERATIONS BYTES [BYTES ...]
// rank 0 prints one line per size: bytes median_seconds busbw_gbps
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
void Max(void* c, const void* a, const void* b, size_t n) {
  auto* out = static_cast<double*>(c);
  auto* x = static_cast<const double*>(a);
  auto* y = static_cast<const double*>(b);
  for (size_t i = 0; i < n; ++i) out[i] = std::max(x[i], y[i]);
}

void Sum(void* c, const void* a, const void* b, size_t n) {
  auto* out = static_cast<float*>(c);
  auto* x = static_cast<const float*>(a);
  auto* y = static_cast<const float*>(b);
  for (size_t i = 0; i < n; ++i) out[i] = x[i] + y[i];
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: bare_allreduce RANK SIZE STORE_DIR WARMUP ITERATIONS BYTES [BYTES ...]\n");
    return 2;
  }
  const int rank = std::atoi(argv[1]), size = std::atoi(argv[2]);
  const int warmup = std::atoi(argv[4]), iterations = std::atoi(argv[5]);
  gloo::transport::tcp::attr attr;
  attr.hostname = "127.0.0.1";
  auto device = gloo::transport::tcp::CreateDevice(attr);
  gloo::rendezvous::FileStore file_store(argv[3]);
  gloo::rendezvous::PrefixStore store("bare", file_store);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->setTimeout(std::chrono::seconds(60));
  context->connectFullMesh(store, device);
  uint32_t tag = 0;
  for (int i = 6; i < argc; ++i) {
    const size_t count = std::strtoull(argv[i], nullptr, 10) / sizeof(float);
    // In place, as tokenmeter's all-reduce; zeros stay finite however often
    // they are summed.
    std::vector<float> data(count, 0.0f);
    gloo::AllreduceOptions opts(context);
    opts.setOutput(data.data(), count);
    opts.setReduceFunction(&Sum);
    opts.setTag(++tag);
    std::vector<double> times;
    gloo::BarrierOptions barrier(context);
    barrier.setTag(++tag);
    for (int it = 0; it < warmup + iterations; ++it) {
      // Aligned before every timed call, as tokenmeter's ranks are.
      if (it >= warmup) gloo::barrier(barrier);
      const auto start = std::chrono::steady_clock::now();
      gloo::allreduce(opts);
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (it >= warmup) times.push_back(t);
    }
    std::sort(times.begin(), times.end());
    const size_t h = times.size() / 2;
    double median = times.size() % 2 ? times[h] : (times[h - 1] + times[h]) / 2;
    gloo::AllreduceOptions slowest(context);
    slowest.setOutput(&median, 1);
    slowest.setReduceFunction(&Max);
    slowest.setTag(++tag);
    gloo::allreduce(slowest);
    const double bytes = double(count * sizeof(float));
    if (rank == 0) std::printf("%.0f %.9g %.9g\n", bytes, median, bytes / median / 1e9 * 2.0 * (size - 1) / size);
  }
  return 0;
}
