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
#include <vector>

#include "sim/site.h"

namespace fsim::sim {

using FiberId = uint32_t;
inline constexpr FiberId kNoFiber = ~FiberId{0};

// What a fiber's next visible operation touches: the object (a lock, a
// wait queue, a completion, a shared variable) by its id, numbered in
// creation order within the run from 1 (never an address), or 0 when
// not known (a fiber that has not reached its first scheduling point, a
// plain yield). `read`: the operation only reads the object (a load of a
// shared variable); two reads of one object are independent.
struct PendingOp {
  uint64_t object = 0;
  bool read = false;
  // Named at a scheduling point of code that does not declare each access
  // it makes (Scheduler::YieldHint): what the fiber is about to touch, a
  // hint a strategy may order by, not a declared access.
  bool hint = false;
};

// True if the two operations may not commute: the same object, not both
// reads. Operations on unknown objects (0) are independent of everything
// but themselves being ordered by their fiber.
constexpr bool Dependent(const PendingOp& a, const PendingOp& b) {
  return a.object != 0 && a.object == b.object && !(a.read && b.read);
}

// What one transition touched (a fiber's run from one scheduling point to
// the next, for partial-order reduction): the objects of its first
// operation (its PendingOp) and of every wake-up, unlock, completion or
// block in it. `unknown`: it touched something unnamed (a yield naming no
// object, a timer), so it is dependent on every transition.
struct Footprint {
  bool unknown = false;
  std::vector<PendingOp> ops;

  void Add(PendingOp op) {
    if (op.object == 0) {
      unknown = true;
      return;
    }
    for (PendingOp& o : ops) {
      if (o.object == op.object) {
        o.read = o.read && op.read;
        return;
      }
    }
    ops.push_back(op);
  }
  void Clear() {
    unknown = false;
    ops.clear();
  }
};

// Whether two transitions may not commute: either touched something
// unnamed, or both touched one object and not both only read it.
inline bool Dependent(const Footprint& a, const Footprint& b) {
  if (a.unknown || b.unknown) return true;
  for (const PendingOp& x : a.ops) {
    for (const PendingOp& y : b.ops) {
      if (x.object == y.object && !(x.read && y.read)) return true;
    }
  }
  return false;
}

// One scheduling point with more than one runnable fiber.
struct SchedulePoint {
  std::span<const FiberId> runnable;  // ascending, at least two entries
  // pending[id]: the next operation of fiber `id`, for every id (read
  // it for the runnable ones: pending[runnable[i]]).
  std::span<const PendingOp> pending;
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
  // A strategy that reduces by partial order asks for footprints: the
  // scheduler then reports every transition's (OnTransition; fiber
  // kNoFiber: timers fired, touching anything). Off, it costs one branch
  // per scheduling point.
  virtual bool WantsFootprints() const { return false; }
  virtual void OnTransition(FiberId fiber, const Footprint& footprint) {
    (void)fiber;
    (void)footprint;
  }
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_STRATEGY_H_
