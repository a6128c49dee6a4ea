// The fsim command line: one function per subcommand. Each returns the
// process exit code: 0 nothing found, 1 findings (or a reproduced finding),
// 2 bad input or usage, 3 internal harness error, 4 a trace that does not
// reproduce.
#ifndef FSIM_TOOLS_COMMANDS_H_
#define FSIM_TOOLS_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/trace.h"
#include "tools/cli_util.h"  // the exit codes

namespace fsim::tools {

struct ExploreArgs {
  std::vector<std::string> scenarios;
  std::string strategy = model::kDefaultStrategy;
  int depth = 3;
  int preemptions = -1;  // unbounded
  uint64_t seed = 1;
  std::optional<uint64_t> runs;
  double time_sec = 0;   // wall budget, 0: none
  double vtime_sec = 0;  // virtual-time budget, 0: none
  std::vector<std::string> config;  // K=V
  std::string shard;                // I/N
  std::string out = "fsim-out";
  bool all = false;
  bool json = false;
  bool coverage = false;  // print the runs that reached each coverage point
  std::string coverage_file;  // --coverage FILE: also write the coverage JSON there
  uint64_t save_clean = 0;    // --save-clean N: every Nth clean run as a trace
  uint32_t jobs = 0;      // -j N: N processes, shard i/N each; 0: every CPU (1 with --shard)
  bool iterative = false; // dfs: iterative preemption bounding
  bool por = false;       // dfs: partial-order reduction (sleep sets)
};

struct ReplayArgs {
  std::string trace;
  bool report = false;
  std::string chrome_trace;  // --chrome-trace OUT.json; empty: none
  bool log = false;          // --log: the event log on stdout
  bool json = false;         // --json: one JSON object on stdout
};

struct ShrinkArgs {
  std::string trace;
  std::string out;  // -o; empty: TRACE with .shrunk.trace.json
  uint64_t max_runs = 2000;  // model::kShrinkRunsDefault
  bool json = false;         // --json: one JSON object on stdout
};

struct BenchArgs {
  bool json = false;
  double min_time_sec = 0.3;
  std::vector<std::string> filter;  // scenario names; empty: all
  std::string compare;              // a baseline (fsim bench --json); empty: none
  // --only REGEX: only the measurements whose name matches (e.g.
  // "decision/"), each printed as ns and items/s; no summary.
  std::string only;
  // --suite NAME: the search strategies on a suite of programs instead of
  // the runtime's speed (tools/sctbench_cmd.cc).
  std::string suite;
  std::vector<std::string> strategies;  // --strategy (repeatable); empty: random, pct, surw
  uint64_t seeds = 20;
  uint64_t limit = 10000;
  int depth = 3;  // PCT depth
};

struct LockGraphArgs {
  std::string trace;     // either a trace...
  std::string scenario;  // ...or a scenario
  std::vector<std::string> config;
  uint64_t runs = 100;
  uint64_t seed = 1;
  std::string out;  // -o FILE.dot; empty: stdout
  bool svg = false;
  bool json = false;  // --json: the graph as one JSON object on stdout
};

struct CompareArgs {
  std::vector<std::string> scenarios;  // default: the suite's fs scenarios
  std::vector<std::string> orders;     // default: every registered variant
  std::vector<std::string> config;     // K=V, applied under every order
  std::string strategy = model::kDefaultStrategy;
  uint64_t seed = 1;
  std::optional<uint64_t> runs;
  std::string out = "fsim-out";
  bool json = false;
  double time_sec = 0;  // --time: wall budget of the whole comparison, split evenly over the orders
  std::string shard;    // --shard I/N, as explore's
  bool all = true;      // --all: the whole budget, every distinct finding (always, as here)
  uint32_t jobs = 0;    // -j N: N processes, shard i/N each, their rows merged; 0: every CPU (1 with --shard)
};

int List(bool json = false);
int CompareOrders(const CompareArgs& args);
int LockGraph(const LockGraphArgs& args);
struct CoverageArgs {
  std::string file;  // explore --coverage FILE, or an explore --json summary
  std::string svg;   // --svg OUT: the curve of points against runs; empty: none
};
int Coverage(const CoverageArgs& args);
struct BugsArgs {
  bool json = false;
  bool hunt = false;
  double time_sec = 60;         // --hunt: wall budget per flag
  uint64_t runs = 20000;        // --hunt: runs per scenario at most
  std::vector<std::string> bugs;  // --bug NAME (repeatable); empty: all
  std::string out = "fsim-out";
  std::string strategy = model::kDefaultStrategy;  // --hunt: the search strategy
  uint64_t seed = 1;             // --hunt: its base seed
};

// fsim fsx OPS: tools/fsx_cmd.cc.
struct FsxArgs {
  std::string ops;                  // the fsx log (--record-ops)
  uint64_t generate = 0;            // --generate N: write a log instead
  uint64_t seed = 1;                // fsx -S (its default 1)
  uint64_t max_len = 256 * 1024;    // fsx -l
  std::string out;                  // the final file's bytes; empty: none
  std::string expect;               // bytes to compare the final file with
  std::string order = "legacy";
  bool concurrent = false;
  uint64_t runs = 1000;             // --concurrent
  std::string strategy = model::kDefaultStrategy;
  uint64_t explore_seed = 1;
  std::vector<std::string> config;  // K=V
  std::string trace_dir = "fsim-out";
  bool json = false;
  std::string profile = "single";  // the data profile of the simulated array
};

int Explore(const ExploreArgs& args);
int Fsx(const FsxArgs& args);
// fsim bugs [--hunt]: the catalogue of injectable mistakes, or the hunt.
int Bugs(const BugsArgs& args);
int Replay(const ReplayArgs& args);
int Shrink(const ShrinkArgs& args);
int Bench(const BenchArgs& args);
// fsim bench --suite sctbench.
int BenchSuite(const BenchArgs& args);

// Prints "fsim: <message>" as one line on stderr; returns kExitUsage.
int UsageError(const std::string& message);

}  // namespace fsim::tools

#endif  // FSIM_TOOLS_COMMANDS_H_
