// export and import between two real store files: runs stored by one
// cluster merge into another's store, field for field, once.
#include <fstream>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/json_lines.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::testing {
namespace {

using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(ExportImport, AStoreRoundTripsThroughAFreshOneAndASecondImportAddsNothing) {
  TempDir dir;
  const std::string a = dir.File("a.db"), b = dir.File("b.db");
  auto run = RunTokenmeter({"run", "--local", "--workers", "2", "--workload", "gemm", "--workload",
                            "collective/all-reduce", "--iterations", "2", "--warmup", "1", "--max-bytes", "64K",
                            "--store", a},
                           dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;

  auto exported = RunTokenmeter({"export", "--store", a}, dir.path());
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const std::vector<std::string> lines = absl::StrSplit(exported.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << exported.out;
  for (const auto& row : ParseJsonLines(exported.out)) {
    EXPECT_EQ(row.fields().at("schema").number_value(), 1);
    EXPECT_EQ(Str(row, "kind"), "job");
    // The whole result travels: spec, inventories, every rank's iterations.
    const auto& result = row.fields().at("job").struct_value().fields().at("result").struct_value().fields();
    EXPECT_TRUE(result.count("spec") && result.count("inventory") && result.count("ranks"));
  }
  const std::string file = dir.File("a.jsonl");
  Write(file, exported.out);

  auto imported = RunTokenmeter({"import", "--store", b, file}, dir.path());
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_THAT(imported.out, HasSubstr("imported 2 jobs into"));
  EXPECT_THAT(imported.out, HasSubstr("; 0 already there"));

  auto again_out = RunTokenmeter({"export", "--store", b}, dir.path());
  ASSERT_EQ(again_out.exit_code, 0) << again_out.err;
  EXPECT_EQ(again_out.out, exported.out);  // identical lines
  EXPECT_EQ(RunTokenmeter({"results", "--store", b, "--json"}, dir.path()).out,
            RunTokenmeter({"results", "--store", a, "--json"}, dir.path()).out);

  const std::string before = ReadFile(b);
  auto twice = RunTokenmeter({"import", "--store", b, file}, dir.path());
  ASSERT_EQ(twice.exit_code, 0) << twice.err;
  EXPECT_THAT(twice.out, HasSubstr("imported 0 jobs into"));
  EXPECT_THAT(twice.out, HasSubstr("; 2 already there"));
  EXPECT_EQ(ReadFile(b), before);

  // Standard input works as a file does.
  auto piped = RunCommand({"/bin/sh", "-c", std::string(TOKENMETER_BINARY) + " import --store " + b + " - < " + file},
                          dir.path());
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_THAT(piped.out, HasSubstr("; 2 already there"));
}

// A file that does not belong is refused whole, naming the line or the job,
// and the store keeps exactly what it had.
TEST(ExportImport, ABadFileIsRefusedAndTheStoreIsUnchanged) {
  TempDir dir;
  const std::string a = dir.File("a.db"), b = dir.File("b.db");
  auto run = RunTokenmeter({"run", "--local", "--workers", "1", "--workload", "gemm", "--iterations", "2",
                            "--warmup", "1", "--store", a},
                           dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string good = RunTokenmeter({"export", "--store", a}, dir.path()).out;
  ASSERT_THAT(good, HasSubstr("\"mamf_tflops\":"));
  Write(dir.File("good.jsonl"), good);
  ASSERT_EQ(RunTokenmeter({"import", "--store", b, dir.File("good.jsonl")}, dir.path()).exit_code, 0);
  const std::string before = ReadFile(b);

  auto refused = [&](const std::string& name, const std::string& text, const std::string& says) {
    Write(dir.File(name), text);
    auto r = RunTokenmeter({"import", "--store", b, dir.File(name)}, dir.path());
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_THAT(r.err, HasSubstr(says)) << name;
    EXPECT_EQ(ReadFile(b), before) << name;
  };
  std::string altered = good;
  altered.replace(altered.find("\"mamf_tflops\":"), 14, "\"mamf_tflops\":1");
  refused("altered.jsonl", altered, "is already stored with other content; nothing was imported");
  refused("unknown.jsonl", "{\"schema\":1,\"kind\":\"job\",\"job\":{},\"extra\":1}\n", "line 1:");
  refused("schema.jsonl", good + "{\"schema\":2,\"kind\":\"job\",\"job\":{\"job_id\":\"x\"}}\n",
          "line 2: schema 2; this tokenmeter reads schema 1");
  refused("running.jsonl", "{\"schema\":1,\"kind\":\"job\",\"job\":{\"job_id\":\"x\",\"state\":\"JOB_RUNNING\"}}\n",
          "job x is JOB_RUNNING: only finished jobs are imported");
  refused("not-json.jsonl", "hello\n", "line 1:");

  auto no_file = RunTokenmeter({"import", "--store", b}, dir.path());
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_THAT(no_file.err, HasSubstr("give the file to import"));
  auto missing = RunTokenmeter({"export", "--store", dir.File("none.db")}, dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--store: no results store at"));
}

}  // namespace
}  // namespace tokenmeter::testing
