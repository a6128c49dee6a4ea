// The scheduling policy: a tiny interface that answers the Chooser. One
// implementation per file under model/ (random walk, PCT, bounded DFS,
// replay). A strategy sees only what is needed to decide: the runnable set
// in ascending fiber-id order (never addresses), the fiber that reached the
// point, and the bound of a value choice.
#ifndef FSIM_SIM_STRATEGY_H_
#define FSIM_SIM_STRATEGY_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "sim/site.h"

namespace fsim::sim {

using FiberId = uint32_t;
inline constexpr FiberId kNoFiber = ~FiberId{0};

// One scheduling point with more than one runnable fiber.
struct SchedulePoint {
  std::span<const FiberId> runnable;  // ascending, at least two entries
  // The fiber that reached the point; kNoFiber at the start of a run.
  FiberId current = kNoFiber;
  // True at a yield point, where `current` could go on: choosing another
  // fiber is then a preemption. False after a block or an exit.
  bool current_runnable = false;
  uint64_t step = 0;  // scheduling steps taken so far in this run
};

class Strategy {
 public:
  virtual ~Strategy() = default;

  // Called before each run with the run's seed.
  virtual void BeginRun(uint64_t seed) = 0;
  // A fiber was created (ids are reused once a fiber has exited).
  virtual void OnSpawn(FiberId id) { (void)id; }
  // Returns one of point.runnable.
  virtual FiberId PickFiber(const SchedulePoint& point) = 0;
  // Returns a value in [0, n). REQUIRES: n >= 2 (single options are not
  // asked).
  virtual uint64_t PickValue(uint64_t n, Site site) = 0;
  // Called after each run, whatever its outcome.
  virtual void EndRun() {}
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_STRATEGY_H_
