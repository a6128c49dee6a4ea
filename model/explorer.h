// The exploration driver: runs targets under a strategy within a budget,
// derives each run's seed deterministically, splits the seed space over
// shards, deduplicates findings by signature, and writes each new
// finding's trace to disk before doing anything else with it.
//
// Runs are interleaved across targets: run r of every target, then run
// r+1, so that a time budget covers all targets evenly. Run r of target t
// uses seed Mix(base seed, scenario name, r), independent of the shard and
// of the configuration, so that the same seeds can be compared across
// lock orders and shards together cover exactly the runs of one unsharded
// exploration (shard I of N executes the runs with r mod N == I).
#ifndef FSIM_MODEL_EXPLORER_H_
#define FSIM_MODEL_EXPLORER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "model/target.h"
#include "model/trace.h"
#include "sim/finding.h"
#include "sim/tracer.h"

namespace fsim::model {

inline constexpr uint64_t kRunsDefault = 1000;

struct RunRecord {
  const Target* target = nullptr;
  uint64_t run = 0;
  uint64_t seed = 0;
  uint64_t digest = 0;
  uint64_t runs_done = 0;  // over all targets, including this one
};

struct FindingRecord {
  sim::Finding finding;
  std::string scenario;
  Config config;
  uint64_t seed = 0;
  uint64_t run = 0;
  std::string trace_path;
};

struct ExploreOptions {
  StrategyInfo strategy;
  // dfs: iterative preemption bounding: bound 0, then 1, 2, ... each time
  // the bounded space is exhausted and the bound cut something off, within
  // the run budget (strategy.preemptions is then ignored).
  bool dfs_iterative = false;
  // dfs: partial-order reduction by sleep sets (model/dfs.h: sound for
  // programs that name every shared access at a scheduling point).
  bool dfs_sleep_sets = false;
  uint64_t seed = 1;
  // Runs per target; nullopt: kRunsDefault for random, pct and surw, until the
  // space is exhausted for dfs.
  std::optional<uint64_t> runs;
  uint64_t virtual_ns_budget = 0;  // 0: none. Summed over all runs.
  uint32_t shard_index = 0;
  uint32_t shard_count = 1;
  bool all = false;  // run the whole budget instead of stopping at a finding
  std::string out_dir = "fsim-out";
  // Every save_clean-th run (run index r with r % save_clean == 0) that
  // found nothing is written as a trace too (0: none), so that a clean
  // run's timeline can be opened like a finding's.
  uint64_t save_clean = 0;
  // Wall-clock budget, checked between runs (the clock lives in tools/).
  std::function<bool()> out_of_time;
  // Called for each new finding, after its trace is on disk.
  std::function<void(const FindingRecord&)> on_finding;
  // Called after every run (progress reporting, tests).
  std::function<void(const RunRecord&)> on_run;
};

struct TargetStats {
  std::string scenario;
  uint64_t runs = 0;
  uint64_t findings = 0;
  uint64_t steps_max = 0;
  bool exhausted = false;  // dfs: the bounded space was fully explored
  int preemption_bound = -1;  // dfs: the bound of the last space explored (-1: unbounded)
  // dfs with sleep sets: runs that reached a state whose every runnable
  // fiber slept (redundant, counted in runs).
  uint64_t sleep_blocked = 0;
  // Coverage point -> runs that reached it (sim::Scheduler::Cover).
  std::map<std::string, uint64_t> coverage;
  // Coverage point -> the first run (index r) that reached it: distinct
  // points against runs, the curve that flattens out when a budget is
  // enough. Shards merge it by the minimum.
  std::map<std::string, uint64_t> coverage_first;
  // Clean runs written as traces (ExploreOptions::save_clean).
  std::vector<std::string> clean_traces;
};

struct ExploreSummary {
  uint64_t runs = 0;
  // Over every run: the sum of a hash of each run's target, index and
  // digest, so that shards' digests add up to the whole exploration's.
  uint64_t digest = 0;
  std::vector<FindingRecord> findings;
  std::vector<TargetStats> targets;
  bool stopped_by_time = false;
};

// The trace of a run of `target` with the `decisions` it took
// and outcome figures), without a finding: the caller names the one the
// trace is for.
Trace TraceOfRun(const Target& target, const StrategyInfo& strategy, uint64_t seed, uint64_t run,
                 const sim::RunResult& result, const std::vector<sim::Decision>& decisions);

// A fresh strategy of the sampling kinds (random, pct, surw) for
// `target`: what Explore() runs each target under. PCT's run-length
// estimate comes from one random-walk run of `target` on `sched` with
// seed 0, SURW's per-fiber estimate from four (seeds 0-3), so every
// process computes the same. Throws std::runtime_error for dfs (the
// explorer builds it with its shard) and for an unknown name.
std::unique_ptr<sim::Strategy> MakeSamplingStrategy(const StrategyInfo& info, const Target& target,
                                                    sim::Scheduler& sched);

// The seed of run `run` of `scenario` under base seed `seed`.
uint64_t RunSeed(uint64_t seed, const std::string& scenario, uint64_t run);

// The outcome of re-executing a trace.
struct Reproduction {
  sim::RunResult result;
  std::string divergence;   // empty if the run followed the trace exactly
  bool same_finding = false;  // same kind and signature (or both none)
  bool same_digest = false;
  // The run took as many scheduling steps and as much virtual time as the
  // trace records (the digest covers both; this names them on a mismatch).
  bool same_steps = false;
  bool reproduced() const {
    return divergence.empty() && same_finding && same_digest && same_steps;
  }
};

// Re-executes `trace` on `target` (built from the trace's scenario and
// config) with its recorded decisions; `tracer` (may be null) observes the
// run (sim/tracer.h) without changing it.
Reproduction Reproduce(const Trace& trace, const Target& target, sim::Tracer* tracer = nullptr);

// Explores. Throws std::runtime_error on a harness error (including a
// trace that cannot be written).
ExploreSummary Explore(const std::vector<Target>& targets,
                       const ExploreOptions& options);

}  // namespace fsim::model

#endif  // FSIM_MODEL_EXPLORER_H_
