// Checks FiberSet against a plain ordered set (ascending iteration,
// insert/erase/first/single across word boundaries), and that a run uses
// every one of kFibersMax fiber slots at once: fibers past id 64 are
// scheduled, woken and found on a deadlock's cycle like the first ones.
#include "sim/fiber_set.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "sim/testing.h"

namespace fsim::sim {
namespace {

TEST(FiberSetTest, MatchesAnOrderedSet) {
  Random random(7);
  FiberSet set;
  std::set<FiberId> model;
  for (int step = 0; step < 20000; ++step) {
    auto id = static_cast<FiberId>(random.Below(kFibersMax));
    if (random.Below(3) == 0) {
      set.erase(id);
      model.erase(id);
    } else {
      set.insert(id);
      model.insert(id);
    }
    if (step % 97 == 0) {
      std::vector<FiberId> got;
      set.ForEach([&](FiberId f) { got.push_back(f); });
      ASSERT_EQ(got, std::vector<FiberId>(model.begin(), model.end()));
      ASSERT_EQ(set.empty(), model.empty());
      ASSERT_EQ(set.single(), model.size() == 1);
      if (!model.empty()) {
        ASSERT_EQ(set.first(), *model.begin());
      }
      ASSERT_EQ(set.contains(id), model.count(id) == 1);
    }
    if (step % 5000 == 4999) {
      set.clear();
      model.clear();
      ASSERT_TRUE(set.empty());
    }
  }
}

TEST(FiberSetTest, ForEachMayEraseTheVisitedId) {
  FiberSet set;
  for (FiberId id : {3u, 64u, 65u, 700u, kFibersMax - 1}) set.insert(id);
  std::vector<FiberId> seen;
  set.ForEach([&](FiberId id) {
    seen.push_back(id);
    set.erase(id);
  });
  EXPECT_EQ(seen, (std::vector<FiberId>{3, 64, 65, 700, kFibersMax - 1}));
  EXPECT_TRUE(set.empty());
}

TEST(ManyFibersTest, EverySlotRunsAtOnce) {
  // kFibersMax fibers alive together, each yielding twice: every one runs
  // to its end, and the random strategy is offered all of them.
  Scheduler s;
  testing::RandomStrategy strategy;
  size_t widest = 0;
  class Widest final : public Strategy {
   public:
    Widest(Strategy& inner, size_t& widest) : inner_(inner), widest_(widest) {}
    void BeginRun(uint64_t seed) override { inner_.BeginRun(seed); }
    FiberId PickFiber(const SchedulePoint& p) override {
      widest_ = std::max(widest_, p.runnable.size());
      return inner_.PickFiber(p);
    }
    uint64_t PickValue(uint64_t n, Site site) override { return inner_.PickValue(n, site); }

   private:
    Strategy& inner_;
    size_t& widest_;
  } wrap(strategy, widest);
  int done = 0;
  RunResult r = testing::RunFunctions(s, wrap, [&] {
    for (uint32_t i = 0; i < kFibersMax; ++i) {
      s.Spawn("f", [&] {
        s.Yield("a");
        s.Yield("b");
        ++done;
      });
    }
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_EQ(done, static_cast<int>(kFibersMax));
  EXPECT_EQ(widest, kFibersMax);
}

TEST(ManyFibersTest, DeadlockCycleAmongHighIds) {
  // 200 fibers; the last two (ids 198 and 199) take A and B in opposite
  // orders: the wait-for graph sees their cycle (Mutex::AddHolders), so
  // the signature names it as it does for low ids. Without lockdep, which
  // would report the inversion first.
  Scheduler s;
  testing::ScriptStrategy strategy({});
  std::unique_ptr<Mutex> a, b;
  RunResult r = testing::RunFunctions(s, strategy, [&] {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    for (int i = 0; i < 198; ++i) s.Spawn("idle", [&] { s.Yield("y"); });
    s.Spawn("T1", [&] {
      a->Lock();
      s.SleepFor(10);
      b->Lock();
    });
    s.Spawn("T2", [&] {
      b->Lock();
      s.SleepFor(10);
      a->Lock();
    });
  }, [] {}, RunOptions{.lockdep = false});
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kDeadlock);
  EXPECT_EQ(r.finding->signature, "deadlock:mutex:A,mutex:B");
  a.reset();
  b.reset();
}

}  // namespace
}  // namespace fsim::sim
