// fsim: find concurrency and corruption bugs in a filesystem's I/O path by
// deterministic simulation. This file wires the command line (CLI11) to
// the subcommands in tools/*_cmd.cc.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>

#include "tools/cli_util.h"
#include "tools/commands.h"

namespace fsim::tools {

int UsageError(const std::string& message) {
  std::fprintf(stderr, "fsim: %s\n", OneLine(message).c_str());
  return kExitUsage;
}

namespace {

int Main(int argc, char** argv) {
  // Logs go to stderr; stdout is reserved for results (tables, JSON).
  spdlog::set_default_logger(spdlog::stderr_color_st("fsim"));
  spdlog::set_pattern("fsim: %^%l%$: %v");

  CLI::App app{"fsim: deterministic simulation of a filesystem's buffered I/O path"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.footer(
      "Exit codes: 0 nothing found, 1 findings (or a reproduced finding), 2 bad input or "
      "usage (one line naming the problem), 3 internal harness error, 4 a trace that does "
      "not reproduce, 130 an exploration stopped by Ctrl-C with no finding.");

  bool list_json = false;
  app.add_subcommand("list", "List the scenarios: name - description")
      ->add_flag("--json", list_json,
                 "Print one JSON object: every scenario's name, description, source, whether it "
                 "is in the default suite");

  ExploreArgs ex;
  CLI::App* explore = app.add_subcommand(
      "explore", "Explore interleavings of scenarios; exit 1 on findings");
  explore->add_option("--scenario", ex.scenarios,
                      "Scenario to explore (repeatable; default: the built-in suite)");
  explore->add_option("--strategy", ex.strategy, "random | pct | surw | urw | dfs (default surw)")
      ->check(CLI::IsMember({"random", "pct", "surw", "urw", "dfs"}));
  explore->add_option("--depth", ex.depth, "PCT depth (bug depth d)")
      ->check(CLI::Range(1, 64));
  explore->add_option("--preemptions", ex.preemptions,
                      "DFS preemption bound (default -1: unbounded)")
      ->check(CLI::Range(-1, 1000));
  explore->add_option("--seed", ex.seed, "Base seed");
  explore->add_option("--runs", ex.runs,
                      "Runs per scenario (default 1000; dfs: until exhausted)");
  explore->add_option("--time", ex.time_sec, "Wall-clock budget in seconds")
      ->check(CLI::Range(0.0, 1e9));
  explore->add_option("--vtime", ex.vtime_sec,
                      "Virtual-time budget in simulated seconds, over all runs")
      ->check(CLI::Range(0.0, 1e9));
  explore->add_option("--config", ex.config, "Configuration K=V (repeatable)");
  explore->add_option("--shard", ex.shard, "Run shard I of N (I/N, 0-based)");
  explore->add_option("--out", ex.out, "Directory for traces of findings");
  explore->add_flag("--all", ex.all,
                    "Run the whole budget, reporting each distinct finding once");
  explore->add_flag("--json", ex.json, "Print one JSON summary object on stdout");
  explore->add_flag("--iterative", ex.iterative,
                    "dfs: iterative preemption bounding: bound 0, then 1, 2, ... each time the "
                    "bounded space is exhausted, within --runs");
  explore->add_flag("--por", ex.por,
                    "dfs: partial-order reduction by sleep sets (programs that name every shared "
                    "access: sctbench's and the runtime's, not fs/)");
  explore->add_option("-j,--jobs", ex.jobs,
                      "Run the exploration as N processes, shard I/N each; the summary is "
                      "their union, with one process's digest and findings (default: every "
                      "CPU; 1 with --shard)")
      ->check(CLI::Range(1u, 256u));
  explore
      ->add_option_function<std::vector<std::string>>(
          "--coverage",
          [&ex](const std::vector<std::string>& v) {
            ex.coverage = true;
            if (!v.empty()) ex.coverage_file = v.front();
          },
          "After the table, per scenario: the runs that reached each coverage point (kswapd "
          "writepage, best-effort redirty, reclaim, ...) and the first run that did; with FILE, "
          "also written there as JSON for 'fsim coverage' (always in --json)")
      ->expected(0, 1);
  explore->add_option("--save-clean", ex.save_clean,
                      "Also write every Nth clean run (run index divisible by N) as a trace in "
                      "--out, to replay or open in Perfetto like a finding's")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}));

  ReplayArgs re;
  CLI::App* replay = app.add_subcommand(
      "replay", "Re-execute a trace; exit 1 if its finding recurs, 4 if not");
  replay->add_option("trace", re.trace, "Trace file")->required();
  replay->add_flag("--report", re.report, "Print the finding's full report");
  replay->add_option("--chrome-trace", re.chrome_trace,
                     "Write the run as a Chrome trace (Perfetto, chrome://tracing) to this file");
  replay->add_flag("--log", re.log, "Print the run's events on stdout, one line each");
  replay->add_flag("--json", re.json,
                   "Print one JSON object on stdout: the trace, what the replay gave, whether it "
                   "reproduced");

  ShrinkArgs sh;
  CLI::App* shrink = app.add_subcommand(
      "shrink", "Minimise a trace keeping its finding; exit 1 when written, 4 if it does not reproduce");
  shrink->add_option("trace", sh.trace, "Trace file")->required();
  shrink->add_flag("--json", sh.json, "Print one JSON object on stdout");
  shrink->add_option("-o,--output", sh.out,
                     "Output trace (default: TRACE as .shrunk.trace.json)");
  shrink->add_option("--max-runs", sh.max_runs,
                     "Candidate runs at most (default 2000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));

  LockGraphArgs lg;
  CLI::App* lockgraph = app.add_subcommand(
      "lockgraph", "Write the lock-class dependency graph (Graphviz DOT), cycles in red");
  lockgraph->add_option("trace", lg.trace, "Trace file (its run, replayed)");
  lockgraph->add_option("--scenario", lg.scenario, "Scenario (the union over --runs runs)");
  lockgraph->add_option("--runs", lg.runs, "Runs for --scenario (default 100)");
  lockgraph->add_option("--seed", lg.seed, "Base seed for --scenario");
  lockgraph->add_option("--config", lg.config, "Configuration K=V (repeatable)");
  lockgraph->add_option("-o,--output", lg.out, "Output .dot file (default: stdout)");
  lockgraph->add_flag("--svg", lg.svg, "Also render FILE.svg with graphviz's dot");
  lockgraph->add_flag("--json", lg.json,
                      "Print the graph as one JSON object (classes, dependencies, cycles); with "
                      "-o, the DOT file is written too");

  CoverageArgs cv;
  CLI::App* coverage = app.add_subcommand(
      "coverage",
      "Print the coverage an exploration recorded (explore --coverage FILE): per scenario the runs "
      "that reached each point and the first that did; --svg draws points against runs");
  coverage->add_option("file", cv.file, "Coverage file (explore --coverage FILE) or explore --json output")
      ->required();
  coverage->add_option("--svg", cv.svg, "Write the curve of distinct points against runs as SVG");

  CompareArgs co;
  CLI::App* compare = app.add_subcommand(
      "compare-orders",
      "Run the same scenarios and seeds under each lock-order variant; print the matrix");
  compare->add_option("--scenario", co.scenarios,
                      "Scenario (repeatable; default: the suite's scenarios that take an order)");
  compare->add_option("--order", co.orders,
                      "Lock-order variant (repeatable; default: all, see scenarios/orders/)");
  compare->add_option("--runs", co.runs, "Runs per scenario and order (default 1000)");
  compare->add_option("--time", co.time_sec,
                      "Wall-clock budget in seconds for the whole comparison, split evenly over "
                      "the orders")
      ->check(CLI::Range(0.0, 1e9));
  compare->add_option("--shard", co.shard, "Run shard I of N (I/N, 0-based), as explore's");
  compare->add_option("-j,--jobs", co.jobs,
                      "Run the comparison as N processes, shard I/N each, as explore -j; the "
                      "matrix is their union, one process's (default: every CPU; 1 with --shard)")
      ->check(CLI::Range(1u, 256u));
  compare->add_flag("--all", co.all,
                    "Run the whole budget, reporting each distinct finding once (what "
                    "compare-orders always does; accepted as explore takes it)");
  compare->add_option("--strategy", co.strategy, "random | pct | surw | urw | dfs (default surw)")
      ->check(CLI::IsMember({"random", "pct", "surw", "urw", "dfs"}));
  compare->add_option("--seed", co.seed, "Base seed (the same under every order)");
  compare->add_option("--config", co.config, "Configuration K=V under every order (repeatable)");
  compare->add_option("--out", co.out, "Directory for traces (one subdirectory per order)");
  compare->add_flag("--json", co.json, "Print one JSON object on stdout");

  BugsArgs bu;
  CLI::App* bugs = app.add_subcommand(
      "bugs", "The catalogue of injectable mistakes (bug=NAME); --hunt explores each until found");
  bugs->add_flag("--json", bu.json, "Print one JSON object on stdout");
  bugs->add_flag("--hunt", bu.hunt,
                 "Explore each flag as default exploration does (default suite under the order "
                 "it needs, surw, seed 1) until its first finding, then shrink that trace");
  bugs->add_option("--time", bu.time_sec, "--hunt: seconds per flag at most (default 60)")
      ->check(CLI::Range(0.001, 86400.0));
  bugs->add_option("--runs", bu.runs, "--hunt: runs per scenario at most (default 20000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  bugs->add_option("--bug", bu.bugs, "Only this flag (repeatable)");
  bugs->add_option("--out", bu.out, "--hunt: directory for the traces (default fsim-out)");
  bugs->add_option("--strategy", bu.strategy,
                   "--hunt: search strategy instead of default exploration's surw (to compare "
                   "strategies' finding power on the catalogue)")
      ->check(CLI::IsMember({"random", "pct", "surw", "urw"}));
  bugs->add_option("--seed", bu.seed, "--hunt: base seed (default 1)");

  FsxArgs fx;
  CLI::App* fsx = app.add_subcommand(
      "fsx", "Replay an fsx operation log (fsx --record-ops) on the simulated btrfs, checking "
             "every read, every size and the final bytes; exit 1 on findings");
  fsx->add_option("ops", fx.ops, "The fsx op log");
  fsx->add_option("--generate", fx.generate,
                  "Write fsx's random operation mix (N ops, --seed, --max-len) as an op log to "
                  "-o/--output (default stdout) instead of replaying one")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  fsx->add_option("--seed", fx.seed, "fsx's seed (-S) the log was recorded with (default 1)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{0xffffffff}));
  fsx->add_option("--max-len", fx.max_len, "fsx's -l, its largest file (default 262144)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{2} << 20));
  fsx->add_option("-o,--output", fx.out, "Write the file's final bytes here");
  fsx->add_option("--expect", fx.expect,
                  "Compare the file's final bytes with this file (e.g. what fsx left on a kernel)");
  fsx->add_option("--order", fx.order, "Lock-order variant (default legacy)");
  fsx->add_flag("--concurrent", fx.concurrent,
                "Explore the log beside a flusher, kswapd under memory pressure and fsync, with "
                "a power cut at an explored moment");
  fsx->add_option("--runs", fx.runs, "--concurrent: runs (default 1000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  fsx->add_option("--strategy", fx.strategy, "--concurrent: random | pct | surw | urw | dfs")
      ->check(CLI::IsMember({"random", "pct", "surw", "urw", "dfs"}));
  fsx->add_option("--explore-seed", fx.explore_seed, "--concurrent: base seed of the exploration");
  fsx->add_option("--config", fx.config, "Configuration K=V (repeatable), e.g. bug=NAME");
  fsx->add_option("--trace-dir", fx.trace_dir,
                  "Directory for the generated scenario and the traces (default fsim-out)");
  fsx->add_flag("--json", fx.json, "Print one JSON summary object on stdout");
  fsx->add_option("--profile", fx.profile,
                  "Data profile of the simulated array: single (default), dup, raid0, raid1, "
                  "raid10 (two, two and four disks)")
      ->check(CLI::IsMember({"single", "dup", "raid0", "raid1", "raid10"}));

  BenchArgs be;
  CLI::App* bench = app.add_subcommand("bench", "Measure the runtime's speed");
  bench->add_flag("--json", be.json, "Print one JSON object on stdout");
  bench->add_option("--min-time", be.min_time_sec,
                    "Minimum seconds per measurement")
      ->check(CLI::Range(0.01, 60.0));
  bench->add_option("--scenario", be.filter,
                    "Measure runs/s of these scenarios only (repeatable)");
  bench->add_option("--only", be.only,
                    "Run only the measurements whose name matches this regular expression "
                    "(e.g. 'decision/' or 'runs/fs_fsx_basic'; names as --only . lists them) and "
                    "print each as ns and items/s");
  bench->add_option("--compare", be.compare,
                    "Print each figure's ratio to a baseline saved by 'fsim bench --json', "
                    "raw and normalised by a calibration workload (e.g. bench/baseline.json)");
  bench->add_option("--suite", be.suite,
                    "Measure the search strategies on a suite of programs instead (sctbench): "
                    "seeds that found each bug and mean runs to it");
  bench->add_option("--strategy", be.strategies,
                    "--suite: strategy to measure (repeatable; default random, pct, surw)")
      ->check(CLI::IsMember({"random", "pct", "surw", "urw"}));
  bench->add_option("--seeds", be.seeds, "--suite: base seeds per program and strategy (default 20)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000}));
  bench->add_option("--limit", be.limit, "--suite: runs per seed at most (default 10000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  bench->add_option("--depth", be.depth, "--suite: PCT depth (default 3)")->check(CLI::Range(1, 64));

  // Numbers on the command line: no nan or inf anywhere (a budget of nan
  // never ends), and no sign on counts, seeds and budgets (CLI11 reads
  // "-1" into an unsigned as 2^64-1: --runs -1 ran forever).
  const CLI::Validator finite(
      [](std::string& text) -> std::string {
        std::string lower;
        for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower.find("nan") != std::string::npos || lower.find("inf") != std::string::npos) {
          return "not a finite number: " + text;
        }
        return "";
      },
      "FINITE");
  const CLI::Validator unsigned_number(
      [](std::string& text) -> std::string {
        if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
          return "expected a number without a sign: " + text;
        }
        return "";
      },
      "UNSIGNED");
  const CLI::Validator not_an_option(
      [](std::string& text) -> std::string {
        if (!text.empty() && text[0] == '-') return "a file name, not an option: " + text;
        return "";
      },
      "PATH");
  for (CLI::App* sub : app.get_subcommands({})) {
    for (CLI::Option* opt : sub->get_options()) {
      const std::string name = opt->get_name();
      const bool numeric = name == "--depth" || name == "--preemptions" || name == "--seed" ||
                           name == "--runs" || name == "--time" || name == "--vtime" ||
                           name == "--max-runs" || name == "--min-time" ||
                           name == "--seeds" || name == "--limit";
      // A file or directory value that looks like an option is one
      // (replay T --chrome-trace --log wrote a file named --log).
      const bool path = name == "--out" || name == "--output" || name == "--chrome-trace" ||
                        name == "--compare" ||
                        (name == "--svg" && sub->get_name() == "coverage") ||
                        name == "--coverage";
      if (path) opt->check(not_an_option);
      if (!numeric) continue;
      opt->check(finite);
      if (name != "--preemptions") opt->check(unsigned_number);  // -1 there means unbounded
    }
  }

  // An unknown command word: name it and suggest the nearest command.
  if (argc >= 2 && argv[1][0] != '-') {
    const std::string word = argv[1];
    bool known = false;
    std::string nearest;
    size_t best = ~size_t{0};
    for (CLI::App* sub : app.get_subcommands({})) {
      const std::string& name = sub->get_name();
      if (name == word) known = true;
      // Levenshtein distance, small strings.
      std::vector<size_t> row(name.size() + 1);
      for (size_t j = 0; j <= name.size(); ++j) row[j] = j;
      for (size_t i = 1; i <= word.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= name.size(); ++j) {
          const size_t up = row[j];
          row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (word[i - 1] == name[j - 1] ? 0 : 1)});
          diag = up;
        }
      }
      if (row[name.size()] < best) {
        best = row[name.size()];
        nearest = name;
      }
    }
    if (!known) {
      return UsageError("unknown command '" + Shown(word) + "'" +
                        (best <= 3 ? " (did you mean '" + nearest + "'?)" : "") +
                        " (see 'fsim --help')");
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(std::string(e.what()) + " (see 'fsim --help')");
  }

  // Flags that the chosen strategy would ignore are contradictions, not
  // silently accepted: --depth is PCT's, --preemptions DFS's.
  if (explore->count("--depth") != 0 && ex.strategy != "pct") {
    return UsageError("explore: --depth is PCT's bug depth; it does nothing with --strategy " +
                      ex.strategy);
  }
  if (explore->count("--preemptions") != 0 && ex.strategy != "dfs") {
    return UsageError("explore: --preemptions bounds DFS; it does nothing with --strategy " +
                      ex.strategy);
  }
  if (ex.iterative && ex.strategy != "dfs") {
    return UsageError("explore: --iterative deepens DFS's preemption bound; it does nothing with "
                      "--strategy " + ex.strategy);
  }
  if (ex.por && ex.strategy != "dfs") {
    return UsageError("explore: --por reduces DFS by sleep sets; it does nothing with --strategy " +
                      ex.strategy);
  }
  if (ex.iterative && explore->count("--preemptions") != 0) {
    return UsageError("explore: --iterative starts at bound 0 and raises it; give it or "
                      "--preemptions, not both");
  }

  if (app.got_subcommand("list")) return List(list_json);
  if (app.got_subcommand(explore)) return Explore(ex);
  if (app.got_subcommand(fsx)) return Fsx(fx);
  if (app.got_subcommand(replay)) return Replay(re);
  if (app.got_subcommand(shrink)) return Shrink(sh);
  if (app.got_subcommand(bench)) {
    const bool suite_only = bench->count("--strategy") + bench->count("--seeds") +
                                bench->count("--limit") + bench->count("--depth") >
                            0;
    if (be.suite.empty() && suite_only) {
      return UsageError("bench: --strategy, --seeds, --limit and --depth go with --suite");
    }
    if (!be.suite.empty() && !be.compare.empty()) {
      return UsageError("bench: --compare measures the runtime, not a --suite");
    }
    return be.suite.empty() ? Bench(be) : BenchSuite(be);
  }
  if (app.got_subcommand(bugs)) return Bugs(bu);
  if (app.got_subcommand(compare)) return CompareOrders(co);
  if (app.got_subcommand(coverage)) return Coverage(cv);
  if (app.got_subcommand(lockgraph)) {
    if (lg.trace.empty() == lg.scenario.empty()) {
      return UsageError("lockgraph: give either a TRACE or --scenario NAME");
    }
    return LockGraph(lg);
  }
  return UsageError("no subcommand (see 'fsim --help')");
}

}  // namespace
}  // namespace fsim::tools

int main(int argc, char** argv) {
  // A run allocates and frees buffers of tens to hundreds of KiB (files,
  // writes, remounted images) thousands of times a second. glibc's default
  // gives the top of the heap back to the kernel (brk) and maps big blocks
  // afresh each time, so a third of a power-cut run went to page faults
  // and TLB flushes. Keep the memory: it changes no decision, only speed.
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  try {
    return fsim::tools::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fsim: internal error: %s\n", e.what());
    return fsim::tools::kExitInternal;
  }
}
