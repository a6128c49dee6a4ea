// Random walk: every decision uniformly at random from the run's seed.
// Cheap and unbiased per step; weak at bugs that need a few specific
// preemptions deep into a run (PCT's strength).
#ifndef FSIM_MODEL_RANDOM_WALK_H_
#define FSIM_MODEL_RANDOM_WALK_H_

#include "sim/random.h"
#include "sim/strategy.h"

namespace fsim::model {

class RandomWalk final : public sim::Strategy {
 public:
  void BeginRun(uint64_t seed) override { random_.Seed(sim::Mix64(seed)); }
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override {
    return point.runnable[random_.Below(point.runnable.size())];
  }
  uint64_t PickValue(uint64_t n, sim::Site) override {
    return random_.Below(n);
  }

 private:
  sim::Random random_;
};

}  // namespace fsim::model

#endif  // FSIM_MODEL_RANDOM_WALK_H_
