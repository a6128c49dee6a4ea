// URW, the uniform random walk over interleavings that SURW ("Selectively
// Uniform Random Walk", ASPLOS'25) builds on: strategy "urw", not
// selective (model/surw.h is). A random walk picks each runnable fiber with probability
// 1/k, so a fiber with many steps left is starved as the fiber count k
// grows: a checker created last by a main thread that creates N threads
// is reached only after most of them have finished. Picking each fiber
// with probability proportional to the number of its events still to
// come samples the interleavings of those events uniformly (each of the
// multinomial(n1, ..., nk) orders equally likely), whatever k is.
//
// The events counted ("selected") are the fiber's scheduling decisions:
// in fsim every yield point sits before a visible operation (a lock, a
// wait, a shared access), so all visible events are selected. How many a
// fiber will have is not known in advance: it is estimated per spawn
// index (the k-th fiber created in a run) from profile runs of the
// target under the random walk with fixed seeds, made once, so every
// process and shard computes the same estimate (as PCT's run length).
// During a run a fiber's weight is its estimate less the decisions it has
// been picked for, at least 1.
//
// All draws come from the run's seed; the picks are recorded decisions,
// so a trace replays without this strategy. Value choices are uniform.
#ifndef FSIM_MODEL_URW_H_
#define FSIM_MODEL_URW_H_

#include <cstdint>
#include <vector>

#include "sim/random.h"
#include "sim/strategy.h"

namespace fsim::model {

class Urw final : public sim::Strategy {
 public:
  // `events_by_spawn`: the estimated decisions of the k-th fiber spawned
  // in a run (fibers past its end weigh 1).
  explicit Urw(std::vector<uint64_t> events_by_spawn);

  void BeginRun(uint64_t seed) override;
  void OnSpawn(sim::FiberId id) override;
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override;
  uint64_t PickValue(uint64_t n, sim::Site) override { return random_.Below(n); }

  const std::vector<uint64_t>& estimate() const { return events_by_spawn_; }

 private:
  struct Slot {
    uint64_t expected = 1;  // estimated decisions of this fiber in all
    uint64_t picked = 0;    // decisions it was picked for so far
  };
  std::vector<uint64_t> events_by_spawn_;
  sim::Random random_;
  uint64_t spawned_ = 0;
  std::vector<Slot> slots_;  // by fiber id (ids are reused: reset on spawn)
};

// Counts, per spawn index, the decisions each fiber is picked for under a
// uniform random walk: what Urw's estimate is made of.
class SpawnProfile final : public sim::Strategy {
 public:
  void BeginRun(uint64_t seed) override;
  void OnSpawn(sim::FiberId id) override;
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override;
  uint64_t PickValue(uint64_t n, sim::Site) override { return random_.Below(n); }
  // Decisions by spawn index, summed over the runs so far.
  const std::vector<uint64_t>& totals() const { return totals_; }

 private:
  sim::Random random_;
  uint64_t spawned_ = 0;
  std::vector<uint64_t> spawn_index_;  // by fiber id
  std::vector<uint64_t> totals_;
};

}  // namespace fsim::model

#endif  // FSIM_MODEL_URW_H_
