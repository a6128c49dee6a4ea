#include "sctbench/suite.h"

#include <algorithm>

#include "scenarios/registry.h"
#include "sim/check.h"

namespace fsim::sctbench {
namespace {

std::vector<SuiteProgram> BuildSuite() {
  std::vector<SuiteProgram> all;
  AddLockPrograms(all);
  AddRacyPrograms(all);
  std::sort(all.begin(), all.end(),
            [](const SuiteProgram& a, const SuiteProgram& b) { return a.name < b.name; });
  for (size_t i = 1; i < all.size(); ++i) {
    FSIM_CHECK_MSG(all[i - 1].name != all[i].name, "two sctbench programs share a name");
  }
  return all;
}

// The suite as scenarios of the registry. Like the runtime's own
// programs they run without lockdep by default: the benchmark measures
// how soon a strategy reaches the bug's schedule, and lockdep would name
// deadlock01's inversion on the first schedule, before any search.
void RegisterSuite(std::vector<scenarios::Scenario>& out) {
  for (const SuiteProgram& p : Suite()) {
    scenarios::Scenario s;
    s.name = p.name;
    s.description = "sctbench: " + p.description + " (" +
                    std::string(sim::FindingKindName(p.expected)) + ")";
    s.defaults = {{"lockdep", "off"}};
    s.bind = [make = p.make](const model::Config&) -> scenarios::ProgramFactory { return make; };
    s.family = "sctbench";
    out.push_back(std::move(s));
  }
}

const scenarios::ScenarioFamilyRegistrar kRegistrar{&RegisterSuite};

}  // namespace

const std::vector<SuiteProgram>& Suite() {
  static const std::vector<SuiteProgram> all = BuildSuite();
  return all;
}

}  // namespace fsim::sctbench
