// Unit checks of each strategy: DFS enumerates a decision tree exactly once
// per leaf (fiber and value choices alike) and honours its preemption
// bound; PCT, SURW and the random walk are functions of the seed; SURW
// weighs fibers by their events to come (uniform over interleavings when
// its estimate is exact) and its runs replay; replay follows
// a recorded stream and reports exactly where a run leaves it.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "model/dfs.h"
#include "model/pct.h"
#include "model/random_walk.h"
#include "model/replay.h"
#include "model/surw.h"
#include "model/urw.h"
#include "sim/scheduler.h"
#include "sim/testing.h"

namespace fsim::model {
namespace {

using sim::testing::RunFunctions;

// n fibers of `steps` segments each.
sim::RunResult RunSteps(sim::Scheduler& s, sim::Strategy& strategy, int n, int steps,
                        std::vector<int>* order = nullptr) {
  return RunFunctions(s, strategy, [&, n, steps, order] {
    for (int f = 0; f < n; ++f) {
      s.Spawn("f", [&s, f, steps, order] {
        for (int i = 0; i < steps; ++i) {
          if (order) order->push_back(f);
          if (i + 1 < steps) s.Yield("step");
        }
      });
    }
  });
}

uint64_t CountDfs(int bound, int n, int steps) {
  sim::Scheduler s;
  Dfs dfs(bound);
  std::set<std::vector<int>> seen;
  while (!dfs.exhausted()) {
    std::vector<int> order;
    RunSteps(s, dfs, n, steps, &order);
    EXPECT_TRUE(seen.insert(order).second) << "a schedule was explored twice";
  }
  EXPECT_EQ(seen.size(), dfs.runs());
  return dfs.runs();
}

TEST(DfsTest, CountsInterleavingsExactly) {
  EXPECT_EQ(CountDfs(-1, 2, 2), 6u);    // C(4,2)
  EXPECT_EQ(CountDfs(-1, 2, 3), 20u);   // C(6,3)
  EXPECT_EQ(CountDfs(-1, 3, 2), 90u);   // 6!/(2!2!2!)
}

TEST(DfsTest, PreemptionBoundPrunes) {
  EXPECT_EQ(CountDfs(0, 2, 3), 2u);  // who starts; no preemption after that
  uint64_t one = CountDfs(1, 2, 3);
  EXPECT_GT(one, 2u);
  EXPECT_LT(one, 20u);
  EXPECT_EQ(CountDfs(10, 2, 3), 20u);
}

TEST(DfsTest, EnumeratesValueChoices) {
  sim::Scheduler s;
  Dfs dfs(-1);
  std::set<std::pair<uint64_t, uint64_t>> seen;
  while (!dfs.exhausted()) {
    uint64_t a = 0, b = 0;
    RunFunctions(s, dfs, [&] {
      s.Spawn("chooser", [&] {
        a = s.Choose(3, "a");
        b = s.Choose(2, "b");
      });
    });
    seen.insert({a, b});
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(dfs.runs(), 6u);
}

TEST(PctTest, SameSeedSameScheduleAndSeedsDiffer) {
  auto order_for = [](uint64_t seed) {
    sim::Scheduler s;
    Pct pct(3, 12);
    std::vector<int> order;
    sim::RunOptions options;
    options.seed = seed;
    s.Run(pct, options, [&] {
      for (int f = 0; f < 3; ++f) {
        s.Spawn("f", [&s, f, &order] {
          for (int i = 0; i < 4; ++i) { order.push_back(f); s.Yield("y"); }
        });
      }
    }, [] {});
    return order;
  };
  EXPECT_EQ(order_for(5), order_for(5));
  std::set<std::vector<int>> distinct;
  for (uint64_t seed = 0; seed < 50; ++seed) distinct.insert(order_for(seed));
  EXPECT_GT(distinct.size(), 5u);
}

TEST(PctTest, DepthOneNeverPreemptsARunnableFiberOfHigherPriority) {
  // With depth 1 there are no change points: the highest-priority fiber
  // runs to its end before any other.
  for (uint64_t seed = 0; seed < 50; ++seed) {
    sim::Scheduler s;
    Pct pct(1, 10);
    std::vector<int> order;
    sim::RunOptions options;
    options.seed = seed;
    s.Run(pct, options, [&] {
      for (int f = 0; f < 2; ++f) {
        s.Spawn("f", [&s, f, &order] {
          for (int i = 0; i < 3; ++i) { order.push_back(f); s.Yield("y"); }
        });
      }
    }, [] {});
    ASSERT_EQ(order.size(), 6u);
    EXPECT_EQ(order[0], order[1]);
    EXPECT_EQ(order[1], order[2]);
  }
}

// Three fibers of four steps each, under `strategy` with `seed`.
std::vector<int> UrwOrder(Urw& surw, uint64_t seed, sim::RunResult* result = nullptr,
                           std::vector<sim::Decision>* decisions = nullptr) {
  sim::Scheduler s;
  std::vector<int> order;
  sim::RunOptions options;
  options.seed = seed;
  sim::RunResult r = s.Run(surw, options, [&] {
    for (int f = 0; f < 3; ++f) {
      s.Spawn("f", [&s, f, &order] {
        for (int i = 0; i < 4; ++i) { order.push_back(f); s.Yield("y"); }
      });
    }
  }, [] {});
  if (result) *result = r;
  if (decisions) *decisions = s.chooser().decisions();
  return order;
}

TEST(UrwTest, SameSeedSameScheduleAndSeedsDiffer) {
  Urw surw({5, 5, 5});
  EXPECT_EQ(UrwOrder(surw, 5), UrwOrder(surw, 5));
  std::set<std::vector<int>> distinct;
  for (uint64_t seed = 0; seed < 50; ++seed) distinct.insert(UrwOrder(surw, seed));
  EXPECT_GT(distinct.size(), 20u);
}

TEST(UrwTest, ItsRunsReplayFromTheRecordedDecisions) {
  Urw surw({5, 5, 5});
  sim::RunResult first;
  std::vector<sim::Decision> decisions;
  std::vector<int> original = UrwOrder(surw, 11, &first, &decisions);
  sim::Scheduler s;
  Replay replay(decisions);
  std::vector<int> replayed;
  sim::RunOptions options;
  options.seed = 11;
  sim::RunResult again = s.Run(replay, options, [&] {
    for (int f = 0; f < 3; ++f) {
      s.Spawn("f", [&s, f, &replayed] {
        for (int i = 0; i < 4; ++i) { replayed.push_back(f); s.Yield("y"); }
      });
    }
  }, [] {});
  EXPECT_FALSE(replay.diverged()) << replay.divergence();
  EXPECT_EQ(replayed, original);
  EXPECT_EQ(again.digest, first.digest);
}

TEST(UrwTest, UniformOverInterleavingsWhenTheEstimateIsExact) {
  // Two fibers of two steps: each is picked twice (its start, then after
  // its yield), so the estimate {2, 2} is exact and each of the C(4,2) = 6
  // interleavings comes up with probability 1/6. A random walk gives the
  // two that alternate twice as often as the others.
  Urw surw({2, 2});
  std::map<std::vector<int>, int> counts;
  constexpr int kRuns = 6000;
  for (uint64_t seed = 0; seed < kRuns; ++seed) {
    sim::Scheduler s;
    std::vector<int> order;
    sim::RunOptions options;
    options.seed = seed;
    s.Run(surw, options, [&] {
      for (int f = 0; f < 2; ++f) {
        s.Spawn("f", [&s, f, &order] {
          order.push_back(f);
          s.Yield("y");
          order.push_back(f);
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

TEST(UrwTest, AFiberWithMoreEventsToComeIsPickedMoreOften) {
  // Estimate: the first fiber has 1 event, the second 9. The first pick
  // goes to the second with probability 9/10.
  Urw surw({1, 9});
  int second_first = 0;
  constexpr int kRuns = 1000;
  for (uint64_t seed = 0; seed < kRuns; ++seed) {
    sim::Scheduler s;
    std::vector<int> order;
    sim::RunOptions options;
    options.seed = seed;
    s.Run(surw, options, [&] {
      for (int f = 0; f < 2; ++f) {
        s.Spawn("f", [&s, f, &order] { order.push_back(f); s.Yield("y"); });
      }
    }, [] {});
    second_first += order.front() == 1;
  }
  EXPECT_NEAR(static_cast<double>(second_first) / kRuns, 0.9, 0.04);
}

TEST(ReplayTest, FollowsARecordedStreamExactly) {
  sim::Scheduler s;
  RandomWalk walk;
  sim::RunOptions options;
  options.seed = 42;
  std::vector<int> original;
  sim::RunResult first = s.Run(walk, options, [&] {
    for (int f = 0; f < 3; ++f) {
      s.Spawn("f", [&s, f, &original] {
        for (int i = 0; i < 4; ++i) {
          original.push_back(f * 10 + static_cast<int>(s.Choose(5, "v")));
          s.Yield("y");
        }
      });
    }
  }, [] {});
  Replay replay(s.chooser().decisions());
  std::vector<int> replayed;
  sim::RunResult again = s.Run(replay, options, [&] {
    for (int f = 0; f < 3; ++f) {
      s.Spawn("f", [&s, f, &replayed] {
        for (int i = 0; i < 4; ++i) {
          replayed.push_back(f * 10 + static_cast<int>(s.Choose(5, "v")));
          s.Yield("y");
        }
      });
    }
  }, [] {});
  EXPECT_FALSE(replay.diverged()) << replay.divergence();
  EXPECT_EQ(replayed, original);
  EXPECT_EQ(again.digest, first.digest);
}

TEST(ReplayTest, ReportsWhereARunLeavesTheStream) {
  sim::Scheduler s;
  // Recorded: a value of 4 out of 5; the program now chooses among 3.
  Replay replay({{sim::DecisionKind::kValue, 5, 4}});
  RunFunctions(s, replay, [&] { s.Spawn("f", [&] { s.Choose(3, "v"); }); });
  EXPECT_TRUE(replay.diverged());
  EXPECT_EQ(replay.divergence(),
            "decision 0: recorded value 4 of 5 does not fit a choice of 3");

  Replay short_stream({});
  RunFunctions(s, short_stream, [&] { s.Spawn("f", [&] { s.Choose(2, "v"); }); });
  EXPECT_TRUE(short_stream.diverged());

  Replay long_stream({{sim::DecisionKind::kValue, 2, 1}, {sim::DecisionKind::kValue, 2, 1}});
  RunFunctions(s, long_stream, [&] { s.Spawn("f", [&] { s.Choose(2, "v"); }); });
  EXPECT_EQ(long_stream.divergence(), "the run ended after 1 of 2 recorded decisions");
}

}  // namespace
}  // namespace fsim::model
