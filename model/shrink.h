// The shrinker: minimises a failing trace while keeping its finding (same
// kind and signature). It re-runs the trace's target with edited decision
// streams under a lenient replay that follows an edited stream where it
// fits and takes a canonical default where it does not (no preemption for
// a fiber pick, 0 for a value), and keeps an edit when the run still has
// the finding and is smaller. The trace it returns holds the decisions the
// accepted run actually took, so strict replay reproduces it exactly.
//
// Smaller is, in this order: fewer decisions, fewer preemptions, fewer
// nonzero values, fewer decisions that differ from the canonical default,
// a smaller sum of values, fewer steps. A kept edit never makes decisions,
// preemptions or steps exceed the original's.
//
// Everything is deterministic: the passes, their order and the run budget
// depend only on the trace and the target, never on the wall clock.
#ifndef FSIM_MODEL_SHRINK_H_
#define FSIM_MODEL_SHRINK_H_

#include <cstdint>
#include <string>

#include "model/target.h"
#include "model/trace.h"

namespace fsim::model {

inline constexpr uint64_t kShrinkRunsDefault = 2000;

struct ShrinkOptions {
  // Runs of candidate streams at most (the original's runs included).
  uint64_t max_runs = kShrinkRunsDefault;
};

// Sizes of one run's decision stream.
struct StreamSize {
  uint64_t decisions = 0;
  // Fiber picks that switched away from a fiber that could have gone on.
  uint64_t preemptions = 0;
  uint64_t value_decisions = 0;
  uint64_t nonzero_values = 0;
  // Decisions that differ from the canonical default (preemptions, other
  // fiber picks than the lowest id after a block, nonzero values).
  uint64_t non_default = 0;
  uint64_t value_sum = 0;
  uint64_t steps = 0;
};

enum class ShrinkStatus {
  kShrunk,         // `trace` is the minimised trace (maybe the original)
  kNoFinding,      // the trace records a clean run: nothing to keep
  kNotReproduced,  // the trace does not replay on its target
};

struct ShrinkResult {
  ShrinkStatus status = ShrinkStatus::kShrunk;
  // kNotReproduced: how the replay went wrong, one line.
  std::string problem;
  Trace trace;  // kShrunk: the minimised trace
  StreamSize before;
  StreamSize after;
  uint64_t runs = 0;             // candidate runs made
  uint64_t rounds = 0;           // rounds of all passes
  bool budget_exhausted = false;  // stopped by max_runs, not at a fixpoint
};

// Shrinks `trace`, a run of `target` (built from the trace's scenario and
// config). Throws std::runtime_error if the shrunk trace does not replay
// strictly (a harness bug).
ShrinkResult Shrink(const Trace& trace, const Target& target,
                    const ShrinkOptions& options);

}  // namespace fsim::model

#endif  // FSIM_MODEL_SHRINK_H_
