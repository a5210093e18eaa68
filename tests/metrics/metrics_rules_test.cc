// Static checks of deploy/prometheus and dashboards/: promtool accepts the
// scrape config and the rules, the rules' unit tests pass (each alert fires
// where it should and stays quiet where it should not), and every dashboard
// is provisionable: a `datasource` variable of type datasource, no
// `__inputs`, every panel and query on `${datasource}`.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/metrics/metrics_test_support.h"
#include "tests/support/subprocess.h"

namespace tokenmeter::metrics_test {
namespace {

using ::tokenmeter::testing::FindExecutable;
using ::tokenmeter::testing::Result;
using ::tokenmeter::testing::RunCommand;
using ::tokenmeter::testing::TempDir;
using ::tokenmeter::testing::WriteFile;

// What a command wrote, stdout then stderr.
std::string Output(const Result& r) { return r.out + r.err; }

const std::string kSource = TOKENMETER_SOURCE_DIR;

class PromtoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    promtool_ = FindExecutable("promtool");
    if (promtool_.empty()) GTEST_SKIP() << "promtool is not installed (Debian: apt-get install prometheus)";
  }
  Result Promtool(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {promtool_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, dir_.path(), seconds(60));
  }
  std::string promtool_;
  TempDir dir_;
};

TEST_F(PromtoolTest, ChecksRules) {
  auto r = Promtool({"check", "rules", kSource + "/deploy/prometheus/tokenmeter.rules.yml"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_NE(Output(r).find("SUCCESS"), std::string::npos) << Output(r);
}

TEST_F(PromtoolTest, RuleUnitTestsPass) {
  auto r = Promtool({"test", "rules", kSource + "/deploy/prometheus/tests/tokenmeter.rules.test.yml"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
}

TEST_F(PromtoolTest, ChecksScrapeConfig) {
  auto r = Promtool({"check", "config", kSource + "/deploy/prometheus/prometheus.yml"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(Output(r).find("WARNING"), std::string::npos) << Output(r);
}

// A broken rule must be caught: the check is not a rubber stamp.
TEST_F(PromtoolTest, RejectsABrokenRule) {
  WriteFile(dir_.File("bad.rules.yml"),
            "groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: tokenmeter_workers{state=\"lost\" > 0\n");
  auto r = Promtool({"check", "rules", dir_.File("bad.rules.yml")});
  EXPECT_NE(r.exit_code, 0) << Output(r);
}

TEST(DashboardsTest, AreProvisionable) {
  std::vector<std::string> errors;
  auto dashboards = LoadDashboards(kSource + "/dashboards", &errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  ASSERT_GE(dashboards.size(), 4u) << "expected fleet overview, cost comparison, collectives and GEMM dashboards";
  std::set<std::string> uids;
  for (const auto& d : dashboards) {
    SCOPED_TRACE(d.file);
    EXPECT_EQ(Field(d.json, "__inputs"), nullptr) << "__inputs breaks file provisioning; use a datasource variable";
    const std::string uid = StringField(d.json, "uid");
    EXPECT_FALSE(uid.empty());
    EXPECT_TRUE(uids.insert(uid).second) << "duplicate uid " << uid;
    EXPECT_FALSE(StringField(d.json, "title").empty());

    bool has_datasource_variable = false;
    for (const auto* v : Variables(d)) {
      const std::string name = StringField(*v, "name");
      if (name == "datasource") {
        has_datasource_variable = true;
        EXPECT_EQ(StringField(*v, "type"), "datasource");
        EXPECT_EQ(StringField(*v, "query"), "prometheus");
      } else if (StringField(*v, "type") == "query") {
        EXPECT_FALSE(StringField(*v, "allValue").empty()) << "variable " << name << " needs an allValue";
        const auto* ds = Field(*v, "datasource");
        EXPECT_TRUE(ds != nullptr && StringField(*ds, "uid") == "${datasource}") << "variable " << name;
        EXPECT_TRUE(LabelValuesAsQuery(StringField(*v, "query")).has_value())
            << "variable " << name << ": expected label_values(metric, label)";
      }
    }
    EXPECT_TRUE(has_datasource_variable);

    int queries = 0;
    for (const auto* p : Panels(d)) {
      if (StringField(*p, "type") == "row") continue;
      const std::string title = StringField(*p, "title");
      EXPECT_FALSE(title.empty());
      const auto* ds = Field(*p, "datasource");
      EXPECT_TRUE(ds != nullptr && StringField(*ds, "uid") == "${datasource}") << "panel " << title;
      const auto* targets = Field(*p, "targets");
      ASSERT_TRUE(targets != nullptr && targets->list_value().values_size() > 0) << "panel " << title;
      for (const auto& t : targets->list_value().values()) {
        const auto* tds = Field(t, "datasource");
        EXPECT_TRUE(tds != nullptr && StringField(*tds, "uid") == "${datasource}") << "panel " << title;
        EXPECT_FALSE(StringField(t, "expr").empty()) << "panel " << title;
        ++queries;
      }
    }
    EXPECT_GT(queries, 0);
  }
}

TEST(DashboardsTest, SubstitutionResolvesEveryVariable) {
  std::vector<std::string> errors;
  for (const auto& d : LoadDashboards(kSource + "/dashboards", &errors)) {
    for (const auto& q : PanelQueries(d)) {
      std::string unresolved;
      Substitute(d, q.expr, &unresolved);
      EXPECT_TRUE(unresolved.empty()) << q.Name() << ": cannot resolve " << unresolved;
    }
  }
}

}  // namespace
}  // namespace tokenmeter::metrics_test
