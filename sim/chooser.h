// The Chooser: the single gate through which every choice of a run is made
// (which runnable fiber goes next, any bounded value that sim or fs code
// needs: a latency, whether an I/O fails, whether reclaim runs now). It
// asks the strategy, records each answer in the run's decision stream and
// keeps the event log; the run's digest is a hash of both.
//
// Choices with a single option are not asked and not recorded: the stream
// holds real decisions only, which keeps replay and shrinking compact.
#ifndef FSIM_SIM_CHOOSER_H_
#define FSIM_SIM_CHOOSER_H_

#include <cstdint>
#include <vector>

#include "sim/site.h"
#include "sim/limits.h"
#include "sim/strategy.h"

namespace fsim::sim {

// 32 bits wide so that a Decision has no padding and the stream can be
// hashed as raw bytes.
enum class DecisionKind : uint32_t { kFiber = 0, kValue = 1 };

struct Decision {
  DecisionKind kind;
  uint32_t n;      // number of options
  uint32_t value;  // the fiber id chosen, or the value in [0, n)
  bool operator==(const Decision&) const = default;
};
static_assert(sizeof(Decision) == 12, "Decision must have no padding");

// Event tags for the digest's event log. Each event is one 64-bit word:
// tag in the top byte, the rest a fiber id or a name hash.
enum class EventTag : uint8_t {
  kSpawn = 1,
  kYield,
  kBlock,
  kWake,
  kExit,
  kTimeout,
  kTimer,
  kNote,  // free-form events of higher layers (fs, devices)
};

class Chooser {
 public:
  // REQUIRES: `strategy` outlives the run.
  void Begin(Strategy* strategy);

  // The strategy's pick at `point`, recorded. The scheduler checks that
  // it is runnable (in O(1), against its set: this is every step's path).
  FiberId PickFiber(const SchedulePoint& point) {
    const FiberId id = strategy_->PickFiber(point);
    if (decisions_.size() < kDecisionsMax) [[likely]] {
      decisions_.push_back({DecisionKind::kFiber, static_cast<uint32_t>(point.runnable.size()), id});
    } else {
      overflowed_ = true;
    }
    return id;
  }
  // A value in [0, n). n == 0 is a harness error; n == 1 returns 0 and
  // records nothing.
  uint64_t Choose(uint64_t n, Site site);

  void Event(EventTag tag, uint64_t payload) {
    events_.push_back((static_cast<uint64_t>(tag) << 56) ^
                      (payload & 0x00ffffffffffffffull));
  }

  const std::vector<Decision>& decisions() const { return decisions_; }
  const std::vector<uint64_t>& events() const { return events_; }
  bool overflowed() const { return overflowed_; }

  // Hash of the decision stream, the event log and `extra` (the outcome).
  uint64_t Digest(uint64_t extra) const;

 private:
  Strategy* strategy_ = nullptr;
  std::vector<Decision> decisions_;
  std::vector<uint64_t> events_;
  bool overflowed_ = false;  // kDecisionsMax reached
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_CHOOSER_H_
