#include "model/target.h"

namespace fsim::model {

sim::RunResult RunOnce(const Target& target, sim::Scheduler& sched,
                       sim::Strategy& strategy, uint64_t seed) {
  std::unique_ptr<sim::Program> program = target.make();
  sim::RunOptions options = target.run_options;
  options.seed = seed;
  return sched.Run(
      strategy, options, [&] { program->Start(sched); },
      [&] { program->Finish(sched); }, [&] { program.reset(); });
}

}  // namespace fsim::model
