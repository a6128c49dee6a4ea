#include "scenarios/bug_hunt.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "model/explorer.h"
#include "model/shrink.h"
#include "model/trace.h"
#include "scenarios/registry.h"

namespace fsim::scenarios {
namespace {

bool KindExpected(const std::string& kinds, const std::string& kind) {
  std::stringstream in(kinds);
  for (std::string k; std::getline(in, k, ',');) {
    if (k == kind) return true;
  }
  return false;
}

}  // namespace

HuntRow HuntBug(const BugInfo& bug, const HuntOptions& options) {
  HuntRow row;
  row.bug = bug.name;
  row.order = bug.hunt_order;
  // The default suite under the order, the scenarios that take a bug flag.
  std::vector<model::Target> targets;
  for (const std::string& name : DefaultSuiteFor(bug.hunt_order)) {
    const Scenario* sc = FindScenario(name);
    if (sc == nullptr || !AcceptsKey(*sc, "bug")) continue;
    std::string error;
    auto target = MakeTarget(name, {{"order", bug.hunt_order}, {"bug", bug.name}}, &error);
    if (!target) {
      row.error = error;
      return row;
    }
    targets.push_back(std::move(*target));
  }
  if (targets.empty()) {
    row.error = "no default-suite scenario takes bug= under order=" + bug.hunt_order;
    return row;
  }
  model::ExploreOptions o;
  o.strategy.name = options.strategy;
  o.seed = options.seed;
  o.runs = options.runs_per_scenario;
  o.out_of_time = options.out_of_time;
  o.out_dir = options.out_dir;
  o.all = false;  // the first finding ends the hunt
  model::ExploreSummary summary = model::Explore(targets, o);
  row.runs_to_find = summary.runs;
  if (summary.findings.empty()) return row;
  if (options.on_found) options.on_found();
  const model::FindingRecord& f = summary.findings.front();
  row.found = true;
  row.kind = std::string(sim::FindingKindName(f.finding.kind));
  row.expected_kind = KindExpected(bug.kinds, row.kind);
  row.signature = f.finding.signature;
  row.scenario = f.scenario;
  row.trace = f.trace_path;
  std::string error;
  auto trace = model::ReadTrace(f.trace_path, &error);
  if (!trace) {
    row.error = error;
    return row;
  }
  row.decisions = trace->decisions.size();
  row.shrunk_decisions = row.decisions;
  if (options.shrink_runs == 0) return row;
  const auto target = std::find_if(targets.begin(), targets.end(),
                                   [&](const model::Target& t) { return t.scenario == f.scenario; });
  model::ShrinkOptions so;
  so.max_runs = options.shrink_runs;
  model::ShrinkResult shrunk = model::Shrink(*trace, *target, so);
  if (shrunk.status == model::ShrinkStatus::kShrunk) row.shrunk_decisions = shrunk.after.decisions;
  return row;
}

}  // namespace fsim::scenarios
