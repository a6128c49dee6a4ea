// fsim bugs [--json] [--hunt [--time S] [--runs N]] [--bug NAME]...
//
// Without --hunt: the catalogue, one line per flag (name, the order its
// hunt uses, the finding kinds expected, what it changes). With --hunt:
// each flag explored as default exploration does until its first finding
// (scenarios/bug_hunt.h), with runs and seconds to it and the shrunk
// trace's decision count. Exit 0 when every flag behaves as the catalogue
// says (found with an expected kind, or not found where it says so), 1
// otherwise, 2 on bad input.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "scenarios/bug_hunt.h"
#include "scenarios/fs_config.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace fsim::tools {

int Bugs(const BugsArgs& args) {
  using Clock = std::chrono::steady_clock;
  std::vector<scenarios::BugInfo> chosen;
  for (const scenarios::BugInfo& b : scenarios::BugCatalogue()) {
    if (args.bugs.empty() ||
        std::find(args.bugs.begin(), args.bugs.end(), b.name) != args.bugs.end()) {
      chosen.push_back(b);
    }
  }
  for (const std::string& name : args.bugs) {
    bool known = false;
    for (const scenarios::BugInfo& b : chosen) known = known || b.name == name;
    if (!known) return UsageError("bugs: --bug " + name + ": no such flag (see 'fsim bugs')");
  }
  if (std::string error; args.hunt && !CheckOutDir(args.out, &error)) return UsageError(error);
  nlohmann::json rows = nlohmann::json::array();
  if (!args.hunt) {
    for (const scenarios::BugInfo& b : chosen) {
      rows.push_back({{"bug", b.name},
                      {"order", b.hunt_order},
                      {"needs_order", b.needs_rfc ? b.hunt_order : ""},
                      {"kinds", b.kinds},
                      {"what", b.what},
                      {"not_found", b.not_found}});
      if (!args.json) {
        std::printf("%-40s order=%-14s %-42s %s%s\n", b.name.c_str(), b.hunt_order.c_str(),
                    b.kinds.c_str(), b.what.c_str(),
                    b.not_found.empty() ? "" : " [not found by exploration: see README]");
      }
    }
    if (args.json) std::printf("%s\n", nlohmann::json{{"fsim_bugs", 1}, {"rows", rows}}.dump().c_str());
    return kExitClean;
  }
  bool as_catalogue = true;
  if (!args.json) {
    std::printf("%-40s %-14s %-6s %-20s %-26s %10s %9s %9s\n", "bug", "order", "found", "kind",
                "scenario", "runs", "seconds", "shrunk");
  }
  for (const scenarios::BugInfo& b : chosen) {
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.time_sec));
    scenarios::HuntOptions o;
    o.runs_per_scenario = args.runs;
    o.out_dir = args.out;
    o.strategy = args.strategy;
    o.seed = args.seed;
    o.out_of_time = [deadline] { return Clock::now() >= deadline; };
    // Timed to the finding; the shrink comes after the clock stops.
    double seconds = 0;
    o.on_found = [&] { seconds = std::chrono::duration<double>(Clock::now() - start).count(); };
    scenarios::HuntRow row = scenarios::HuntBug(b, o);
    if (!row.error.empty()) return UsageError("bugs: " + b.name + ": " + row.error);
    const bool as_said = b.not_found.empty() ? row.found && row.expected_kind : !row.found;
    as_catalogue = as_catalogue && as_said;
    rows.push_back({{"bug", row.bug},
                    {"order", row.order},
                    {"found", row.found},
                    {"kind", row.kind},
                    {"expected_kind", row.expected_kind},
                    {"scenario", row.scenario},
                    {"signature", row.signature},
                    {"trace", row.trace},
                    {"runs_to_find", row.runs_to_find},
                    {"seconds_to_find", seconds},
                    {"decisions", row.decisions},
                    {"shrunk_decisions", row.shrunk_decisions},
                    {"as_catalogue_says", as_said}});
    if (!args.json) {
      std::printf("%-40s %-14s %-6s %-20s %-26s %10llu %9.2f %9llu%s\n", row.bug.c_str(),
                  row.order.c_str(), row.found ? "yes" : "no", row.kind.c_str(),
                  row.scenario.c_str(), static_cast<unsigned long long>(row.runs_to_find),
                  seconds,
                  static_cast<unsigned long long>(row.shrunk_decisions),
                  as_said ? "" : "  <- not as the catalogue says");
      std::fflush(stdout);
    }
  }
  if (args.json) std::printf("%s\n", nlohmann::json{{"fsim_bugs", 1}, {"rows", rows}}.dump().c_str());
  return as_catalogue ? kExitClean : kExitFindings;
}

}  // namespace fsim::tools
