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
               uint32_t shard_count = 1);

  void BeginRun(uint64_t seed) override;
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override;
  uint64_t PickValue(uint64_t n, sim::Site) override;
  void EndRun() override;

  bool exhausted() const { return exhausted_; }
  // Whether the preemption bound cut some schedule off: a larger bound
  // would explore more.
  bool bound_pruned() const { return bound_pruned_; }
  // Whether the run that just ended belongs to this shard.
  bool run_owned() const { return run_owned_; }
  uint64_t runs() const { return runs_; }

 private:
  struct Node {
    sim::DecisionKind kind;
    // Options in exploration order: for a fiber choice at a yield point the
    // current fiber first (no preemption), then the others ascending.
    std::vector<uint32_t> options;
    size_t chosen = 0;
    sim::FiberId current = sim::kNoFiber;
    bool current_runnable = false;
    int preemptions_before = 0;
  };

  int Cost(const Node& node, size_t option) const;
  bool Allowed(const Node& node, size_t depth, size_t option) const;
  uint32_t Decide(Node node);

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
};

}  // namespace fsim::model

#endif  // FSIM_MODEL_DFS_H_
