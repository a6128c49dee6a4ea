// fsim bench: the runtime's speed, measured with Google Benchmark and
// printed as fsim's own figures (a table, or one JSON object).
//
// - raw_switch_ns: one Boost.Context jump_fcontext between two contexts
//   (the floor for any fiber runtime on this machine);
// - decision_ns: one scheduling decision of the simulator: a fiber
//   reaching a yield point, the strategy choosing, the decision being
//   recorded, and the switch if another fiber was chosen. "switch" always
//   chooses the other fiber (every decision pays a context switch); the
//   random walk switches half the time; PCT rarely; surw (the default
//   strategy) as its weights say;
// - runs_per_sec for each scenario of the registry (every built-in one:
//   fs scenarios included, but spin and stack_overflow, pathological by
//   design) under surw (the default exploration, its profile taken as
//   explore takes it), a fresh program per run, seeds varying;
// - calibration_ns: a fixed workload that is none of fsim's code (see
//   BM_Calibration), so that `--compare` can tell a change of machine from
//   a change of fsim (tools/bench_compare.cc).
#include <benchmark/benchmark.h>

#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <unistd.h>
#include <map>
#include <optional>
#include <regex>
#include <nlohmann/json.hpp>
#include <string>

#include "model/pct.h"
#include "model/random_walk.h"
#include "model/surw.h"
#include "model/target.h"
#include "model/fsx_log.h"
#include "scenarios/fsx_scenario.h"
#include "scenarios/registry.h"
#include "fs/btrfs/inode.h"
#include "sim/block.h"
#include "sim/check.h"
#include "sim/memory.h"
#include "sim/lockdep.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "tools/bench_compare.h"
#include "tools/bench_memory.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

namespace ctx = boost::context::detail;

// Collects each benchmark's figures instead of printing Google Benchmark's
// own table.
class Collector final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      // A repeated benchmark (kRepeated) reports only its aggregates: its
      // figure is the median of the repetitions.
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      Figure& f = figures[run.run_name.function_name];
      f.ns_per_iteration = run.GetAdjustedRealTime();  // ns: the default unit
      auto it = run.counters.find("items_per_second");
      f.items_per_sec = it != run.counters.end() ? double(it->second) : 0.0;
    }
  }
  struct Figure {
    double ns_per_iteration = 0;
    double items_per_sec = 0;
  };
  std::map<std::string, Figure> figures;
};

// --- raw switch ------------------------------------------------------------

void PingPong(ctx::transfer_t t) {
  for (;;) t = ctx::jump_fcontext(t.fctx, nullptr);
}

void BM_RawSwitch(benchmark::State& state) {
  sim::Stack stack;
  stack.Allocate(64 * 1024);
  ctx::fcontext_t other = ctx::make_fcontext(stack.top(), stack.size(), PingPong);
  for (auto _ : state) {
    // Two switches: there and back.
    other = ctx::jump_fcontext(other, nullptr).fctx;
  }
  state.SetItemsProcessed(state.iterations() * 2);
}

// --- calibration -----------------------------------------------------------

// The machine's yardstick: build a std::map of 256 pseudo-random keys, look
// each up, tear it down. Fixed work that fsim's changes never touch, with
// the mix of malloc/free, pointer chasing and unpredictable branches that
// dominates fsim's own profile (so that it moves with the machine as fsim
// does, better than a pure arithmetic loop would).
void BM_Calibration(benchmark::State& state) {
  constexpr int kKeys = 256;
  for (auto _ : state) {
    std::map<uint64_t, uint64_t> m;
    uint64_t x = 0x9e3779b97f4a7c15;
    for (int i = 0; i < kKeys; ++i) {
      x = x * 6364136223846793005 + 1442695040888963407;  // a fixed LCG
      m.emplace(x >> 17, x);
    }
    uint64_t sum = 0;
    for (const auto& [k, v] : m) sum += m.count(k ^ (v & 1)) + k;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}

// --- decisions -------------------------------------------------------------

// Two fibers yielding in turn; the strategy picks among both at every point.
class Yielders final : public sim::Program {
 public:
  explicit Yielders(int yields) : yields_(yields) {}
  void Start(sim::Scheduler& s) override {
    for (const char* name : {"Y0", "Y1"}) {
      s.Spawn(name, [this, &s] {
        for (int i = 0; i < yields_; ++i) s.Yield("bench_yield");
      });
    }
  }

 private:
  int yields_;
};

template <typename Make>
void BM_Decisions(benchmark::State& state, Make make_strategy) {
  constexpr int kYields = 10000;
  sim::Scheduler sched;
  auto strategy = make_strategy(2 * kYields);
  uint64_t decisions = 0, seed = 0;
  for (auto _ : state) {
    Yielders program(kYields);
    sim::RunOptions options;
    options.seed = ++seed;
    sim::RunResult r = sched.Run(*strategy, options, [&] { program.Start(sched); },
                                 [] {});
    decisions += r.decisions;
  }
  state.SetItemsProcessed(static_cast<int64_t>(decisions));
}

// Always switches to another fiber: every decision pays a context switch.
class Alternate final : public sim::Strategy {
 public:
  void BeginRun(uint64_t) override {}
  sim::FiberId PickFiber(const sim::SchedulePoint& p) override {
    return p.runnable[0] == p.current ? p.runnable[1] : p.runnable[0];
  }
  uint64_t PickValue(uint64_t, sim::Site) override { return 0; }
};

// --- lockdep ---------------------------------------------------------------

// One fiber taking four nested mutexes (A, B, C, D) and releasing them,
// over and over: every acquisition after the first round hits the chain
// cache, unless the cache is off (every chain validated again: the
// dependency checks and BFS of a first sight).
enum class LockdepMode { kOff, kCacheHit, kCacheMiss };

void BM_Lockdep(benchmark::State& state, LockdepMode mode) {
  constexpr int kRounds = 2000;
  sim::Scheduler sched;
  sim::Lockdep::Of(sched).set_chain_cache(mode != LockdepMode::kCacheMiss);
  model::RandomWalk walk;
  sim::RunOptions options;
  options.lockdep = mode != LockdepMode::kOff;
  int64_t acquisitions = 0;
  for (auto _ : state) {
    std::vector<std::unique_ptr<sim::Mutex>> locks;
    sched.Run(walk, options, [&] {
      for (const char* n : {"A", "B", "C", "D"}) locks.push_back(std::make_unique<sim::Mutex>(sched, n));
      sched.Spawn("locker", [&] {
        for (int r = 0; r < kRounds; ++r) {
          for (auto& l : locks) l->Lock();
          for (auto it = locks.rbegin(); it != locks.rend(); ++it) (*it)->Unlock();
        }
      });
    }, [] {});
    acquisitions += 4 * kRounds;
  }
  state.SetItemsProcessed(acquisitions);
}

// --- block layer -----------------------------------------------------------

// One fiber streaming 4 KiB writes through a device (queue depth 8, a flush
// every 16): each bio is submitted, given a latency, completed in an
// interrupt fiber and acknowledged through end_io.
void BM_Bios(benchmark::State& state) {
  constexpr int kBios = 4096;
  sim::Scheduler sched;
  model::RandomWalk walk;
  sim::RunOptions options;
  std::vector<uint8_t> page(4096, 0x5a);
  int64_t bios = 0;
  for (auto _ : state) {
    std::unique_ptr<sim::BlockDevice> disk;
    std::vector<sim::Bio> pool(kBios);
    sched.Run(walk, options, [&] {
      sim::DeviceConfig c;
      c.capacity_sectors = 1 << 20;
      c.queue_depth = 8;
      disk = std::make_unique<sim::BlockDevice>(sched, c);
      sched.Spawn("writer", [&] {
        for (int i = 0; i < kBios; ++i) {
          sim::Bio& b = pool[i];
          b.op = i % 16 == 15 ? sim::BioOp::kFlush : sim::BioOp::kWrite;
          b.sector = static_cast<uint64_t>(i % 256) * 8;
          if (b.op == sim::BioOp::kWrite) b.vecs = {{page.data(), 4096}};
          b.end_io = [](sim::Bio&) {};
          disk->SubmitBio(&b);
        }
      });
    }, [] {});
    bios += kBios;
  }
  state.SetItemsProcessed(bios);
}

// --- the filesystem model ------------------------------------------------

// One fiber doing buffered 4 KiB writes and reads over 64 pages of one
// file, fsync every 64 operations, under a 32-page memory budget (kswapd
// writes back): simulated file operations per second.
void BM_FileOps(benchmark::State& state) {
  constexpr int kOps = 512;
  sim::Scheduler sched;
  model::RandomWalk walk;
  sim::RunOptions options;
  int64_t ops = 0;
  for (auto _ : state) {
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<fs::BtrfsFs> filesystem;
    std::unique_ptr<fs::BtrfsInode> inode;
    sched.Run(walk, options, [&] {
      sim::MemoryConfig m;
      m.budget_pages = 32;
      m.low_pages = 24;
      m.high_pages = 16;
      sim::Memory::Of(sched).Configure(m);
      sim::DeviceConfig d;
      d.capacity_sectors = 1 << 16;
      d.latency_choices = 1;
      array = std::make_unique<sim::BlockArray>(sched, std::vector<sim::DeviceConfig>{d});
      filesystem = std::make_unique<fs::BtrfsFs>(sched, *array, fs::FsConfig{});
      inode = std::make_unique<fs::BtrfsInode>(*filesystem, 257);
      sched.Spawn("app", [&] {
        std::vector<uint8_t> page(fs::kPageSize, 0x5a);
        for (int i = 0; i < kOps; ++i) {
          uint64_t off = static_cast<uint64_t>(i * 7 % 64) * fs::kPageSize;
          if (i % 2 == 0) {
            inode->BufferedWrite(off, page);
          } else {
            benchmark::DoNotOptimize(inode->Read(off, fs::kPageSize));
          }
          if (i % 64 == 63) inode->Fsync();
        }
      });
    }, [] {}, [&] {
      inode.reset();
      filesystem.reset();
      array.reset();
    });
    ops += kOps;
  }
  state.SetItemsProcessed(ops);
}

// --- idle fibers -------------------------------------------------------------

// Resident memory of this process in bytes (/proc/self/statm), or 0.
uint64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// What an idle fiber costs: one run in a fresh scheduler spawns as many
// fibers as a run may have (kFibersMax), each of which blocks on a
// completion; with all of them idle, the resident memory they added is
// measured, then they are released. A stack is mapped when its slot is
// first used (MAP_NORESERVE, with its guard) and only the pages a fiber
// touched become resident.
struct IdleFibers {
  uint64_t fibers = 0;
  uint64_t resident_per_fiber = 0;  // bytes
  uint64_t mapped_per_fiber = 0;    // bytes of address space: stack and guard
};

IdleFibers MeasureIdleFibers() {
  IdleFibers out;
  sim::Scheduler sched;
  model::RandomWalk walk;
  sim::RunOptions options;
  std::unique_ptr<sim::Completion> go;
  uint64_t before = 0, during = 0;
  sched.Run(walk, options, [&] {
    go = std::make_unique<sim::Completion>(sched, "go");
    sched.Spawn("measure", [&] {
      before = ResidentBytes();
      const uint64_t n = sim::kFibersMax - 1;
      for (uint64_t i = 0; i < n; ++i) sched.Spawn("idle", [&] { go->Wait(); });
      // Every idle fiber runs to its wait before this one runs again
      // often enough: yield until they have all blocked.
      for (uint64_t i = 0; i < 4 * n; ++i) sched.Yield("measure");
      during = ResidentBytes();
      out.fibers = n;
      go->CompleteAll();
    });
  }, [] {}, [&] { go.reset(); });
  if (out.fibers > 0 && during > before) out.resident_per_fiber = (during - before) / out.fibers;
  out.mapped_per_fiber = sim::kStackSizeDefault + sim::kStackGuardSize;
  return out;
}

// --- fsx replay --------------------------------------------------------------

// A sequential replay of fsx's operation mix (GenerateFsxLog: 2,000 ops,
// seed 1, -l 256 KiB) on the simulated btrfs with a hot page cache (the
// memory budget holds the file): fsx operations per second, each checked
// against the byte model, settle and the remount check included.
void BM_FsxReplay(benchmark::State& state) {
  const std::string log = model::GenerateFsxLog(2000, 1);
  scenarios::FsxScenarioOptions o;
  o.source = "generated";
  std::string error;
  std::optional<std::string> json = scenarios::FsxScenarioJson("fsx_bench", log, o, &error);
  FSIM_CHECK_MSG(json.has_value(), error.c_str());
  std::optional<model::Target> target =
      scenarios::MakeTargetForTrace("fsx_bench", *json, {}, &error);
  FSIM_CHECK_MSG(target.has_value(), error.c_str());
  std::optional<std::vector<model::FsxOp>> ops = model::ParseFsxLog(log, "generated", &error);
  sim::Scheduler sched;
  model::RandomWalk walk;
  uint64_t seed = 0;
  int64_t done = 0;
  for (auto _ : state) {
    sim::RunResult r = model::RunOnce(*target, sched, walk, ++seed);
    FSIM_CHECK_MSG(r.findings.empty(), "the fsx replay benchmark's run has a finding");
    done += static_cast<int64_t>(ops->size());
  }
  state.SetItemsProcessed(done);
}

// --- runs per scenario -----------------------------------------------------

void BM_Runs(benchmark::State& state, const model::Target* target) {
  sim::Scheduler sched;
  // surw's profile as explore takes it (8 random-walk runs, seeds 0-7).
  model::Surw surw(model::ProfileObjects(sched, 8, [&](sim::Strategy& walk, uint64_t seed) {
    model::RunOnce(*target, sched, walk, seed);
  }));
  uint64_t seed = 0;
  for (auto _ : state) {
    sim::RunResult r = model::RunOnce(*target, sched, surw, ++seed);
    benchmark::DoNotOptimize(r.digest);
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

int Bench(const BenchArgs& args) {
  if (!args.only.empty() && !args.compare.empty()) {
    return UsageError("bench: --only and --compare cannot be combined (a comparison needs every "
                      "figure)");
  }
  // A bad baseline is refused before minutes of measuring.
  std::optional<nlohmann::json> baseline;
  if (!args.compare.empty()) {
    std::string error;
    baseline = LoadBenchBaseline(args.compare, &error);
    if (!baseline) return UsageError(error);
  }
  // A named scenario bench cannot run is an error, before any measuring.
  for (const std::string& name : args.filter) {
    if (scenarios::FindScenario(name) == nullptr) {
      return UsageError("bench --scenario " + name + ": no such scenario (see 'fsim list')");
    }
    if (name == "spin" || name == "stack_overflow") {
      return UsageError("bench --scenario " + name +
                        ": pathological by design (it never ends, or overflows its stack); "
                        "bench cannot measure it");
    }
  }
  // --only: the measurements whose name matches, known before any is
  // registered (so that a pattern matching none is refused at once).
  std::optional<std::regex> only;
  if (!args.only.empty()) {
    try {
      only.emplace(args.only);
    } catch (const std::regex_error& e) {
      return UsageError("bench --only '" + args.only + "': not a regular expression (" +
                        e.what() + ")");
    }
  }
  auto wanted = [&](const std::string& name) {
    return !only || std::regex_search(name, *only);
  };
  std::vector<model::Target> targets;
  for (const scenarios::Scenario& s : scenarios::Scenarios()) {
    if (s.name == "spin" || s.name == "stack_overflow") continue;  // pathological by design
    const bool named = std::find(args.filter.begin(), args.filter.end(), s.name) != args.filter.end();
    if (!args.filter.empty() && !named) continue;
    // A family's programs (sctbench) measure the search, not the runtime:
    // their runs/s only when named.
    if (!s.family.empty() && !named) continue;
    if (!wanted("runs/" + s.name)) continue;
    std::string error;
    auto t = scenarios::MakeTarget(s.name, {}, &error);
    if (!t) return UsageError(error);
    targets.push_back(std::move(*t));
  }
  std::string min_time = "--benchmark_min_time=" + std::to_string(args.min_time_sec);
  int argc = 2;
  char arg0[] = "fsim";
  char* argv[] = {arg0, min_time.data(), nullptr};
  benchmark::Initialize(&argc, argv);

  // The nanosecond figures (calibration, switch, decisions) are the median
  // of kRepeated measurements: on a shared machine one measurement may
  // land on a burst of another tenant's load, and a median ignores it
  // where a mean would not. Only the median is kept.
  constexpr int kRepeated = 5;
  int registered = 0;
  auto add = [&](const std::string& name, auto fn) -> benchmark::internal::Benchmark* {
    if (!wanted(name)) return nullptr;
    ++registered;
    return benchmark::RegisterBenchmark(name.c_str(), fn);
  };
  auto repeated = [](benchmark::internal::Benchmark* b) {
    if (b != nullptr) b->Repetitions(kRepeated)->ReportAggregatesOnly(true);
  };
  repeated(add("calibration", BM_Calibration));
  repeated(add("raw_switch", BM_RawSwitch));
  repeated(add("decision/random", [](benchmark::State& st) {
    BM_Decisions(st, [](uint64_t) { return std::make_unique<model::RandomWalk>(); });
  }));
  repeated(add("decision/switch", [](benchmark::State& st) {
    BM_Decisions(st, [](uint64_t) { return std::make_unique<Alternate>(); });
  }));
  repeated(add("decision/pct", [](benchmark::State& st) {
    BM_Decisions(st, [](uint64_t k) { return std::make_unique<model::Pct>(3, k); });
  }));
  repeated(add("decision/surw", [](benchmark::State& st) {
    BM_Decisions(st, [](uint64_t) {
      sim::Scheduler profile_sched;
      return std::make_unique<model::Surw>(
          model::ProfileObjects(profile_sched, 8, [&](sim::Strategy& walk, uint64_t seed) {
            Yielders program(1000);
            sim::RunOptions options;
            options.seed = seed;
            profile_sched.Run(walk, options, [&] { program.Start(profile_sched); }, [] {});
          }));
    });
  }));
  add("block/bios", BM_Bios);
  add("fs/ops", BM_FileOps);
  add("fsx/replay", BM_FsxReplay);
  add("reclaim/pass", BM_ReclaimPass);
  add("lockdep/off", [](benchmark::State& st) {
    BM_Lockdep(st, LockdepMode::kOff);
  });
  add("lockdep/hit", [](benchmark::State& st) {
    BM_Lockdep(st, LockdepMode::kCacheHit);
  });
  add("lockdep/miss", [](benchmark::State& st) {
    BM_Lockdep(st, LockdepMode::kCacheMiss);
  });
  for (const model::Target& t : targets) {
    add("runs/" + t.scenario, [&t](benchmark::State& st) { BM_Runs(st, &t); });
  }
  if (registered == 0) {
    benchmark::Shutdown();
    return UsageError("bench --only '" + args.only + "': no measurement matches (names: "
                      "calibration, raw_switch, decision/..., lockdep/..., block/bios, "
                      "reclaim/pass, fs/ops, fsx/replay, runs/SCENARIO)");
  }
  Collector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();
  if (!args.only.empty()) {
    // Only some measurements: each as it is, no summary (which needs all).
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, f] : collector.figures) {
      j[name] = {{"ns_per_item", f.items_per_sec > 0 ? 1e9 / f.items_per_sec : f.ns_per_iteration},
                 {"items_per_sec", f.items_per_sec}};
      if (!args.json) {
        std::printf("%-32s %12.1f ns  %14.0f /s\n", name.c_str(),
                    j[name]["ns_per_item"].get<double>(), f.items_per_sec);
      }
    }
    if (args.json) std::printf("%s\n", j.dump().c_str());
    return kExitClean;
  }
  const IdleFibers idle = MeasureIdleFibers();

  auto figure = [&](const std::string& name) { return collector.figures[name]; };
  double calibration_ns = 1e9 / figure("calibration").items_per_sec;
  double raw_ns = 1e9 / figure("raw_switch").items_per_sec;
  double random_ns = 1e9 / figure("decision/random").items_per_sec;
  double pct_ns = 1e9 / figure("decision/pct").items_per_sec;
  double surw_ns = 1e9 / figure("decision/surw").items_per_sec;
  double switch_ns = 1e9 / figure("decision/switch").items_per_sec;
  double bios_per_sec = figure("block/bios").items_per_sec;
  double reclaim_per_sec = figure("reclaim/pass").items_per_sec;
  double file_ops_per_sec = figure("fs/ops").items_per_sec;
  double fsx_ops_per_sec = figure("fsx/replay").items_per_sec;
  double lock_off_ns = 1e9 / figure("lockdep/off").items_per_sec;
  double lock_hit_ns = 1e9 / figure("lockdep/hit").items_per_sec;
  double lock_miss_ns = 1e9 / figure("lockdep/miss").items_per_sec;
  nlohmann::json runs = nlohmann::json::object();
  for (const model::Target& t : targets) {
    runs[t.scenario] = figure("runs/" + t.scenario).items_per_sec;
  }
  nlohmann::json j = {{"fsim_bench", 1},
                      {"calibration_ns", calibration_ns},
                      {"raw_switch_ns", raw_ns},
                      {"decision_ns", {{"switch", switch_ns},
                                       {"random", random_ns},
                                       {"pct", pct_ns},
                                       {"surw", surw_ns}}},
                      {"decisions_per_sec", {{"switch", 1e9 / switch_ns},
                                             {"random", 1e9 / random_ns},
                                             {"pct", 1e9 / pct_ns},
                                             {"surw", 1e9 / surw_ns}}},
                      {"lock_acquire_ns", {{"lockdep_off", lock_off_ns},
                                           {"chain_cache_hit", lock_hit_ns},
                                           {"chain_cache_miss", lock_miss_ns}}},
                      {"lockdep_cost_ns", {{"chain_cache_hit", lock_hit_ns - lock_off_ns},
                                           {"chain_cache_miss", lock_miss_ns - lock_off_ns}}},
                      {"bios_per_sec", bios_per_sec},
                      {"reclaim_passes_per_sec", reclaim_per_sec},
                      {"file_ops_per_sec", file_ops_per_sec},
                      {"fsx_replay_ops_per_sec", fsx_ops_per_sec},
                      {"idle_fibers", {{"fibers", idle.fibers},
                                       {"resident_bytes_per_fiber", idle.resident_per_fiber},
                                       {"mapped_bytes_per_fiber", idle.mapped_per_fiber}}},
                      {"runs_per_sec", runs}};
  if (baseline) {
    PrintBenchComparison(j, *baseline, args.compare, args.json);
    return kExitClean;
  }
  if (args.json) {
    std::printf("%s\n", j.dump().c_str());
    return kExitClean;
  }
  std::printf("calibration (fixed std::map work) %6.1f ns\n", calibration_ns);
  std::printf("raw Boost.Context switch        %8.1f ns\n", raw_ns);
  std::printf("scheduling decision (switching) %8.1f ns  (%.1fM decisions/s)\n",
              switch_ns, 1e3 / switch_ns);
  std::printf("scheduling decision (random)    %8.1f ns  (%.1fM decisions/s)\n",
              random_ns, 1e3 / random_ns);
  std::printf("scheduling decision (pct)       %8.1f ns  (%.1fM decisions/s)\n",
              pct_ns, 1e3 / pct_ns);
  std::printf("scheduling decision (surw)      %8.1f ns  (%.1fM decisions/s)\n",
              surw_ns, 1e3 / surw_ns);
  std::printf("\nmutex lock+unlock, per acquisition (one fiber, four nested locks):\n");
  std::printf("  without lockdep                %8.1f ns\n", lock_off_ns);
  std::printf("  lockdep, chain cache hit       %8.1f ns  (lockdep: +%.1f ns)\n", lock_hit_ns,
              lock_hit_ns - lock_off_ns);
  std::printf("  lockdep, chain cache miss      %8.1f ns  (lockdep: +%.1f ns)\n", lock_miss_ns,
              lock_miss_ns - lock_off_ns);
  std::printf("\nblock layer: %.0f bios/s (4 KiB writes, queue depth 8, flush every 16)\n",
              bios_per_sec);
  std::printf("memory: %.0f reclaim passes/s (direct reclaim and kswapd)\n", reclaim_per_sec);
  std::printf("filesystem: %.0f simulated file operations/s (4 KiB buffered writes and reads, "
              "fsync every 64, kswapd writing back)\n", file_ops_per_sec);
  std::printf("fsx replay: %.0f fsx ops/s (fsx's op mix, 2,000 ops, sequential, hot page cache, "
              "every read and size checked, settle and remount included)\n", fsx_ops_per_sec);
  std::printf("idle fibers: %llu blocked at once, %.1f KiB resident each (%.0f KiB of stack and "
              "guard mapped each, touched pages only resident)\n",
              static_cast<unsigned long long>(idle.fibers), idle.resident_per_fiber / 1024.0,
              idle.mapped_per_fiber / 1024.0);
  std::printf("\nruns per second (surw, the default strategy, one core):\n");
  for (const auto& [name, value] : runs.items()) {
    std::printf("  %-24s %12.0f\n", name.c_str(), value.get<double>());
  }
  return kExitClean;
}

}  // namespace fsim::tools
