// Replay: feeds a recorded decision stream back to the Chooser. Any
// mismatch (a value out of range, a fiber that is not runnable, a choice of
// the wrong kind, too few or too many decisions) marks the replay as
// diverged and falls back to the first option, so a diverged run still
// ends; the caller then reports the divergence instead of a verdict.
#ifndef FSIM_MODEL_REPLAY_H_
#define FSIM_MODEL_REPLAY_H_

#include <cstddef>
#include <string>
#include <vector>

#include "sim/chooser.h"
#include "sim/strategy.h"

namespace fsim::model {

class Replay final : public sim::Strategy {
 public:
  explicit Replay(std::vector<sim::Decision> decisions)
      : decisions_(std::move(decisions)) {}

  void BeginRun(uint64_t) override;
  sim::FiberId PickFiber(const sim::SchedulePoint& point) override;
  uint64_t PickValue(uint64_t n, sim::Site) override;
  void EndRun() override;

  bool diverged() const { return !divergence_.empty(); }
  // Where and how the run left the recorded stream, empty if it did not.
  const std::string& divergence() const { return divergence_; }

 private:
  void Diverge(const std::string& why);

  std::vector<sim::Decision> decisions_;
  size_t next_ = 0;
  std::string divergence_;
};

}  // namespace fsim::model

#endif  // FSIM_MODEL_REPLAY_H_
