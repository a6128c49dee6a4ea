// End-to-end checks of the runtime on the built-in programs: exhaustive
// DFS counts exactly the known interleavings, PCT finds the ABBA deadlock
// quickly, every buggy program is found and its trace replays with the same
// digest, every correct program stays clean, explorations are
// deterministic, and shards partition the runs.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "model/explorer.h"
#include "model/trace.h"
#include "scenarios/registry.h"
#include "sim/sync.h"

namespace fsim::scenarios {
namespace {

model::Target Make(const std::string& name, model::Config config = {}) {
  std::string error;
  auto t = MakeTarget(name, config, &error);
  EXPECT_TRUE(t.has_value()) << error;
  return *t;
}

std::string OutDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/fsim-test-out";
}

// The default suite without the filesystem scenarios: those have spaces
// no unbounded DFS exhausts, and their own test (fs_programs_test).
std::vector<std::string> SuiteWithoutFs() {
  std::vector<std::string> names;
  for (const std::string& n : DefaultSuite()) {
    if (n.rfind("fs_", 0) != 0) names.push_back(n);
  }
  return names;
}

model::ExploreOptions Options(const std::string& strategy, std::optional<uint64_t> runs) {
  model::ExploreOptions o;
  o.strategy.name = strategy;
  o.runs = runs;
  o.out_dir = OutDir();
  return o;
}

TEST(BuiltinProgramsTest, DfsCountsEveryInterleavingOfTwoFibersOfTwoSteps) {
  model::ExploreOptions o = Options("dfs", std::nullopt);
  o.strategy.preemptions = -1;
  model::ExploreSummary s = model::Explore({Make("two_by_two")}, o);
  EXPECT_TRUE(s.targets[0].exhausted);
  EXPECT_EQ(s.runs, 6u);
  EXPECT_TRUE(s.findings.empty());

  o.strategy.preemptions = 0;  // each fiber runs to its end once started
  s = model::Explore({Make("two_by_two")}, o);
  EXPECT_TRUE(s.targets[0].exhausted);
  EXPECT_EQ(s.runs, 2u);
}

TEST(BuiltinProgramsTest, DfsExhaustsCorrectProgramsWithoutFindings) {
  for (const std::string& name : SuiteWithoutFs()) {
    model::ExploreOptions o = Options("dfs", std::nullopt);
    model::ExploreSummary bounded = model::Explore({Make(name)}, o);
    EXPECT_TRUE(bounded.findings.empty()) << name;
    EXPECT_TRUE(bounded.targets[0].exhausted) << name;
    EXPECT_GT(bounded.runs, 1u) << name;
  }
  // abba_fixed: unbounded by default, the whole space; a bound prunes it.
  model::ExploreOptions o = Options("dfs", std::nullopt);
  model::ExploreSummary full = model::Explore({Make("abba_fixed")}, o);
  EXPECT_TRUE(full.findings.empty());
  EXPECT_TRUE(full.targets[0].exhausted);
  EXPECT_EQ(full.runs, 14u);
  o.strategy.preemptions = 1;
  EXPECT_LT(model::Explore({Make("abba_fixed")}, o).runs, full.runs);
}

TEST(BuiltinProgramsTest, LockdepNamesAbbaOnTheFirstScheduleAndPassesItsTwin) {
  // The first DFS schedule runs T1 to its end, then T2: no deadlock, yet
  // lockdep has seen both orders.
  model::ExploreOptions o = Options("dfs", 1);
  model::ExploreSummary s = model::Explore({Make("abba", {{"lockdep", "on"}})}, o);
  ASSERT_EQ(s.runs, 1u);
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_EQ(s.findings[0].finding.kind, sim::FindingKind::kLockOrder);
  EXPECT_EQ(s.findings[0].finding.signature, "lock_order:A->B->A");
  std::string error;
  auto trace = model::ReadTrace(s.findings[0].trace_path, &error);
  ASSERT_TRUE(trace.has_value()) << error;
  EXPECT_EQ(trace->config.at("lockdep"), "on");
  EXPECT_TRUE(model::Reproduce(*trace, Make("abba", {{"lockdep", "on"}})).reproduced());

  for (const std::string& name : SuiteWithoutFs()) {
    model::ExploreOptions all = Options("dfs", std::nullopt);
    all.all = true;
    model::ExploreSummary clean = model::Explore({Make(name, {{"lockdep", "on"}})}, all);
    EXPECT_TRUE(clean.targets[0].exhausted) << name;
    EXPECT_TRUE(clean.findings.empty()) << name << ": " << clean.findings[0].finding.report;
  }
}

TEST(BuiltinProgramsTest, PctFindsAbbaInUnderTenRunsOnAverage) {
  constexpr int kExplorations = 100;
  uint64_t total_runs = 0;
  for (int seed = 1; seed <= kExplorations; ++seed) {
    model::ExploreOptions o = Options("pct", 1000);
    o.seed = seed;
    model::ExploreSummary s = model::Explore({Make("abba")}, o);
    ASSERT_EQ(s.findings.size(), 1u) << "seed " << seed;
    EXPECT_EQ(s.findings[0].finding.kind, sim::FindingKind::kDeadlock);
    total_runs += s.runs;
  }
  double average = double(total_runs) / kExplorations;
  RecordProperty("pct_abba_average_runs", std::to_string(average));
  EXPECT_LT(average, 10.0);
}

TEST(BuiltinProgramsTest, EveryBuggyProgramIsFoundAndItsTraceReplays) {
  const std::map<std::string, sim::FindingKind> bugs = {
      {"abba", sim::FindingKind::kDeadlock},
      {"lost_update", sim::FindingKind::kAssertion},
      {"philosophers", sim::FindingKind::kDeadlock},
      {"wait_notify", sim::FindingKind::kDeadlock},
      {"spin", sim::FindingKind::kLivelock},
      {"stack_overflow", sim::FindingKind::kStackOverflow},
  };
  for (std::string strategy : {"pct", "random", "dfs"}) {
    for (const auto& [name, kind] : bugs) {
      model::Config config;
      if (name == "spin") config["steps_max"] = "2000";
      model::Target target = Make(name, config);
      model::ExploreSummary s = model::Explore(
          {target}, Options(strategy, strategy == "dfs" ? std::nullopt
                                                        : std::optional<uint64_t>(1000)));
      ASSERT_EQ(s.findings.size(), 1u) << name << " under " << strategy;
      EXPECT_EQ(s.findings[0].finding.kind, kind) << name;
      std::string error;
      auto trace = model::ReadTrace(s.findings[0].trace_path, &error);
      ASSERT_TRUE(trace.has_value()) << error;
      EXPECT_EQ(trace->finding->signature, s.findings[0].finding.signature);
      model::Reproduction rep = model::Reproduce(*trace, target);
      EXPECT_TRUE(rep.reproduced()) << name << " under " << strategy << ": "
                                    << rep.divergence;
    }
  }
}

TEST(BuiltinProgramsTest, CorrectProgramsStayCleanUnderPctAndRandom) {
  std::vector<model::Target> targets;
  for (const std::string& name : SuiteWithoutFs()) targets.push_back(Make(name));
  for (std::string strategy : {"pct", "random"}) {
    model::ExploreOptions o = Options(strategy, 2000);
    o.all = true;
    model::ExploreSummary s = model::Explore(targets, o);
    EXPECT_TRUE(s.findings.empty()) << strategy << ": " << s.findings[0].finding.report;
    EXPECT_EQ(s.runs, 2000u * targets.size());
  }
}

TEST(BuiltinProgramsTest, SameSeedSameDigestOtherSeedOtherDigest) {
  std::vector<model::Target> targets = {Make("abba"), Make("philosophers"),
                                        Make("lost_update_fixed")};
  model::ExploreOptions o = Options("pct", 300);
  o.all = true;
  uint64_t first = model::Explore(targets, o).digest;
  EXPECT_EQ(model::Explore(targets, o).digest, first);
  o.seed = 2;
  EXPECT_NE(model::Explore(targets, o).digest, first);
}

TEST(BuiltinProgramsTest, ShardsPartitionTheRunsOfOneExploration) {
  auto runs_of = [](uint32_t index, uint32_t count) {
    model::ExploreOptions o = Options("random", 100);
    o.all = true;
    o.shard_index = index;
    o.shard_count = count;
    std::map<std::pair<std::string, uint64_t>, uint64_t> runs;  // -> digest
    o.on_run = [&](const model::RunRecord& r) {
      runs[{r.target->scenario, r.seed}] = r.digest;
    };
    model::Explore({Make("abba"), Make("philosophers_fixed")}, o);
    return runs;
  };
  auto whole = runs_of(0, 1);
  auto a = runs_of(0, 2);
  auto b = runs_of(1, 2);
  EXPECT_EQ(whole.size(), 200u);
  EXPECT_EQ(a.size() + b.size(), whole.size());
  auto merged = a;
  merged.insert(b.begin(), b.end());
  EXPECT_EQ(merged, whole);  // same seeds, and each run's digest identical
}

TEST(BuiltinProgramsTest, DfsShardsPartitionTheTree) {
  model::ExploreOptions o = Options("dfs", std::nullopt);
  o.strategy.preemptions = -1;
  uint64_t whole = model::Explore({Make("philosophers_fixed")}, o).runs;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < 3; ++i) {
    o.shard_index = i;
    o.shard_count = 3;
    model::ExploreSummary s = model::Explore({Make("philosophers_fixed")}, o);
    EXPECT_TRUE(s.targets[0].exhausted);
    sum += s.runs;
  }
  EXPECT_EQ(sum, whole);
}

// A random program: fibers taking nested locks in generated orders, with
// yields. Some deadlock, some do not; every outcome must replay exactly.
struct LockScript {
  std::vector<std::vector<int>> fibers;  // lock indices, taken in order
};

class ScriptProgram final : public sim::Program {
 public:
  explicit ScriptProgram(const LockScript& script) : script_(script) {}
  void Start(sim::Scheduler& s) override {
    for (int i = 0; i < 4; ++i) {
      locks_.push_back(std::make_unique<sim::Mutex>(s, "L" + std::to_string(i)));
    }
    for (size_t f = 0; f < script_.fibers.size(); ++f) {
      s.Spawn("F" + std::to_string(f), [this, f, &s] {
        std::vector<int> held;
        for (int l : script_.fibers[f]) {
          if (std::find(held.begin(), held.end(), l) != held.end()) continue;
          locks_[l]->Lock();
          held.push_back(l);
          s.Yield("work");
        }
        for (auto it = held.rbegin(); it != held.rend(); ++it) locks_[*it]->Unlock();
      });
    }
  }

 private:
  const LockScript& script_;
  std::vector<std::unique_ptr<sim::Mutex>> locks_;
};

RC_GTEST_PROP(BuiltinProgramsProperty, EveryRunIsDeterministicAndEveryFindingReplays,
              ()) {
  LockScript script;
  script.fibers = *rc::gen::container<std::vector<std::vector<int>>>(
      *rc::gen::inRange(1, 4),
      rc::gen::container<std::vector<int>>(*rc::gen::inRange(0, 4),
                                           rc::gen::inRange(0, 4)));
  const auto strategy = *rc::gen::element<std::string>("random", "pct");
  const auto seed = *rc::gen::inRange<uint64_t>(0, 1000000);
  model::Target target;
  target.scenario = "lock_script";
  target.scenario_json = R"({"name":"lock_script"})";
  target.make = [&script] { return std::make_unique<ScriptProgram>(script); };
  model::ExploreOptions o = Options(strategy, 30);
  o.seed = seed;
  o.all = true;
  model::ExploreSummary first = model::Explore({target}, o);
  model::ExploreSummary second = model::Explore({target}, o);
  RC_ASSERT(first.digest == second.digest);
  for (const model::FindingRecord& f : first.findings) {
    std::string error;
    auto trace = model::ReadTrace(f.trace_path, &error);
    RC_ASSERT(trace.has_value());
    model::Reproduction rep = model::Reproduce(*trace, target);
    RC_ASSERT(rep.reproduced());
  }
}

}  // namespace
}  // namespace fsim::scenarios
