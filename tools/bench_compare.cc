// Comparing bench figures with a baseline.
//
// A raw ratio (now / baseline) mixes two things: a change in fsim and a
// change of machine (another CPU, a busier host). The calibration workload
// (calibration_ns: a fixed std::map build, lookup and teardown, code fsim
// never changes, with the malloc, pointer-chasing and branching mix that
// dominates fsim's own profile) moves only with the machine. Its ratio
// gives the machine's speed relative to the baseline's,
//   machine = calibration_ns(baseline) / calibration_ns(now)   (> 1: faster),
// and the normalised ratio divides the machine out: a rate figure
// (runs/s, bios/s, ...) is divided by it, a time figure (*_ns) multiplied.
// A normalised ratio of 1.00 means the figure moved exactly as much as the
// machine did; the change left over is fsim's (to within the noise of two
// measurements, about 20% for the larger figures on a shared host).
#include "tools/bench_compare.h"

#include "model/trace.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace fsim::tools {
namespace {

struct Figure {
  double value = 0;
  bool lower_is_better = false;  // a time (*_ns), not a rate
};

// "decision_ns": {"pct": 18.7} -> "decision_ns.pct"; the top-level name
// decides whether the figure is a time or a rate.
void Flatten(const nlohmann::json& j, const std::string& prefix, bool time,
             std::map<std::string, Figure>& out) {
  for (const auto& [key, value] : j.items()) {
    if (prefix.empty() && key == "fsim_bench") continue;
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    const bool is_time = prefix.empty() ? key.ends_with("_ns") : time;
    if (value.is_object()) {
      Flatten(value, name, is_time, out);
    } else if (value.is_number()) {
      out[name] = {value.get<double>(), is_time};
    }
  }
}

// The first field (as a JSON pointer) that is neither a number nor an
// object of numbers; empty if none.
std::string FirstNonNumber(const nlohmann::json& j, const std::string& pointer) {
  for (const auto& [key, value] : j.items()) {
    const std::string at = pointer + "/" + key;
    if (value.is_object()) {
      std::string bad = FirstNonNumber(value, at);
      if (!bad.empty()) return bad;
    } else if (!value.is_number()) {
      return at;
    }
  }
  return "";
}

}  // namespace

std::optional<nlohmann::json> LoadBenchBaseline(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot read the baseline (missing or unreadable)";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (model::JsonNestingDepth(text.str()) > model::kJsonDepthMax) {
    *error = path + ": nested deeper than " + std::to_string(model::kJsonDepthMax) + " levels";
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = path + ": not JSON (expected the output of 'fsim bench --json')";
    return std::nullopt;
  }
  if (!j.is_object() || !j.contains("fsim_bench") || j["fsim_bench"] != 1) {
    *error = path + ": not an 'fsim bench --json' object (no \"fsim_bench\": 1)";
    return std::nullopt;
  }
  if (std::string bad = FirstNonNumber(j, ""); !bad.empty()) {
    *error = path + ": " + bad + ": not a number";
    return std::nullopt;
  }
  if (!j.contains("calibration_ns") || !j["calibration_ns"].is_number() ||
      !(j["calibration_ns"].get<double>() > 0)) {
    *error = path + ": no positive calibration_ns (measure the baseline again with this fsim)";
    return std::nullopt;
  }
  return j;
}

void PrintBenchComparison(const nlohmann::json& now, const nlohmann::json& baseline,
                          const std::string& baseline_path, bool json) {
  std::map<std::string, Figure> a, b;  // baseline, now: sorted by name
  Flatten(baseline, "", false, a);
  Flatten(now, "", false, b);
  const double machine = a["calibration_ns"].value / b["calibration_ns"].value;
  nlohmann::json figures = nlohmann::json::object();
  std::vector<std::string> only_baseline, only_now;
  if (!json) {
    std::printf("fsim bench against %s\n", baseline_path.c_str());
    std::printf("calibration: %.1f ns now, %.1f ns in the baseline: this machine runs at "
                "%.2fx the baseline's\n",
                b["calibration_ns"].value, a["calibration_ns"].value, machine);
    std::printf("ratio = now / baseline; normalised = the ratio with the machine's speed "
                "divided out\n\n");
    std::printf("%-40s %14s %14s %8s %11s\n", "figure", "baseline", "now", "ratio",
                "normalised");
  }
  for (const auto& [name, base] : a) {
    auto it = b.find(name);
    if (it == b.end()) {
      only_baseline.push_back(name);
      continue;
    }
    const Figure& cur = it->second;
    // A ratio to zero or a negative figure (a cost difference can be
    // either) means nothing.
    const bool has_ratio = base.value > 0 && cur.value > 0;
    const double ratio = has_ratio ? cur.value / base.value : 0;
    const double normalised = cur.lower_is_better ? ratio * machine : ratio / machine;
    if (json) {
      nlohmann::json f = {{"baseline", base.value}, {"now", cur.value},
                          {"lower_is_better", cur.lower_is_better}};
      if (has_ratio) {
        f["ratio"] = ratio;
        f["normalised"] = normalised;
      }
      figures[name] = f;
      continue;
    }
    std::printf("%-40s %14.1f %14.1f", name.c_str(), base.value, cur.value);
    if (has_ratio) {
      std::printf(" %7.2fx %10.2fx", ratio, normalised);
    } else {
      std::printf(" %8s %11s", "-", "-");
    }
    std::printf("%s\n", cur.lower_is_better ? "  (lower is better)" : "");
  }
  for (const auto& [name, cur] : b) {
    if (!a.contains(name)) only_now.push_back(name);
  }
  if (json) {
    nlohmann::json j = {{"fsim_bench_compare", 1},
                        {"baseline", baseline_path},
                        {"machine_speed", machine},
                        {"figures", figures},
                        {"only_in_baseline", only_baseline},
                        {"only_now", only_now}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  auto list = [](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    std::printf("\n%s:", what);
    for (const std::string& n : names) std::printf(" %s", n.c_str());
    std::printf("\n");
  };
  list("only in the baseline (not measured now)", only_baseline);
  list("not in the baseline", only_now);
}

}  // namespace fsim::tools
