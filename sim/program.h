// A Program is one execution's worth of simulated world: Start() builds it
// (objects, fibers) on the main context, Finish() judges it after every
// fiber exited. A fresh Program is made for every run, so no state leaks
// from one run into the next.
#ifndef FSIM_SIM_PROGRAM_H_
#define FSIM_SIM_PROGRAM_H_

#include "sim/scheduler.h"

namespace fsim::sim {

class Program {
 public:
  virtual ~Program() = default;
  // Creates the world and spawns the initial fibers.
  virtual void Start(Scheduler& sched) = 0;
  // Runs after all fibers exited with no finding; reports one with
  // sched.Fail() if the end state is wrong.
  virtual void Finish(Scheduler& sched) { (void)sched; }
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_PROGRAM_H_
