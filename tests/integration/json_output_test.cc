// The CLI's JSON Lines as a script reads them: `schema` first, then a fixed
// key order per record type, the same on every run; and the figures of
// `claim` and `workloads` checked by value against formulas written here
// (docs/cost-model.md "Definitions"), not by substrings.
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::ElementsAreArray;
using ::testing::StartsWith;

// Each preset's shape as its public configuration gives it (the sources
// workload/models.cc names), written out again here so that the figures below
// come from the shape and the formula, not from the code under test.
struct Shape {
  double layers, hidden, heads, kv_heads, head_dim, ffn, vocab, seq;
  bool gated, tied;
  // MLA (q_lora 0 = queries projected directly); all 0 for plain attention.
  double q_lora = 0, kv_lora = 0, nope = 0, rope = 0, v_head = 0;
  // MoE (experts are gated FFNs); routed 0 for a dense model.
  double routed = 0, shared = 0, top_k = 0, expert_ffn = 0, dense_layers = 0;
};

const std::map<std::string, Shape>& Presets() {
  static const auto* presets = new std::map<std::string, Shape>{
      {"tiny", {2, 256, 4, 2, 64, 768, 8192, 128, true, false}},
      {"tiny-moe", {2, 256, 4, 4, 64, 768, 8192, 128, true, false, 128, 64, 32, 16, 32, 8, 1, 2, 128, 1}},
      {"llama3-8b", {32, 4096, 32, 8, 128, 14336, 128256, 8192, true, false}},
      {"llama3-70b", {80, 8192, 64, 8, 128, 28672, 128256, 8192, true, false}},
      {"gpt3-175b", {96, 12288, 96, 96, 128, 49152, 50257, 2048, false, true}},
      {"deepseek-v3",
       {61, 7168, 128, 128, 56, 18432, 129280, 4096, true, false, 1536, 512, 128, 64, 128, 256, 1, 8, 2048, 3}},
  };
  return *presets;
}

struct Expected {
  double params_total, params_active, flops_per_token;
};

// docs/cost-model.md, "FLOPs per token": N = the weights of every matmul a
// token passes through (attention, the FFN or the router + shared + top-k
// experts, the output head; not the embedding lookup, not norms), and FLOPs
// per token = 6·N + 6·L·H·(d_qk + d_v)·s. The total adds the embedding table
// (unless tied to the head), the routed experts a token skips, and the norm
// weights (two per layer, MLA's two latent norms, the final one).
Expected HandComputed(const Shape& m) {
  const double h = m.hidden;
  double attention, latent_norms = 0, d_qk, d_v;
  if (m.kv_lora > 0) {
    const double q = m.q_lora > 0 ? h * m.q_lora + m.q_lora * m.heads * (m.nope + m.rope)
                                  : h * m.heads * (m.nope + m.rope);
    attention = q + h * (m.kv_lora + m.rope) + m.kv_lora * m.heads * (m.nope + m.v_head) + m.heads * m.v_head * h;
    latent_norms = m.q_lora + m.kv_lora;
    d_qk = m.nope + m.rope;
    d_v = m.v_head;
  } else {
    attention = 2 * h * m.heads * m.head_dim + 2 * h * m.kv_heads * m.head_dim;  // q, o; k, v
    d_qk = d_v = m.head_dim;
  }
  const double dense_ffn = (m.gated ? 3 : 2) * h * m.ffn;
  const double expert = 3 * h * m.expert_ffn;
  const double moe_layers = m.routed > 0 ? m.layers - m.dense_layers : 0;
  const double active = m.layers * attention + (m.layers - moe_layers) * dense_ffn +
                        moe_layers * (h * m.routed + (m.shared + m.top_k) * expert) + m.vocab * h;
  const double total = active + moe_layers * (m.routed - m.top_k) * expert + (m.tied ? 0 : m.vocab * h) +
                       m.layers * (2 * h + latent_norms) + h;
  return {total, active, 6 * active + 6 * m.layers * m.heads * (d_qk + d_v) * m.seq};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

TEST(JsonOutput, ClaimIsInAFixedOrderAndItsFiguresFollowTheDefinition) {
  TempDir dir;
  const std::vector<std::string> args = {"claim", "--model", "deepseek-v3", "--tokens", "14.8e12", "--device-hours",
                                         "2.664e6", "--device", "H800", "--dtype", "fp8", "--json"};
  auto first = RunTokenmeter(args, dir.path());
  auto second = RunTokenmeter(args, dir.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, second.out);  // byte for byte
  const auto lines = Lines(first.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], StartsWith("{\"schema\":1,"));
  EXPECT_THAT(TopLevelKeys(lines[0]),
              ElementsAreArray({"schema", "workload", "device_model", "dtype", "tokens", "device_hours",
                                "params_total", "params_active", "flops_per_token", "total_flops",
                                "peak_flops_per_device", "implied_mfu", "other_dtypes", "price_per_device_hour",
                                "implied_cost_dollars"}));
  const auto row = ParseJsonLines(first.out).at(0);
  EXPECT_EQ(Str(row, "dtype"), "fp8_e4m3");
  // Implied MFU = FLOPs/token × tokens / (device-hours × 3600 × peak), the
  // H800's dense fp8 peak 1979 TFLOP/s; the bf16 reading beside it at 989.5.
  EXPECT_DOUBLE_EQ(Num(row, "peak_flops_per_device"), 1979e12);
  const Expected v3 = HandComputed(Presets().at("deepseek-v3"));
  EXPECT_DOUBLE_EQ(Num(row, "params_total"), v3.params_total);
  EXPECT_DOUBLE_EQ(Num(row, "params_active"), v3.params_active);
  EXPECT_DOUBLE_EQ(Num(row, "flops_per_token"), v3.flops_per_token);
  const double flops = v3.flops_per_token * 14.8e12;
  EXPECT_DOUBLE_EQ(Num(row, "total_flops"), flops);
  EXPECT_NEAR(Num(row, "implied_mfu"), flops / (2.664e6 * 3600 * 1979e12), 1e-12);
  EXPECT_NEAR(Num(row, "implied_mfu"), 0.2192, 0.0005);  // DeepSeek-V3 against fp8
  // The readings beside it, each in one order too: dtype, peak, MFU.
  EXPECT_THAT(lines[0], ContainsRegex(R"("other_dtypes":\[\{"dtype":"bf16","peak_flops_per_device":[0-9.e+]+,)"
                                      R"("implied_mfu":[0-9.e+-]+\},\{"dtype":"fp16",)"));
  const auto& others = row.fields().at("other_dtypes").list_value();
  ASSERT_GE(others.values_size(), 1);
  const auto& bf16 = others.values(0).struct_value();
  EXPECT_EQ(Str(bf16, "dtype"), "bf16");
  EXPECT_DOUBLE_EQ(Num(bf16, "peak_flops_per_device"), 989.5e12);
  EXPECT_NEAR(Num(bf16, "implied_mfu"), flops / (2.664e6 * 3600 * 989.5e12), 1e-12);
  EXPECT_DOUBLE_EQ(Num(row, "implied_cost_dollars"), 2.664e6 * Num(row, "price_per_device_hour"));
}

// The same listing as CSV: a header, a row per workload in the JSON's order,
// the same figures, and cells holding commas quoted.
TEST(JsonOutput, WorkloadsAsCsvMatchTheJson) {
  TempDir dir;
  auto csv = RunTokenmeter({"workloads", "--csv"}, dir.path());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const std::vector<std::string> lines = Lines(csv.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0],
            "workload,version,kind,params_total,params_active,flops_per_token,tokens_per_step_per_data_parallel_rank,"
            "what");
  const auto json = ParseJsonLines(RunTokenmeter({"workloads", "--json"}, dir.path()).out);
  ASSERT_EQ(lines.size(), json.size() + 1);
  for (size_t i = 0; i < json.size(); ++i) {
    const std::string& line = lines[i + 1];
    EXPECT_THAT(line, StartsWith(Str(json[i], "workload") + ","));
    if (json[i].fields().count("flops_per_token")) {
      const std::vector<std::string> cells = absl::StrSplit(line, ',');
      ASSERT_GE(cells.size(), 8u) << line;
      EXPECT_DOUBLE_EQ(std::stod(cells[5]), Num(json[i], "flops_per_token")) << line;
      EXPECT_THAT(line, ::testing::HasSubstr(",\"")) << line;  // "2 layers, seq 128, ..." is quoted
    }
  }
  EXPECT_EQ(RunTokenmeter({"workloads", "--csv", "--plan", "train-step/tiny"}, dir.path()).exit_code, 2);
}

TEST(JsonOutput, WorkloadsAreInAFixedOrderAndTheirFlopsFollowTheDefinition) {
  TempDir dir;
  auto first = RunTokenmeter({"workloads", "--json"}, dir.path());
  auto second = RunTokenmeter({"workloads", "--json"}, dir.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, second.out);
  for (const std::string& line : Lines(first.out)) {
    EXPECT_THAT(line, StartsWith("{\"schema\":1,\"workload\":"));
    const std::vector<std::string> keys = TopLevelKeys(line);
    if (keys.size() > 4) {
      EXPECT_THAT(keys, ElementsAreArray({"schema", "workload", "version", "kind", "params_total", "params_active",
                                          "flops_per_token", "tokens_per_step_per_data_parallel_rank"}));
    } else {
      EXPECT_THAT(keys, ElementsAreArray({"schema", "workload", "version", "kind"}));
    }
  }
  // Every train-step preset's figures against the hand computation, exactly
  // (each term is an integer well below 2^53).
  int presets = 0;
  for (const auto& row : ParseJsonLines(first.out)) {
    const std::string name = Str(row, "workload");
    if (name.rfind("train-step/", 0) != 0) continue;
    ++presets;
    // train-step/<model>/<profile>: both profiles of a preset are the same model.
    const std::string model = name.substr(std::string("train-step/").size(), name.rfind('/') - std::string("train-step/").size());
    const auto shape = Presets().find(model);
    if (shape == Presets().end()) {
      ADD_FAILURE() << name << ": no hand computation for this preset; add its shape to Presets() here";
      continue;
    }
    const Expected want = HandComputed(shape->second);
    EXPECT_DOUBLE_EQ(Num(row, "params_total"), want.params_total) << name;
    EXPECT_DOUBLE_EQ(Num(row, "params_active"), want.params_active) << name;
    EXPECT_DOUBLE_EQ(Num(row, "flops_per_token"), want.flops_per_token) << name;
    if (model == "llama3-8b") {
      EXPECT_EQ(Num(row, "tokens_per_step_per_data_parallel_rank"), 8192);  // micro batch 1 × seq 8192
    }
  }
  EXPECT_EQ(presets, 2 * static_cast<int>(Presets().size()));  // eager and fused of each
  // And the hand computation lands on the published sizes: Llama 3 8B,
  // DeepSeek-V3's 671B total and 36.7B activated (its weights' README).
  EXPECT_NEAR(HandComputed(Presets().at("llama3-8b")).params_total / 8.03e9, 1, 0.01);
  EXPECT_NEAR(HandComputed(Presets().at("deepseek-v3")).params_total / 671e9, 1, 0.01);
  EXPECT_NEAR(HandComputed(Presets().at("deepseek-v3")).params_active / 36.7e9, 1, 0.01);
}

}  // namespace
}  // namespace tokenmeter::testing
