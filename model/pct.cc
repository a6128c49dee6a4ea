#include "model/pct.h"

#include <algorithm>

#include "sim/check.h"

namespace fsim::model {

Pct::Pct(int depth, uint64_t steps_estimate)
    : depth_(depth), steps_estimate_(steps_estimate) {
  FSIM_CHECK(depth >= 1);
  FSIM_CHECK(steps_estimate >= 1);
}

void Pct::BeginRun(uint64_t seed) {
  random_.Seed(sim::Mix64(seed ^ 0x5043'5400ull));
  decisions_ = 0;
  next_change_ = 0;
  change_points_.clear();
  for (int j = 0; j + 1 < depth_; ++j) {
    change_points_.push_back(1 + random_.Below(steps_estimate_));
  }
  std::sort(change_points_.begin(), change_points_.end());
}

void Pct::OnSpawn(sim::FiberId id) {
  // Initial priorities sit above every change-point priority (< depth).
  // Random 62-bit values are distinct with overwhelming probability; ties
  // are broken by fiber id, deterministically.
  priority_[id] = static_cast<uint64_t>(depth_) + (random_.Next() >> 2);
}

sim::FiberId Pct::PickFiber(const sim::SchedulePoint& point) {
  ++decisions_;
  while (next_change_ < change_points_.size() &&
         change_points_[next_change_] <= decisions_) {
    if (point.current != sim::kNoFiber) {
      // The j-th change point lowers the running fiber to depth-1-j.
      priority_[point.current] =
          static_cast<uint64_t>(depth_ - 1) - next_change_;
    }
    ++next_change_;
  }
  sim::FiberId best = point.runnable[0];
  for (sim::FiberId id : point.runnable) {
    if (priority_[id] > priority_[best]) best = id;
  }
  return best;
}

uint64_t Pct::PickValue(uint64_t n, sim::Site) { return random_.Below(n); }

}  // namespace fsim::model
