// PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi,
// Nagarakatte, ASPLOS 2010). Each fiber gets a random priority of at least
// `depth` when it is created; the highest-priority runnable fiber always
// runs; at depth-1 change points, drawn uniformly from the first
// `steps_estimate` decisions, the running fiber drops to priority
// depth-1-j. A bug of depth d is found with probability at least
// 1/(n k^(d-1)) per run. All draws come from the run's seed.
//
// Value choices (latencies, faults) are drawn uniformly.
#ifndef FSIM_MODEL_PCT_H_
#define FSIM_MODEL_PCT_H_

#include <array>
#include <cstdint>
#include <vector>

#include "sim/limits.h"
#include "sim/random.h"
#include "sim/strategy.h"

namespace fsim::model {

class Pct final : public sim::Strategy {
 public:
  // REQUIRES: depth >= 1, steps_estimate >= 1.
  Pct(int depth, uint64_t steps_estimate);

  void BeginRun(uint64_t seed) override;
  void OnSpawn(sim::FiberId id) override;
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override;
  uint64_t PickValue(uint64_t n, sim::Site) override;

 private:
  int depth_;
  uint64_t steps_estimate_;
  sim::Random random_;
  uint64_t decisions_ = 0;
  std::vector<uint64_t> change_points_;  // ascending decision indices
  size_t next_change_ = 0;
  std::array<uint64_t, sim::kFibersMax> priority_{};
};

}  // namespace fsim::model

#endif  // FSIM_MODEL_PCT_H_
