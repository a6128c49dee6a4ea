// fsim shrink TRACE [-o OUT] [--max-runs N]: minimises a failing trace
// while keeping its finding (same kind and signature), writes the result
// atomically and prints the sizes before and after.
#include <cstdio>
#include <string>
#include <nlohmann/json.hpp>

#include "model/shrink.h"
#include "model/trace.h"
#include "scenarios/registry.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

// TRACE with ".trace.json" (or ".json") replaced by ".shrunk.trace.json".
std::string DefaultOut(const std::string& trace) {
  auto ends_with = [&](const std::string& suffix) {
    return trace.size() >= suffix.size() &&
           trace.compare(trace.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::string stem = trace;
  if (ends_with(".trace.json")) {
    stem.resize(trace.size() - 11);
  } else if (ends_with(".json")) {
    stem.resize(trace.size() - 5);
  }
  return stem + ".shrunk.trace.json";
}

std::string Arrow(uint64_t before, uint64_t after) {
  return std::to_string(before) + " -> " + std::to_string(after);
}

}  // namespace

int Shrink(const ShrinkArgs& args) {
  std::string error;
  std::optional<model::Trace> trace = model::ReadTrace(args.trace, &error);
  if (!trace) return UsageError(error);
  if (!trace->finding) {
    return UsageError(args.trace + ": the trace records no finding; nothing to shrink");
  }
  auto target = scenarios::MakeTargetForTrace(trace->scenario, trace->scenario_json, trace->config, &error);
  if (!target) return UsageError(args.trace + ": " + error);
  std::string out = args.out.empty() ? DefaultOut(args.trace) : args.out;

  model::ShrinkResult r =
      model::Shrink(*trace, *target, {.max_runs = args.max_runs});
  if (r.status == model::ShrinkStatus::kNotReproduced) {
    std::printf("not reproduced: %s: %s; nothing shrunk\n", args.trace.c_str(),
                r.problem.c_str());
    return kExitNotReproduced;
  }
  if (r.status == model::ShrinkStatus::kNoFinding) {  // checked above
    return UsageError(args.trace + ": the trace records no finding; nothing to shrink");
  }
  error = model::WriteTrace(out, r.trace);
  if (!error.empty()) return UsageError(error);

  const model::StreamSize& b = r.before;
  const model::StreamSize& a = r.after;
  if (args.json) {
    auto size = [](const model::StreamSize& z) {
      return nlohmann::json{{"decisions", z.decisions},     {"preemptions", z.preemptions},
                            {"value_decisions", z.value_decisions},
                            {"nonzero_values", z.nonzero_values}, {"steps", z.steps},
                            {"non_default", z.non_default}};
    };
    nlohmann::json j = {{"fsim_shrink", 1},
                        {"trace", args.trace},
                        {"output", out},
                        {"kind", sim::FindingKindName(r.trace.finding->kind)},
                        {"signature", r.trace.finding->signature},
                        {"before", size(b)},
                        {"after", size(a)},
                        {"runs_tried", r.runs},
                        {"budget_exhausted", r.budget_exhausted}};
    std::printf("%s\n", j.dump().c_str());
    return kExitFindings;
  }
  std::printf("shrunk: %s %s\n",
              std::string(sim::FindingKindName(r.trace.finding->kind)).c_str(),
              r.trace.finding->signature.c_str());
  std::printf("decisions %s, preemptions %s, value decisions %s (nonzero %s), "
              "steps %s, runs tried %llu%s\n",
              Arrow(b.decisions, a.decisions).c_str(),
              Arrow(b.preemptions, a.preemptions).c_str(),
              Arrow(b.value_decisions, a.value_decisions).c_str(),
              Arrow(b.nonzero_values, a.nonzero_values).c_str(),
              Arrow(b.steps, a.steps).c_str(),
              static_cast<unsigned long long>(r.runs),
              r.budget_exhausted ? " (budget spent: --max-runs for more)" : "");
  std::printf("non-default decisions %s, virtual time %s ns\n",
              Arrow(b.non_default, a.non_default).c_str(),
              Arrow(trace->virtual_ns, r.trace.virtual_ns).c_str());
  std::printf("wrote: %s\n", out.c_str());
  std::printf("replay: fsim replay %s --report\n", out.c_str());
  return kExitFindings;
}

}  // namespace fsim::tools
