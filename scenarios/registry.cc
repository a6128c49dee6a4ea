#include "scenarios/registry.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "model/error_line.h"
#include "scenarios/fs_config.h"
#include "sim/check.h"
#include "sim/limits.h"

namespace fsim::scenarios {

// Keys every scenario accepts: they shape the runtime, not the program.
const std::vector<std::pair<std::string, std::string>>& RuntimeKeys() {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"stack_kib", "fiber stack size in KiB (default 64)"},
      {"steps_max", "scheduling steps before a run is a livelock"},
      {"lockdep", "on | off: validate every lock acquisition (default on)"},
      {"races", "on | off: report data races on shared variables by happens-before (default off)"},
  };
  return keys;
}

namespace {

// Hooks of families registered from other packages (ScenarioFamilyRegistrar).
std::vector<void (*)(std::vector<Scenario>&)>& FamilyHooks() {
  static std::vector<void (*)(std::vector<Scenario>&)> hooks;
  return hooks;
}

std::vector<Scenario> BuildRegistry() {
  std::vector<Scenario> all;
  RegisterBuiltinPrograms(all);
  RegisterMemoryPrograms(all);
  RegisterBlockPrograms(all);
  RegisterFsPrograms(all);
  for (auto* add : FamilyHooks()) add(all);
  std::sort(all.begin(), all.end(),
            [](const Scenario& a, const Scenario& b) { return a.name < b.name; });
  for (size_t i = 1; i < all.size(); ++i) {
    FSIM_CHECK_MSG(all[i - 1].name != all[i].name, "two built-in scenarios share a name");
  }
  return all;
}

// A data scenario from its text; `source` names it in errors. The
// scenario's own configuration defaults must be acceptable.
std::optional<Scenario> ScenarioFromText(std::string_view text, const std::string& source,
                                         std::string* error) {
  std::optional<ScenarioSpec> spec = ParseScenario(text, error);
  if (!spec) {
    *error = source + ": " + *error;
    return std::nullopt;
  }
  try {
    const fs::FsConfig config = ParseFsConfig(spec->config);
    if (std::string problem = MetadataFitProblem(*spec, config.log_len); !problem.empty()) {
      *error = source + ": " + problem;
      return std::nullopt;
    }
  } catch (const ConfigError& e) {
    *error = source + ": /config: " + e.message;
    return std::nullopt;
  }
  return FsScenarioFromSpec(std::move(*spec), source);
}

// Scenario files named by path, loaded once per process (so that every
// run of an exploration interprets the same text).
const Scenario* LoadFileScenario(const std::string& path, std::string* error) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Scenario>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded.find(path);
  if (it != loaded.end()) return it->second.get();
  std::string ignored;
  if (error == nullptr) error = &ignored;
  std::optional<ScenarioSpec> spec = LoadScenarioFile(path, error);
  if (!spec) return nullptr;
  std::optional<Scenario> scenario = ScenarioFromText(spec->json, path, error);
  if (!scenario) return nullptr;
  return (loaded[path] = std::make_unique<Scenario>(std::move(*scenario))).get();
}

std::optional<model::Target> MakeTargetUnchecked(std::string_view name,
                                                 const model::Config& config,
                                                 std::string* error);
std::optional<model::Target> MakeTargetForTraceUnchecked(const std::string& name,
                                                         const std::string& scenario_json,
                                                         const model::Config& config,
                                                         std::string* error);

}  // namespace

ScenarioFamilyRegistrar::ScenarioFamilyRegistrar(void (*add)(std::vector<Scenario>& out)) {
  FamilyHooks().push_back(add);
}

const std::vector<Scenario>& Scenarios() {
  static const std::vector<Scenario> all = BuildRegistry();
  return all;
}

const Scenario* FindScenario(std::string_view name) {
  if (IsScenarioPath(name)) return LoadFileScenario(std::string(name), nullptr);
  for (const Scenario& s : Scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> DefaultSuite() {
  std::vector<std::string> names;
  for (const Scenario& s : Scenarios()) {
    if (s.default_suite) names.push_back(s.name);
  }
  return names;
}

std::vector<std::string> DefaultSuiteFor(const std::string& order) {
  const std::string effective = order.empty() ? "legacy" : order;
  std::vector<std::string> names;
  for (const Scenario& s : Scenarios()) {
    if (!s.default_suite) continue;
    if (!s.suite_orders.empty() &&
        std::find(s.suite_orders.begin(), s.suite_orders.end(), effective) == s.suite_orders.end()) {
      continue;
    }
    names.push_back(s.name);
  }
  return names;
}

uint64_t ConfigNumber(const model::Config& config, const std::string& key,
                      uint64_t fallback, uint64_t lo, uint64_t hi) {
  auto it = config.find(key);
  if (it == config.end()) return fallback;
  const std::string& s = it->second;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    throw ConfigError{"config " + key + "=" + s + ": not a number"};
  }
  if (v < lo || v > hi) {
    throw ConfigError{"config " + key + "=" + s + ": out of range [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]"};
  }
  return v;
}

bool AcceptsKey(const Scenario& scenario, const std::string& key) {
  auto has = [&](const auto& keys) {
    return std::any_of(keys.begin(), keys.end(), [&](const auto& k) { return k.first == key; });
  };
  return has(RuntimeKeys()) || has(scenario.config_keys);
}

std::optional<model::Target> MakeTargetFor(const Scenario& scenario_ref,
                                           const model::Config& config, std::string* error) {
  const Scenario* scenario = &scenario_ref;
  for (const auto& [key, value] : config) {
    auto known = [&](const auto& keys) {
      return std::any_of(keys.begin(), keys.end(),
                         [&](const auto& k) { return k.first == key; });
    };
    if (!known(RuntimeKeys()) && !known(scenario->config_keys)) {
      *error = "config key '" + key + "' is not known to scenario '" +
               scenario->name + "'";
      return std::nullopt;
    }
  }
  // The effective configuration: the scenario's defaults, then the
  // user's. Traces record it whole, so replay does not depend on defaults.
  model::Config effective = scenario->defaults;
  for (const auto& [key, value] : config) effective[key] = value;
  try {
    model::Target target;
    target.scenario = scenario->name;
    target.description = scenario->description;
    target.config = effective;
    const model::Config& config = effective;
    target.run_options.stack_size =
        ConfigNumber(config, "stack_kib", sim::kStackSizeDefault / 1024,
                     sim::kStackSizeMin / 1024, sim::kStackSizeMax / 1024) *
        1024;
    target.run_options.steps_max = ConfigNumber(
        config, "steps_max", sim::kStepsMaxDefault, 1, UINT64_MAX / 2);
    auto lockdep = config.find("lockdep");
    if (lockdep != config.end()) {
      if (lockdep->second != "on" && lockdep->second != "off") {
        throw ConfigError{"config lockdep=" + lockdep->second + ": expected on or off"};
      }
      target.run_options.lockdep = lockdep->second == "on";
    }
    auto races = config.find("races");
    if (races != config.end()) {
      if (races->second != "on" && races->second != "off") {
        throw ConfigError{"config races=" + races->second + ": expected on or off"};
      }
      target.run_options.race_detector = races->second == "on";
    }
    target.make = scenario->bind(config);
    if (scenario->json.empty()) {
      nlohmann::json j = {{"name", scenario->name},
                          {"builtin", true},
                          {"description", scenario->description}};
      target.scenario_json = j.dump();
    } else {
      target.scenario_json = scenario->json;
    }
    return target;
  } catch (const ConfigError& e) {
    *error = e.message;
    return std::nullopt;
  }
}

namespace {

std::optional<model::Target> MakeTargetUnchecked(std::string_view name,
                                                 const model::Config& config,
                                                 std::string* error) {
  if (IsScenarioPath(name)) {
    const Scenario* scenario = LoadFileScenario(std::string(name), error);
    if (scenario == nullptr) return std::nullopt;
    return MakeTargetFor(*scenario, config, error);
  }
  const Scenario* scenario = FindScenario(name);
  if (scenario == nullptr) {
    *error = "unknown scenario '" + std::string(name) + "' (see 'fsim list')";
    return std::nullopt;
  }
  return MakeTargetFor(*scenario, config, error);
}

std::optional<model::Target> MakeTargetForTraceUnchecked(const std::string& name,
                                                         const std::string& scenario_json,
                                                         const model::Config& config,
                                                         std::string* error) {
  nlohmann::json j = nlohmann::json::parse(scenario_json, nullptr, false);
  if (!j.is_object() || j.contains("builtin")) return MakeTargetUnchecked(name, config, error);
  std::optional<Scenario> scenario = ScenarioFromText(scenario_json, "scenario", error);
  if (!scenario) return std::nullopt;
  return MakeTargetFor(*scenario, config, error);
}

}  // namespace

// The errors quote the user's names and keys: one line, escaped and cut.
std::optional<model::Target> MakeTarget(std::string_view name, const model::Config& config,
                                        std::string* error) {
  auto target = MakeTargetUnchecked(name, config, error);
  if (!target) *error = model::OneLine(*error);
  return target;
}

std::optional<model::Target> MakeTargetForTrace(const std::string& name,
                                                const std::string& scenario_json,
                                                const model::Config& config,
                                                std::string* error) {
  auto target = MakeTargetForTraceUnchecked(name, scenario_json, config, error);
  if (!target) *error = model::OneLine(*error);
  return target;
}

}  // namespace fsim::scenarios
