// fsim bench --compare BASELINE.json: each figure of this run against the
// same figure of a saved `fsim bench --json` (bench/baseline.json is the
// project's). Nothing passes or fails on it: the ratios are for a reader.
#ifndef FSIM_TOOLS_BENCH_COMPARE_H_
#define FSIM_TOOLS_BENCH_COMPARE_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace fsim::tools {

// Reads a baseline. On error returns nullopt and sets `error` to one line
// naming the file and the problem: missing or unreadable, not JSON, or
// not the shape `fsim bench --json` prints (an object with
// "fsim_bench": 1, a positive "calibration_ns", and numbers, or objects
// of numbers, for every other field).
std::optional<nlohmann::json> LoadBenchBaseline(const std::string& path, std::string* error);

// Prints every figure `now` and `baseline` share: both values, the ratio
// now / baseline, and that ratio normalised by the calibration workload's
// (see bench_compare.cc); figures only one side has are named after the
// table. With `json`, prints one JSON object instead.
void PrintBenchComparison(const nlohmann::json& now, const nlohmann::json& baseline,
                          const std::string& baseline_path, bool json);

}  // namespace fsim::tools

#endif  // FSIM_TOOLS_BENCH_COMPARE_H_
