// Soundness of DFS's partial-order reduction (sleep sets, model/dfs.h):
// on small programs whose every shared access is named at a scheduling
// point, reduced DFS reaches every distinct final state and every finding
// that plain DFS reaches, in fewer runs; and it reports the runs it found
// sleep-blocked. Also the registry's programs that declare themselves
// reducible (sctbench's, the runtime's): the same findings either way.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/dfs.h"
#include "model/explorer.h"
#include "scenarios/registry.h"
#include "sctbench/sct.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "sim/testing.h"

namespace fsim::model {
namespace {

// A variable whose every access is a named scheduling point.
using Var = sctbench::Shared<int>;

// One program: `start` spawns its fibers; `final` describes the state at
// the end of the run.
struct Program {
  std::function<void(sim::Scheduler&)> start;
  std::function<std::string()> final;
};

using Outcomes = std::set<std::string>;  // final state + findings, per run

struct Exploration {
  Outcomes outcomes;
  uint64_t runs = 0;
  uint64_t sleep_blocked = 0;
};

Exploration ExploreAll(const std::function<Program(sim::Scheduler&)>& make, bool sleep_sets) {
  sim::Scheduler s;
  Dfs dfs(-1, 0, 1, sleep_sets);
  Exploration e;
  while (!dfs.exhausted()) {
    Program p;
    sim::RunResult r = sim::testing::RunFunctions(
        s, dfs, [&] { p = make(s); p.start(s); });
    std::string outcome = p.final();
    for (const sim::Finding& f : r.findings) outcome += " | " + f.signature;
    e.outcomes.insert(outcome);
  }
  e.runs = dfs.runs();
  e.sleep_blocked = dfs.sleep_blocked();
  return e;
}

void ExpectSameOutcomes(const std::function<Program(sim::Scheduler&)>& make, const char* what) {
  SCOPED_TRACE(what);
  Exploration plain = ExploreAll(make, false);
  Exploration reduced = ExploreAll(make, true);
  EXPECT_EQ(reduced.outcomes, plain.outcomes);
  EXPECT_LE(reduced.runs, plain.runs);
  std::printf("%s: plain %llu schedules, sleep sets %llu (%llu sleep-blocked), %zu outcomes\n",
              what, static_cast<unsigned long long>(plain.runs),
              static_cast<unsigned long long>(reduced.runs),
              static_cast<unsigned long long>(reduced.sleep_blocked), plain.outcomes.size());
}

// Three fibers race read-modify-writes on x and plain stores to y.
Program RacyCounters(sim::Scheduler& s) {
  auto x = std::make_shared<Var>(s, 0);
  auto y = std::make_shared<Var>(s, -1);
  return {[x, y](sim::Scheduler& s) {
            for (int i = 0; i < 3; ++i) {
              s.Spawn("f", [x, y, i] {
                x->Store(x->Load() + 1);
                y->Store(i);
              });
            }
          },
          [x, y] { return std::to_string(x->Peek()) + "," + std::to_string(y->Peek()); }};
}

// A lock-protected plain counter beside racy variables: accesses the lock
// orders are independent of nothing else, the racy ones are named.
Program LocksAndVars(sim::Scheduler& s) {
  auto m = std::make_shared<sim::Mutex>(s, "m");
  auto a = std::make_shared<Var>(s, 1);
  auto b = std::make_shared<Var>(s, 0);
  auto c = std::make_shared<int>(0);
  auto order = std::make_shared<std::string>();
  return {[=](sim::Scheduler& s) {
            for (int i = 0; i < 2; ++i) {
              s.Spawn("f", [=] {
                m->Lock();
                ++*c;
                *order += static_cast<char>('0' + i);  // protected by m
                a->Store(a->Load() * 2 + i);
                m->Unlock();
                b->Store(b->Load() + i);
              });
            }
          },
          [=] {
            return std::to_string(*c) + "," + *order + "," + std::to_string(a->Peek()) + "," +
                   std::to_string(b->Peek());
          }};
}

// A three-lock cycle (deadlocks on some schedules).
Program ThreeLockCycle(sim::Scheduler& s) {
  auto locks = std::make_shared<std::vector<std::unique_ptr<sim::Mutex>>>();
  for (const char* n : {"A", "B", "C"}) locks->push_back(std::make_unique<sim::Mutex>(s, n));
  auto z = std::make_shared<Var>(s, 0);
  return {[=](sim::Scheduler& s) {
            for (int i = 0; i < 3; ++i) {
              s.Spawn("f", [=] {
                sim::Mutex& first = *(*locks)[i];
                sim::Mutex& second = *(*locks)[(i + 1) % 3];
                first.Lock();
                second.Lock();
                second.Unlock();
                first.Unlock();
              });
            }
          },
          [=] { return std::to_string(z->Peek()); }};
}

// Completion-ordered accesses: the consumer reads what the producer wrote
// before complete(); a bystander races on another variable.
Program CompletionOrdered(sim::Scheduler& s) {
  auto done = std::make_shared<sim::Completion>(s, "done");
  auto v = std::make_shared<Var>(s, 0);
  auto w = std::make_shared<Var>(s, 0);
  auto seen = std::make_shared<int>(-1);
  return {[=](sim::Scheduler& s) {
            s.Spawn("producer", [=] {
              v->Store(7);
              w->Store(w->Load() + 1);
              done->Complete();
            });
            s.Spawn("consumer", [=] {
              done->Wait();
              *seen = v->Load();
              w->Store(w->Load() * 3);
            });
            s.Spawn("bystander", [=] { w->Store(5); });
          },
          [=] { return std::to_string(*seen) + "," + std::to_string(w->Peek()); }};
}

// SCTBench's reorder shape: a checker between a setter's two writes is the
// bug (an assertion finding).
Program Reorder(sim::Scheduler& s) {
  auto a = std::make_shared<Var>(s, 0);
  auto b = std::make_shared<Var>(s, 0);
  return {[=](sim::Scheduler& s) {
            for (int i = 0; i < 2; ++i) {
              s.Spawn("setter", [=] {
                a->Store(1);
                b->Store(-1);
              });
            }
            s.Spawn("checker", [=, &s] {
              int x = a->Load(), y = b->Load();
              if ((x == 0 && y == 0) || (x == 1 && y == -1)) return;
              sim::Finding f;
              f.kind = sim::FindingKind::kAssertion;
              f.signature = "assertion:reorder";
              f.report = "checker saw a between the setter's writes";
              s.Report(std::move(f));
            });
          },
          [=] { return std::to_string(a->Peek()) + "," + std::to_string(b->Peek()); }};
}

TEST(DfsPorTest, SleepSetsReachEveryFinalStateAndFindingPlainDfsReaches) {
  ExpectSameOutcomes(RacyCounters, "racy counters");
  ExpectSameOutcomes(LocksAndVars, "locks and vars");
  ExpectSameOutcomes(ThreeLockCycle, "three-lock cycle");
  ExpectSameOutcomes(CompletionOrdered, "completion-ordered");
  ExpectSameOutcomes(Reorder, "reorder");
}

TEST(DfsPorTest, SleepSetsExploreFewerSchedulesWhereTransitionsCommute) {
  // Two fibers on disjoint variables: every interleaving is one trace.
  auto disjoint = [](sim::Scheduler& s) -> Program {
    auto p = std::make_shared<Var>(s, 0);
    auto q = std::make_shared<Var>(s, 0);
    return {[=](sim::Scheduler& s) {
              s.Spawn("p", [=] {
                for (int i = 0; i < 3; ++i) p->Store(i);
              });
              s.Spawn("q", [=] {
                for (int i = 0; i < 3; ++i) q->Store(i);
              });
            },
            [=] { return std::to_string(p->Peek()) + "," + std::to_string(q->Peek()); }};
  };
  Exploration plain = ExploreAll(disjoint, false);
  Exploration reduced = ExploreAll(disjoint, true);
  EXPECT_EQ(plain.outcomes, reduced.outcomes);
  EXPECT_EQ(plain.runs, 70u);  // C(8,4): three stores and the exit each
  // One complete schedule; the others sleep sets start reach a state
  // whose every runnable fiber sleeps (redundant, counted).
  EXPECT_EQ(reduced.runs - reduced.sleep_blocked, 1u);
  EXPECT_LT(reduced.runs, plain.runs);
}

// The registry's reducible programs: the same findings with and without
// the reduction (exhaustive, unbounded), taken from the registry.
TEST(DfsPorTest, ReducibleRegistryProgramsKeepTheirFindings) {
  int checked = 0;
  for (const scenarios::Scenario& sc : scenarios::Scenarios()) {
    if (!sc.names_shared_state) continue;
    std::string error;
    auto target = scenarios::MakeTarget(sc.name, {}, &error);
    ASSERT_TRUE(target.has_value()) << error;
    auto findings = [&](bool sleep_sets, uint64_t* runs, bool* exhausted) {
      ExploreOptions o;
      o.strategy.name = "dfs";
      o.dfs_sleep_sets = sleep_sets;
      o.all = true;
      o.runs = 500;
      o.out_dir = ::testing::TempDir() + "/dfs_por";
      ExploreSummary summary = Explore({*target}, o);
      *runs = summary.targets[0].runs;
      *exhausted = summary.targets[0].exhausted;
      std::set<std::string> out;
      for (const FindingRecord& f : summary.findings) out.insert(f.finding.signature);
      return out;
    };
    uint64_t plain_runs = 0, reduced_runs = 0;
    bool plain_done = false, reduced_done = false;
    std::set<std::string> plain = findings(false, &plain_runs, &plain_done);
    if (!plain_done) continue;  // too large to compare exhaustively here
    std::set<std::string> reduced = findings(true, &reduced_runs, &reduced_done);
    ++checked;
    EXPECT_TRUE(reduced_done) << sc.name;
    EXPECT_EQ(reduced, plain) << sc.name;
    EXPECT_LE(reduced_runs, plain_runs) << sc.name;
  }
  EXPECT_GE(checked, 3);
}

}  // namespace
}  // namespace fsim::model
