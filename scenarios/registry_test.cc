// Checks that the registry lists every built-in program (code and data
// files), that the default suite holds only correct programs, that a
// scenario file is found by its path, and that bad configuration is
// refused with one line naming the problem.
#include "scenarios/registry.h"

#include "scenarios/orders/order_variant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace fsim::scenarios {
namespace {

TEST(RegistryTest, ListsProgramsSortedWithDescriptions) {
  const auto& all = Scenarios();
  ASSERT_GE(all.size(), 11u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].name, all[i].name);
  for (const auto& s : all) EXPECT_FALSE(s.description.empty()) << s.name;
  EXPECT_NE(FindScenario("abba"), nullptr);
  EXPECT_EQ(FindScenario("nope"), nullptr);
}

TEST(RegistryTest, DefaultSuiteIsTheCorrectPrograms) {
  // The suite is what the registry marks, sorted, with no duplicates (a
  // scenario file added the README's way joins it; no list here).
  auto suite = DefaultSuite();
  ASSERT_FALSE(suite.empty());
  EXPECT_TRUE(std::is_sorted(suite.begin(), suite.end()));
  EXPECT_EQ(std::adjacent_find(suite.begin(), suite.end()), suite.end());
  for (const std::string& name : suite) {
    const Scenario* s = FindScenario(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_TRUE(s->default_suite) << name;
  }
  for (const Scenario& s : Scenarios()) {
    EXPECT_EQ(s.default_suite, std::count(suite.begin(), suite.end(), s.name) == 1) << s.name;
  }
  // Under an order, the suite leaves out exactly the scenarios whose
  // suite_orders do not name it; with no order, the default (legacy).
  std::vector<std::string> orders = {""};  // "": the default order
  for (const OrderVariant& v : OrderVariants()) orders.push_back(v.name);
  for (const std::string& order : orders) {
    const std::vector<std::string> under = DefaultSuiteFor(order);
    for (const std::string& name : suite) {
      const Scenario* s = FindScenario(name);
      const std::string effective = order.empty() ? "legacy" : order;
      const bool in = s->suite_orders.empty() ||
                      std::count(s->suite_orders.begin(), s->suite_orders.end(), effective) == 1;
      EXPECT_EQ(std::count(under.begin(), under.end(), name), in ? 1 : 0) << name << " " << order;
    }
    EXPECT_LE(under.size(), suite.size());
  }
  // Every member is a scenario that expects no finding; their buggy twins
  // are not members.
  for (const char* buggy : {"abba", "disk_no_flush", "mem_reclaim_inversion"}) {
    EXPECT_EQ(std::count(suite.begin(), suite.end(), buggy), 0) << buggy;
  }
}

TEST(RegistryTest, BadConfigurationIsRefusedWithOneLine) {
  std::string error;
  EXPECT_FALSE(MakeTarget("nope", {}, &error));
  EXPECT_EQ(error, "unknown scenario 'nope' (see 'fsim list')");
  EXPECT_FALSE(MakeTarget("abba", {{"colour", "red"}}, &error));
  EXPECT_EQ(error, "config key 'colour' is not known to scenario 'abba'");
  EXPECT_FALSE(MakeTarget("philosophers", {{"count", "99"}}, &error));
  EXPECT_EQ(error, "config count=99: out of range [2, 16]");
  EXPECT_FALSE(MakeTarget("abba", {{"stack_kib", "lots"}}, &error));
  EXPECT_EQ(error, "config stack_kib=lots: not a number");
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

// A scenario file is found by its path, takes the fs keys, and is kept
// once loaded; a built-in's name never reads a file.
TEST(RegistryTest, AScenarioFileIsFoundByItsPath) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = std::string(tmp ? tmp : "/tmp") + "/mine.json";
  std::ofstream(path) << R"({"name": "mine", "description": "one writer",
      "fibers": [{"name": "w", "ops": [{"op": "write", "offset": 0, "length": 10}]}]})";
  const Scenario* s = FindScenario(path);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "mine");
  EXPECT_EQ(s->source, path);
  EXPECT_TRUE(AcceptsKey(*s, "order"));
  EXPECT_EQ(FindScenario(path), s);
  EXPECT_EQ(FindScenario("mine"), nullptr);
  std::string error;
  auto t = MakeTarget(path, {{"order", "rfc"}}, &error);
  ASSERT_TRUE(t.has_value()) << error;
  EXPECT_EQ(t->scenario, "mine");
  EXPECT_EQ(t->scenario_json, s->json);
}

TEST(RegistryTest, ConfigShapesTheTarget) {
  std::string error;
  auto t = MakeTarget("philosophers", {{"count", "5"}, {"stack_kib", "128"}}, &error);
  ASSERT_TRUE(t.has_value()) << error;
  EXPECT_EQ(t->run_options.stack_size, 128u * 1024);
  EXPECT_EQ(t->config.at("count"), "5");
  EXPECT_NE(t->scenario_json.find("\"philosophers\""), std::string::npos);
}

}  // namespace
}  // namespace fsim::scenarios
