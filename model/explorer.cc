#include "model/explorer.h"

// The state struct is only complete with XXH_STATIC_LINKING_ONLY; keeping
// it on the stack avoids an allocation per digest.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <unordered_set>
#include <stdexcept>

#include "model/dfs.h"
#include "model/pct.h"
#include "model/random_walk.h"
#include "model/replay.h"
#include "model/surw.h"
#include "model/urw.h"
#include "sim/random.h"
#include "sim/site.h"
#include "sim/stack.h"

namespace fsim::model {
namespace {

// Per-target exploration state.
struct Lane {
  const Target* target = nullptr;
  std::unique_ptr<sim::Strategy> strategy;
  Dfs* dfs = nullptr;  // == strategy.get() for dfs
  uint64_t sleep_blocked_before = 0;  // iterative: earlier bounds' sleep-blocked runs
  std::set<std::string> signatures;
  // NameHash of each signature: reports of these need not be built again.
  std::unordered_set<uint64_t> known;
  TargetStats stats;
  bool done = false;
  // How to run this target's run r again: the command line without --runs
  // (the crash note's; built once).
  std::string again;
};

// The crash note: what the fatal hook (sim::FaultTrap::SetFatalHook) says
// when fsim itself dies of a signal during a run, where no finding and no
// trace can be written any more (the heap may be corrupt): which run of
// which scenario, and the command that runs it again, deterministically.
// Set before each run with plain stores; read only by the hook.
struct CrashNote {
  const char* again = nullptr;  // Lane::again
  const char* scenario = nullptr;
  const char* out_dir = nullptr;
  uint64_t run = 0;
  uint64_t seed = 0;
  bool profiling = false;  // the strategy's profile runs, before run 0
};
CrashNote g_crash_note;
volatile sig_atomic_t g_crash_note_set = 0;

// Async-signal-safe appending into a fixed buffer (no allocation).
struct NoteBuffer {
  char text[4096];
  size_t n = 0;
  void Add(const char* s) {
    while (s != nullptr && *s != 0 && n + 1 < sizeof text) text[n++] = *s++;
  }
  void Add(uint64_t v) {
    char digits[24];
    int k = 0;
    do {
      digits[k++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (k > 0 && n + 1 < sizeof text) text[n++] = digits[--k];
  }
};

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void OnFatalSignal(int sig) {
  if (!g_crash_note_set) return;
  const CrashNote& c = g_crash_note;
  NoteBuffer note;
  note.Add("fsim: fatal signal ");
  note.Add(sig == SIGABRT ? "SIGABRT" : sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : "?");
  if (c.profiling) {
    note.Add(" in the strategy's profile runs of scenario ");
    note.Add(c.scenario);
    note.Add(" (before run 0)");
  } else {
    note.Add(" in run ");
    note.Add(c.run);
    note.Add(" of scenario ");
    note.Add(c.scenario);
    note.Add(" (run seed ");
    note.Add(c.seed);
    note.Add(")");
  }
  note.Add(", outside any fiber or from the C++ runtime (heap corruption, an uncaught exception, "
           "a failed harness check): fsim itself died, so this run has no finding and no trace. "
           "The run is deterministic; to run it again (under gdb, or a --config=asan build):\n  ");
  note.Add(c.again);
  note.Add(" --runs ");
  note.Add(c.run + 1);
  note.Add("\n");
  WriteAll(2, note.text, note.n);
  // The same words in the output directory, beside the traces.
  if (c.out_dir == nullptr || c.scenario == nullptr) return;
  NoteBuffer path;
  path.Add(c.out_dir);
  path.text[path.n] = 0;
  mkdir(path.text, 0777);  // may exist
  path.Add("/");
  path.Add(c.scenario);
  path.Add("-crash-r");
  path.Add(c.run);
  path.Add(".txt");
  path.text[path.n] = 0;
  const int fd = open(path.text, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  WriteAll(fd, note.text, note.n);
  close(fd);
}

std::string AgainCommand(const Target& target, const ExploreOptions& options) {
  std::string cmd = "fsim explore --scenario " + target.scenario + " --strategy " +
                    options.strategy.name + " --seed " + std::to_string(options.seed) + " --all";
  if (options.strategy.name == "pct") cmd += " --depth " + std::to_string(options.strategy.depth);
  if (options.strategy.name == "dfs") {
    if (options.strategy.preemptions >= 0) {
      cmd += " --preemptions " + std::to_string(options.strategy.preemptions);
    }
    if (options.dfs_iterative) cmd += " --iterative";
    if (options.dfs_sleep_sets) cmd += " --por";
    // DFS splits its tree inside the strategy: the same shard.
    if (options.shard_count > 1) {
      cmd += " --shard " + std::to_string(options.shard_index) + "/" +
             std::to_string(options.shard_count);
    }
  }
  for (const auto& [key, value] : target.config) cmd += " --config " + key + "=" + value;
  return cmd;
}

// PCT needs the length of a run (k). It is measured once per target by a
// random-walk run with a fixed seed, so every shard computes the same k.
uint64_t EstimateSteps(const Target& target, sim::Scheduler& sched) {
  RandomWalk walk;
  sim::RunResult r = RunOnce(target, sched, walk, 0);
  return r.decisions > 0 ? r.decisions : 1;
}

// SURW's estimate of each fiber's decisions, by spawn index: the mean
// over a few random-walk runs of `target` with fixed seeds (rounded up),
// so every shard computes the same.
std::vector<uint64_t> EstimateEventsBySpawn(const Target& target, sim::Scheduler& sched) {
  constexpr uint64_t kProfileRuns = 4;
  SpawnProfile profile;
  for (uint64_t seed = 0; seed < kProfileRuns; ++seed) RunOnce(target, sched, profile, seed);
  std::vector<uint64_t> mean = profile.totals();
  for (uint64_t& m : mean) m = (m + kProfileRuns - 1) / kProfileRuns;
  return mean;
}

// SURW's profile: events by spawn index and object over a few random-walk
// runs of `target` with fixed seeds, so every shard computes the same.
ObjectProfileData EstimateEventsByObject(const Target& target, sim::Scheduler& sched) {
  constexpr uint64_t kProfileRuns = 8;
  return ProfileObjects(sched, kProfileRuns, [&](sim::Strategy& walk, uint64_t seed) {
    RunOnce(target, sched, walk, seed);
  });
}

std::string ConfigText(const Target& target) {
  std::string config;
  for (const auto& [key, value] : target.config) config += key + "=" + value + ";";
  return config;
}

std::string TracePath(const std::string& dir, const Target& target,
                      const sim::Finding& finding, uint64_t seed) {
  // The configuration is part of the name: explorations of one scenario
  // under two orders (or bugs) into one directory keep both traces.
  const std::string config = ConfigText(target);
  std::string name = target.scenario + "-" +
                     std::string(sim::FindingKindName(finding.kind)) + "-" +
                     DigestHex(sim::NameHash(finding.signature)).substr(0, 8) + "-c" +
                     DigestHex(sim::NameHash(config)).substr(0, 6) + "-" +
                     std::to_string(seed) + ".trace.json";
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace

Trace TraceOfRun(const Target& target, const StrategyInfo& strategy, uint64_t seed, uint64_t run,
                 const sim::RunResult& result, const std::vector<sim::Decision>& decisions) {
  Trace trace;
  trace.scenario = target.scenario;
  trace.scenario_json = target.scenario_json;
  trace.config = target.config;
  trace.strategy = strategy;
  trace.seed = seed;
  trace.run = run;
  trace.digest = result.digest;
  trace.steps = result.steps;
  trace.virtual_ns = result.virtual_ns;
  trace.decisions = decisions;
  return trace;
}

std::unique_ptr<sim::Strategy> MakeSamplingStrategy(const StrategyInfo& info, const Target& target,
                                                    sim::Scheduler& sched) {
  if (info.name == "random") return std::make_unique<RandomWalk>();
  if (info.name == "pct") return std::make_unique<Pct>(info.depth, EstimateSteps(target, sched));
  if (info.name == "urw") return std::make_unique<Urw>(EstimateEventsBySpawn(target, sched));
  if (info.name == "surw") return std::make_unique<Surw>(EstimateEventsByObject(target, sched));
  throw std::runtime_error("unknown strategy '" + info.name + "'");
}

uint64_t RunSeed(uint64_t seed, const std::string& scenario, uint64_t run) {
  return sim::Mix64(sim::Mix64(seed) ^ sim::NameHash(scenario)) + run;
}

Reproduction Reproduce(const Trace& trace, const Target& target, sim::Tracer* tracer) {
  sim::Scheduler sched;
  sched.set_tracer(tracer);
  Replay replay(trace.decisions);
  Reproduction out;
  out.result = RunOnce(target, sched, replay, trace.seed);
  out.divergence = replay.divergence();
  // The trace names one finding of its run; the run may have more.
  const auto& want = trace.finding;
  const auto& got = out.result.findings;
  out.same_finding =
      want ? std::any_of(got.begin(), got.end(),
                         [&](const sim::Finding& f) {
                           return f.kind == want->kind &&
                                  f.signature == want->signature;
                         })
           : got.empty();
  out.same_digest = out.result.digest == trace.digest;
  out.same_steps = out.result.steps == trace.steps && out.result.virtual_ns == trace.virtual_ns;
  return out;
}

ExploreSummary Explore(const std::vector<Target>& targets,
                       const ExploreOptions& options) {
  sim::Scheduler sched;
  sim::FaultTrap::SetFatalHook(&OnFatalSignal);
  std::vector<Lane> lanes(targets.size());
  const std::string& kind = options.strategy.name;
  for (size_t i = 0; i < targets.size(); ++i) {
    Lane& lane = lanes[i];
    lane.target = &targets[i];
    lane.stats.scenario = targets[i].scenario;
    lane.again = AgainCommand(targets[i], options);
    g_crash_note = {lane.again.c_str(), targets[i].scenario.c_str(), options.out_dir.c_str(), 0, 0,
                    /*profiling=*/true};
    g_crash_note_set = 1;
    if (kind == "dfs") {
      lane.stats.preemption_bound = options.dfs_iterative ? 0 : options.strategy.preemptions;
      auto dfs = std::make_unique<Dfs>(lane.stats.preemption_bound, options.shard_index,
                                       options.shard_count, options.dfs_sleep_sets);
      lane.dfs = dfs.get();
      lane.strategy = std::move(dfs);
    } else {
      lane.strategy = MakeSamplingStrategy(options.strategy, targets[i], sched);
    }
  }
  uint64_t runs_limit = options.runs.value_or(kind == "dfs" ? UINT64_MAX
                                                            : kRunsDefault);

  ExploreSummary summary;
  uint64_t virtual_ns = 0;
  bool stop = false;
  bool dir_made = false;

  for (uint64_t r = 0; !stop; ++r) {
    bool any = false;
    for (Lane& lane : lanes) {
      if (lane.done || stop) continue;
      if (r >= runs_limit) {
        lane.done = true;
        continue;
      }
      any = true;
      // Random and PCT runs are split across shards by run index; DFS
      // splits its tree inside the strategy.
      if (!lane.dfs && r % options.shard_count != options.shard_index) continue;
      if (options.out_of_time && options.out_of_time()) {
        summary.stopped_by_time = true;
        stop = true;
        break;
      }
      const Target& target = *lane.target;
      uint64_t seed = lane.dfs ? 0 : RunSeed(options.seed, target.scenario, r);
      g_crash_note.again = lane.again.c_str();
      g_crash_note.scenario = target.scenario.c_str();
      g_crash_note.run = r;
      g_crash_note.seed = seed;
      g_crash_note.profiling = false;
      sched.set_known_signatures(&lane.known);
      sim::RunResult result = RunOnce(target, sched, *lane.strategy, seed);
      sched.set_known_signatures(nullptr);
      const bool owned = !lane.dfs || lane.dfs->run_owned();
      if (lane.dfs) lane.stats.sleep_blocked = lane.sleep_blocked_before + lane.dfs->sleep_blocked();
      if (lane.dfs && lane.dfs->exhausted()) {
        if (options.dfs_iterative && lane.dfs->bound_pruned()) {
          // Iterative preemption bounding: the next bound's space (it
          // runs the smaller bounds' schedules again, as CHESS's ICB).
          ++lane.stats.preemption_bound;
          lane.sleep_blocked_before = lane.stats.sleep_blocked;
          auto dfs = std::make_unique<Dfs>(lane.stats.preemption_bound, options.shard_index,
                                           options.shard_count, options.dfs_sleep_sets);
          lane.dfs = dfs.get();
          lane.strategy = std::move(dfs);
        } else {
          lane.done = true;
          lane.stats.exhausted = true;
        }
      }
      if (!owned) continue;
      ++summary.runs;
      ++lane.stats.runs;
      lane.stats.steps_max = std::max(lane.stats.steps_max, result.steps);
      for (const std::string& point : result.covered) {
        if (lane.stats.coverage[point]++ == 0) lane.stats.coverage_first[point] = r;
      }
      // This run as a trace, its directory made on first use.
      auto run_trace = [&] {
        if (!dir_made) {
          std::filesystem::create_directories(options.out_dir);
          dir_made = true;
        }
        StrategyInfo info = options.strategy;
        if (lane.dfs) info.preemptions = lane.stats.preemption_bound;
        return TraceOfRun(target, info, seed, r, result, sched.chooser().decisions());
      };
      if (options.save_clean != 0 && r % options.save_clean == 0 && result.findings.empty()) {
        Trace trace = run_trace();
        const std::string name = target.scenario + "-clean-c" +
                                 DigestHex(sim::NameHash(ConfigText(target))).substr(0, 6) + "-r" +
                                 std::to_string(r) + "-" + std::to_string(seed) + ".trace.json";
        std::string path = (std::filesystem::path(options.out_dir) / name).string();
        std::string error = WriteTrace(path, trace);
        if (!error.empty()) throw std::runtime_error(error);
        lane.stats.clean_traces.push_back(std::move(path));
      }
      // The summary's digest is a sum (mod 2^64) of one hash per run, of
      // its target, its index and its digest: a sum does not depend on
      // the order of the runs, so the shards of an exploration (--shard,
      // -j N) add up to the unsharded one's digest. A DFS run has no
      // index there: a shard's counter counts the part of the tree it
      // walks, and the schedule is in the run's digest already.
      const uint64_t run_key[3] = {static_cast<uint64_t>(&lane - lanes.data()),
                                   lane.dfs ? 0 : r, result.digest};
      summary.digest += XXH3_64bits(run_key, sizeof run_key);
      virtual_ns += result.virtual_ns;
      for (const sim::Finding& finding : result.findings) {
        if (!lane.signatures.insert(finding.signature).second) continue;
        lane.known.insert(sim::NameHash(finding.signature));
        // A new finding: its trace goes to disk before anything else.
        Trace trace = run_trace();
        trace.finding = finding;
        std::string path = TracePath(options.out_dir, target, finding, seed);
        std::string error = WriteTrace(path, trace);
        if (!error.empty()) throw std::runtime_error(error);
        FindingRecord record{finding, target.scenario, target.config, seed, r, path};
        ++lane.stats.findings;
        if (options.on_finding) options.on_finding(record);
        summary.findings.push_back(std::move(record));
        if (!options.all) stop = true;
      }
      if (options.on_run) {
        options.on_run({&target, r, seed, result.digest, summary.runs});
      }
      if (options.virtual_ns_budget != 0 && virtual_ns >= options.virtual_ns_budget) {
        stop = true;
      }
    }
    if (!any) break;
  }
  for (Lane& lane : lanes) summary.targets.push_back(lane.stats);
  g_crash_note_set = 0;
  return summary;
}

}  // namespace fsim::model
