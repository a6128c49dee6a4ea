// fsim as a library: a program written against the public API, explored
// in-process by fsim::Check(), its findings replayed by fsim::Replay(),
// and registered by fsim::ProgramRegistrar into the registry the CLI reads.
#include "scenarios/library.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "scenarios/registry.h"
#include "sim/shared.h"
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


// --- The race detector (sim/race.h), on small programs whose every
// interleaving DFS visits: a correctly synchronised one never reports
// data_race, in any interleaving; a racy one reports it in the first run,
// whatever the schedule (happens-before, not adjacency).

// A program from a body that builds its objects in a fresh arena.
class Lambda final : public sim::Program {
 public:
  using Body = std::function<void(sim::Scheduler&, Lambda&)>;
  explicit Lambda(Body body) : body_(std::move(body)) {}
  void Start(sim::Scheduler& s) override { body_(s, *this); }
  template <typename T, typename... Args>
  T& Make(Args&&... args) {
    auto owned = std::make_shared<T>(std::forward<Args>(args)...);
    T& ref = *owned;
    keep_.push_back(std::move(owned));
    return ref;
  }

 private:
  Body body_;
  std::vector<std::shared_ptr<void>> keep_;
};

ProgramFactory Racing(Lambda::Body body) {
  return [body] { return std::make_unique<Lambda>(body); };
}

// DFS to exhaustion (at `preemptions`, -1: unbounded).
CheckResult Exhaust(const std::string& name, const ProgramFactory& make, int preemptions = -1) {
  CheckOptions o;
  o.strategy = "dfs";
  o.preemptions = preemptions;
  o.runs = 200000;
  o.all = true;
  o.races = true;
  o.out_dir = OutDir();
  return Check(name, make, o);
}

bool AllDataRaces(const CheckResult& r) {
  for (const model::FindingRecord& f : r.findings) {
    if (f.finding.kind != sim::FindingKind::kDataRace) return false;
  }
  return !r.findings.empty();
}

TEST(RaceDetectorTest, AccessesUnderOneMutexNeverRace) {
  const CheckResult r = Exhaust("race_mutex", Racing([](sim::Scheduler& s, Lambda& p) {
    auto& m = p.Make<sim::Mutex>(s, "m");
    auto& x = p.Make<sim::Shared<int>>(s, 0, "x");
    for (const char* name : {"a", "b", "c"}) {
      s.Spawn(name, [&] {
        m.Lock();
        x.Store(x.Load() + 1);
        m.Unlock();
      });
    }
  }));
  EXPECT_TRUE(r.exhausted);
  EXPECT_TRUE(r.findings.empty()) << r.Describe();
}

TEST(RaceDetectorTest, TrylockRwsemSpinlockCompletionAndWaitQueueOrderAccesses) {
  const CheckResult r = Exhaust("race_primitives", Racing([](sim::Scheduler& s, Lambda& p) {
    auto& m = p.Make<sim::Mutex>(s, "m");
    auto& sem = p.Make<sim::RwSemaphore>(s, "sem");
    auto& spin = p.Make<sim::SpinLock>(s, "spin");
    auto& done = p.Make<sim::Completion>(s, "done");
    auto& wq = p.Make<sim::WaitQueue>(s, "wq");
    auto& ready = p.Make<bool>(false);
    auto& x = p.Make<sim::Shared<int>>(s, 0, "x");
    auto& y = p.Make<sim::Shared<int>>(s, 0, "y");
    auto& z = p.Make<sim::Shared<int>>(s, 0, "z");
    auto& w = p.Make<sim::Shared<int>>(s, 0, "w");
    x.Store(1);  // before the spawns: ordered by them
    s.Spawn("writer", [&] {
      if (m.TryLock()) {
        x.Store(x.Load() + 1);
        m.Unlock();
      }
      sem.DownWrite();
      y.Store(2);
      sem.UpWrite();
      spin.Lock();
      z.Store(3);
      spin.Unlock();
      w.Store(4);
      ready = true;
      wq.WakeUp();
      done.CompleteAll();
    });
    s.Spawn("reader", [&] {
      m.Lock();
      (void)x.Load();
      m.Unlock();
      sem.DownRead();
      (void)y.Load();
      sem.UpRead();
      spin.Lock();
      (void)z.Load();
      spin.Unlock();
      wq.WaitEvent([&] { return ready; });
      (void)w.Load();
    });
    s.Spawn("joiner", [&] {
      done.Wait();
      (void)w.Load();
      (void)z.Load();
    });
  }), /*preemptions=*/2);
  EXPECT_TRUE(r.exhausted);
  EXPECT_TRUE(r.findings.empty()) << r.Describe();
}

TEST(RaceDetectorTest, AnUnlockedCounterRacesInTheFirstRun) {
  const ProgramFactory racy = Racing([](sim::Scheduler& s, Lambda& p) {
    auto& x = p.Make<sim::Shared<int>>(s, 0, "counter");
    for (const char* name : {"a", "b"}) s.Spawn(name, [&] { x.Store(x.Load() + 1); });
  });
  CheckOptions o;
  o.runs = 1;
  o.races = true;
  o.out_dir = OutDir();
  for (const char* strategy : {"random", "pct", "surw", "dfs"}) {
    o.strategy = strategy;
    const CheckResult r = Check("race_counter", racy, o);
    ASSERT_EQ(r.findings.size(), 1u) << strategy << ": " << r.Describe();
    EXPECT_EQ(r.findings.front().finding.kind, sim::FindingKind::kDataRace);
    EXPECT_NE(r.findings.front().finding.signature.find("data_race:counter:"), std::string::npos);
    std::string why;
    EXPECT_TRUE(Replay(r.findings.front().trace_path, racy, &why)) << why;
  }
  // Off by default: the same program reports nothing.
  o.races = false;
  o.strategy = "pct";
  o.runs = 100;
  EXPECT_TRUE(Check("race_counter", racy, o).findings.empty());
}

TEST(RaceDetectorTest, OnlyMarkedPairsAreIntended) {
  auto program = [](bool reader_marked, bool writer_marked) {
    return Racing([=](sim::Scheduler& s, Lambda& p) {
      auto& x = p.Make<sim::Shared<int>>(s, 0, "flag");
      s.Spawn("writer", [&x, writer_marked] { writer_marked ? x.StoreOnce(1) : x.Store(1); });
      s.Spawn("reader", [&x, reader_marked] { (void)(reader_marked ? x.LoadOnce() : x.Load()); });
    });
  };
  EXPECT_TRUE(Exhaust("race_marked", program(true, true)).findings.empty());
  EXPECT_TRUE(AllDataRaces(Exhaust("race_half_marked", program(true, false))));
  EXPECT_TRUE(AllDataRaces(Exhaust("race_plain", program(false, false))));
}

}  // namespace
}  // namespace fsim
