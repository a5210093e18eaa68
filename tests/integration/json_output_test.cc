// The CLI's JSON Lines as a script reads them: `schema` first, then a fixed
// key order per record type, the same on every run; and the figures of
// `claim` and `workloads` checked by value against formulas written here
// (docs/cost-model.md "Definitions"), not by substrings.
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::ElementsAreArray;
using ::testing::StartsWith;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The top-level keys of one JSON object line, in the order written (values
// here hold no nested objects before the keys looked at, and no `":` inside
// strings).
std::vector<std::string> TopLevelKeys(const std::string& line) {
  std::vector<std::string> keys;
  int depth = 0;
  bool in_string = false;
  std::string current;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        current += line[++i];
      } else if (c == '"') {
        in_string = false;
        if (depth == 1 && i + 1 < line.size() && line[i + 1] == ':') keys.push_back(current);
      } else {
        current += c;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      current.clear();
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return keys;
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
  const double flops = Num(row, "flops_per_token") * 14.8e12;
  EXPECT_DOUBLE_EQ(Num(row, "total_flops"), flops);
  EXPECT_NEAR(Num(row, "implied_mfu"), flops / (2.664e6 * 3600 * 1979e12), 1e-12);
  EXPECT_NEAR(Num(row, "implied_mfu"), 0.2192, 0.0005);  // DeepSeek-V3 against fp8
  const auto& others = row.fields().at("other_dtypes").list_value();
  ASSERT_GE(others.values_size(), 1);
  const auto& bf16 = others.values(0).struct_value();
  EXPECT_EQ(Str(bf16, "dtype"), "bf16");
  EXPECT_DOUBLE_EQ(Num(bf16, "peak_flops_per_device"), 989.5e12);
  EXPECT_NEAR(Num(bf16, "implied_mfu"), flops / (2.664e6 * 3600 * 989.5e12), 1e-12);
  EXPECT_DOUBLE_EQ(Num(row, "implied_cost_dollars"), 2.664e6 * Num(row, "price_per_device_hour"));
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
  // llama3-8b by hand: 32 layers, 32 heads of 128, seq 8192; its attention
  // term 6·L·H·(d_qk + d_v)·s = 6·32·32·256·8192 on top of 6·N.
  for (const auto& row : ParseJsonLines(first.out)) {
    if (Str(row, "workload") != "train-step/llama3-8b") continue;
    EXPECT_DOUBLE_EQ(Num(row, "flops_per_token"), 6 * Num(row, "params_active") + 6.0 * 32 * 32 * 256 * 8192);
    EXPECT_EQ(Num(row, "tokens_per_step_per_data_parallel_rank"), 8192);
    return;
  }
  ADD_FAILURE() << "no train-step/llama3-8b in `workloads --json`";
}

}  // namespace
}  // namespace tokenmeter::testing
