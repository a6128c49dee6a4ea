// Every table in the simulated world has a limit, named here in one place.
// Hitting one is a reported outcome (a finding or a one-line error), never
// silent growth.
#ifndef FSIM_SIM_LIMITS_H_
#define FSIM_SIM_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace fsim::sim {

// Fibers alive at once in one run. The runnable set is a 64-bit mask, so
// this is also the width of that mask.
inline constexpr uint32_t kFibersMax = 64;

// Scheduling steps (yield points, blocks, exits) in one run before the run
// is reported as a livelock.
inline constexpr uint64_t kStepsMaxDefault = 200'000;

// Fiber stacks: default size and the bounds a configuration may ask for.
inline constexpr size_t kStackSizeDefault = 64 * 1024;
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
