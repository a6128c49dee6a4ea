#include "model/replay.h"

#include <algorithm>

namespace fsim::model {

void Replay::BeginRun(uint64_t) {
  next_ = 0;
  divergence_.clear();
}

void Replay::Diverge(const std::string& why) {
  if (divergence_.empty()) {
    divergence_ = "decision " + std::to_string(next_) + ": " + why;
  }
}

sim::FiberId Replay::PickFiber(const sim::SchedulePoint& point) {
  if (next_ >= decisions_.size()) {
    Diverge("the run asks for more decisions than the trace holds");
    return point.runnable[0];
  }
  const sim::Decision& d = decisions_[next_];
  if (d.kind != sim::DecisionKind::kFiber) {
    Diverge("trace holds a value choice where the run picks a fiber");
    ++next_;
    return point.runnable[0];
  }
  if (d.n != point.runnable.size()) {
    Diverge("recorded " + std::to_string(d.n) + " runnable fibers, the run has " +
            std::to_string(point.runnable.size()));
    ++next_;
    return point.runnable[0];
  }
  if (!std::binary_search(point.runnable.begin(), point.runnable.end(),
                          d.value)) {
    Diverge("recorded fiber " + std::to_string(d.value) +
            " is not runnable");
    ++next_;
    return point.runnable[0];
  }
  ++next_;
  return d.value;
}

uint64_t Replay::PickValue(uint64_t n, sim::Site) {
  if (next_ >= decisions_.size()) {
    Diverge("the run asks for more decisions than the trace holds");
    return 0;
  }
  const sim::Decision& d = decisions_[next_];
  if (d.kind != sim::DecisionKind::kValue) {
    Diverge("trace holds a fiber choice where the run chooses a value");
  } else if (d.value >= n || d.n != n) {
    Diverge("recorded value " + std::to_string(d.value) + " of " +
            std::to_string(d.n) + " does not fit a choice of " +
            std::to_string(n));
  }
  ++next_;
  if (d.kind != sim::DecisionKind::kValue) return 0;
  return d.value < n ? d.value : 0;
}

void Replay::EndRun() {
  if (divergence_.empty() && next_ != decisions_.size()) {
    divergence_ = "the run ended after " + std::to_string(next_) + " of " +
                  std::to_string(decisions_.size()) + " recorded decisions";
  }
}

}  // namespace fsim::model
