/* A backend plugin written in C against kernels/plugin/plugin_abi.h alone,
 * for the loader's tests (tests/kernels/kernels_plugin_test.cc): one host
 * "device" with a naive fp32 GEMM checked against a double-precision
 * reference, and an fp32 all-reduce among the job's ranks through the host's
 * rendezvous store (each rank publishes its input, every rank sums them).
 * Not a benchmark; a working plugin that crosses every part of the ABI. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/plugin/plugin_abi.h"

struct tm_backend {
  tm_backend_options options;
  char prefix[256];
};

static void say(char* error, const char* text) { snprintf(error, TM_ERROR_CAPACITY, "%s", text); }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int stopped(const tm_backend* b) {
  return b->options.stop != NULL && __atomic_load_n(b->options.stop, __ATOMIC_RELAXED) != 0;
}

static tm_status initialize(char* error) {
  (void)error;
  return TM_OK;
}

static void describe(tm_device* d) {
  memset(d, 0, sizeof *d);
  snprintf(d->model, sizeof d->model, "tokenmeter fake device");
  snprintf(d->uuid, sizeof d->uuid, "fake-0");
  d->memory_bytes = (int64_t)1 << 30;
  d->compute_units = 1;
  snprintf(d->driver_version, sizeof d->driver_version, "fake 1");
}

static tm_status list_devices(tm_device* devices, size_t capacity, size_t* count, char* error) {
  (void)error;
  *count = 1;
  if (capacity >= 1) describe(&devices[0]);
  return TM_OK;
}

static tm_status create(const tm_backend_options* options, tm_backend** out, tm_device* device,
                        char* error) {
  if (options->world_size > 1 && options->store == NULL) {
    say(error, "fake: a store is required when world_size > 1");
    return TM_INVALID_ARGUMENT;
  }
  tm_backend* b = calloc(1, sizeof *b);
  if (b == NULL) {
    say(error, "fake: out of memory");
    return TM_RESOURCE_EXHAUSTED;
  }
  b->options = *options;
  snprintf(b->prefix, sizeof b->prefix, "%s", options->store_prefix ? options->store_prefix : "");
  b->options.store_prefix = b->prefix;
  describe(device);
  *out = b;
  return TM_OK;
}

static void destroy(tm_backend* b) { free(b); }

static int supports_gemm(tm_backend* b, int32_t dtype) {
  (void)b;
  return dtype == TM_FP32;
}

static int supports_collective(tm_backend* b, int32_t op, int32_t dtype) {
  (void)b;
  return op == TM_ALL_REDUCE && dtype == TM_FP32;
}

static float unit(uint64_t* state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((*state >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

static tm_status run_gemm(tm_backend* b, const tm_gemm_problem* p, const tm_iteration_plan* plan,
                          tm_gemm_result* result, char* error) {
  if (p->dtype != TM_FP32) {
    say(error, "fake: GEMM in fp32 only");
    return TM_UNIMPLEMENTED;
  }
  if (p->m < 1 || p->n < 1 || p->k < 1 || p->m > 512 || p->n > 512 || p->k > 512) {
    say(error, "fake: m, n and k must be in [1, 512]");
    return TM_INVALID_ARGUMENT;
  }
  const int64_t m = p->m, n = p->n, k = p->k;
  float* a = malloc(sizeof(float) * m * k);
  float* bm = malloc(sizeof(float) * k * n);
  float* c = malloc(sizeof(float) * m * n);
  if (!a || !bm || !c) {
    free(a), free(bm), free(c);
    say(error, "fake: out of memory");
    return TM_RESOURCE_EXHAUSTED;
  }
  uint64_t state = (uint64_t)time(NULL);
  for (int64_t i = 0; i < m * k; ++i) a[i] = unit(&state);
  for (int64_t i = 0; i < k * n; ++i) bm[i] = unit(&state);
  for (int it = 0; it < plan->warmup + plan->timed; ++it) {
    if (stopped(b)) {
      free(a), free(bm), free(c);
      say(error, "fake: stopped on request");
      return TM_ABORTED;
    }
    const double start = now();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float sum = 0;
        for (int64_t l = 0; l < k; ++l) sum += a[i * k + l] * bm[l * n + j];
        c[i * n + j] = sum;
      }
    }
    if (it >= plan->warmup) result->iteration_seconds[it - plan->warmup] = now() - start;
    if (b->options.iterations_begun) __atomic_fetch_add(b->options.iterations_begun, 1, __ATOMIC_RELAXED);
  }
  double worst = 0;
  int64_t wrong = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0, scale = 0;
      for (int64_t l = 0; l < k; ++l) {
        ref += (double)a[i * k + l] * (double)bm[l * n + j];
        scale += 1;
      }
      const double ratio = (c[i * n + j] > ref ? c[i * n + j] - ref : ref - c[i * n + j]) / (1e-6 * scale);
      if (ratio > worst) worst = ratio;
      if (ratio > 1) ++wrong;
    }
  }
  free(a), free(bm), free(c);
  result->verified = 1;
  result->max_error = worst;
  result->wrong_elements = wrong;
  return TM_OK;
}

/* Rank r's element i in iteration it: r + 1 + (i % 7); the sum over ranks is
 * exact in fp32. */
static tm_status run_collective(tm_backend* b, int32_t op, int64_t count, int32_t dtype,
                                const tm_iteration_plan* plan, tm_collective_result* result,
                                char* error) {
  if (op != TM_ALL_REDUCE || dtype != TM_FP32) {
    say(error, "fake: all-reduce in fp32 only");
    return TM_UNIMPLEMENTED;
  }
  if (count < 1 || count > 1 << 20) {
    say(error, "fake: count must be in [1, 1048576]");
    return TM_INVALID_ARGUMENT;
  }
  const int world = b->options.world_size, rank = b->options.rank;
  float* mine = malloc(sizeof(float) * count);
  float* theirs = malloc(sizeof(float) * count);
  float* sum = malloc(sizeof(float) * count);
  tm_status status = TM_OK;
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; ++i) mine[i] = (float)(rank + 1 + i % 7);
  for (int it = 0; it < plan->warmup + plan->timed && status == TM_OK; ++it) {
    if (stopped(b)) {
      say(error, "fake: stopped on request");
      status = TM_ABORTED;
      break;
    }
    const double start = now();
    memcpy(sum, mine, sizeof(float) * count);
    if (world > 1) {
      const tm_store* s = b->options.store;
      char key[512];
      snprintf(key, sizeof key, "%s/fake/%d/%d", b->prefix, it, rank);
      status = s->set(s->context, key, mine, sizeof(float) * count, error);
      for (int peer = 0; peer < world && status == TM_OK; ++peer) {
        if (peer == rank) continue;
        size_t length = 0;
        snprintf(key, sizeof key, "%s/fake/%d/%d", b->prefix, it, peer);
        status = s->get(s->context, key, b->options.timeout_ms, theirs, sizeof(float) * count,
                        &length, error);
        if (status == TM_OK && length != sizeof(float) * count) {
          say(error, "fake: a peer's buffer has another length");
          status = TM_INTERNAL;
        }
        for (int64_t i = 0; status == TM_OK && i < count; ++i) sum[i] += theirs[i];
      }
    }
    if (status == TM_OK && it >= plan->warmup) result->iteration_seconds[it - plan->warmup] = now() - start;
  }
  if (status == TM_OK) {
    for (int64_t i = 0; i < count; ++i) {
      const float want = (float)(world * (world + 1) / 2) + (float)(world * (i % 7));
      if (sum[i] != want) ++wrong;
    }
    result->checked_elements = count;
    result->wrong_elements = wrong;
  }
  free(mine), free(theirs), free(sum);
  return status;
}

static tm_status energy_joules(tm_backend* b, double* joules, char* error) {
  (void)b, (void)joules;
  say(error, "fake: the fake device reports no energy");
  return TM_UNIMPLEMENTED;
}

#ifdef FAKE_INIT_FAILS
static tm_status init_fails(char* error) {
  say(error, "no fake device driver is loaded");
  return TM_UNAVAILABLE;
}
#endif

__attribute__((visibility("default"))) const tm_backend_plugin* tokenmeter_backend_plugin(
    uint32_t host_abi_version, char* error) {
  static tm_backend_plugin table;
  if (host_abi_version != TOKENMETER_PLUGIN_ABI_VERSION) {
    say(error, "fake: built for another plugin ABI");
    return NULL;
  }
  table.abi_version = TOKENMETER_PLUGIN_ABI_VERSION;
  table.name = FAKE_PLUGIN_NAME;
  table.version = "0.1-test";
  table.flags = TM_FLAG_COLLECTIVES_HOST_STAGED; /* its all-reduce goes through the host's store */
  table.initialize = initialize;
  table.list_devices = list_devices;
  table.create = create;
  table.destroy = destroy;
  table.supports_gemm = supports_gemm;
  table.supports_collective = supports_collective;
  table.run_gemm = run_gemm;
  table.run_collective = run_collective;
  table.energy_joules = energy_joules;
#ifdef FAKE_ABI_VERSION
  table.abi_version = FAKE_ABI_VERSION;
#endif
#ifdef FAKE_INIT_FAILS
  table.initialize = init_fails;
#endif
  return &table;
}
