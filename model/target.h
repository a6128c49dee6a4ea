// A Target is one scenario under one configuration, ready to be run any
// number of times: what the exploration driver, replay and the benchmarks
// execute. scenarios/ builds Targets; model/ only runs and judges them.
#ifndef FSIM_MODEL_TARGET_H_
#define FSIM_MODEL_TARGET_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "sim/program.h"
#include "sim/scheduler.h"

namespace fsim::model {

// Configuration as key=value pairs, ordered by key (deterministic).
using Config = std::map<std::string, std::string>;

struct Target {
  std::string scenario;       // the scenario's name
  std::string description;    // one line
  std::string scenario_json;  // the scenario itself, inlined into traces
  Config config;              // as the user gave it (validated)
  sim::RunOptions run_options;  // stack size, step limit (seed set per run)
  std::function<std::unique_ptr<sim::Program>()> make;
};

// Runs `target` once on `sched` with `strategy` and `seed`.
sim::RunResult RunOnce(const Target& target, sim::Scheduler& sched,
                       sim::Strategy& strategy, uint64_t seed);

}  // namespace fsim::model

#endif  // FSIM_MODEL_TARGET_H_
