#include "sctbench/suite.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "scenarios/registry.h"
#include "sim/check.h"

namespace fsim::sctbench {
namespace {

// Names in natural order: a run of digits compares as a number, so
// reorder_5 comes before reorder_10.
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      uint64_t x = std::stoull(a.substr(i, ie - i)), y = std::stoull(b.substr(j, je - j));
      if (x != y) return x < y;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::vector<SuiteProgram> BuildSuite() {
  std::vector<SuiteProgram> all;
  AddLockPrograms(all);
  AddRacyPrograms(all);
  std::sort(all.begin(), all.end(),
            [](const SuiteProgram& a, const SuiteProgram& b) { return NaturalLess(a.name, b.name); });
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
    // Every racy variable is a sctbench::Shared (named at each access),
    // every lock a sim lock: DFS may reduce by sleep sets.
    s.names_shared_state = true;
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
