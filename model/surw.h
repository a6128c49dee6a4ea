// SURW, selectively uniform random walk (after "Selectively Uniform
// Concurrency Testing", ASPLOS'25). URW (model/urw.h) samples the
// interleavings of all visible events uniformly; a bug usually needs only
// the events on one or two objects in a particular order, and the more
// events are counted, the smaller the share of interleavings that order
// has. SURW narrows the sample to "selected" events:
//
// - Each run selects a random subset of the objects (locks, wait queues,
//   completions, shared variables) that two or more fibers touched in
//   profile runs: each object independently with probability 1/2, at
//   least one. An event is
//   selected when the object its fiber's next operation touches
//   (SchedulePoint::pending) is.
// - A runnable fiber whose next operation is not selected runs first (a
//   free move, uniformly among such fibers): unselected events do not
//   change the order of the selected ones.
// - When every runnable fiber is at a selected event, one is picked with
//   probability proportional to its selected events still to come, which
//   samples the interleavings of the selected events uniformly (each of
//   the multinomial orders equally likely, when the estimate is exact and
//   nothing blocks).
// - Code that does not declare each access it makes (fs/, the simulated
//   hardware) names, at the scheduling point before a page lock, an
//   extent range lock, a bio's submission or a page allocation, the object
//   it is about to touch as a hint (Scheduler::YieldHint). In half the
//   runs (a draw of the run's seed) hinted events are selected like any
//   other event on their object; in the other half they are free moves,
//   as unnamed yields always are. Unnamed, the yield before a lock_page
//   always ran first, and a fiber at one could never be held back behind
//   another's selected event: a window such as "the cloner runs ahead of
//   three completion workers, each about to take a page" took surw
//   thousands of runs (random, tens). Always selectable, other windows
//   that the free moves open fast became slower; half and half keeps both
//   (README, "SCTBench").
// - A fiber that spins on unselected events (a retry loop) would keep the
//   selected ones from ever running: after kFreeMovesMax free moves since
//   its last selected event, a fiber's unselected events are no longer
//   free: it joins the weighted picks with weight 1, so the others
//   progress.
//
// The counts are estimated per spawn index (the k-th fiber created in a
// run) and per object id (ids are creation order within a run) from a
// few profile runs of the target under a random walk with fixed seeds,
// made once, so every process and shard computes the same estimate.
//
// All draws come from the run's seed; the picks are recorded decisions,
// so a trace replays without this strategy. Value choices are uniform.
#ifndef FSIM_MODEL_SURW_H_
#define FSIM_MODEL_SURW_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "sim/limits.h"
#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/strategy.h"
#include "sim/tracer.h"

namespace fsim::model {

// Events by spawn index and object, summed over `runs` profile runs.
struct ObjectProfileData {
  uint64_t runs = 0;
  // by_spawn[k][object]: events of the k-th spawned fiber on `object`.
  std::vector<std::map<uint64_t, uint64_t>> by_spawn;
  // The objects a run selects from, ascending: those two or more spawn
  // indices touch (every object seen, if none is).
  std::vector<uint64_t> objects;
};

class Surw final : public sim::Strategy {
 public:
  static constexpr uint64_t kFreeMovesMax = 256;

  explicit Surw(ObjectProfileData profile);

  void BeginRun(uint64_t seed) override;
  void OnSpawn(sim::FiberId id) override;
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override;
  uint64_t PickValue(uint64_t n, sim::Site) override { return random_.Below(n); }

  const ObjectProfileData& profile() const { return profile_; }
  // The objects this run selected (ascending); for tests.
  std::vector<uint64_t> SelectedObjects() const;
  // Whether this run's hinted events may be selected; for tests.
  bool hints() const { return hints_; }

 private:
  struct Slot {
    // Selected events still expected of this fiber: the estimate less
    // those it was picked for so far, at 0 once the estimate is spent
    // (its weight is then 1).
    uint32_t remaining = 1;
    uint32_t free_moves = 0;  // free moves since its last selected event
  };
  // selected_[object]: bit 0 if the object is selected, bit 1 if its
  // hinted events are too (selected, in a run whose hints may be). Object
  // 0 (none) is never selected.
  static constexpr uint8_t kSelected = 1, kSelectedHinted = 2;
  bool Selected(uint64_t object) const {
    return object < selected_.size() && (selected_[object] & kSelected) != 0;
  }
  bool Selected(const sim::PendingOp& op) const {
    return op.object < selected_.size() && ((selected_[op.object] >> (op.hint ? 1 : 0)) & 1) != 0;
  }

  ObjectProfileData profile_;
  // profile_.by_spawn[k] as (object, events) pairs, ascending.
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> spawn_events_;
  sim::Random random_;
  std::vector<uint8_t> selected_;  // by object id: kSelected | kSelectedHinted (read every decision)
  bool hints_ = true;              // hinted events may be selected this run
  uint64_t spawned_ = 0;
  // By fiber id, for every id a run can have (ids are reused: reset on
  // spawn), and PickFiber's scratch by runnable index: sized once, so
  // that a decision checks no size.
  std::vector<Slot> slots_ = std::vector<Slot>(sim::kFibersMax);
  std::vector<uint64_t> weights_ = std::vector<uint64_t>(sim::kFibersMax);
  std::vector<sim::FiberId> free_ = std::vector<sim::FiberId>(sim::kFibersMax);
};

// Counts, per spawn index and object, the events of each fiber (every
// yield and block, whether or not a choice was made there): what Surw's
// estimate is made of. Install it as the tracer of profile runs.
class ObjectProfile final : public sim::Tracer {
 public:
  void RunBegin(const sim::Scheduler& sched) override;
  void RunEnd() override { ++data_.runs; }
  void Spawn(const sim::Fiber& fiber) override;
  void Yield(const sim::Fiber& fiber, sim::Site site) override;
  void Block(const sim::Fiber& fiber, const sim::Waitable& on, uint64_t deadline_ns) override;
  void FindingReported(const sim::Finding& finding) override;
  // A profile run was stopped by the soft-lockup watchdog: the program
  // loops for ever somewhere, and every further profile run would cost a
  // whole watchdog period; exploration reports it.
  bool soft_lockup() const { return soft_lockup_; }
  // The counts so far, with `objects` filled in.
  ObjectProfileData Data() const;

 private:
  void Count(const sim::Fiber& fiber);

  uint64_t spawned_ = 0;
  bool soft_lockup_ = false;
  std::vector<uint64_t> spawn_index_;  // by fiber id
  ObjectProfileData data_;
};

// Profiles `runs` runs of a program under a random walk with seeds 0, 1,
// ...: `run(strategy, seed)` runs it once on `sched`, whose tracer is
// replaced for the profile runs and restored.
ObjectProfileData ProfileObjects(
    sim::Scheduler& sched, uint64_t runs,
    const std::function<void(sim::Strategy&, uint64_t)>& run);

}  // namespace fsim::model

#endif  // FSIM_MODEL_SURW_H_
