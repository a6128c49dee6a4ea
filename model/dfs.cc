#include "model/dfs.h"

#include <algorithm>
#include <stdexcept>

#include "sim/check.h"

namespace fsim::model {

Dfs::Dfs(int preemption_bound, uint32_t shard_index, uint32_t shard_count, bool sleep_sets)
    : bound_(preemption_bound),
      shard_index_(shard_index),
      shard_count_(shard_count),
      sleep_sets_(sleep_sets) {
  FSIM_CHECK(shard_count >= 1 && shard_index < shard_count);
}

void Dfs::BeginRun(uint64_t) {
  FSIM_CHECK_MSG(!exhausted_, "DFS asked to run after exhaustion");
  depth_ = 0;
  preemptions_ = 0;
  run_owned_ = true;
  sleep_.clear();
  transition_node_ = SIZE_MAX;
  redundant_ = false;
}

int Dfs::Cost(const Node& node, size_t option) const {
  return node.kind == sim::DecisionKind::kFiber && node.current_runnable &&
                 node.options[option] != node.current
             ? 1
             : 0;
}

bool Dfs::Allowed(const Node& node, size_t depth, size_t option) const {
  if (bound_ >= 0 && node.preemptions_before + Cost(node, option) > bound_) {
    bound_pruned_ = true;
    return false;
  }
  if (depth == 0 && shard_count_ > 1) return option % shard_count_ == shard_index_;
  return true;
}

// An option the search may take: within the bound and the shard, not
// asleep, and not in a redundant run's tail.
bool Dfs::Explorable(const Node& node, size_t depth, size_t option) const {
  if (node.no_alternatives) return false;
  if (!node.asleep.empty() && node.asleep[option]) return false;
  return Allowed(node, depth, option);
}

void Dfs::EnterChoice(size_t depth) {
  // Sleeping in the chosen option's subtree: those asleep on arrival, and
  // the options explored before it here (their subtrees are done), each
  // until a transition dependent on its own runs (OnTransition).
  const Node& node = stack_[depth];
  sleep_ = node.sleep;
  for (size_t j = 0; j < node.chosen; ++j) {
    if (!node.asleep[j] && Allowed(node, depth, j)) {
      sleep_.push_back({node.options[j], node.done[j]});
    }
  }
  const sim::FiberId chosen = node.options[node.chosen];
  std::erase_if(sleep_, [chosen](const Sleeper& s) { return s.fiber == chosen; });
  transition_node_ = depth;
}

void Dfs::OnTransition(sim::FiberId fiber, const sim::Footprint& footprint) {
  if (transition_node_ != SIZE_MAX) {
    Node& node = stack_[transition_node_];
    if (node.options[node.chosen] == fiber) node.done[node.chosen] = footprint;
    transition_node_ = SIZE_MAX;
  }
  if (fiber != sim::kNoFiber) {
    for (const Sleeper& s : sleep_) {
      // A forced move of a sleeping fiber (every other one blocked): the
      // state was sleep-blocked, the rest of the run is redundant.
      if (s.fiber == fiber && !redundant_) {
        redundant_ = true;
        ++sleep_blocked_;
      }
    }
  }
  std::erase_if(sleep_, [&](const Sleeper& s) {
    return s.fiber == fiber || sim::Dependent(s.footprint, footprint);
  });
}

uint32_t Dfs::Decide(Node node) {
  if (depth_ < stack_.size()) {
    // Replaying the prefix of the previous run.
    Node& old = stack_[depth_];
    if (old.kind != node.kind || old.options != node.options) {
      throw std::runtime_error(
          "DFS: the program is not deterministic: decision " +
          std::to_string(depth_) + " differs from the previous run's");
    }
    preemptions_ += Cost(old, old.chosen);
    if (sleep_sets_ && old.kind == sim::DecisionKind::kFiber) EnterChoice(depth_);
    return old.options[stack_[depth_++].chosen];
  }
  node.preemptions_before = preemptions_;
  if (sleep_sets_) {
    node.no_alternatives = redundant_;
    if (node.kind == sim::DecisionKind::kFiber) {
      node.sleep = sleep_;
      node.asleep.assign(node.options.size(), false);
      node.done.assign(node.options.size(), sim::Footprint{.unknown = true, .ops = {}});
      for (size_t i = 0; i < node.options.size(); ++i) {
        for (const Sleeper& s : sleep_) {
          if (s.fiber == node.options[i]) node.asleep[i] = true;
        }
      }
    }
  }
  size_t first = 0;
  while (first < node.options.size() && !Explorable(node, depth_, first)) ++first;
  if (first == node.options.size()) {
    if (sleep_sets_ && depth_ > 0) {
      // Every runnable fiber sleeps (or the run is already redundant): take
      // the first option in bound and explore nothing below.
      if (!redundant_) ++sleep_blocked_;
      redundant_ = true;
      node.no_alternatives = true;
      first = 0;
      while (first + 1 < node.options.size() && !Allowed(node, depth_, first)) ++first;
    } else {
      // Only at the root of a shard that owns nothing, or if every option
      // exceeds the bound, which cannot happen: the first option (the
      // current fiber) costs nothing.
      FSIM_CHECK(depth_ == 0);
      run_owned_ = false;
      first = 0;
    }
  }
  node.chosen = first;
  preemptions_ += Cost(node, first);
  stack_.push_back(std::move(node));
  if (sleep_sets_ && stack_.back().kind == sim::DecisionKind::kFiber) EnterChoice(depth_);
  ++depth_;
  return stack_.back().options[first];
}

sim::FiberId Dfs::PickFiber(const sim::SchedulePoint& point) {
  Node node;
  node.kind = sim::DecisionKind::kFiber;
  node.current = point.current;
  node.current_runnable = point.current_runnable;
  if (point.current_runnable) node.options.push_back(point.current);
  for (sim::FiberId id : point.runnable) {
    if (!(point.current_runnable && id == point.current)) {
      node.options.push_back(id);
    }
  }
  return Decide(std::move(node));
}

uint64_t Dfs::PickValue(uint64_t n, sim::Site) {
  Node node;
  node.kind = sim::DecisionKind::kValue;
  node.options.resize(n);
  for (uint64_t i = 0; i < n; ++i) node.options[i] = static_cast<uint32_t>(i);
  return Decide(std::move(node));
}

void Dfs::EndRun() {
  if (run_owned_) ++runs_;
  // The run may have ended before replaying the whole prefix (e.g. it found
  // something): what it did not reach is not part of its path.
  stack_.resize(depth_);
  while (!stack_.empty()) {
    Node& top = stack_.back();
    size_t depth = stack_.size() - 1;
    size_t next = top.chosen + 1;
    while (next < top.options.size() && !Explorable(top, depth, next)) ++next;
    if (next < top.options.size() && run_owned_) {
      top.chosen = next;
      return;
    }
    if (!run_owned_) {  // the shard owns nothing at all
      stack_.clear();
      break;
    }
    stack_.pop_back();
  }
  exhausted_ = true;
}

}  // namespace fsim::model
