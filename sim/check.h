// Harness invariants. A broken invariant of the harness itself aborts with
// a message (it is a bug in fsim); a broken invariant of the system under
// test is a finding with a trace (Scheduler::Fail). Never mix the two.
// These checks are always on, whatever the compilation mode.
#ifndef FSIM_SIM_CHECK_H_
#define FSIM_SIM_CHECK_H_

namespace fsim::sim {

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr,
                              const char* message);
// FSIM_BUG_ON's failure: the handler the scheduler installs
// (Scheduler::BugOn of the run in progress: a finding that ends it, and
// does not return), then CheckFailed (outside any run).
[[noreturn]] void BugOnFailed(const char* file, int line, const char* expr, const char* message);
using BugOnHandler = void (*)(const char* file, int line, const char* expr, const char* message);
void SetBugOnHandler(BugOnHandler handler);

}  // namespace fsim::sim

#define FSIM_CHECK(cond)                                             \
  do {                                                               \
    if (__builtin_expect(!(cond), 0))                                \
      ::fsim::sim::CheckFailed(__FILE__, __LINE__, #cond, nullptr);  \
  } while (0)

#define FSIM_CHECK_MSG(cond, msg)                                    \
  do {                                                               \
    if (__builtin_expect(!(cond), 0))                                \
      ::fsim::sim::CheckFailed(__FILE__, __LINE__, #cond, (msg));    \
  } while (0)

// BUG_ON() in the simulated filesystem: a broken invariant of the system
// under test's own state (Scheduler::BugOn, sim/scheduler.h) is a finding
// with a trace that ends the run, not a harness error.
#define FSIM_BUG_ON(cond, msg)                                             \
  do {                                                                     \
    if (__builtin_expect(!!(cond), 0))                                     \
      ::fsim::sim::BugOnFailed(__FILE__, __LINE__, #cond, (msg));          \
  } while (0)

#endif  // FSIM_SIM_CHECK_H_
