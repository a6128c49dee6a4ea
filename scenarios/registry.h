// The scenario registry: every scenario fsim can run, by name. Programs
// written in C++ (abba, disk_*, mem_*, ...) register here in code; the
// filesystem scenarios are data files (scenarios/FORMAT.md): the built-in
// ones compiled in from scenarios/fs/*.json, and any other named by its
// path (anything ending in .json), loaded on first use. A scenario turns a
// configuration into a model::Target, or refuses the configuration with a
// one-line reason.
#ifndef FSIM_SCENARIOS_REGISTRY_H_
#define FSIM_SCENARIOS_REGISTRY_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/target.h"
#include "scenarios/json_scenario.h"
#include "sim/program.h"

namespace fsim::scenarios {

using ProgramFactory = std::function<std::unique_ptr<sim::Program>()>;

// Thrown by a scenario's Bind for a configuration it cannot accept.
struct ConfigError {
  std::string message;
};

struct Scenario {
  std::string name;
  std::string description;
  // Part of the suite that `fsim explore` runs by default (correct
  // programs only: the default exploration must report nothing).
  bool default_suite = false;
  // Scenario-specific configuration keys and their meaning.
  std::vector<std::pair<std::string, std::string>> config_keys;
  // Configuration this scenario runs with unless the user says otherwise
  // (any key, runtime keys included).
  model::Config defaults;
  // Validates the scenario-specific keys of `config` and returns a factory
  // of fresh programs. Throws ConfigError.
  std::function<ProgramFactory(const model::Config& config)> bind;
  // Where a data scenario came from (its file, or "trace"); empty for a
  // program written in C++.
  std::string source;
  // A data scenario as canonical JSON (what traces store); empty for a
  // program written in C++.
  std::string json;
  // With default_suite: the lock orders under which the scenario is in
  // the suite (empty: all). A scenario the RFC order is known to fail (a
  // finding about the RFC, documented) stays in the suite for the others,
  // so default exploration keeps its coverage there.
  std::vector<std::string> suite_orders;
  // The family of a program registered from another package (e.g.
  // "sctbench"); empty for the runtime's and the filesystem's own. A
  // family's programs are benchmarks of the search, not of the runtime:
  // `fsim bench` measures their runs/s only when named.
  std::string family;
  // What the scenario declares it exercises, as (coverage point prefixes,
  // '|'-separated; the declaration): explore warns when no run reached any
  // of them (a memory budget no run ran out of or reached the dirty limits
  // of, a fault never injected).
  std::vector<std::pair<std::string, std::string>> intents;
  // Every access its fibers make to shared state is named at a scheduling
  // point (sim primitives, sctbench::Shared), so DFS may reduce by sleep
  // sets (explore --por). False for fs/ scenarios: the model reads plain
  // fields (i_size, page flags) outside any yield.
  bool names_shared_state = false;
};

// All built-in scenarios (code and compiled-in files), sorted by name.
const std::vector<Scenario>& Scenarios();
// A built-in scenario by name, or a scenario file by its path (loaded
// once, then kept). Null if there is none, or the file does not load
// (MakeTarget says why).
const Scenario* FindScenario(std::string_view name);
// Names of the default suite, in registry order.
std::vector<std::string> DefaultSuite();
// The default suite under lock order `order` ("" = the scenarios' own
// default order, legacy): DefaultSuite() less the scenarios whose
// suite_orders leave that order out.
std::vector<std::string> DefaultSuiteFor(const std::string& order);

// Builds a target. `name` is a built-in scenario's name or a scenario
// file's path. On error returns nullopt and sets `error` to one line (an
// unknown scenario, a malformed file: "PATH: /json/pointer: what", an
// unknown key, a bad value).
std::optional<model::Target> MakeTarget(std::string_view name,
                                        const model::Config& config,
                                        std::string* error);

// Builds a target of `scenario` (one not in the registry too, as
// scenarios/library.h's programs): the runtime keys of `config` (stack_kib,
// steps_max, lockdep, races) and its own, over its defaults. On error
// returns nullopt and sets `error` (not cut to one line: MakeTarget does).
std::optional<model::Target> MakeTargetFor(const Scenario& scenario, const model::Config& config,
                                           std::string* error);

// Builds the target a trace ran: from the scenario JSON the trace
// recorded if it is a data scenario (so that it replays without its file,
// as it was when recorded), else the built-in program `name`.
std::optional<model::Target> MakeTargetForTrace(const std::string& name,
                                                const std::string& scenario_json,
                                                const model::Config& config,
                                                std::string* error);

// A data scenario, interpreted by scenarios/fs_programs.cc.
Scenario FsScenarioFromSpec(ScenarioSpec spec, std::string source);

// The bytes of the file an fsx fiber replayed its log on, as settle read
// them at the end of the last completed run of a data scenario in this
// process (`fsim fsx --out`).
const std::vector<uint8_t>& LastFsxFinalBytes();

// The configuration keys every scenario accepts (they shape the runtime,
// not the program), with their help text.
const std::vector<std::pair<std::string, std::string>>& RuntimeKeys();

// True if `scenario` takes configuration key `key` (its own or a runtime
// key).
bool AcceptsKey(const Scenario& scenario, const std::string& key);

// Reads a numeric configuration value within [lo, hi], or `fallback` if the
// key is absent. Throws ConfigError.
uint64_t ConfigNumber(const model::Config& config, const std::string& key,
                      uint64_t fallback, uint64_t lo, uint64_t hi);

// Registration hooks, one per family of scenarios.
void RegisterBuiltinPrograms(std::vector<Scenario>& out);
void RegisterMemoryPrograms(std::vector<Scenario>& out);
void RegisterBlockPrograms(std::vector<Scenario>& out);
void RegisterFsPrograms(std::vector<Scenario>& out);

// A family of programs in a package built on this one (sctbench/)
// registers itself at static initialisation, as lock-order variants do:
//
//   static const ScenarioFamilyRegistrar kRegistrar{&RegisterMyPrograms};
//
// (its library alwayslink). The hook runs when the registry is first
// built, so the family's programs are in Scenarios() of every binary that
// links it, and nowhere else. Registration order does not matter: the
// registry is sorted by name.
struct ScenarioFamilyRegistrar {
  explicit ScenarioFamilyRegistrar(void (*add)(std::vector<Scenario>& out));
};

}  // namespace fsim::scenarios

#endif  // FSIM_SCENARIOS_REGISTRY_H_
