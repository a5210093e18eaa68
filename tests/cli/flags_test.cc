// The command-line parser: values, switches, numbers in plain and scientific
// forms, and errors that name the flag and the bound.
#include "cli/flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenmeter::cli {
namespace {

using ::testing::HasSubstr;

FlagSet Flags() {
  FlagSet f("test", "[flags]");
  f.Value("ranks", "N", "ranks", "2");
  f.Value("name", "NAME", "a name");
  f.Value("workload", "NAME", "repeatable");
  f.Switch("json", "json output");
  return f;
}

TEST(Flags, ValuesSwitchesAndFallbacks) {
  auto f = Flags();
  ASSERT_TRUE(f.Parse({"--name", "x", "--json", "--workload=a", "--workload", "b"}).ok());
  EXPECT_EQ(*f.Get("name"), "x");
  EXPECT_TRUE(f.GetSwitch("json"));
  EXPECT_EQ(*f.Get("ranks"), "2");  // fallback
  EXPECT_FALSE(f.Has("ranks"));
  EXPECT_EQ(f.GetAll("workload"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*f.GetInt("ranks", 1, 8), 2);
}

TEST(Flags, ErrorsNameTheFlag) {
  auto f = Flags();
  EXPECT_THAT(f.Parse({"--nope"}).message(), HasSubstr("--nope"));
  auto g = Flags();
  EXPECT_THAT(g.Parse({"--name"}).message(), HasSubstr("--name needs a value"));
  auto h = Flags();
  EXPECT_THAT(h.Parse({"stray"}).message(), HasSubstr("stray"));
  auto i = Flags();
  ASSERT_TRUE(i.Parse({"--ranks", "0"}).ok());
  auto r = i.GetInt("ranks", 1, 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("--ranks must be an integer in [1, 4096], got '0'"));
  EXPECT_THAT(Flags().Require("name").status().message(), HasSubstr("--name is required"));
}

// One positional argument where the command declares it ("-" included);
// a second, or one where none is declared, is an error.
TEST(Flags, OnePositionalWhereDeclared) {
  auto none = Flags();
  EXPECT_THAT(none.Parse({"file.jsonl"}).message(), HasSubstr("unexpected argument 'file.jsonl'"));
  auto f = Flags();
  f.Positional("FILE", "the input");
  ASSERT_TRUE(f.Parse({"--name", "x", "-"}).ok());
  EXPECT_EQ(f.positional(), "-");
  EXPECT_EQ(*f.Get("name"), "x");
  auto two = Flags();
  two.Positional("FILE", "the input");
  EXPECT_THAT(two.Parse({"a", "b"}).message(), HasSubstr("unexpected argument 'b'"));
  EXPECT_THAT(two.Help(), HasSubstr("FILE"));
}

TEST(Flags, HelpListsEveryFlag) {
  auto f = Flags();
  ASSERT_TRUE(f.Parse({"--help"}).ok());
  EXPECT_TRUE(f.help_requested());
  for (const char* name : {"--ranks", "--name", "--workload", "--json", "--help"}) {
    EXPECT_THAT(f.Help(), HasSubstr(name));
  }
  EXPECT_THAT(f.Help(), HasSubstr("(default: 2)"));
}

TEST(Numbers, PlainAndScientificForms) {
  EXPECT_DOUBLE_EQ(*ParseDouble("14.8e12", "--tokens", 0, 1e20), 14.8e12);
  EXPECT_DOUBLE_EQ(*ParseDouble("2.664e6", "--device-hours", 0, 1e20), 2.664e6);
  EXPECT_EQ(*ParseInt("1e3", "--n", 0, 10000), 1000);
  EXPECT_FALSE(ParseInt("1.5", "--n", 0, 10).ok());
  EXPECT_FALSE(ParseInt("ten", "--n", 0, 10).ok());
  EXPECT_FALSE(ParseDouble("nan", "--x", 0, 10).ok());
  EXPECT_FALSE(ParseDouble("1e400", "--x", 0, 1e300).ok());
  EXPECT_THAT(ParseDouble("-1", "--price", 0, 100).status().message(), HasSubstr("--price must be in [0, 100]"));
}

TEST(Numbers, ByteSizesWithBinarySuffixes) {
  EXPECT_EQ(*ParseBytes("8", "--b", 1, int64_t{1} << 40), 8);
  EXPECT_EQ(*ParseBytes("64K", "--b", 1, int64_t{1} << 40), 64 * 1024);
  EXPECT_EQ(*ParseBytes("8G", "--b", 1, int64_t{1} << 40), int64_t{8} << 30);
  EXPECT_EQ(*ParseBytes("1.5M", "--b", 1, int64_t{1} << 40), 3 << 19);
  EXPECT_FALSE(ParseBytes("-1M", "--b", 1, int64_t{1} << 40).ok());
  EXPECT_FALSE(ParseBytes("0", "--b", 1, int64_t{1} << 40).ok());
}

}  // namespace
}  // namespace tokenmeter::cli
