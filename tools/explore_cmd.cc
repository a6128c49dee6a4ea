// fsim list, fsim explore.
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <nlohmann/json.hpp>

#include "model/explorer.h"
#include "scenarios/registry.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

using Clock = std::chrono::steady_clock;

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

// --coverage: per scenario, the runs that reached each coverage point (a
// point no run reached is a path the scenario does not exercise).
void PrintCoverage(const model::ExploreSummary& summary) {
  std::printf("\ncoverage (runs that reached each point):\n");
  for (const model::TargetStats& t : summary.targets) {
    std::printf("  %s (%llu runs)\n", t.scenario.c_str(), static_cast<unsigned long long>(t.runs));
    if (t.coverage.empty()) std::printf("    (no point reached)\n");
    for (const auto& [point, runs] : t.coverage) {
      std::printf("    %-44s %10llu  %5.1f%%\n", point.c_str(), static_cast<unsigned long long>(runs),
                  t.runs > 0 ? 100.0 * static_cast<double>(runs) / static_cast<double>(t.runs) : 0.0);
    }
  }
}

void PrintJson(const model::ExploreSummary& summary, double seconds, bool interrupted) {
  nlohmann::json findings = nlohmann::json::array();
  for (const model::FindingRecord& f : summary.findings) {
    nlohmann::json finding = FindingJson(f);
    finding["scenario"] = f.scenario;
    finding["config"] = f.config;
    findings.push_back(std::move(finding));
  }
  nlohmann::json targets = nlohmann::json::array();
  for (const model::TargetStats& t : summary.targets) {
    targets.push_back({{"scenario", t.scenario},
                       {"runs", t.runs},
                       {"findings", t.findings},
                       {"exhausted", t.exhausted},
                       {"coverage", t.coverage}});
  }
  nlohmann::json j = {{"fsim_summary", 1},
                      {"runs", summary.runs},
                      {"seconds", seconds},
                      {"runs_per_sec", seconds > 0 ? summary.runs / seconds : 0.0},
                      {"digest", model::DigestHex(summary.digest)},
                      {"findings", std::move(findings)},
                      {"targets", std::move(targets)},
                      {"interrupted", interrupted}};
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

int List() {
  for (const scenarios::Scenario& s : scenarios::Scenarios()) {
    // Data scenarios say where they come from; programs in C++ do not.
    std::printf("%s - %s%s\n", s.name.c_str(), s.description.c_str(),
                s.source.empty() ? "" : (" [" + s.source + "]").c_str());
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
  if (!CheckOutDir(args.out, &error)) return UsageError(error);
  // The default suite under the order asked for (a scenario the RFC order
  // is known to fail is left out under it).
  const auto order = config.find("order");
  std::vector<std::string> names =
      args.scenarios.empty()
          ? scenarios::DefaultSuiteFor(order != config.end() ? order->second : std::string())
          : args.scenarios;
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
  InterruptScope interrupt;
  std::optional<Clock::time_point> deadline;
  if (args.time_sec > 0) {
    deadline = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(args.time_sec));
  }
  // Checked between runs: the budget, or Ctrl-C.
  options.out_of_time = [deadline] {
    return InterruptScope::Interrupted() || (deadline && Clock::now() >= *deadline);
  };
  Progress progress("explore");
  options.on_run = [&progress](const model::RunRecord& r) { progress.OnRun(r); };
  options.on_finding = [&progress](const model::FindingRecord& f) {
    progress.OnFinding();
    spdlog::warn("{} in {} (seed {}): {} -> {}", sim::FindingKindName(f.finding.kind),
                 f.scenario, f.seed, f.finding.message(), f.trace_path);
  };
  spdlog::info("exploring {} scenario(s) with {} (seed {}{})", targets.size(),
               args.strategy, args.seed,
               options.shard_count > 1 ? ", shard " + args.shard : std::string());
  model::ExploreSummary summary = model::Explore(targets, options);
  progress.Done();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const bool interrupted = InterruptScope::Interrupted();
  if (interrupted) {
    spdlog::warn("interrupted after {} runs; the findings so far are below, their traces on disk",
                 summary.runs);
  }
  if (args.json) {
    PrintJson(summary, seconds, interrupted);
  } else {
    PrintTable(summary, seconds, options);
    if (args.coverage) PrintCoverage(summary);
  }
  if (!summary.findings.empty()) return kExitFindings;
  return interrupted ? kExitInterrupted : kExitClean;
}

}  // namespace fsim::tools
