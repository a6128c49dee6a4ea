// Checks of selective SURW and of the pending operations it reads: the
// scheduler shows each runnable fiber's next object (set at a yield and at
// a block, none at spawn; a hinted yield's as a hint); an unselected
// event always runs before a selected one while the fiber has free moves
// left; a hinted event is selectable in half the runs and free in the
// others; the selected events are interleaved uniformly when the
// estimate is exact; a fiber spinning
// on unselected events does not starve the others into a livelock; a
// run is a function of its seed and replays from its decisions; the
// profile offers only objects that two fibers touch.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "model/replay.h"
#include "model/surw.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "sim/testing.h"

namespace fsim::model {
namespace {

// Forwards to `inner` and keeps every point's pending objects and the
// pick's index.
class Recorder final : public sim::Strategy {
 public:
  explicit Recorder(sim::Strategy& inner) : inner_(inner) {}
  void BeginRun(uint64_t seed) override { inner_.BeginRun(seed); }
  void OnSpawn(sim::FiberId id) override { inner_.OnSpawn(id); }
  sim::FiberId PickFiber(const sim::SchedulePoint& p) override {
    sim::FiberId id = inner_.PickFiber(p);
    Point point;
    for (size_t i = 0; i < p.runnable.size(); ++i) {
      point.objects.push_back(p.pending[p.runnable[i]].object);
      point.hints.push_back(p.pending[p.runnable[i]].hint);
      if (p.runnable[i] == id) point.picked = i;
    }
    points.push_back(point);
    return id;
  }
  uint64_t PickValue(uint64_t n, sim::Site site) override { return inner_.PickValue(n, site); }
  void EndRun() override { inner_.EndRun(); }

  struct Point {
    std::vector<uint64_t> objects;
    std::vector<bool> hints;
    size_t picked = 0;
  };
  std::vector<Point> points;

 private:
  sim::Strategy& inner_;
};

TEST(PendingOpTest, TheSchedulerShowsEachFibersNextObject) {
  sim::Scheduler s;
  sim::testing::FirstStrategy first;
  Recorder rec(first);
  uint64_t object = 0;
  sim::RunOptions options;
  s.Run(rec, options, [&] {
    object = s.NewObjectId();
    s.Spawn("a", [&] { s.Yield("touch", object); });
    s.Spawn("b", [&] { s.Yield("plain"); });
  }, [] {});
  ASSERT_GE(rec.points.size(), 2u);
  // At the start neither fiber has reached a scheduling point.
  EXPECT_EQ(rec.points[0].objects, (std::vector<uint64_t>{0, 0}));
  // "a" ran to its yield on `object`; "b" has not started.
  EXPECT_EQ(rec.points[1].objects, (std::vector<uint64_t>{object, 0}));
}

TEST(PendingOpTest, ABlockedFiberWaitsOnTheObjectItBlockedOn) {
  sim::Scheduler s;
  sim::testing::FirstStrategy first;
  Recorder rec(first);
  std::unique_ptr<sim::Mutex> m;
  uint64_t id = 0;
  sim::RunOptions options;
  options.lockdep = false;
  s.Run(rec, options, [&] {
    m = std::make_unique<sim::Mutex>(s, "m");
    id = m->object_id();
    s.Spawn("holder", [&] {
      m->Lock();
      s.Yield("hold");
      s.Yield("hold");
      m->Unlock();
    });
    s.Spawn("waiter", [&] { m->Lock(); m->Unlock(); });
  }, [] {}, [&] { m.reset(); });
  // The holder yields while holding: the waiter, which reached its lock
  // (and blocked there, then was woken), shows the mutex.
  ASSERT_NE(id, 0u);
  bool seen = false;
  for (const auto& p : rec.points) {
    for (uint64_t o : p.objects) seen = seen || o == id;
  }
  EXPECT_TRUE(seen);
}

// Two fibers, each touching `x` then `y` `rounds` times, and a profile
// that says so exactly (both objects, each fiber `rounds` events on each).
struct TwoObjects {
  static ObjectProfileData Profile(uint64_t rounds) {
    ObjectProfileData d;
    d.runs = 1;
    // Object ids: x = 1, y = 2 (the first two of the run).
    d.by_spawn = {{{1, rounds}, {2, rounds}}, {{1, rounds}, {2, rounds}}};
    d.objects = {1, 2};
    return d;
  }
  // Runs it; `order` gets (fiber, object) of each event in order.
  static sim::RunResult Run(sim::Scheduler& s, sim::Strategy& strategy, uint64_t seed,
                            uint64_t rounds, std::vector<std::pair<int, uint64_t>>* order) {
    sim::RunOptions options;
    options.seed = seed;
    return s.Run(strategy, options, [&s, rounds, order] {
      uint64_t x = s.NewObjectId();
      uint64_t y = s.NewObjectId();
      for (int f = 0; f < 2; ++f) {
        s.Spawn("f", [&s, f, x, y, rounds, order] {
          for (uint64_t i = 0; i < rounds; ++i) {
            s.Yield("x", x);
            if (order) order->push_back({f, x});
            s.Yield("y", y);
            if (order) order->push_back({f, y});
          }
        });
      }
    }, [] {});
  }
};

TEST(SurwTest, UnselectedEventsRunFirst) {
  Surw surw(TwoObjects::Profile(3));
  Recorder rec(surw);
  for (uint64_t seed = 0; seed < 200; ++seed) {
    rec.points.clear();
    sim::Scheduler s;
    TwoObjects::Run(s, rec, seed, 3, nullptr);
    std::vector<uint64_t> selected = surw.SelectedObjects();
    ASSERT_FALSE(selected.empty());
    auto is_selected = [&](uint64_t o) {
      return std::find(selected.begin(), selected.end(), o) != selected.end();
    };
    for (const auto& p : rec.points) {
      bool any_free = false;
      for (uint64_t o : p.objects) any_free = any_free || !is_selected(o);
      if (any_free) EXPECT_FALSE(is_selected(p.objects[p.picked])) << "seed " << seed;
    }
  }
}

TEST(SurwTest, SelectedEventsAreInterleavedUniformly) {
  // One object, two fibers with two events on it each: the estimate is
  // exact and each of the C(4,2) = 6 orders of the four events comes up
  // with probability 1/6 (a random walk makes the alternating ones
  // twice as likely as the others).
  ObjectProfileData d;
  d.runs = 1;
  d.by_spawn = {{{1, 2}}, {{1, 2}}};
  d.objects = {1};
  Surw surw(d);
  std::map<std::vector<int>, int> counts;
  constexpr int kRuns = 6000;
  for (uint64_t seed = 0; seed < kRuns; ++seed) {
    sim::Scheduler s;
    std::vector<int> order;
    sim::RunOptions options;
    options.seed = seed;
    s.Run(surw, options, [&] {
      uint64_t x = s.NewObjectId();
      for (int f = 0; f < 2; ++f) {
        s.Spawn("f", [&s, f, x, &order] {
          for (int i = 0; i < 2; ++i) {
            s.Yield("x", x);
            order.push_back(f);
          }
        });
      }
    }, [] {});
    ++counts[order];
  }
  EXPECT_EQ(counts.size(), 6u);
  for (const auto& [order, n] : counts) {
    EXPECT_NEAR(static_cast<double>(n) / kRuns, 1.0 / 6, 0.03);
  }
}

TEST(SurwTest, ASpinnerOnUnselectedEventsDoesNotStarveTheOthers) {
  // "spinner" yields (no object) until "setter", at a selected event,
  // sets the flag: free moves alone would spin until the step limit.
  ObjectProfileData d;
  d.runs = 1;
  d.by_spawn = {{{1, 1}}, {{1, 1}}};
  d.objects = {1};
  Surw surw(d);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    sim::Scheduler s;
    sim::RunOptions options;
    options.seed = seed;
    bool flag = false;
    sim::RunResult r = s.Run(surw, options, [&] {
      uint64_t x = s.NewObjectId();
      s.Spawn("spinner", [&s, &flag, x] {
        s.Yield("x", x);
        while (!flag) s.Yield("spin");
      });
      s.Spawn("setter", [&s, &flag, x] {
        s.Yield("x", x);
        flag = true;
      });
    }, [] {});
    EXPECT_TRUE(r.findings.empty()) << "seed " << seed << ": " << r.findings[0].report;
  }
}

TEST(SurwTest, HintedEventsAreSelectableInHalfTheRunsAndFreeInTheOthers) {
  // "hinted" names `x` only as a hint (YieldHint, as fs/ does before a
  // page lock); "declared" yields on `x`. `x` is the one candidate, so it
  // is selected every run. With hints on, both events are selected and
  // either may go first; with hints off, the hinted one is a free move
  // and always goes first.
  ObjectProfileData d;
  d.runs = 1;
  d.by_spawn = {{{1, 1}}, {{1, 1}}};
  d.objects = {1};
  Surw surw(d);
  constexpr int kRuns = 400;
  int with_hints = 0, declared_first = 0;
  for (uint64_t seed = 0; seed < kRuns; ++seed) {
    sim::Scheduler s;
    std::vector<char> order;
    sim::RunOptions options;
    options.seed = seed;
    s.Run(surw, options, [&] {
      uint64_t x = s.NewObjectId();
      s.Spawn("hinted", [&s, x, &order] {
        s.YieldHint("hinted", x);
        order.push_back('h');
      });
      s.Spawn("declared", [&s, x, &order] {
        s.Yield("declared", x);
        order.push_back('d');
      });
    }, [] {});
    ASSERT_EQ(order.size(), 2u);
    if (surw.hints()) {
      ++with_hints;
      declared_first += order[0] == 'd';
    } else {
      EXPECT_EQ(order[0], 'h') << "seed " << seed << ": a hinted event must be a free move";
    }
  }
  EXPECT_NEAR(static_cast<double>(with_hints) / kRuns, 0.5, 0.1);
  // Selected, the two are picked with equal weight.
  EXPECT_NEAR(static_cast<double>(declared_first) / with_hints, 0.5, 0.12);
}

TEST(PendingOpTest, AHintedYieldShowsItsObjectAsAHint) {
  sim::Scheduler s;
  sim::testing::FirstStrategy first;
  sim::PendingOp hinted, declared;
  sim::RunOptions options;
  uint64_t object = 0;
  s.Run(first, options, [&] {
    object = s.NewObjectId();
    s.Spawn("a", [&] {
      s.YieldHint("hinted", object);
      hinted = s.current_fiber().pending;
      s.Yield("declared", object);
      declared = s.current_fiber().pending;
    });
  }, [] {});
  EXPECT_EQ(hinted.object, object);
  EXPECT_TRUE(hinted.hint);
  EXPECT_EQ(declared.object, object);
  EXPECT_FALSE(declared.hint);
}

TEST(SurwTest, ARunIsAFunctionOfItsSeedAndReplays) {
  Surw surw(TwoObjects::Profile(4));
  std::set<std::vector<std::pair<int, uint64_t>>> distinct;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    std::vector<std::pair<int, uint64_t>> a, b, replayed;
    sim::Scheduler s;
    sim::RunResult first = TwoObjects::Run(s, surw, seed, 4, &a);
    std::vector<sim::Decision> decisions = s.chooser().decisions();
    TwoObjects::Run(s, surw, seed, 4, &b);
    EXPECT_EQ(a, b);
    Replay replay(decisions);
    sim::RunResult again = TwoObjects::Run(s, replay, seed, 4, &replayed);
    EXPECT_FALSE(replay.diverged()) << replay.divergence();
    EXPECT_EQ(replayed, a);
    EXPECT_EQ(again.digest, first.digest);
    distinct.insert(a);
  }
  EXPECT_GT(distinct.size(), 10u);
}

TEST(ObjectProfileTest, OffersOnlyObjectsTwoFibersTouch) {
  // Fiber 0 alone touches `own`; both touch `shared`.
  sim::Scheduler s;
  ObjectProfileData d = ProfileObjects(s, 4, [&](sim::Strategy& walk, uint64_t seed) {
    sim::RunOptions options;
    options.seed = seed;
    s.Run(walk, options, [&] {
      uint64_t shared = s.NewObjectId();
      uint64_t own = s.NewObjectId();
      s.Spawn("a", [&s, shared, own] {
        for (int i = 0; i < 3; ++i) {
          s.Yield("own", own);
          s.Yield("shared", shared);
        }
      });
      s.Spawn("b", [&s, shared] {
        for (int i = 0; i < 3; ++i) s.Yield("shared", shared);
      });
    }, [] {});
  });
  EXPECT_EQ(d.runs, 4u);
  // Every event is counted, chosen or not: fiber 0 has its six.
  ASSERT_GE(d.by_spawn.size(), 2u);
  EXPECT_EQ(d.by_spawn[0].at(2), 12u);
  EXPECT_EQ(d.by_spawn[0].at(1), 12u);
  EXPECT_EQ(d.objects, (std::vector<uint64_t>{1}));
}

}  // namespace
}  // namespace fsim::model
