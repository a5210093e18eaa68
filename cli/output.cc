#include "cli/output.h"

#include <algorithm>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "cli/diagnosis.h"
#include "cli/json_line.h"
#include "google/protobuf/util/time_util.h"
#include "workload/figures.h"
#include "workload/straggler.h"
#include "workload/step_plan.h"

namespace tokenmeter::cli {
std::string IsoTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t.seconds()), absl::UTCTimeZone());
}

std::string CsvQuote(const std::string& cell) {
  if (cell.find_first_of(",\"\n") == std::string::npos) return cell;
  return absl::StrCat("\"", absl::StrReplaceAll(cell, {{"\"", "\"\""}}), "\"");
}

namespace {

using google::protobuf::util::TimeUtil;

// One machine-readable row: ordered keys, values of three kinds.
using Value = std::variant<std::string, double, bool>;
struct Row {
  std::vector<std::pair<std::string, Value>> fields;
  Row& Add(std::string key, Value v) {
    fields.emplace_back(std::move(key), std::move(v));
    return *this;
  }
};

void WriteJson(const Row& row, std::ostream& out) {
  JsonLine line;
  for (const auto& [k, v] : row.fields) {
    std::visit([&, &k = k](const auto& value) { line.Add(k, value); }, v);
  }
  line.WriteTo(out);
}

std::string CsvCell(const Value& v) {
  if (auto* str = std::get_if<std::string>(&v)) return CsvQuote(*str);
  if (auto* num = std::get_if<double>(&v)) return absl::StrFormat("%.9g", *num);
  return std::get<bool>(v) ? "true" : "false";
}

void WriteRows(const std::vector<Row>& rows, Format format, std::ostream& out) {
  if (format == Format::kJson) {
    for (const auto& r : rows) WriteJson(r, out);
    return;
  }
  if (rows.empty()) return;
  std::vector<std::string> header;
  for (const auto& [k, v] : rows.front().fields) header.push_back(k);
  out << absl::StrJoin(header, ",") << "\n";
  for (const auto& r : rows) {
    std::vector<std::string> cells;
    for (const auto& [k, v] : r.fields) cells.push_back(CsvCell(v));
    out << absl::StrJoin(cells, ",") << "\n";
  }
}

Row JobFields(const v1::JobResult& r) {
  Row row;
  row.Add("job_id", r.job_id())
      .Add("workload", r.spec().name())
      .Add("workload_version", static_cast<double>(r.spec().version()))
      .Add("setup", r.setup())
      .Add("device_model", r.device_model())
      .Add("ranks", static_cast<double>(r.world_size()))
      .Add("finished_at", IsoTime(r.finished_at()));
  return row;
}

std::vector<Row> GemmRows(const v1::JobResult& r) {
  std::vector<Row> rows;
  for (const auto& g : r.gemm()) {
    Row row = JobFields(r);
    row.Add("kind", std::string("gemm"))
        .Add("shape", g.shape().name())
        .Add("m", static_cast<double>(g.shape().m()))
        .Add("n", static_cast<double>(g.shape().n()))
        .Add("k", static_cast<double>(g.shape().k()))
        .Add("dtype", std::string(workload::DTypeName(g.dtype())))
        .Add("iterations", static_cast<double>(g.timing().iterations()))
        .Add("step_seconds_median", g.timing().median_seconds())
        .Add("step_seconds_p10", g.timing().p10_seconds())
        .Add("step_seconds_p90", g.timing().p90_seconds())
        .Add("tflops", g.tflops())
        .Add("verified", g.verified() && g.wrong_elements() == 0)
        .Add("wrong_elements", static_cast<double>(g.wrong_elements()));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<Row> CollectiveRows(const v1::JobResult& r) {
  std::vector<Row> rows;
  for (const auto& c : r.collective()) {
    Row row = JobFields(r);
    row.Add("kind", std::string("collective"))
        .Add("collective", std::string(workload::CollectiveOpName(c.op())))
        .Add("size_bytes", static_cast<double>(c.size_bytes()))
        .Add("count", static_cast<double>(c.count()))
        .Add("dtype", std::string(workload::DTypeName(c.dtype())))
        .Add("iterations", static_cast<double>(c.timing().iterations()))
        .Add("time_seconds_median", c.timing().median_seconds())
        .Add("time_seconds_p10", c.timing().p10_seconds())
        .Add("time_seconds_p90", c.timing().p90_seconds())
        .Add("algbw_gbps", c.algbw_gbps())
        .Add("busbw_gbps", c.busbw_gbps())
        .Add("wrong_elements", static_cast<double>(c.wrong_elements()));
    rows.push_back(std::move(row));
  }
  return rows;
}

Row SummaryRow(const v1::JobResult& r) {
  Row row = JobFields(r);
  row.Add("kind", std::string("job"));
  row.Add("passed", ResultPassed(r));
  if (r.gemm_size() > 0) row.Add("mamf_tflops", r.mamf_tflops());
  if (r.collective_size() > 0) {
    double best = 0;
    for (const auto& c : r.collective()) best = std::max(best, c.busbw_gbps());
    row.Add("busbw_gbps_max", best);
  }
  if (r.has_health()) {
    row.Add("healthy", r.health().healthy())
        .Add("defective_workers", static_cast<double>(r.health().defective_workers()))
        .Add("defective_links", static_cast<double>(r.health().defective_links()));
  }
  if (r.has_train_step()) {
    const auto& t = r.train_step();
    row.Add("tokens_per_step", static_cast<double>(t.tokens_per_step()))
        .Add("step_seconds_median", t.step().median_seconds())
        .Add("tokens_per_second", t.tokens_per_second())
        .Add("flops_per_token", t.flops_per_token())
        .Add("mfu", t.mfu())
        .Add("mfu_mamf", t.mfu_mamf())
        .Add("cost_per_million_tokens_dollars", t.cost_per_million_tokens_dollars())
        .Add("energy_per_token_joules", t.energy_per_token_joules())
        .Add("grad_sync_seconds_median", t.grad_sync_seconds())
        .Add("grad_sync_exposed_seconds_median", t.grad_sync_exposed_seconds())
        .Add("grad_sync_overlapped", t.grad_sync_overlapped());
    // Per phase, the slowest rank's median seconds (scaled to full depth), so
    // a step can be held phase by phase against another stack's profile
    // (bench/reference).
    for (const char* phase : workload::kStepPhases) {
      double slowest = 0;
      for (const auto& rank : r.ranks()) {
        auto it = rank.train_step().phase_seconds().find(phase);
        if (it != rank.train_step().phase_seconds().end()) slowest = std::max(slowest, it->second);
      }
      row.Add(absl::StrCat("phase_seconds_", phase), slowest);
    }
  }
  if (r.attempts() > 1) row.Add("attempts", static_cast<double>(r.attempts()));
  return row;
}

std::string Micros(double seconds) { return absl::StrFormat("%.1f", seconds * 1e6); }

void PrintGemmTable(const v1::JobResult& r, std::ostream& out) {
  out << absl::StrFormat("# gemm: %s v%d on %d ranks of %s (setup %s), job %s\n", r.spec().name(), r.spec().version(),
                         r.world_size(), r.device_model(), r.setup(), r.job_id());
  out << absl::StrFormat("# per rank: %d warm-up + %d timed iterations; the slowest rank's times are shown\n",
                         r.spec().warmup_iterations(), r.spec().timed_iterations());
  out << absl::StrFormat("# %-26s %6s %6s %6s %-8s %11s %11s %11s %10s %7s\n", "shape", "m", "n", "k", "dtype", "median",
                         "p10", "p90", "TFLOP/s", "check");
  out << absl::StrFormat("# %-26s %6s %6s %6s %-8s %11s %11s %11s %10s %7s\n", "", "", "", "", "", "(us)", "(us)",
                         "(us)", "", "");
  for (const auto& g : r.gemm()) {
    const bool ok = g.verified() && g.wrong_elements() == 0;
    out << absl::StrFormat("  %-26s %6d %6d %6d %-8s %11s %11s %11s %10.4f %7s\n", g.shape().name(), g.shape().m(),
                           g.shape().n(), g.shape().k(), workload::DTypeName(g.dtype()),
                           Micros(g.timing().median_seconds()), Micros(g.timing().p10_seconds()),
                           Micros(g.timing().p90_seconds()), g.tflops(),
                           ok ? "ok" : (g.verified() ? absl::StrCat(g.wrong_elements(), " bad") : "unchecked"));
  }
  const auto best = std::max_element(r.gemm().begin(), r.gemm().end(),
                                     [](const auto& a, const auto& b) { return a.tflops() < b.tflops(); });
  if (best != r.gemm().end()) {
    out << absl::StrFormat("# Maximum achievable matmul FLOP/s (MAMF): %.4f TFLOP/s per device (%s, %s)\n",
                           best->tflops(), best->shape().name(), workload::DTypeName(best->dtype()));
  }
}

void PrintCollectiveTables(const v1::JobResult& r, std::ostream& out) {
  // One table per collective, in the order measured.
  std::vector<int> ops;
  for (const auto& c : r.collective()) {
    if (std::find(ops.begin(), ops.end(), c.op()) == ops.end()) ops.push_back(c.op());
  }
  for (int op : ops) {
    const auto name = workload::CollectiveOpName(static_cast<v1::CollectiveOp>(op));
    out << absl::StrFormat("# %s: %s v%d on %d ranks of %s (setup %s), job %s\n", name, r.spec().name(),
                           r.spec().version(), r.world_size(), r.device_model(), r.setup(), r.job_id());
    out << "# busbw = algbw x nccl-tests' factor: a re-calibration for a flat fabric, not a wire speed\n";
    if (workload::CollectivesHostStaged(r)) {
      out << "# host-staged: each time includes the copies device -> host -> device around the Gloo call\n";
    }
    out << absl::StrFormat("# %12s %12s %8s %11s %11s %11s %11s %11s %7s\n", "size", "count", "type", "time",
                           "p10", "p90", "algbw", "busbw", "#wrong");
    out << absl::StrFormat("# %12s %12s %8s %11s %11s %11s %11s %11s %7s\n", "(B)", "(elements)", "", "(us)", "(us)",
                           "(us)", "(GB/s)", "(GB/s)", "");
    double sum = 0;
    int n = 0;
    int64_t wrong = 0;
    for (const auto& c : r.collective()) {
      if (c.op() != op) continue;
      out << absl::StrFormat("  %12d %12d %8s %11s %11s %11s %11.3f %11.3f %7d\n", c.size_bytes(), c.count(),
                             workload::DTypeName(c.dtype()), Micros(c.timing().median_seconds()),
                             Micros(c.timing().p10_seconds()), Micros(c.timing().p90_seconds()), c.algbw_gbps(),
                             c.busbw_gbps(), c.wrong_elements());
      sum += c.busbw_gbps();
      ++n;
      wrong += c.wrong_elements();
    }
    out << absl::StrFormat("# Out of bounds values : %d %s\n", wrong, wrong == 0 ? "OK" : "FAILED");
    out << absl::StrFormat("# Avg bus bandwidth    : %.3f GB/s\n", n > 0 ? sum / n : 0.0);
  }
}

void PrintTrainStep(const v1::JobResult& r, std::ostream& out) {
  const auto& t = r.train_step();
  out << absl::StrFormat("# %s v%d on %d ranks of %s (setup %s), job %s\n", r.spec().name(), r.spec().version(),
                         r.world_size(), r.device_model(), r.setup(), r.job_id());
  out << absl::StrFormat("# framework profile %s: the step as %s decomposes it (docs/workloads.md)\n",
                         workload::FrameworkProfileName(r.spec().train_step().profile()),
                         r.spec().train_step().profile() == v1::FRAMEWORK_PROFILE_EAGER
                             ? "PyTorch eager"
                             : "a fused stack (Megatron, torch.compile)");
  if (t.depth_scale() > 1) {
    out << absl::StrFormat("# ran %s of the model's layers; times are scaled to the full depth (x%.3g)\n",
                           r.spec().train_step().layers_to_run() > 0 ? absl::StrCat(r.spec().train_step().layers_to_run())
                                                                     : "some",
                           t.depth_scale());
  }
  out << absl::StrFormat("  %-34s %d\n", "tokens per step", t.tokens_per_step());
  out << absl::StrFormat("  %-34s %.6g s (p10 %.6g, p90 %.6g, %d steps)\n", "step time (median)",
                         t.step().median_seconds(), t.step().p10_seconds(), t.step().p90_seconds(),
                         t.step().iterations());
  out << absl::StrFormat("  %-34s %.6g\n", "tokens/s", t.tokens_per_second());
  out << absl::StrFormat("  %-34s %.6g\n", "model FLOPs per token", t.flops_per_token());
  if (t.peak_flops_per_device() > 0) {
    out << absl::StrFormat("  %-34s %.2f%% (peak %.4g TFLOP/s per device, %s)\n", "MFU vs peak", 100 * t.mfu(),
                           t.peak_flops_per_device() / 1e12, t.peak_is_measured() ? "measured" : "datasheet");
  } else {
    out << absl::StrFormat("  %-34s %s\n", "MFU vs peak", "unknown device: no datasheet peak");
  }
  if (t.mamf_flops_per_device() > 0) {
    out << absl::StrFormat("  %-34s %.2f%% (MAMF %.4g TFLOP/s per device)\n", "MFU vs measured max matmul",
                           100 * t.mfu_mamf(), t.mamf_flops_per_device() / 1e12);
  }
  if (t.price_per_device_hour() > 0) {
    out << absl::StrFormat("  %-34s $%.6g (at $%.4g per device-hour)\n", "cost per million tokens",
                           t.cost_per_million_tokens_dollars(), t.price_per_device_hour());
  } else {
    out << absl::StrFormat("  %-34s %s\n", "cost per million tokens", "no price (give --price-per-device-hour)");
  }
  if (t.energy_per_token_joules() > 0) {
    out << absl::StrFormat("  %-34s %.6g J\n", "energy per token", t.energy_per_token_joules());
  } else {
    out << absl::StrFormat("  %-34s %s\n", "energy per token", "not reported by the device");
  }
  std::vector<std::string> shares;
  for (const char* phase : workload::kStepPhases) {
    auto it = t.phase_share().find(phase);
    if (it != t.phase_share().end()) shares.push_back(absl::StrFormat("%s %.1f%%", phase, 100 * it->second));
  }
  out << absl::StrFormat("  %-34s %s (shares of the ops' summed time)\n", "time breakdown",
                         absl::StrJoin(shares, ", "));
  if (t.grad_sync_seconds() > 0) {
    const double total_ms = 1e3 * t.grad_sync_seconds(), exposed_ms = 1e3 * t.grad_sync_exposed_seconds();
    if (t.grad_sync_overlapped()) {
      out << absl::StrFormat("  %-34s overlapped: exposed %.3g ms of %.3g ms per step (%.0f%% hidden behind compute)\n",
                             "gradient sync", exposed_ms, total_ms, 100 * (1 - exposed_ms / total_ms));
    } else {
      out << absl::StrFormat("  %-34s %.3g ms per step, not overlapped%s\n", "gradient sync", total_ms,
                             r.spec().train_step().overlap_grad_sync() ? " (asked for, but it never ran during compute)"
                                                                       : " (overlap_grad_sync off)");
    }
  }
}

}  // namespace

bool ResultPassed(const v1::JobResult& result) {
  for (const auto& g : result.gemm()) {
    if (!g.verified() || g.wrong_elements() != 0) return false;
  }
  for (const auto& c : result.collective()) {
    if (c.wrong_elements() != 0) return false;
  }
  return true;
}

void PrintJobResult(const v1::JobResult& result, Format format, std::ostream& out) {
  if (result.has_health()) return PrintHealthReport(result.health(), result.setup(), format, out);
  if (format != Format::kTable) {
    std::vector<Row> rows = GemmRows(result);
    for (auto& r : CollectiveRows(result)) rows.push_back(std::move(r));
    if (format == Format::kJson) {
      rows.push_back(SummaryRow(result));
      WriteRows(rows, format, out);
      if (auto s = workload::FindStraggler(result); workload::StandsOut(s)) {
        Row row;
        row.Add("kind", std::string("straggler"))
            .Add("job_id", result.job_id())
            .Add("rank", static_cast<double>(s.rank))
            .Add("worker_id", s.worker_id)
            .Add("rank_seconds", s.rank_seconds)
            .Add("median_rank_seconds", s.median_rank_seconds)
            .Add("excess", s.excess)
            .Add("excess_standard_error", s.excess_standard_error)
            .Add("job_seconds", s.job_seconds)
            .Add("job_seconds_at_median", s.job_seconds_at_median);
        WriteRows({row}, format, out);
      }
    } else {
      // CSV rows must share columns: the detail rows of one kind per table.
      WriteRows(GemmRows(result), format, out);
      WriteRows(CollectiveRows(result), format, out);
      WriteRows({SummaryRow(result)}, format, out);
    }
    return;
  }
  if (result.gemm_size() > 0) PrintGemmTable(result, out);
  if (result.collective_size() > 0) PrintCollectiveTables(result, out);
  if (result.has_train_step()) PrintTrainStep(result, out);
  if (auto s = workload::FindStraggler(result); workload::StandsOut(s)) {
    out << absl::StrFormat(
        "# straggler: rank %d (worker %s) took %.4g s against the ranks' median %.4g s (+%.0f%% ± %.0f%%); at the "
        "median the job would have taken %.4g s, not %.4g s\n",
        s.rank, s.worker_id, s.rank_seconds, s.median_rank_seconds, 100 * s.excess, 100 * s.excess_standard_error,
        s.job_seconds_at_median, s.job_seconds);
  }
  if (result.attempts() > 1) {
    out << absl::StrFormat("# placed %d times: a worker was lost or left, and the job ran again from the start\n",
                           result.attempts());
  }
  out << absl::StrFormat("# %s\n", ResultPassed(result) ? "OK: every result checked" : "FAILED: wrong results above");
}

void PrintIterations(const v1::JobResult& result, Format format, std::ostream& out) {
  struct Timed {
    const v1::RankResult* rank;
    std::string kind, item;
    const google::protobuf::RepeatedField<double>* seconds;
  };
  std::vector<Timed> timed;
  for (const auto& rank : result.ranks()) {
    for (const auto& g : rank.gemm()) {
      timed.push_back({&rank, "gemm", absl::StrCat(g.shape().name(), " ", workload::DTypeName(g.dtype())),
                       &g.iteration_seconds()});
    }
    for (const auto& c : rank.collective()) {
      timed.push_back({&rank, "collective",
                       absl::StrCat(workload::CollectiveOpName(c.op()), " ", c.size_bytes(), " B ",
                                    workload::DTypeName(c.dtype())),
                       &c.iteration_seconds()});
    }
    if (rank.has_train_step()) timed.push_back({&rank, "train_step", "step", &rank.train_step().iteration_seconds()});
  }
  if (format == Format::kTable) {
    out << absl::StrFormat("# every timed iteration of job %s (%s v%d, %d ranks); training steps at full depth\n",
                           result.job_id(), result.spec().name(), result.spec().version(), result.world_size());
    out << absl::StrFormat("# %4s %-24s %-10s %-32s %9s %14s\n", "rank", "worker", "kind", "item", "iteration",
                           "time (us)");
    for (const Timed& t : timed) {
      for (int i = 0; i < t.seconds->size(); ++i) {
        out << absl::StrFormat("  %4d %-24s %-10s %-32s %9d %14s\n", t.rank->rank(), t.rank->worker_id(), t.kind,
                               t.item, i, Micros((*t.seconds)[i]));
      }
    }
    return;
  }
  std::vector<Row> rows;
  for (const Timed& t : timed) {
    for (int i = 0; i < t.seconds->size(); ++i) {
      Row row;
      row.Add("job_id", result.job_id())
          .Add("rank", static_cast<double>(t.rank->rank()))
          .Add("worker_id", t.rank->worker_id())
          .Add("kind", t.kind)
          .Add("item", t.item)
          .Add("iteration", static_cast<double>(i))
          .Add("seconds", (*t.seconds)[i]);
      rows.push_back(std::move(row));
    }
  }
  WriteRows(rows, format, out);
}

void PrintResultSummaries(const std::vector<v1::JobResult>& results, Format format, std::ostream& out) {
  if (format != Format::kTable) {
    std::vector<Row> rows;
    for (const auto& r : results) rows.push_back(SummaryRow(r));
    if (format == Format::kCsv) {
      // Keep one column set: the union is awkward in CSV, so give the common ones.
      for (auto& row : rows) row.fields.resize(std::min<size_t>(row.fields.size(), 9));
    }
    WriteRows(rows, format, out);
    return;
  }
  out << absl::StrFormat("# %-32s %-20s %-24s %-22s %5s %-30s %s\n", "job", "finished (UTC)", "workload", "setup",
                         "ranks", "device", "headline");
  for (const auto& r : results) {
    std::string headline;
    if (r.has_train_step()) {
      headline = absl::StrFormat("%.4g tokens/s, MFU %.2f%%, $%.4g/1M tokens", r.train_step().tokens_per_second(),
                                 100 * r.train_step().mfu(), r.train_step().cost_per_million_tokens_dollars());
    } else if (r.gemm_size() > 0) {
      headline = absl::StrFormat("MAMF %.4f TFLOP/s", r.mamf_tflops());
    } else if (r.collective_size() > 0) {
      double best = 0;
      for (const auto& c : r.collective()) best = std::max(best, c.busbw_gbps());
      headline = absl::StrFormat("max busbw %.3f GB/s", best);
    } else if (r.has_health()) {
      headline = HealthHeadline(r.health());
    }
    if (!ResultPassed(r)) headline += " [FAILED checks]";
    out << absl::StrFormat("  %-32s %-20s %-24s %-22s %5d %-30s %s\n", r.job_id(), IsoTime(r.finished_at()),
                           absl::StrCat(r.spec().name(), " v", r.spec().version()), r.setup(), r.world_size(),
                           r.device_model().substr(0, 30), headline);
  }
}

void PrintStatus(const std::vector<v1::WorkerStatus>& workers, const std::vector<v1::JobStatus>& jobs, Format format,
                 std::ostream& out) {
  if (format != Format::kTable) {
    std::vector<Row> rows;
    for (const auto& w : workers) {
      Row row;
      row.Add("kind", std::string("worker"))
          .Add("worker_id", w.worker_id())
          .Add("state", v1::WorkerState_Name(w.state()))
          .Add("hostname", w.inventory().hostname())
          .Add("pid", static_cast<double>(w.inventory().pid()))
          .Add("address", w.inventory().collective_host())
          .Add("interconnect", w.inventory().interconnect())
          .Add("backend", w.inventory().backend())
          .Add("devices", static_cast<double>(w.inventory().devices_size()))
          .Add("device_model", w.inventory().devices_size() ? w.inventory().devices(0).model() : "")
          .Add("setup", w.inventory().setup())
          .Add("heartbeat_age_seconds", w.heartbeat_age_seconds())
          .Add("job_id", w.job_id());
      rows.push_back(std::move(row));
    }
    WriteRows(rows, format, out);
    rows.clear();
    for (const auto& j : jobs) {
      Row row;
      row.Add("kind", std::string("job"))
          .Add("job_id", j.job_id())
          .Add("state", v1::JobState_Name(j.state()))
          .Add("workload", j.spec().name())
          .Add("ranks", static_cast<double>(j.ranks()))
          .Add("setup", j.setup())
          .Add("submitted_at", IsoTime(j.submitted_at()))
          .Add("error", j.error())
          .Add("waiting_for", j.waiting_for());
      rows.push_back(std::move(row));
    }
    WriteRows(rows, format, out);
    return;
  }
  out << absl::StrFormat("# %d workers\n", workers.size());
  out << absl::StrFormat("# %-28s %-12s %-16s %-7s %7s %-32s %-18s %9s %s\n", "worker", "state", "host", "backend",
                         "devices", "device", "setup", "hb age(s)", "job");
  for (const auto& w : workers) {
    out << absl::StrFormat("  %-28s %-12s %-16s %-7s %7d %-32s %-18s %9.2f %s\n", w.worker_id(),
                           v1::WorkerState_Name(w.state()), w.inventory().hostname(), w.inventory().backend(),
                           w.inventory().devices_size(),
                           w.inventory().devices_size() ? w.inventory().devices(0).model().substr(0, 32) : "",
                           w.inventory().setup(), w.heartbeat_age_seconds(), w.job_id());
  }
  out << absl::StrFormat("# %d jobs (newest first)\n", jobs.size());
  out << absl::StrFormat("# %-32s %-14s %-24s %5s %-18s %-20s %s\n", "job", "state", "workload", "ranks", "setup",
                         "submitted (UTC)", "error / waiting for");
  for (const auto& j : jobs) {
    const std::string setup = !j.setup().empty() ? j.setup() : j.span_setups() ? "(spanning)" : "(any one)";
    out << absl::StrFormat("  %-32s %-14s %-24s %5d %-18s %-20s %s\n", j.job_id(), v1::JobState_Name(j.state()),
                           j.spec().name(), j.ranks(), setup, IsoTime(j.submitted_at()),
                           j.error().empty() ? j.waiting_for() : j.error());
  }
}

}  // namespace tokenmeter::cli
