// The SCTBench measurement: for each program and strategy, how many of S
// base seeds find the program's bug within L runs, and how many runs the
// first bug took. Run r under base seed s uses model::RunSeed(s, program,
// r), the seed `fsim explore --scenario P --seed s` gives its run r, so a
// cell's figure for one seed is reproduced by that exploration.
//
// A run "finds the bug" when one of its findings has the program's
// expected kind (an assertion program that deadlocks instead has not).
// Everything is a function of (program, strategy, seeds, limit): no clock.
#ifndef FSIM_SCTBENCH_BENCH_H_
#define FSIM_SCTBENCH_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "model/trace.h"
#include "sctbench/suite.h"

namespace fsim::sctbench {

struct BenchCell {
  std::string program;
  std::string strategy;
  // Per base seed 1..seeds: the runs up to and including the first that
  // found the bug, or 0 if none of `limit` runs did.
  std::vector<uint64_t> runs_to_bug;
  uint64_t runs = 0;  // runs executed in total

  uint32_t found() const;
  // Mean of runs_to_bug over the seeds that found the bug; 0 if none.
  double mean_runs() const;
};

// Runs one cell. `strategy` is random, pct or surw. Throws
// std::runtime_error for an unknown program or strategy.
BenchCell RunCell(const SuiteProgram& program, const model::StrategyInfo& strategy,
                  uint32_t seeds, uint64_t limit);

}  // namespace fsim::sctbench

#endif  // FSIM_SCTBENCH_BENCH_H_
