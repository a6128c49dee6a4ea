// Checks that the registry lists every built-in program, that the default
// suite holds only correct programs, and that bad configuration is refused
// with one line naming the problem.
#include "scenarios/registry.h"

#include <gtest/gtest.h>

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
  auto suite = DefaultSuite();
  EXPECT_EQ(suite, (std::vector<std::string>{"abba_fixed", "lost_update_fixed",
                                             "philosophers_fixed", "wait_notify_fixed"}));
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
