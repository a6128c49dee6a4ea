// The SCTBench "CS" programs (mc-imperial/sctbench,
// benchmarks/concurrent-software-benchmarks), written on fsim's API from
// the C originals, each with the finding its bug produces. They register
// as scenarios of family "sctbench" (`fsim explore --scenario reorder_10`)
// and are not part of the default suite: every one of them has a bug.
//
// `fsim bench --suite sctbench` runs them under each strategy
// (tools/sctbench_cmd.cc).
#ifndef FSIM_SCTBENCH_SUITE_H_
#define FSIM_SCTBENCH_SUITE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/finding.h"
#include "sim/program.h"

namespace fsim::sctbench {

struct SuiteProgram {
  std::string name;         // SCTBench's name without _bad/_sat
  std::string description;  // one line: the bug
  sim::FindingKind expected;
  // A fresh program for one run; `name` signs its assertion findings.
  std::function<std::unique_ptr<sim::Program>()> make;
  // False for the programs no strategy of fsim finds within CI's small
  // budget (one seed, 3,000 runs) yet: reorder_50, reorder_100 and
  // twostage_100. CI runs them all the same (they must run: 101 fibers),
  // and the README's table shows what 20 seeds of 10,000 runs find.
  bool found_in_small_budget = true;
};

// Every program of the suite, by name in natural order (reorder_5
// before reorder_10).
const std::vector<SuiteProgram>& Suite();

// The families of programs, one per file.
void AddLockPrograms(std::vector<SuiteProgram>& out);
void AddRacyPrograms(std::vector<SuiteProgram>& out);

}  // namespace fsim::sctbench

#endif  // FSIM_SCTBENCH_SUITE_H_
