#include "scenarios/library.h"

#include <optional>
#include <stdexcept>
#include <utility>

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

// The target Check() explores and Replay() re-runs, built as the registry
// builds a registered program's (so that `fsim replay` of its trace, in a
// CLI that registers the program, runs the same).
// Null with `error` set for a configuration the registry refuses.
std::optional<model::Target> TargetOf(const std::string& name, const ProgramFactory& make,
                                      const model::Config& config, std::string* error) {
  scenarios::Scenario scenario;
  scenario.name = name;
  scenario.description = name;
  scenario.bind = [&make](const model::Config&) -> scenarios::ProgramFactory { return make; };
  return scenarios::MakeTargetFor(scenario, config, error);
}

CheckResult Check(const std::string& name, const ProgramFactory& make, const CheckOptions& options) {
  if (name.empty() || !make) throw std::runtime_error("fsim::Check: a name and a program factory");
  model::Config config;
  if (!options.lockdep) config["lockdep"] = "off";
  if (options.races) config["races"] = "on";
  std::string error;
  const std::optional<model::Target> target = TargetOf(name, make, config, &error);
  if (!target) throw std::runtime_error("fsim::Check: " + error);
  model::ExploreOptions o;
  o.strategy.name = options.strategy;
  o.strategy.depth = options.depth;
  o.strategy.preemptions = options.preemptions;
  o.seed = options.seed;
  o.runs = options.runs;
  o.all = options.all;
  o.out_dir = options.out_dir;
  const model::ExploreSummary summary = model::Explore({*target}, o);

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
  const std::optional<model::Target> target = TargetOf(trace->scenario, make, trace->config, &error);
  if (!target) {
    if (why != nullptr) *why = error;
    return false;
  }
  const model::Reproduction r = model::Reproduce(*trace, *target);
  if (!r.reproduced() && why != nullptr) {
    *why = !r.divergence.empty() ? r.divergence
           : !r.same_finding     ? "a different finding"
                                 : "a different digest or step count";
  }
  return r.reproduced();
}

}  // namespace fsim
