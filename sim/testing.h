// Test helpers for sim/: programs from lambdas and simple strategies.
#ifndef FSIM_SIM_TESTING_H_
#define FSIM_SIM_TESTING_H_

#include <deque>
#include <functional>
#include <utility>

#include "sim/program.h"
#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/strategy.h"

namespace fsim::sim::testing {

// Picks the lowest runnable fiber id (the current one at a yield point is
// kept only if it is the lowest); values are 0.
class FirstStrategy : public Strategy {
 public:
  void BeginRun(uint64_t) override {}
  FiberId PickFiber(const SchedulePoint& p) override { return p.runnable[0]; }
  uint64_t PickValue(uint64_t, Site) override { return 0; }
};

// Keeps the current fiber running when it can (no preemption); otherwise
// the lowest runnable id.
class NonPreemptive : public Strategy {
 public:
  void BeginRun(uint64_t) override {}
  FiberId PickFiber(const SchedulePoint& p) override {
    return p.current_runnable ? p.current : p.runnable[0];
  }
  uint64_t PickValue(uint64_t, Site) override { return 0; }
};

// Follows a script of fiber ids (each must be runnable when used), then
// falls back to the lowest runnable id.
class ScriptStrategy : public Strategy {
 public:
  explicit ScriptStrategy(std::deque<FiberId> script) : script_(std::move(script)) {}
  void BeginRun(uint64_t) override {}
  FiberId PickFiber(const SchedulePoint& p) override {
    if (script_.empty()) return p.runnable[0];
    FiberId id = script_.front();
    script_.pop_front();
    return id;
  }
  uint64_t PickValue(uint64_t, Site) override { return 0; }

 private:
  std::deque<FiberId> script_;
};

// Uniformly random, from the seed.
class RandomStrategy : public Strategy {
 public:
  void BeginRun(uint64_t seed) override { random_.Seed(seed); }
  FiberId PickFiber(const SchedulePoint& p) override {
    return p.runnable[random_.Below(p.runnable.size())];
  }
  uint64_t PickValue(uint64_t n, Site) override { return random_.Below(n); }

 private:
  Random random_;
};

// Runs `start` (which spawns fibers) and then `finish` as one execution.
inline RunResult RunFunctions(Scheduler& sched, Strategy& strategy,
                              std::function<void()> start,
                              std::function<void()> finish = [] {},
                              RunOptions options = {}) {
  return sched.Run(strategy, options, start, finish);
}

}  // namespace fsim::sim::testing

#endif  // FSIM_SIM_TESTING_H_
