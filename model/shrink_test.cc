// Checks the shrinker on traces that exploration finds in real scenarios:
// the shrunk trace replays strictly (same finding, same digest) and is
// nowhere larger than the original (decisions, preemptions, steps); the
// filesystem trace gets strictly shorter; two shrinks of one trace give
// the same trace; the run budget is honoured; a trace without a finding
// or one that does not reproduce is refused.
#include "model/shrink.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "model/explorer.h"
#include "model/trace.h"
#include "scenarios/registry.h"

namespace fsim::model {
namespace {

Target Make(const std::string& name, const Config& config) {
  std::string error;
  auto target = scenarios::MakeTarget(name, config, &error);
  EXPECT_TRUE(target.has_value()) << error;
  return *target;
}

// The trace of the first finding exploring `target` with `strategy` gives.
Trace Find(const Target& target, const std::string& strategy, uint64_t runs) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  ExploreOptions o;
  o.strategy.name = strategy;
  o.runs = runs;
  o.out_dir = std::string(tmp ? tmp : "/tmp") + "/shrink-test-out";
  ExploreSummary s = Explore({target}, o);
  EXPECT_FALSE(s.findings.empty()) << target.scenario << ": nothing found";
  if (s.findings.empty()) return {};
  std::string error;
  auto trace = ReadTrace(s.findings[0].trace_path, &error);
  EXPECT_TRUE(trace.has_value()) << error;
  return *trace;
}

// The shrunk trace keeps the finding, replays strictly and is no larger.
void ExpectGoodShrink(const Trace& original, const Target& target,
                      const ShrinkResult& r) {
  ASSERT_EQ(r.status, ShrinkStatus::kShrunk);
  ASSERT_TRUE(r.trace.finding.has_value());
  EXPECT_EQ(r.trace.finding->kind, original.finding->kind);
  EXPECT_EQ(r.trace.finding->signature, original.finding->signature);
  Reproduction rep = Reproduce(r.trace, target);
  EXPECT_TRUE(rep.reproduced()) << rep.divergence;
  EXPECT_EQ(r.before.decisions, original.decisions.size());
  EXPECT_EQ(r.before.steps, original.steps);
  EXPECT_EQ(r.after.decisions, r.trace.decisions.size());
  EXPECT_EQ(r.after.steps, r.trace.steps);
  EXPECT_LE(r.after.decisions, r.before.decisions);
  EXPECT_LE(r.after.preemptions, r.before.preemptions);
  EXPECT_LE(r.after.steps, r.before.steps);
  EXPECT_LE(r.after.non_default, r.before.non_default);
  EXPECT_GT(r.runs, 0u);
  EXPECT_LE(r.runs, kShrinkRunsDefault);
}

TEST(ShrinkTest, AbbaDeadlockFoundByPctShrinksAndReplays) {
  Target target = Make("abba", {});
  Trace original = Find(target, "pct", 200);
  ASSERT_TRUE(original.finding.has_value());
  ShrinkResult r = Shrink(original, target, {});
  ExpectGoodShrink(original, target, r);
  // Two fibers deadlock with one preemption at least and at most.
  EXPECT_EQ(r.after.preemptions, 1u);
  EXPECT_FALSE(r.budget_exhausted);
}

TEST(ShrinkTest, FsWritersLockOrderShrinksStrictly) {
  Target target = Make("fs_writers", {{"order", "rfc"},
                                      {"bug", "rfc_writepage_blocking_extent_lock"}});
  Trace original = Find(target, "pct", 100);
  ASSERT_TRUE(original.finding.has_value());
  ShrinkResult r = Shrink(original, target, {});
  ExpectGoodShrink(original, target, r);
  EXPECT_LT(r.after.decisions, r.before.decisions);
}

TEST(ShrinkTest, ShrinkingIsDeterministic) {
  Target target = Make("fs_writers", {{"order", "rfc"},
                                      {"bug", "rfc_writepage_blocking_extent_lock"}});
  Trace original = Find(target, "random", 100);
  ASSERT_TRUE(original.finding.has_value());
  ShrinkResult a = Shrink(original, target, {});
  ShrinkResult b = Shrink(original, target, {});
  ASSERT_EQ(a.status, ShrinkStatus::kShrunk);
  EXPECT_EQ(a.trace.decisions, b.trace.decisions);
  EXPECT_EQ(a.trace.digest, b.trace.digest);
  EXPECT_EQ(a.runs, b.runs);
  ExpectGoodShrink(original, target, a);
}

TEST(ShrinkTest, TheRunBudgetIsHonoured) {
  Target target = Make("fs_writers", {{"order", "rfc"},
                                      {"bug", "rfc_writepage_blocking_extent_lock"}});
  Trace original = Find(target, "pct", 100);
  ASSERT_TRUE(original.finding.has_value());
  for (uint64_t budget : {1u, 5u}) {
    ShrinkResult r = Shrink(original, target, {.max_runs = budget});
    ASSERT_EQ(r.status, ShrinkStatus::kShrunk);
    EXPECT_EQ(r.runs, budget);
    EXPECT_TRUE(r.budget_exhausted);
    EXPECT_TRUE(Reproduce(r.trace, target).reproduced());
  }
  // One run is the original's: nothing can have changed.
  ShrinkResult one = Shrink(original, target, {.max_runs = 1});
  EXPECT_EQ(one.trace.decisions, original.decisions);
  EXPECT_EQ(one.trace.digest, original.digest);
}

TEST(ShrinkTest, ATraceWithoutAFindingIsRefused) {
  Target target = Make("abba", {});
  Trace clean;
  clean.scenario = "abba";
  clean.seed = 1;
  ShrinkResult r = Shrink(clean, target, {});
  EXPECT_EQ(r.status, ShrinkStatus::kNoFinding);
}

TEST(ShrinkTest, ATraceThatDoesNotReproduceIsRefused) {
  Target target = Make("abba", {});
  Trace trace = Find(target, "pct", 200);
  ASSERT_TRUE(trace.finding.has_value());
  trace.digest ^= 1;
  ShrinkResult r = Shrink(trace, target, {});
  EXPECT_EQ(r.status, ShrinkStatus::kNotReproduced);
  EXPECT_NE(r.problem.find("digest"), std::string::npos) << r.problem;
}

}  // namespace
}  // namespace fsim::model
