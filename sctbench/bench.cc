#include "sctbench/bench.h"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "model/explorer.h"
#include "scenarios/registry.h"
#include "sim/scheduler.h"

namespace fsim::sctbench {

uint32_t BenchCell::found() const {
  return static_cast<uint32_t>(
      std::count_if(runs_to_bug.begin(), runs_to_bug.end(), [](uint64_t r) { return r != 0; }));
}

double BenchCell::mean_runs() const {
  uint64_t sum = 0;
  for (uint64_t r : runs_to_bug) sum += r;
  uint32_t n = found();
  return n == 0 ? 0.0 : static_cast<double>(sum) / n;
}

BenchCell RunCell(const SuiteProgram& program, const model::StrategyInfo& strategy,
                  uint32_t seeds, uint64_t limit) {
  std::string error;
  std::optional<model::Target> target = scenarios::MakeTarget(program.name, {}, &error);
  if (!target) throw std::runtime_error(error);
  sim::Scheduler sched;
  std::unique_ptr<sim::Strategy> walk = model::MakeSamplingStrategy(strategy, *target, sched);
  BenchCell cell;
  cell.program = program.name;
  cell.strategy = strategy.name;
  for (uint32_t s = 1; s <= seeds; ++s) {
    uint64_t to_bug = 0;
    for (uint64_t r = 0; r < limit && to_bug == 0; ++r) {
      sim::RunResult result =
          model::RunOnce(*target, sched, *walk, model::RunSeed(s, program.name, r));
      ++cell.runs;
      for (const sim::Finding& f : result.findings) {
        if (f.kind == program.expected) to_bug = r + 1;
      }
    }
    cell.runs_to_bug.push_back(to_bug);
  }
  return cell;
}

}  // namespace fsim::sctbench
