#include "scenarios/library.h"

#include <optional>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "model/trace.h"
#include "scenarios/registry.h"

namespace fsim {
namespace {

// Programs registered by ProgramRegistrar, in registration order (the
// registry sorts by name, so the order does not matter).
std::vector<ProgramSpec>& UserPrograms() {
  static std::vector<ProgramSpec> specs;
  return specs;
}

void RegisterUserPrograms(std::vector<scenarios::Scenario>& out) {
  for (const ProgramSpec& spec : UserPrograms()) {
    scenarios::Scenario s;
    s.name = spec.name;
    s.description = spec.description;
    if (!spec.lockdep) s.defaults["lockdep"] = "off";
    if (spec.races) s.defaults["races"] = "on";
    s.bind = [make = spec.make](const model::Config&) -> scenarios::ProgramFactory { return make; };
    s.family = spec.family;
    s.names_shared_state = spec.names_shared_state;
    out.push_back(std::move(s));
  }
}

const scenarios::ScenarioFamilyRegistrar kRegistrar{&RegisterUserPrograms};

}  // namespace

ProgramRegistrar::ProgramRegistrar(ProgramSpec spec) { UserPrograms().push_back(std::move(spec)); }

std::string CheckResult::Describe() const {
  std::string out;
  for (const model::FindingRecord& f : findings) {
    out += std::string(sim::FindingKindName(f.finding.kind)) + " " + f.finding.signature +
           " (run " + std::to_string(f.run) + "): " + f.trace_path + "\n  replay: fsim replay " +
           f.trace_path + " --report\n";
  }
  if (out.empty()) out = "no findings in " + std::to_string(runs) + " runs\n";
  return out;
}

// The target Check() explores and Replay() re-runs.
model::Target TargetOf(const std::string& name, const ProgramFactory& make, bool lockdep,
                       bool races) {
  model::Target target;
  target.scenario = name;
  target.description = name;
  // As the registry builds a C++ program's target (scenarios/registry.cc),
  // so that `fsim replay` of a registered program's trace runs the same.
  if (!lockdep) target.config["lockdep"] = "off";
  if (races) target.config["races"] = "on";
  target.run_options.lockdep = lockdep;
  target.run_options.race_detector = races;
  target.scenario_json =
      nlohmann::json{{"name", name}, {"builtin", true}, {"description", name}}.dump();
  target.make = make;
  return target;
}

CheckResult Check(const std::string& name, const ProgramFactory& make, const CheckOptions& options) {
  if (name.empty() || !make) throw std::runtime_error("fsim::Check: a name and a program factory");
  const model::Target target = TargetOf(name, make, options.lockdep, options.races);
  model::ExploreOptions o;
  o.strategy.name = options.strategy;
  o.strategy.depth = options.depth;
  o.strategy.preemptions = options.preemptions;
  o.seed = options.seed;
  o.runs = options.runs;
  o.all = options.all;
  o.out_dir = options.out_dir;
  const model::ExploreSummary summary = model::Explore({target}, o);

  CheckResult result;
  result.runs = summary.runs;
  result.digest = summary.digest;
  result.findings = summary.findings;
  for (const model::TargetStats& t : summary.targets) result.exhausted = result.exhausted || t.exhausted;
  return result;
}

bool Replay(const std::string& trace_path, const ProgramFactory& make, std::string* why) {
  std::string error;
  std::optional<model::Trace> trace = model::ReadTrace(trace_path, &error);
  if (!trace) {
    if (why != nullptr) *why = error;
    return false;
  }
  auto lockdep = trace->config.find("lockdep");
  auto races = trace->config.find("races");
  const bool lockdep_on = lockdep == trace->config.end() || lockdep->second == "on";
  const bool races_on = races != trace->config.end() && races->second == "on";
  const model::Reproduction r =
      model::Reproduce(*trace, TargetOf(trace->scenario, make, lockdep_on, races_on));
  if (!r.reproduced() && why != nullptr) {
    *why = !r.divergence.empty() ? r.divergence
           : !r.same_finding     ? "a different finding"
                                 : "a different digest or step count";
  }
  return r.reproduced();
}

}  // namespace fsim
