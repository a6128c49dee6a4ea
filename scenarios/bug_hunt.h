// The bug hunt (`fsim bugs --hunt`): each mistake of the catalogue
// (scenarios/fs_config.h) explored as a user would, with the default
// exploration (the default suite under the order the flag needs, surw,
// seed 1), until its first finding; that trace is then shrunk. It measures
// the model's finding power: a flag the hunt stops finding is a regression
// of the model or of its oracles.
#ifndef FSIM_SCENARIOS_BUG_HUNT_H_
#define FSIM_SCENARIOS_BUG_HUNT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "model/trace.h"
#include "scenarios/fs_config.h"

namespace fsim::scenarios {

struct HuntOptions {
  uint64_t runs_per_scenario = 20000;  // the budget, with out_of_time
  std::function<bool()> out_of_time;   // a wall-clock budget (tools/ only)
  std::string out_dir = "fsim-out";    // where the traces go
  uint64_t shrink_runs = 500;          // 0: do not shrink
  // Called when the first finding is on disk, before the shrink (where a
  // caller stops its clock).
  std::function<void()> on_found;
  // Default exploration's strategy and seed; another strategy measures
  // that strategy's finding power on the catalogue.
  std::string strategy = model::kDefaultStrategy;
  uint64_t seed = 1;
};

struct HuntRow {
  std::string bug;
  std::string order;
  bool found = false;
  bool expected_kind = false;  // the kind is one the catalogue expects
  std::string kind;
  std::string signature;
  std::string scenario;
  std::string trace;
  uint64_t runs_to_find = 0;  // runs over all scenarios, the finding's included
  uint64_t decisions = 0;     // of the trace found
  uint64_t shrunk_decisions = 0;
  std::string error;  // not empty: the hunt could not run (bad configuration)
};

// Hunts one flag. Deterministic for a run budget (no out_of_time).
HuntRow HuntBug(const BugInfo& bug, const HuntOptions& options);

}  // namespace fsim::scenarios

#endif  // FSIM_SCENARIOS_BUG_HUNT_H_
