// fsim list, fsim explore.
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "model/explorer.h"
#include "scenarios/registry.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

using Clock = std::chrono::steady_clock;

bool ParseConfig(const std::vector<std::string>& pairs, model::Config* config,
                 std::string* error) {
  for (const std::string& kv : pairs) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--config " + kv + ": expected KEY=VALUE";
      return false;
    }
    (*config)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

bool ParseShard(const std::string& s, uint32_t* index, uint32_t* count,
                std::string* error) {
  *index = 0;
  *count = 1;
  if (s.empty()) return true;
  size_t slash = s.find('/');
  auto number = [](std::string_view t, uint32_t* out) {
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    return ec == std::errc() && end == t.data() + t.size() && !t.empty();
  };
  if (slash == std::string::npos || !number(std::string_view(s).substr(0, slash), index) ||
      !number(std::string_view(s).substr(slash + 1), count) || *count == 0 ||
      *index >= *count) {
    *error = "--shard " + s + ": expected I/N with 0 <= I < N";
    return false;
  }
  return true;
}

void PrintTable(const model::ExploreSummary& summary, double seconds,
                const model::ExploreOptions& options) {
  std::printf("%-24s %10s %9s %10s  %s\n", "scenario", "runs", "findings",
              "steps_max", "status");
  for (const model::TargetStats& t : summary.targets) {
    const char* status = t.findings > 0 ? "FOUND" : "ok";
    std::string extra;
    if (options.strategy.name == "dfs") {
      extra = t.exhausted ? " (space exhausted: " + std::to_string(t.runs) +
                                " schedules at preemption bound " +
                                (options.strategy.preemptions < 0
                                     ? std::string("unbounded")
                                     : std::to_string(options.strategy.preemptions)) +
                                ")"
                          : " (not exhausted)";
    }
    std::printf("%-24s %10llu %9llu %10llu  %s%s\n", t.scenario.c_str(),
                static_cast<unsigned long long>(t.runs),
                static_cast<unsigned long long>(t.findings),
                static_cast<unsigned long long>(t.steps_max), status, extra.c_str());
  }
  std::printf("\nruns: %llu  seconds: %.2f  runs/s: %.0f  digest: %s\n",
              static_cast<unsigned long long>(summary.runs), seconds,
              seconds > 0 ? summary.runs / seconds : 0.0,
              model::DigestHex(summary.digest).c_str());
  if (summary.findings.empty()) {
    std::printf("no findings\n");
    return;
  }
  std::printf("\nfindings:\n");
  for (const model::FindingRecord& f : summary.findings) {
    std::printf("  %s in %s (seed %llu, run %llu)\n    %s\n    trace: %s\n"
                "    replay: fsim replay %s --report\n",
                std::string(sim::FindingKindName(f.finding.kind)).c_str(),
                f.scenario.c_str(), static_cast<unsigned long long>(f.seed),
                static_cast<unsigned long long>(f.run),
                std::string(f.finding.message()).c_str(), f.trace_path.c_str(),
                f.trace_path.c_str());
  }
}

void PrintJson(const model::ExploreSummary& summary, double seconds) {
  nlohmann::json findings = nlohmann::json::array();
  for (const model::FindingRecord& f : summary.findings) {
    findings.push_back({{"kind", sim::FindingKindName(f.finding.kind)},
                        {"signature", f.finding.signature},
                        {"scenario", f.scenario},
                        {"config", f.config},
                        {"seed", f.seed},
                        {"run", f.run},
                        {"trace", f.trace_path},
                        {"message", std::string(f.finding.message())}});
  }
  nlohmann::json targets = nlohmann::json::array();
  for (const model::TargetStats& t : summary.targets) {
    targets.push_back({{"scenario", t.scenario},
                       {"runs", t.runs},
                       {"findings", t.findings},
                       {"exhausted", t.exhausted}});
  }
  nlohmann::json j = {{"fsim_summary", 1},
                      {"runs", summary.runs},
                      {"seconds", seconds},
                      {"runs_per_sec", seconds > 0 ? summary.runs / seconds : 0.0},
                      {"digest", model::DigestHex(summary.digest)},
                      {"findings", std::move(findings)},
                      {"targets", std::move(targets)}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

int List() {
  for (const scenarios::Scenario& s : scenarios::Scenarios()) {
    std::printf("%s - %s\n", s.name.c_str(), s.description.c_str());
  }
  return kExitClean;
}

int Explore(const ExploreArgs& args) {
  std::string error;
  model::Config config;
  if (!ParseConfig(args.config, &config, &error)) return UsageError(error);
  model::ExploreOptions options;
  if (!ParseShard(args.shard, &options.shard_index, &options.shard_count, &error)) {
    return UsageError(error);
  }
  std::vector<std::string> names =
      args.scenarios.empty() ? scenarios::DefaultSuite() : args.scenarios;
  std::vector<model::Target> targets;
  // Over several scenarios (the default suite), a key applies to those
  // that take it (--config order=rfc reaches the filesystem scenarios);
  // a key no selected scenario takes is an error. One named scenario
  // must take every key.
  for (const auto& [key, value] : config) {
    bool anyone = false;
    for (const std::string& name : names) {
      const scenarios::Scenario* sc = scenarios::FindScenario(name);
      if (sc != nullptr && scenarios::AcceptsKey(*sc, key)) anyone = true;
    }
    if (!anyone && names.size() > 1) {
      return UsageError("config key '" + key + "' is taken by none of the selected scenarios");
    }
  }
  for (const std::string& name : names) {
    model::Config own = config;
    const scenarios::Scenario* sc = scenarios::FindScenario(name);
    if (sc != nullptr && names.size() > 1) {
      std::erase_if(own, [&](const auto& kv) { return !scenarios::AcceptsKey(*sc, kv.first); });
    }
    auto target = scenarios::MakeTarget(name, own, &error);
    if (!target) return UsageError(error);
    targets.push_back(std::move(*target));
  }
  options.strategy.name = args.strategy;
  options.strategy.depth = args.depth;
  options.strategy.preemptions = args.preemptions;
  options.seed = args.seed;
  options.runs = args.runs;
  options.virtual_ns_budget = static_cast<uint64_t>(args.vtime_sec * 1e9);
  options.all = args.all;
  options.out_dir = args.out;
  Clock::time_point start = Clock::now();
  if (args.time_sec > 0) {
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(args.time_sec));
    options.out_of_time = [deadline] { return Clock::now() >= deadline; };
  }
  options.on_finding = [](const model::FindingRecord& f) {
    spdlog::warn("{} in {} (seed {}): {} -> {}", sim::FindingKindName(f.finding.kind),
                 f.scenario, f.seed, f.finding.message(), f.trace_path);
  };
  spdlog::info("exploring {} scenario(s) with {} (seed {}{})", targets.size(),
               args.strategy, args.seed,
               options.shard_count > 1 ? ", shard " + args.shard : std::string());
  model::ExploreSummary summary = model::Explore(targets, options);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (args.json) {
    PrintJson(summary, seconds);
  } else {
    PrintTable(summary, seconds, options);
  }
  return summary.findings.empty() ? kExitClean : kExitFindings;
}

}  // namespace fsim::tools
