// Harness invariants. A broken invariant of the harness itself aborts with
// a message (it is a bug in fsim); a broken invariant of the system under
// test is a finding with a trace (Scheduler::Fail). Never mix the two.
// These checks are always on, whatever the compilation mode.
#ifndef FSIM_SIM_CHECK_H_
#define FSIM_SIM_CHECK_H_

namespace fsim::sim {

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr,
                              const char* message);

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

// BUG_ON() in the simulated filesystem: `sched.BugOn` (sim/scheduler.h),
// a finding with a trace, not a harness error.
#define FSIM_BUG_ON(sched, cond, msg)                                      \
  do {                                                                     \
    if (__builtin_expect(!!(cond), 0))                                     \
      (sched).BugOn(__FILE__, __LINE__, #cond, (msg));                     \
  } while (0)

#endif  // FSIM_SIM_CHECK_H_
