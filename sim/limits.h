// Every table in the simulated world has a limit, named here in one place.
// Hitting one is a reported outcome (a finding or a one-line error), never
// silent growth.
#ifndef FSIM_SIM_LIMITS_H_
#define FSIM_SIM_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace fsim::sim {

// Fibers alive at once in one run (fiber ids are [0, kFibersMax)). Sets
// of fibers are bitsets of this width (sim/fiber_set.h). A slot's stack is
// mapped on its first spawn, with its guard, and kept: a run of a few
// fibers maps a few stacks, and memory grows only with the fibers a
// program actually has.
inline constexpr uint32_t kFibersMax = 1024;

// Scheduling steps (yield points, blocks, exits) in one run before the run
// is reported as a livelock.
inline constexpr uint64_t kStepsMaxDefault = 200'000;

// Fiber stacks: default size and the bounds a configuration may ask for.
inline constexpr size_t kStackSizeDefault = 64 * 1024;
// The soft-lockup watchdog's default period (RunOptions::soft_lockup_ms):
// five seconds of CPU without a scheduling point. A step of the model
// takes microseconds, a whole run milliseconds (under ASan, tens).
inline constexpr uint64_t kSoftLockupMsDefault = 5'000;
inline constexpr size_t kStackSizeMin = 16 * 1024;
inline constexpr size_t kStackSizeMax = 8 * 1024 * 1024;
// Guard below each stack. Large enough that a frame probe
// (-fstack-clash-protection) always lands in it.
inline constexpr size_t kStackGuardSize = 16 * 1024;

// Pending timers (sleeps, timeouts, timer callbacks) in one run.
inline constexpr size_t kTimersMax = 4096;

// Decisions recorded in one run.
inline constexpr size_t kDecisionsMax = 4'000'000;

// Distinct findings recorded in one run.
inline constexpr size_t kFindingsMax = 16;

// Length of a fiber's name, including the terminating NUL.
inline constexpr size_t kFiberNameMax = 32;

}  // namespace fsim::sim

#endif  // FSIM_SIM_LIMITS_H_
