// fsim bench --suite sctbench: the search strategies on the SCTBench
// programs (sctbench/). For each program and strategy: how many of
// --seeds base seeds find the program's bug within --limit runs, and the
// mean runs to the first bug over the seeds that found it. Every figure
// is a function of the arguments (no clock): the table is reproducible.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sctbench/bench.h"
#include "sctbench/suite.h"
#include "sim/finding.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

// Totals of one strategy over the suite, for the closing lines.
struct Totals {
  uint64_t found = 0;         // (program, seed) pairs that found the bug
  uint32_t every_seed = 0;    // programs found by every seed
  uint32_t some_seed = 0;     // programs found by at least one seed
  uint64_t runs = 0;          // runs executed
};

std::string Cell(const sctbench::BenchCell& c, uint32_t seeds) {
  char text[48];
  if (c.found() == 0) {
    std::snprintf(text, sizeof text, "%2u/%-2u %9s", c.found(), seeds, "-");
  } else {
    std::snprintf(text, sizeof text, "%2u/%-2u %9.1f", c.found(), seeds, c.mean_runs());
  }
  return text;
}

}  // namespace

int BenchSuite(const BenchArgs& args) {
  if (args.suite != "sctbench") {
    return UsageError("bench: unknown suite '" + args.suite + "' (known: sctbench)");
  }
  std::vector<std::string> strategies = args.strategies;
  if (strategies.empty()) strategies = {"random", "pct", "surw", "urw"};
  std::vector<const sctbench::SuiteProgram*> programs;
  for (const sctbench::SuiteProgram& p : sctbench::Suite()) {
    if (args.filter.empty() ||
        std::find(args.filter.begin(), args.filter.end(), p.name) != args.filter.end()) {
      programs.push_back(&p);
    }
  }
  for (const std::string& name : args.filter) {
    bool known = false;
    for (const sctbench::SuiteProgram& p : sctbench::Suite()) known = known || p.name == name;
    if (!known) return UsageError("bench: '" + name + "' is not a program of suite sctbench");
  }
  const uint32_t seeds = static_cast<uint32_t>(args.seeds);
  if (!args.json) {
    std::printf("%-18s %-10s", "program", "expected");
    for (const std::string& s : strategies) std::printf("  %-15s", (s + " found/mean").c_str());
    std::printf("\n");
  }
  std::map<std::string, Totals> totals;
  nlohmann::json rows = nlohmann::json::array();
  for (const sctbench::SuiteProgram* p : programs) {
    nlohmann::json cells = nlohmann::json::object();
    std::string line;
    for (const std::string& s : strategies) {
      model::StrategyInfo info;
      info.name = s;
      info.depth = args.depth;
      sctbench::BenchCell c = sctbench::RunCell(*p, info, seeds, args.limit);
      Totals& t = totals[s];
      t.found += c.found();
      t.every_seed += c.found() == seeds ? 1 : 0;
      t.some_seed += c.found() > 0 ? 1 : 0;
      t.runs += c.runs;
      cells[s] = {{"found", c.found()},
                  {"mean_runs", c.mean_runs()},
                  {"runs_to_bug", c.runs_to_bug},
                  {"runs", c.runs}};
      line += "  " + Cell(c, seeds);
    }
    const std::string expected(sim::FindingKindName(p->expected));
    rows.push_back({{"program", p->name}, {"expected", expected}, {"cells", cells}});
    if (!args.json) {
      std::printf("%-18s %-10s%s\n", p->name.c_str(), expected.c_str(), line.c_str());
      std::fflush(stdout);
    }
  }
  // Best overall: most (program, seed) pairs found; then fewest runs.
  std::string best;
  for (const std::string& s : strategies) {
    const Totals& t = totals[s];
    if (best.empty() || t.found > totals[best].found ||
        (t.found == totals[best].found && t.runs < totals[best].runs)) {
      best = s;
    }
  }
  if (args.json) {
    nlohmann::json summary = nlohmann::json::object();
    for (const std::string& s : strategies) {
      const Totals& t = totals[s];
      summary[s] = {{"found", t.found},
                    {"programs_every_seed", t.every_seed},
                    {"programs_some_seed", t.some_seed},
                    {"runs", t.runs}};
    }
    nlohmann::json j = {{"fsim_sctbench", 1},     {"seeds", seeds},
                        {"limit", args.limit},    {"pct_depth", args.depth},
                        {"strategies", strategies}, {"rows", rows},
                        {"totals", summary},      {"best", best}};
    std::printf("%s\n", j.dump().c_str());
    return kExitClean;
  }
  std::printf("\n%u seeds per cell, at most %llu runs each; mean runs over the seeds that found "
              "the bug\n",
              seeds, static_cast<unsigned long long>(args.limit));
  for (const std::string& s : strategies) {
    const Totals& t = totals[s];
    std::printf("  %-8s found %llu of %zu (program, seed) pairs; %u of %zu programs by every "
                "seed, %u by some; %llu runs\n",
                s.c_str(), static_cast<unsigned long long>(t.found), programs.size() * seeds,
                t.every_seed, programs.size(), t.some_seed, static_cast<unsigned long long>(t.runs));
  }
  std::printf("best overall: %s (most pairs found, then fewest runs)\n", best.c_str());
  return kExitClean;
}

}  // namespace fsim::tools
