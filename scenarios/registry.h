// The scenario registry: every scenario fsim can run, by name. Until
// scenarios become data files (a later issue), built-in programs register
// here in code. A scenario turns a configuration into a model::Target, or
// refuses the configuration with a one-line reason.
#ifndef FSIM_SCENARIOS_REGISTRY_H_
#define FSIM_SCENARIOS_REGISTRY_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/target.h"
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
};

// All scenarios, sorted by name.
const std::vector<Scenario>& Scenarios();
const Scenario* FindScenario(std::string_view name);
// Names of the default suite, in registry order.
std::vector<std::string> DefaultSuite();

// Builds a target. On error returns nullopt and sets `error` to one line
// (an unknown scenario, an unknown key, a bad value).
std::optional<model::Target> MakeTarget(std::string_view name,
                                        const model::Config& config,
                                        std::string* error);

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

}  // namespace fsim::scenarios

#endif  // FSIM_SCENARIOS_REGISTRY_H_
