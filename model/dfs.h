// Bounded exhaustive search (stateless DFS over the decision tree, as in
// CHESS): each run replays a prefix of the previous run's decisions and
// takes the next untried option at the deepest point that has one. With a
// preemption bound P, only schedules with at most P preemptions (switching
// away from a fiber that could have gone on) are explored; value choices
// cost nothing. When the tree is exhausted, exhausted() turns true and
// runs() is the number of distinct schedules explored.
//
// Sharding: shard I of N owns the options of the first decision whose
// index is I modulo N; deeper decisions are not split. A shard that owns
// no option of the first decision has one unowned run and is exhausted.
//
// The program must be deterministic given the decisions; a replayed prefix
// that does not match is a harness error.
//
// Sleep sets (Godefroid's partial-order reduction, `sleep_sets`): after
// the subtree of fiber t at a node is explored, t sleeps in its siblings'
// subtrees until a transition dependent on t's (sim::Footprint: the same
// lock, wait queue, completion or shared variable, not both reads) runs.
// A sleeping fiber is not scheduled; a run whose only runnable fibers
// sleep is redundant (counted in sleep_blocked(), with no alternatives
// below). Unbounded, every Mazurkiewicz trace (every class of schedules
// equal up to swapping adjacent independent transitions) keeps at least
// one schedule, so every deadlock, assertion and final state plain DFS
// reaches is reached. Sound only when every access to shared state is
// named at a scheduling point (sctbench's programs, the runtime's): a
// transition that yields naming nothing is dependent on everything, but a
// plain field read without a yield is invisible. Under a preemption bound
// the reduction is a heuristic: the one schedule kept of a class may be
// the one the bound cuts off (Coons, Musuvathi, McKinley, "Bounded
// partial-order reduction", OOPSLA 2013).
#ifndef FSIM_MODEL_DFS_H_
#define FSIM_MODEL_DFS_H_

#include <cstdint>
#include <vector>

#include "sim/chooser.h"
#include "sim/strategy.h"

namespace fsim::model {

class Dfs final : public sim::Strategy {
 public:
  // preemption_bound < 0: unbounded.
  explicit Dfs(int preemption_bound, uint32_t shard_index = 0,
               uint32_t shard_count = 1, bool sleep_sets = false);

  void BeginRun(uint64_t seed) override;
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override;
  uint64_t PickValue(uint64_t n, sim::Site) override;
  void EndRun() override;
  bool WantsFootprints() const override { return sleep_sets_; }
  void OnTransition(sim::FiberId fiber, const sim::Footprint& footprint) override;

  bool exhausted() const { return exhausted_; }
  // Whether the preemption bound cut some schedule off: a larger bound
  // would explore more.
  bool bound_pruned() const { return bound_pruned_; }
  // Whether the run that just ended belongs to this shard.
  bool run_owned() const { return run_owned_; }
  uint64_t runs() const { return runs_; }
  // Sleep sets: runs that reached a state whose every runnable fiber slept
  // (redundant: their schedules are equivalent to ones explored).
  uint64_t sleep_blocked() const { return sleep_blocked_; }

 private:
  struct Sleeper {
    sim::FiberId fiber;
    sim::Footprint footprint;
  };
  struct Node {
    sim::DecisionKind kind;
    // Options in exploration order: for a fiber choice at a yield point the
    // current fiber first (no preemption), then the others ascending.
    std::vector<uint32_t> options;
    size_t chosen = 0;
    sim::FiberId current = sim::kNoFiber;
    bool current_runnable = false;
    int preemptions_before = 0;
    // Sleep sets (fiber choices): the sleeping fibers on arrival with their
    // transitions' footprints; per option, whether it sleeps here and the
    // footprint of its transition once explored (unknown until then).
    std::vector<Sleeper> sleep;
    std::vector<bool> asleep;
    std::vector<sim::Footprint> done;
    bool no_alternatives = false;  // in a redundant run's tail
  };


  int Cost(const Node& node, size_t option) const;
  bool Allowed(const Node& node, size_t depth, size_t option) const;
  uint32_t Decide(Node node);
  bool Explorable(const Node& node, size_t depth, size_t option) const;
  // Sleep sets: the sleepers for `node`'s chosen option's subtree.
  void EnterChoice(size_t depth);

  int bound_;
  uint32_t shard_index_;
  uint32_t shard_count_;
  std::vector<Node> stack_;
  size_t depth_ = 0;  // decisions made in the current run
  int preemptions_ = 0;
  bool exhausted_ = false;
  mutable bool bound_pruned_ = false;
  bool run_owned_ = true;
  uint64_t runs_ = 0;
  bool sleep_sets_ = false;
  std::vector<Sleeper> sleep_;        // now sleeping
  size_t transition_node_ = SIZE_MAX;  // the node whose chosen transition runs
  bool redundant_ = false;             // this run reached a sleep-blocked state
  uint64_t sleep_blocked_ = 0;
};

}  // namespace fsim::model

#endif  // FSIM_MODEL_DFS_H_
