// fsim list, fsim explore.
#include <spdlog/spdlog.h>


#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
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
      const std::string bound = t.preemption_bound < 0 ? std::string("unbounded")
                                                        : std::to_string(t.preemption_bound);
      if (options.dfs_iterative) {
        extra = t.exhausted ? " (space exhausted: " + std::to_string(t.runs) +
                                  " schedules over bounds 0.." + bound +
                                  ", the last cutting nothing off)"
                            : " (iterative, reached preemption bound " + bound + ")";
      } else {
        extra = t.exhausted ? " (space exhausted: " + std::to_string(t.runs) +
                                  " schedules at preemption bound " + bound + ")"
                            : " (not exhausted)";
      }
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

// Per scenario as JSON: figures, coverage (point -> runs), coverage_first
// (point -> first run), clean traces written.
nlohmann::json TargetJson(const model::TargetStats& t) {
  return {{"scenario", t.scenario},
          {"runs", t.runs},
          {"findings", t.findings},
          {"exhausted", t.exhausted},
          {"steps_max", t.steps_max},
          {"preemption_bound", t.preemption_bound},
          {"sleep_blocked", t.sleep_blocked},
          {"coverage", t.coverage},
          {"coverage_first", t.coverage_first},
          {"clean_traces", t.clean_traces}};
}

// A scenario's declared intents (scenarios::Scenario::intents) that no run
// of it reached: one warning each.
std::vector<std::string> IntentWarnings(const nlohmann::json& targets) {
  std::vector<std::string> out;
  for (const nlohmann::json& t : targets) {
    const std::string name = t.value("scenario", "");
    const scenarios::Scenario* sc = scenarios::FindScenario(name);
    if (sc == nullptr || t.value("runs", uint64_t{0}) == 0) continue;
    for (const auto& [prefixes, what] : sc->intents) {
      // `prefixes`: one or more coverage-point prefixes, '|'-separated;
      // reaching any of them fulfils the intent.
      bool reached = false;
      for (const auto& [point, runs] : t["coverage"].items()) {
        for (size_t at = 0; at <= prefixes.size() && !reached;) {
          const size_t bar = std::min(prefixes.find('|', at), prefixes.size());
          reached = point.compare(0, bar - at, prefixes, at, bar - at) == 0;
          at = bar + 1;
        }
      }
      if (!reached) {
        out.push_back(name + " declares " + what + " (no run reached '" + prefixes + "*') in " +
                      std::to_string(t["runs"].get<uint64_t>()) + " runs");
      }
    }
  }
  return out;
}

// --coverage: per scenario, the runs that reached each coverage point and
// the first run that did (a point no run reached is a path the scenario
// does not exercise), then the warnings.
void PrintCoverage(const nlohmann::json& targets, const std::vector<std::string>& warnings) {
  std::printf("\ncoverage (runs that reached each point, the first run that did):\n");
  for (const nlohmann::json& t : targets) {
    const uint64_t total = t["runs"].get<uint64_t>();
    std::printf("  %s (%llu runs)\n", t["scenario"].get<std::string>().c_str(),
                static_cast<unsigned long long>(total));
    if (t["coverage"].empty()) std::printf("    (no point reached)\n");
    for (const auto& [point, runs_json] : t["coverage"].items()) {
      const uint64_t runs = runs_json.get<uint64_t>();
      std::printf("    %-44s %10llu  %5.1f%%  first run %llu\n", point.c_str(),
                  static_cast<unsigned long long>(runs),
                  total > 0 ? 100.0 * static_cast<double>(runs) / static_cast<double>(total) : 0.0,
                  static_cast<unsigned long long>(t["coverage_first"].value(point, uint64_t{0})));
    }
  }
  for (const std::string& w : warnings) std::printf("warning: %s\n", w.c_str());
}

// The coverage and warnings of an exploration: printed (--coverage),
// warned about on stderr, written to --coverage FILE. Returns false if the
// file could not be written (the message is on stderr).
bool ReportCoverage(const ExploreArgs& args, const nlohmann::json& targets) {
  const std::vector<std::string> warnings = IntentWarnings(targets);
  if (args.coverage && !args.json) {
    PrintCoverage(targets, warnings);
  } else if (!warnings.empty() && !args.json) {
    std::printf("warning: %zu declared intent(s) no run reached (a memory budget no run "
                "reclaimed under, a fault never injected): see --coverage\n",
                warnings.size());
  }
  if (args.coverage_file.empty()) return true;
  const nlohmann::json file = {{"fsim_coverage", 1}, {"targets", targets}, {"warnings", warnings}};
  std::string error = model::WriteFileAtomically(args.coverage_file, file.dump(1) + "\n");
  if (!error.empty()) {
    std::fprintf(stderr, "fsim: %s\n", error.c_str());
    return false;
  }
  return true;
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
  for (const model::TargetStats& t : summary.targets) targets.push_back(TargetJson(t));
  nlohmann::json j = {{"fsim_summary", 1},
                      {"runs", summary.runs},
                      {"seconds", seconds},
                      {"runs_per_sec", seconds > 0 ? summary.runs / seconds : 0.0},
                      {"digest", model::DigestHex(summary.digest)},
                      {"findings", std::move(findings)},
                      {"targets", std::move(targets)},
                      {"interrupted", interrupted}};
  j["warnings"] = IntentWarnings(j["targets"]);
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

int List(bool json) {
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const scenarios::Scenario& s : scenarios::Scenarios()) {
      list.push_back({{"name", s.name},
                      {"description", s.description},
                      {"source", s.source},
                      {"default_suite", s.default_suite},
                      {"family", s.family}});
    }
    std::printf("%s\n", nlohmann::json{{"fsim_list", 1}, {"scenarios", list}}.dump().c_str());
    return kExitClean;
  }
  for (const scenarios::Scenario& s : scenarios::Scenarios()) {
    // Data scenarios say where they come from; programs in C++ do not.
    std::printf("%s - %s%s\n", s.name.c_str(), s.description.c_str(),
                s.source.empty() ? "" : (" [" + s.source + "]").c_str());
  }
  return kExitClean;
}

namespace {

// -j N: the same exploration as N processes, child I running --shard I/N
// (model/explorer.h: the shards together run exactly the unsharded runs),
// each writing its JSON summary to a file; the summary printed is their
// union, merged in shard order (deterministic for a given N; its digest
// combines the shards' digests in that order).
int ExploreJobs(const ExploreArgs& args, uint32_t jobs) {
  std::vector<std::string> base = {"explore"};
  for (const std::string& s : args.scenarios) base.insert(base.end(), {"--scenario", s});
  base.insert(base.end(), {"--strategy", args.strategy, "--seed", std::to_string(args.seed),
                           "--out", args.out, "--json"});
  if (args.strategy == "pct") base.insert(base.end(), {"--depth", std::to_string(args.depth)});
  if (args.strategy == "dfs" && args.preemptions >= 0) {
    base.insert(base.end(), {"--preemptions", std::to_string(args.preemptions)});
  }
  if (args.iterative) base.push_back("--iterative");
  if (args.por) base.push_back("--por");
  if (args.runs) base.insert(base.end(), {"--runs", std::to_string(*args.runs)});
  if (args.time_sec > 0) base.insert(base.end(), {"--time", std::to_string(args.time_sec)});
  if (args.vtime_sec > 0) {
    base.insert(base.end(), {"--vtime", std::to_string(args.vtime_sec / jobs)});
  }
  for (const std::string& c : args.config) base.insert(base.end(), {"--config", c});
  if (args.all) base.push_back("--all");
  if (args.save_clean > 0) base.insert(base.end(), {"--save-clean", std::to_string(args.save_clean)});
  std::vector<nlohmann::json> results;
  std::vector<std::string> failed;  // how each failed shard ended
  std::string error;
  const int worst = RunShards(base, jobs, &results, &failed, &error);
  if (worst == kExitUsage) return UsageError(error);
  if (worst > kExitFindings) {
    // What the shards that finished found is on disk already; say where,
    // so that one shard's death loses nothing of the others'.
    for (const nlohmann::json& r : results) {
      if (!r.is_object() || !r.contains("findings")) continue;
      for (const nlohmann::json& f : r["findings"]) {
        std::fprintf(stderr, "fsim: -j: found %s in %s: %s\n", f.value("signature", "").c_str(),
                     f.value("scenario", "").c_str(), f.value("trace", "").c_str());
      }
    }
    for (const std::string& why : failed) std::fprintf(stderr, "fsim: -j: %s\n", why.c_str());
    std::fprintf(stderr, "fsim: -j: a shard failed (exit %d)\n", worst);
    return worst;
  }
  // The union: runs, findings and per-scenario figures summed.
  nlohmann::json merged = {{"fsim_summary", 1}, {"runs", 0}, {"seconds", 0.0},
                           {"findings", nlohmann::json::array()}, {"interrupted", false},
                           {"jobs", jobs}};
  std::map<std::string, nlohmann::json> targets;
  std::vector<std::string> order;
  // One finding per scenario and signature, as one process reports it:
  // the one of the smallest run (the others' traces stay on disk).
  std::map<std::string, nlohmann::json> first_finding;
  uint64_t digest = 0;
  for (const nlohmann::json& r : results) {
    merged["runs"] = merged["runs"].get<uint64_t>() + r["runs"].get<uint64_t>();
    merged["seconds"] = std::max(merged["seconds"].get<double>(), r["seconds"].get<double>());
    merged["interrupted"] = merged["interrupted"].get<bool>() || r["interrupted"].get<bool>();
    // The shards' digests add up to the unsharded exploration's
    // (model::ExploreSummary::digest).
    digest += std::stoull(r["digest"].get<std::string>(), nullptr, 16);
    for (const nlohmann::json& f : r["findings"]) {
      const std::string key = f.value("scenario", "") + "\n" + f.value("signature", "");
      auto it = first_finding.find(key);
      if (it == first_finding.end() || it->second["run"].get<uint64_t>() > f["run"].get<uint64_t>()) {
        first_finding[key] = f;
      }
    }
    for (const nlohmann::json& t : r["targets"]) {
      const std::string name = t["scenario"].get<std::string>();
      if (!targets.count(name)) {
        order.push_back(name);
        targets[name] = {{"scenario", name}, {"runs", 0}, {"findings", 0}, {"exhausted", true},
                         {"preemption_bound", t.value("preemption_bound", -1)}, {"sleep_blocked", 0},
                         {"steps_max", 0},
                         {"coverage", nlohmann::json::object()},
                         {"coverage_first", nlohmann::json::object()},
                         {"clean_traces", nlohmann::json::array()}};
      }
      nlohmann::json& m = targets[name];
      m["runs"] = m["runs"].get<uint64_t>() + t["runs"].get<uint64_t>();
      m["findings"] = m["findings"].get<uint64_t>() + t["findings"].get<uint64_t>();
      m["exhausted"] = m["exhausted"].get<bool>() && t["exhausted"].get<bool>();
      // DFS: the deepest bound a shard reached (iterative deepening), and
      // the schedules the sleep sets cut, summed.
      m["preemption_bound"] = std::max(m["preemption_bound"].get<int64_t>(),
                                       t.value("preemption_bound", int64_t{-1}));
      m["sleep_blocked"] = m["sleep_blocked"].get<uint64_t>() + t.value("sleep_blocked", uint64_t{0});
      m["steps_max"] = std::max(m["steps_max"].get<uint64_t>(), t.value("steps_max", uint64_t{0}));
      for (const auto& [point, runs] : t["coverage"].items()) {
        m["coverage"][point] = m["coverage"].value(point, uint64_t{0}) + runs.get<uint64_t>();
      }
      // Run indices are global (shard I runs r mod N == I): the first is
      // the smallest over the shards.
      const nlohmann::json first_runs = t.value("coverage_first", nlohmann::json::object());
      for (const auto& [point, first] : first_runs.items()) {
        const uint64_t r = first.get<uint64_t>();
        if (!m["coverage_first"].contains(point) || m["coverage_first"][point].get<uint64_t>() > r) {
          m["coverage_first"][point] = r;
        }
      }
      const nlohmann::json clean = t.value("clean_traces", nlohmann::json::array());
      for (const nlohmann::json& path : clean) {
        m["clean_traces"].push_back(path);
      }
    }
  }
  merged["digest"] = model::DigestHex(digest);
  // In the order one process finds them: by run, then by scenario in the
  // order explored (a run index visits every scenario in turn).
  std::vector<nlohmann::json> firsts;
  for (auto& [key, f] : first_finding) firsts.push_back(std::move(f));
  auto target_index = [&order](const nlohmann::json& f) {
    return std::find(order.begin(), order.end(), f.value("scenario", "")) - order.begin();
  };
  std::stable_sort(firsts.begin(), firsts.end(), [&](const nlohmann::json& a, const nlohmann::json& b) {
    const uint64_t ra = a["run"].get<uint64_t>(), rb = b["run"].get<uint64_t>();
    return ra != rb ? ra < rb : target_index(a) < target_index(b);
  });
  for (nlohmann::json& f : firsts) merged["findings"].push_back(std::move(f));
  // A target's distinct findings, as one process counts them (two shards
  // finding the same signature count it once).
  for (const std::string& name : order) {
    uint64_t n = 0;
    for (const nlohmann::json& f : merged["findings"]) n += f.value("scenario", "") == name ? 1 : 0;
    targets[name]["findings"] = n;
  }
  const double seconds = merged["seconds"].get<double>();
  merged["runs_per_sec"] = seconds > 0 ? merged["runs"].get<double>() / seconds : 0.0;
  merged["targets"] = nlohmann::json::array();
  for (const std::string& name : order) merged["targets"].push_back(targets[name]);
  merged["warnings"] = IntentWarnings(merged["targets"]);
  const bool found = !merged["findings"].empty();
  if (args.json) {
    std::printf("%s\n", merged.dump().c_str());
  } else {
    std::printf("%-24s %10s %9s %10s  %s\n", "scenario", "runs", "findings", "steps_max",
                "status");
    for (const std::string& name : order) {
      const nlohmann::json& t = targets[name];
      std::printf("%-24s %10llu %9llu %10llu  %s\n", name.c_str(),
                  static_cast<unsigned long long>(t["runs"].get<uint64_t>()),
                  static_cast<unsigned long long>(t["findings"].get<uint64_t>()),
                  static_cast<unsigned long long>(t["steps_max"].get<uint64_t>()),
                  t["findings"].get<uint64_t>() > 0 ? "FOUND" : "ok");
    }
    std::printf("\nruns: %llu  jobs: %u  seconds: %.2f  runs/s: %.0f  digest: %s\n",
                static_cast<unsigned long long>(merged["runs"].get<uint64_t>()), jobs, seconds,
                merged["runs_per_sec"].get<double>(), merged["digest"].get<std::string>().c_str());
    if (!found) {
      std::printf("no findings\n");
    } else {
      std::printf("\nfindings:\n");
      for (const nlohmann::json& f : merged["findings"]) {
        std::printf("  %s in %s (seed %llu, run %llu)\n    %s\n    trace: %s\n"
                    "    replay: fsim replay %s --report\n",
                    f["kind"].get<std::string>().c_str(), f["scenario"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(f["seed"].get<uint64_t>()),
                    static_cast<unsigned long long>(f["run"].get<uint64_t>()),
                    f["message"].get<std::string>().c_str(), f["trace"].get<std::string>().c_str(),
                    f["trace"].get<std::string>().c_str());
      }
    }
  }
  if (!ReportCoverage(args, merged["targets"])) return kExitInternal;
  if (found) return kExitFindings;
  return merged["interrupted"].get<bool>() ? kExitInterrupted : kExitClean;
}

}  // namespace

int Explore(const ExploreArgs& args) {
  std::string error;
  model::Config config;
  if (!ParseConfig(args.config, &config, &error)) return UsageError(error);
  model::ExploreOptions options;
  if (!ParseShard(args.shard, &options.shard_index, &options.shard_count, &error)) {
    return UsageError(error);
  }
  if (!CheckOutDir(args.out, &error)) return UsageError(error);
  if (!args.coverage_file.empty() && !CheckOutFile(args.coverage_file, "--coverage", &error)) {
    return UsageError(error);
  }
  if (args.jobs > 1 && !args.shard.empty()) return UsageError("-j and --shard: give one of them");
  const uint32_t jobs = JobsFor(args.jobs, args.shard);
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
    if (args.por && sc != nullptr && !sc->names_shared_state) {
      return UsageError("--por: scenario '" + name + "' does not name every shared access at a "
                        "scheduling point (fs/ code reads plain fields), so sleep sets would be "
                        "unsound there; use plain dfs");
    }
    targets.push_back(std::move(*target));
  }
  // Every scenario and key is known good: the shards can go.
  if (jobs > 1) return ExploreJobs(args, jobs);
  options.strategy.name = args.strategy;
  options.strategy.depth = args.depth;
  options.strategy.preemptions = args.preemptions;
  options.dfs_iterative = args.iterative;
  options.dfs_sleep_sets = args.por;
  options.seed = args.seed;
  options.runs = args.runs;
  options.virtual_ns_budget = static_cast<uint64_t>(args.vtime_sec * 1e9);
  options.all = args.all;
  options.out_dir = args.out;
  options.save_clean = args.save_clean;
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
  }
  nlohmann::json targets_json = nlohmann::json::array();
  for (const model::TargetStats& t : summary.targets) targets_json.push_back(TargetJson(t));
  if (!ReportCoverage(args, targets_json)) return kExitInternal;
  if (!summary.findings.empty()) return kExitFindings;
  return interrupted ? kExitInterrupted : kExitClean;
}

}  // namespace fsim::tools
