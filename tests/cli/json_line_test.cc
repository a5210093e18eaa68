// JsonLine: `schema` first, then the keys in the order added, every value
// written so that a JSON reader gets back exactly what was put in (strings
// with quotes, backslashes, control characters and non-ASCII text; numbers
// large, small and fractional; booleans; nested records without a schema).
#include "cli/json_line.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli/output.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tokenmeter/v1/inventory.pb.h"

namespace tokenmeter::cli {
namespace {

google::protobuf::Struct Parse(const std::string& line) {
  google::protobuf::Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &s);
  EXPECT_TRUE(status.ok()) << status << ": " << line;
  return s;
}

TEST(JsonLine, SchemaFirstThenTheOrderAdded) {
  JsonLine line;
  line.Add("zeta", 1).Add("alpha", std::string("a")).Add("mid", true);
  EXPECT_EQ(line.str(), "{\"schema\":" + std::to_string(kJsonSchema) + ",\"zeta\":1,\"alpha\":\"a\",\"mid\":true}");
}

TEST(JsonLine, StringsComeBackAsWritten) {
  const std::vector<std::string> strings = {
      "plain", "with \"quotes\"", "back\\slash", "new\nline\ttab", std::string("nul\0byte", 8), "\x01\x1f",
      "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x9a\x80", "</script>", "",
  };
  for (const std::string& s : strings) {
    JsonLine line;
    line.Add("s", s);
    const std::string text = line.str();
    EXPECT_EQ(text.find('\n'), std::string::npos) << "one line: " << text;
    EXPECT_EQ(Parse(text).fields().at("s").string_value(), s) << text;
  }
  // Keys are escaped the same way.
  JsonLine key;
  key.Add("odd \"key\"", 1);
  EXPECT_EQ(Parse(key.str()).fields().count("odd \"key\""), 1u) << key.str();
}

TEST(JsonLine, NumbersComeBackExactly) {
  for (double v : {0.0, -1.5, 1e-300, 0.21924044481874497, 2.8115219251e11, 4.1610524491776e24, 1.979e15}) {
    JsonLine line;
    line.Add("v", v);
    EXPECT_EQ(Parse(line.str()).fields().at("v").number_value(), v) << line.str();
  }
  JsonLine ints;
  ints.Add("i", 14800000000000).Add("n", static_cast<int64_t>(671026404352));
  EXPECT_EQ(ints.str(), "{\"schema\":" + std::to_string(kJsonSchema) + ",\"i\":14800000000000,\"n\":671026404352}");
}

TEST(JsonLine, NestedRecordsKeepTheirOrderAndDropTheSchema) {
  JsonLine a, b;
  a.Add("dtype", "bf16").Add("implied_mfu", 0.5);
  b.Add("dtype", "fp16").Add("implied_mfu", 0.25);
  JsonLine line;
  line.Add("readings", std::vector<JsonLine>{a, b}).Add("after", false).Add("none", std::vector<JsonLine>{});
  EXPECT_EQ(line.str(), "{\"schema\":" + std::to_string(kJsonSchema) +
                            ",\"readings\":[{\"dtype\":\"bf16\",\"implied_mfu\":0.5},"
                            "{\"dtype\":\"fp16\",\"implied_mfu\":0.25}],\"after\":false,\"none\":[]}");
  Parse(line.str());
}


// A message read back from its own canonical line prints the same line,
// maps included, whatever order their entries were inserted in.
TEST(CanonicalJson, TheSameContentPrintsTheSameLine) {
  tokenmeter::v1::WorkerInventory a, b;
  for (const char* k : {"openblas", "gloo", "cuda", "nccl", "tokenmeter", "driver"}) (*a.mutable_software_versions())[k] = k;
  for (const char* k : {"driver", "tokenmeter", "nccl", "cuda", "gloo", "openblas"}) (*b.mutable_software_versions())[k] = k;
  a.set_hostname("h");
  b.set_hostname("h");
  const std::string line = CanonicalJson(a);
  EXPECT_EQ(CanonicalJson(b), line);
  EXPECT_NE(line.find("\"software_versions\":{\"cuda\":\"cuda\",\"driver\""), std::string::npos) << line;
  tokenmeter::v1::WorkerInventory back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &back).ok());
  EXPECT_EQ(CanonicalJson(back), line);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace tokenmeter::cli
