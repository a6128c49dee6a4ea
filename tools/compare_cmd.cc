// fsim compare-orders: the same scenarios and seeds under each lock-order
// variant, side by side. Run r of a scenario has the same seed under every
// order (seeds depend on the base seed, the scenario and r, never on the
// configuration), so a row's difference is the order's doing.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
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

// The oracles of the order x oracle matrix, in the columns' order: which
// check of fsim's a finding comes from, by its kind and signature.
constexpr std::array<std::string_view, 11> kOracles = {
    "lockdep", "deadlock", "fsync_integrity", "crash_consistency", "disk_reread",   "data",
    "space",   "warn",     "lock_misuse",     "use_after_free",    "other"};

std::string_view OracleOf(const sim::Finding& f) {
  const std::string_view sig = f.signature;
  switch (f.kind) {
    case sim::FindingKind::kLockOrder: return "lockdep";
    case sim::FindingKind::kDeadlock: return "deadlock";
    case sim::FindingKind::kCrashInconsistency:
      return sig.starts_with("crash_inconsistency:fsync_lost") ? "fsync_integrity"
                                                               : "crash_consistency";
    case sim::FindingKind::kDataMismatch:
      // The end-of-run settle: written back, caches dropped, every mirror
      // re-read, remounted.
      return sig.starts_with("data_mismatch:on_disk") || sig.starts_with("data_mismatch:mirror_read")
                 ? "disk_reread"
                 : "data";
    case sim::FindingKind::kWarn:
      return sig.starts_with("warn:space_info") || sig.starts_with("warn:extent_space") ? "space" : "warn";
    case sim::FindingKind::kLockMisuse: return "lock_misuse";
    case sim::FindingKind::kUseAfterFree: return "use_after_free";
    default: return "other";
  }
}

// Per order, per oracle: the scenarios where it found something and the
// first finding (scenario order).
struct MatrixCell {
  int scenarios = 0;
  const model::FindingRecord* first = nullptr;
};
struct MatrixRow {
  std::string order;
  bool claims_correct = true;
  uint64_t runs = 0;
  std::map<std::string_view, MatrixCell> cells;
};

std::vector<MatrixRow> OracleMatrix(const std::vector<std::string>& orders,
                                    const std::vector<Row>& rows) {
  std::vector<MatrixRow> out;
  for (const std::string& order : orders) {
    MatrixRow m;
    m.order = order;
    if (const scenarios::OrderVariant* v = scenarios::FindOrderVariant(order)) {
      m.claims_correct = v->claims_correct;
    }
    for (const Row& r : rows) {
      if (r.order != order) continue;
      m.runs += r.runs;
      std::map<std::string_view, const model::FindingRecord*> seen;
      for (const model::FindingRecord& f : r.findings) seen.emplace(OracleOf(f.finding), &f);
      for (const auto& [oracle, f] : seen) {
        MatrixCell& c = m.cells[oracle];
        ++c.scenarios;
        if (c.first == nullptr) c.first = f;
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

// -j N: the comparison as N processes, child I running --shard I/N (each
// order's exploration sharded as explore's: together the unsharded runs),
// each printing its JSON; the rows are their union: runs summed, one
// finding per signature, the one of the smallest run, as one process
// finds it. Returns an exit code above kExitFindings if a child failed.
int CompareJobs(const CompareArgs& args, uint32_t jobs, const std::vector<std::string>& orders,
                const std::vector<std::string>& names, const model::Config& config,
                std::vector<Row>* rows, uint64_t* total_runs, bool* interrupted) {
  std::vector<std::string> base = {"compare-orders", "--strategy", args.strategy, "--seed",
                                   std::to_string(args.seed), "--out", args.out, "--json"};
  for (const std::string& n : names) base.insert(base.end(), {"--scenario", n});
  for (const std::string& o : orders) base.insert(base.end(), {"--order", o});
  for (const std::string& c : args.config) base.insert(base.end(), {"--config", c});
  if (args.runs) base.insert(base.end(), {"--runs", std::to_string(*args.runs)});
  if (args.time_sec > 0) base.insert(base.end(), {"--time", std::to_string(args.time_sec)});
  std::vector<nlohmann::json> results;
  std::vector<std::string> failed;  // how each failed shard ended
  std::string error;
  int worst = RunShards(base, jobs, &results, &failed, &error);
  if (worst == kExitUsage) return UsageError(error);
  for (uint32_t i = 0; i < jobs; ++i) {
    if (results[i].is_object() && !results[i].contains("rows")) {
      failed.push_back("shard " + std::to_string(i) + "/" + std::to_string(jobs) +
                       " printed no rows");
      worst = std::max(worst, kExitInternal);
    }
  }
  for (const std::string& why : failed) std::fprintf(stderr, "fsim: -j: %s\n", why.c_str());
  if (worst > kExitFindings) {
    // What the shards that finished found is on disk already: say where.
    for (const nlohmann::json& r : results) {
      if (!r.is_object() || !r.contains("rows")) continue;
      for (const nlohmann::json& row : r["rows"]) {
        for (const nlohmann::json& f : row["findings"]) {
          std::fprintf(stderr, "fsim: -j: found %s in %s under %s: %s\n",
                       f.value("signature", "").c_str(), row.value("scenario", "").c_str(),
                       row.value("order", "").c_str(), f.value("trace", "").c_str());
        }
      }
    }
    return worst;
  }
  std::vector<std::pair<std::string, std::string>> keys;  // (scenario, order), first seen
  std::map<std::pair<std::string, std::string>, Row> merged;
  for (const nlohmann::json& r : results) {
    *total_runs += r["runs"].get<uint64_t>();
    *interrupted = *interrupted || r["interrupted"].get<bool>();
    for (const nlohmann::json& row : r["rows"]) {
      const auto key = std::make_pair(row["scenario"].get<std::string>(), row["order"].get<std::string>());
      auto [it, added] = merged.try_emplace(key, Row{key.first, key.second, 0, {}});
      if (added) keys.push_back(key);
      Row& m = it->second;
      m.runs += row["runs"].get<uint64_t>();
      for (const nlohmann::json& f : row["findings"]) {
        model::FindingRecord rec;
        const auto kind = sim::FindingKindFromName(f["kind"].get<std::string>());
        rec.finding.kind = kind.value_or(sim::FindingKind::kAssertion);
        rec.finding.signature = f["signature"].get<std::string>();
        rec.finding.report = f["message"].get<std::string>();
        rec.scenario = key.first;
        rec.config = config;
        rec.config["order"] = key.second;
        rec.seed = f["seed"].get<uint64_t>();
        rec.run = f["run"].get<uint64_t>();
        rec.trace_path = f["trace"].get<std::string>();
        auto same = std::find_if(m.findings.begin(), m.findings.end(), [&](const model::FindingRecord& g) {
          return g.finding.signature == rec.finding.signature;
        });
        if (same == m.findings.end()) {
          m.findings.push_back(std::move(rec));
        } else if (same->run > rec.run) {
          *same = std::move(rec);
        }
      }
    }
  }
  for (const auto& key : keys) {
    Row& m = merged[key];
    std::stable_sort(m.findings.begin(), m.findings.end(),
                     [](const model::FindingRecord& a, const model::FindingRecord& b) { return a.run < b.run; });
    rows->push_back(std::move(m));
  }
  return kExitClean;
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
  // takes an order, less those that pin one in their own config (the
  // fs_rfc_* copies: under --order they are their legacy twins again).
  std::vector<std::string> names = args.scenarios;
  if (names.empty()) {
    for (const std::string& name : scenarios::DefaultSuite()) {
      const scenarios::Scenario* sc = scenarios::FindScenario(name);
      if (sc == nullptr || !scenarios::AcceptsKey(*sc, "order")) continue;
      if (sc->defaults.count("order") != 0) continue;
      names.push_back(name);
    }
  }
  for (const std::string& name : names) {
    const scenarios::Scenario* sc = scenarios::FindScenario(name);
    if (sc == nullptr) return UsageError("compare-orders: --scenario " + name + ": unknown");
    if (!scenarios::AcceptsKey(*sc, "order")) {
      return UsageError("compare-orders: scenario " + name + " has no lock order");
    }
  }

  if (args.jobs > 1 && !args.shard.empty()) return UsageError("-j and --shard: give one of them");
  const uint32_t jobs = JobsFor(args.jobs, args.shard);

  InterruptScope interrupt;
  Progress progress("compare-orders");
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  std::vector<Row> rows;
  uint64_t total_runs = 0;
  bool jobs_interrupted = false;
  if (jobs > 1) {
    const int rc = CompareJobs(args, jobs, orders, names, config, &rows, &total_runs, &jobs_interrupted);
    if (rc != kExitClean) return rc;
  }
  for (const std::string& order : orders) {
    if (jobs > 1) break;  // the children ran them
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
  const bool interrupted = InterruptScope::Interrupted() || jobs_interrupted;
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
    nlohmann::json matrix = nlohmann::json::array();
    for (const MatrixRow& m : OracleMatrix(orders, rows)) {
      nlohmann::json cells = nlohmann::json::object();
      for (std::string_view oracle : kOracles) {
        auto it = m.cells.find(oracle);
        if (it == m.cells.end()) continue;
        const model::FindingRecord& f = *it->second.first;
        cells[std::string(oracle)] = {{"scenarios", it->second.scenarios},
                                      {"first", {{"scenario", f.scenario},
                                                 {"signature", f.finding.signature},
                                                 {"trace", f.trace_path}}}};
      }
      matrix.push_back({{"order", m.order},
                        {"claims_correct", m.claims_correct},
                        {"runs", m.runs},
                        {"clean", m.cells.empty()},
                        {"oracles", std::move(cells)}});
    }
    nlohmann::json j = {{"fsim_compare", 1},
                        {"strategy", args.strategy},
                        {"seed", args.seed},
                        {"config", config},
                        {"orders", orders},
                        {"runs", total_runs},
                        {"seconds", seconds},
                        {"interrupted", interrupted},
                        {"rows", std::move(out_rows)},
                        {"oracles", kOracles},
                        {"matrix", std::move(matrix)}};
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
    // The order x oracle matrix: per order, the scenarios in which each
    // oracle found something.
    const std::vector<MatrixRow> matrix = OracleMatrix(orders, rows);
    std::vector<std::string_view> columns;  // the oracles that found anything
    for (std::string_view oracle : kOracles) {
      for (const MatrixRow& m : matrix) {
        if (m.cells.count(oracle) != 0) {
          columns.push_back(oracle);
          break;
        }
      }
    }
    std::printf("\norder x oracle (scenarios with a finding, of %zu):\n", names.size());
    std::printf("%-*s  %-7s", ow, "order", "claims");
    for (std::string_view c : columns) std::printf("  %*s", static_cast<int>(c.size()), c.data());
    std::printf("\n");
    for (const MatrixRow& m : matrix) {
      std::printf("%-*s  %-7s", ow, m.order.c_str(), m.claims_correct ? "correct" : "-");
      for (std::string_view c : columns) {
        auto it = m.cells.find(c);
        const std::string cell = it == m.cells.end() ? "-" : std::to_string(it->second.scenarios);
        std::printf("  %*s", static_cast<int>(c.size()), cell.c_str());
      }
      if (m.cells.empty()) std::printf("  clean");
      std::printf("\n");
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
