// Checks that a trace survives a write/read round trip field for field,
// and that every kind of bad trace is refused with one line naming the
// file and the problem (including a trace from another format version).
#include "model/trace.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace fsim::model {
namespace {

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name;
}

Trace Sample() {
  Trace t;
  t.scenario = "abba";
  t.scenario_json = R"({"builtin":true,"name":"abba"})";
  t.config = {{"order", "rfc"}};
  t.strategy = {"dfs", 3, 1};
  t.seed = 18446744073709551615ull;
  t.run = 7;
  t.digest = 0x0123456789abcdefull;
  t.steps = 12;
  t.virtual_ns = 1000;
  t.decisions = {{sim::DecisionKind::kFiber, 2, 1}, {sim::DecisionKind::kValue, 7, 6}};
  sim::Finding f;
  f.kind = sim::FindingKind::kDeadlock;
  f.signature = "deadlock:T1>mutex:B,T2>mutex:A";
  f.report = "deadlock: 2 fiber(s) blocked\n  more";
  t.finding = f;
  return t;
}

TEST(TraceTest, RoundTrip) {
  std::string path = TempPath("round.trace.json");
  ASSERT_EQ(WriteTrace(path, Sample()), "");
  std::string error;
  auto t = ReadTrace(path, &error);
  ASSERT_TRUE(t.has_value()) << error;
  Trace s = Sample();
  EXPECT_EQ(t->scenario, s.scenario);
  EXPECT_EQ(t->scenario_json, s.scenario_json);
  EXPECT_EQ(t->config, s.config);
  EXPECT_EQ(t->strategy.name, "dfs");
  EXPECT_EQ(t->strategy.preemptions, 1);
  EXPECT_EQ(t->seed, s.seed);
  EXPECT_EQ(t->run, s.run);
  EXPECT_EQ(t->digest, s.digest);
  EXPECT_EQ(t->decisions, s.decisions);
  ASSERT_TRUE(t->finding.has_value());
  EXPECT_EQ(t->finding->signature, s.finding->signature);
  EXPECT_EQ(t->finding->report, s.finding->report);
  EXPECT_FALSE(std::ifstream(path + ".tmp").good());  // renamed into place
}

std::string ErrorFor(const std::string& name, const std::string& content) {
  std::string path = TempPath(name);
  std::ofstream(path) << content;
  std::string error;
  EXPECT_FALSE(ReadTrace(path, &error).has_value());
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_EQ(error.rfind(path, 0), 0u) << "error must start with the file: " << error;
  return error.substr(path.size());
}

TEST(TraceTest, BadTracesAreRefusedWithOneLine) {
  std::string error;
  EXPECT_FALSE(ReadTrace(TempPath("missing.json"), &error));
  EXPECT_EQ(error, TempPath("missing.json") + ": cannot open file");
  EXPECT_EQ(ErrorFor("a.json", "{not json"), ": not valid JSON");
  EXPECT_EQ(ErrorFor("b.json", R"({"format":"other"})"),
            ": not an fsim trace (no \"format\": \"fsim-trace\")");
  EXPECT_EQ(ErrorFor("c.json", R"({"format":"fsim-trace","version":99})"),
            ": trace format version 99 is not supported (this fsim reads trace format version 1)");
  EXPECT_EQ(ErrorFor("c2.json", R"({"format":"fsim-trace","version":"1"})"),
            ": trace format version \"1\" is not supported (this fsim reads trace format version 1)");
  EXPECT_EQ(ErrorFor("c3.json", R"({"format":"fsim-trace"})"),
            ": trace has no \"version\" (this fsim reads trace format version 1)");
  EXPECT_EQ(ErrorFor("d.json", R"({"format":"fsim-trace","version":1})"),
            ": missing field 'scenario'");
  // A decision that is not [kind, n, value].
  std::string path = TempPath("e.json");
  ASSERT_EQ(WriteTrace(path, Sample()), "");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  size_t at = text.find("\"decisions\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 11, "\"decisions\": [[0, 1, 0]], \"ignored\"");
  EXPECT_EQ(ErrorFor("e2.json", text), ": decisions[0] must be [kind 0|1, n >= 2, value]");
}

}  // namespace
}  // namespace fsim::model
