// fsim compare-orders: the same scenarios and seeds under each lock-order
// variant, side by side. Run r of a scenario has the same seed under every
// order (seeds depend on the base seed, the scenario and r, never on the
// configuration), so a row's difference is the order's doing.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "model/explorer.h"
#include "scenarios/orders/order_variant.h"
#include "scenarios/registry.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

struct Row {
  std::string scenario;
  std::string order;
  uint64_t runs = 0;
  std::vector<model::FindingRecord> findings;  // distinct, first trace of each
};

// "lock_order 1, deadlock 2", by kind name.
std::string KindCounts(const std::vector<model::FindingRecord>& findings) {
  std::map<std::string, int> counts;
  for (const auto& f : findings) ++counts[std::string(sim::FindingKindName(f.finding.kind))];
  std::string out;
  for (const auto& [kind, n] : counts) {
    out += (out.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  }
  return out.empty() ? "-" : out;
}

}  // namespace

int CompareOrders(const CompareArgs& args) {
  if (std::string error; !CheckOutDir(args.out, &error)) return UsageError(error);
  std::string error;
  uint32_t shard_index = 0, shard_count = 1;
  if (!ParseShard(args.shard, &shard_index, &shard_count, &error)) return UsageError(error);
  model::Config config;
  if (!ParseConfig(args.config, &config, &error)) return UsageError(error);
  if (config.count("order") != 0) {
    return UsageError("compare-orders: choose orders with --order, not --config order=");
  }
  std::vector<std::string> orders = args.orders;
  if (orders.empty()) {
    for (const scenarios::OrderVariant& v : scenarios::OrderVariants()) orders.push_back(v.name);
  }
  for (const std::string& o : orders) {
    if (scenarios::FindOrderVariant(o) == nullptr) {
      return UsageError("compare-orders: --order " + o + ": no such lock-order variant");
    }
  }
  // The scenarios: those named, else every default-suite scenario that
  // takes an order.
  std::vector<std::string> names = args.scenarios;
  if (names.empty()) {
    for (const std::string& name : scenarios::DefaultSuite()) {
      const scenarios::Scenario* sc = scenarios::FindScenario(name);
      if (sc != nullptr && scenarios::AcceptsKey(*sc, "order")) names.push_back(name);
    }
  }
  for (const std::string& name : names) {
    const scenarios::Scenario* sc = scenarios::FindScenario(name);
    if (sc == nullptr) return UsageError("compare-orders: --scenario " + name + ": unknown");
    if (!scenarios::AcceptsKey(*sc, "order")) {
      return UsageError("compare-orders: scenario " + name + " has no lock order");
    }
  }

  InterruptScope interrupt;
  Progress progress("compare-orders");
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  std::vector<Row> rows;
  uint64_t total_runs = 0;
  for (const std::string& order : orders) {
    if (InterruptScope::Interrupted()) break;
    std::vector<model::Target> targets;
    for (const std::string& name : names) {
      model::Config own = config;
      own["order"] = order;
      auto target = scenarios::MakeTarget(name, own, &error);
      if (!target) return UsageError(error);
      targets.push_back(std::move(*target));
    }
    model::ExploreOptions options;
    options.strategy.name = args.strategy;
    options.seed = args.seed;
    options.runs = args.runs;
    options.all = true;  // every distinct finding, over the whole budget
    options.out_dir = args.out + "/" + order;
    options.shard_index = shard_index;
    options.shard_count = shard_count;
    // --time: each order gets an even share, from when it starts, so that
    // a slow order cannot starve the ones after it.
    std::optional<Clock::time_point> deadline;
    if (args.time_sec > 0) {
      deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                    args.time_sec / static_cast<double>(orders.size())));
    }
    options.out_of_time = [deadline] {
      return InterruptScope::Interrupted() || (deadline && Clock::now() >= *deadline);
    };
    const uint64_t before = total_runs;
    options.on_run = [&](const model::RunRecord& r) {
      model::RunRecord shown = r;
      shown.runs_done = before + r.runs_done;
      progress.OnRun(shown);
    };
    options.on_finding = [&progress](const model::FindingRecord&) { progress.OnFinding(); };
    model::ExploreSummary summary = model::Explore(targets, options);
    total_runs += summary.runs;
    for (const model::TargetStats& t : summary.targets) {
      Row row{t.scenario, order, t.runs, {}};
      for (const model::FindingRecord& f : summary.findings) {
        if (f.scenario == t.scenario) row.findings.push_back(f);
      }
      rows.push_back(std::move(row));
    }
  }
  progress.Done();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const bool interrupted = InterruptScope::Interrupted();
  // Scenario-major: a scenario's orders next to each other.
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.scenario < b.scenario; });
  bool any = false;
  for (const Row& r : rows) any = any || !r.findings.empty();

  if (args.json) {
    nlohmann::json out_rows = nlohmann::json::array();
    for (const Row& r : rows) {
      nlohmann::json findings = nlohmann::json::array();
      for (const model::FindingRecord& f : r.findings) findings.push_back(FindingJson(f));
      out_rows.push_back({{"scenario", r.scenario},
                          {"order", r.order},
                          {"runs", r.runs},
                          {"findings", std::move(findings)}});
    }
    nlohmann::json j = {{"fsim_compare", 1},
                        {"strategy", args.strategy},
                        {"seed", args.seed},
                        {"config", config},
                        {"orders", orders},
                        {"runs", total_runs},
                        {"seconds", seconds},
                        {"interrupted", interrupted},
                        {"rows", std::move(out_rows)}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    int sw = 8, ow = 5;  // column widths: the longest name
    for (const Row& r : rows) {
      sw = std::max(sw, static_cast<int>(r.scenario.size()));
      ow = std::max(ow, static_cast<int>(r.order.size()));
    }
    std::printf("%-*s  %-*s %8s  %s\n", sw, "scenario", ow, "order", "runs", "findings by kind");
    std::string last;
    for (const Row& r : rows) {
      std::printf("%-*s  %-*s %8llu  %s\n", sw, r.scenario == last ? "" : r.scenario.c_str(), ow,
                  r.order.c_str(), static_cast<unsigned long long>(r.runs),
                  KindCounts(r.findings).c_str());
      last = r.scenario;
    }
    std::printf("\n%llu runs in %.1f s (%s, seed %llu, the same seeds under every order)\n",
                static_cast<unsigned long long>(total_runs), seconds, args.strategy.c_str(),
                static_cast<unsigned long long>(args.seed));
    if (any) {
      // One trace per row and kind here; --json lists every distinct one.
      std::printf("\nfirst trace of each kind (--json lists every distinct finding):\n");
      for (const Row& r : rows) {
        std::map<std::string, std::pair<const model::FindingRecord*, int>> by_kind;
        for (const model::FindingRecord& f : r.findings) {
          auto& [first, n] = by_kind[std::string(sim::FindingKindName(f.finding.kind))];
          if (first == nullptr) first = &f;
          ++n;
        }
        for (const auto& [kind, entry] : by_kind) {
          const auto& [f, n] = entry;
          std::printf("  %s / %s: %s%s\n    %s\n    fsim replay %s --report\n", r.scenario.c_str(),
                      r.order.c_str(), kind.c_str(),
                      n > 1 ? (" (" + std::to_string(n - 1) + " more distinct)").c_str() : "",
                      f->finding.signature.c_str(), f->trace_path.c_str());
        }
      }
    }
  }
  if (interrupted) spdlog::warn("interrupted: the matrix covers the runs done so far");
  if (any) return kExitFindings;
  return interrupted ? kExitInterrupted : kExitClean;
}

}  // namespace fsim::tools
