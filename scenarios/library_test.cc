// fsim as a library: a program written against the public API, explored
// in-process by fsim::Check(), its findings replayed by fsim::Replay(),
// and registered by fsim::ProgramRegistrar into the registry the CLI reads.
#include "scenarios/library.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "scenarios/registry.h"
#include "sim/sync.h"

namespace fsim {
namespace {

std::string OutDir() {
  for (const char* var : {"TEST_UNDECLARED_OUTPUTS_DIR", "TEST_TMPDIR"}) {
    if (const char* dir = std::getenv(var)) return dir;
  }
  return "fsim-out";
}

// Two fibers each take two mutexes; with `ordered` both take them in the
// same order, else in opposite orders (ABBA).
class TwoLocks final : public sim::Program {
 public:
  explicit TwoLocks(bool ordered) : ordered_(ordered) {}
  void Start(sim::Scheduler& s) override {
    a_ = std::make_unique<sim::Mutex>(s, "lock_a");
    b_ = std::make_unique<sim::Mutex>(s, "lock_b");
    s.Spawn("t1", [this] { Both(*a_, *b_); });
    s.Spawn("t2", [this] { ordered_ ? Both(*a_, *b_) : Both(*b_, *a_); });
  }
  void Finish(sim::Scheduler& s) override {
    if (count_ != 2) {
      sim::Finding f;
      f.kind = sim::FindingKind::kAssertion;
      f.signature = "two_locks:count";
      f.report = "count " + std::to_string(count_);
      s.Fail(std::move(f));
    }
  }

 private:
  void Both(sim::Mutex& first, sim::Mutex& second) {
    first.Lock();
    second.Lock();
    ++count_;
    second.Unlock();
    first.Unlock();
  }
  bool ordered_;
  std::unique_ptr<sim::Mutex> a_, b_;
  int count_ = 0;
};

ProgramFactory Factory(bool ordered) {
  return [ordered] { return std::make_unique<TwoLocks>(ordered); };
}

const ProgramRegistrar kRegistered{{.name = "library_test_two_locks",
                                    .description = "two fibers, two mutexes, one order",
                                    .make = Factory(true),
                                    .names_shared_state = true}};

TEST(LibraryTest, CheckFindsTheInversionAndItsTraceReplays) {
  CheckOptions o;
  o.runs = 500;
  o.out_dir = OutDir();
  const CheckResult r = Check("library_test_abba", Factory(false), o);
  ASSERT_EQ(r.findings.size(), 1u) << r.Describe();
  const model::FindingRecord& f = r.findings.front();
  EXPECT_EQ(f.finding.kind, sim::FindingKind::kLockOrder) << r.Describe();
  EXPECT_TRUE(std::filesystem::exists(f.trace_path));
  std::string why;
  EXPECT_TRUE(Replay(f.trace_path, Factory(false), &why)) << why;
  // The same trace against the other program does not reproduce.
  EXPECT_FALSE(Replay(f.trace_path, Factory(true), &why));
}

TEST(LibraryTest, CheckOfACorrectProgramIsCleanAndDeterministic) {
  for (const char* strategy : {"random", "pct", "surw"}) {
    SCOPED_TRACE(strategy);
    CheckOptions o;
    o.strategy = strategy;
    o.runs = 300;
    o.out_dir = OutDir();
    const CheckResult a = Check("library_test_ordered", Factory(true), o);
    EXPECT_TRUE(a.findings.empty()) << a.Describe();
    EXPECT_EQ(a.runs, 300u);
    const CheckResult b = Check("library_test_ordered", Factory(true), o);
    EXPECT_EQ(a.digest, b.digest);
  }
}

TEST(LibraryTest, DfsExhaustsASmallProgram) {
  CheckOptions o;
  o.strategy = "dfs";
  o.runs = 100000;
  o.out_dir = OutDir();
  const CheckResult r = Check("library_test_ordered", Factory(true), o);
  EXPECT_TRUE(r.exhausted);
  EXPECT_TRUE(r.findings.empty()) << r.Describe();
}

TEST(LibraryTest, ARegisteredProgramIsInTheRegistryAndBuildsATarget) {
  const auto& all = scenarios::Scenarios();
  auto it = std::find_if(all.begin(), all.end(),
                         [](const scenarios::Scenario& s) { return s.name == "library_test_two_locks"; });
  ASSERT_NE(it, all.end());
  EXPECT_EQ(it->family, "user");
  EXPECT_TRUE(it->names_shared_state);
  std::string error;
  EXPECT_TRUE(scenarios::MakeTarget("library_test_two_locks", {}, &error).has_value()) << error;
}

TEST(LibraryTest, AnUnknownStrategyIsAnError) {
  CheckOptions o;
  o.strategy = "bogus";
  o.out_dir = OutDir();
  EXPECT_THROW(Check("library_test_ordered", Factory(true), o), std::runtime_error);
}

}  // namespace
}  // namespace fsim
