// fsim replay TRACE [--report]: re-executes a trace and says whether its
// finding recurs with the same digest.
#include <cstdio>

#include "model/explorer.h"
#include "model/trace.h"
#include "scenarios/registry.h"
#include "tools/commands.h"

namespace fsim::tools {

int Replay(const ReplayArgs& args) {
  std::string error;
  std::optional<model::Trace> trace = model::ReadTrace(args.trace, &error);
  if (!trace) return UsageError(error);
  // A data scenario replays from the JSON the trace recorded, not its file.
  auto target = scenarios::MakeTargetForTrace(trace->scenario, trace->scenario_json,
                                              trace->config, &error);
  if (!target) return UsageError(args.trace + ": " + error);
  model::Reproduction rep = model::Reproduce(*trace, *target);
  // The finding the trace is about, as the replay reported it.
  std::optional<sim::Finding> finding = rep.result.finding;
  if (trace->finding) {
    for (const sim::Finding& f : rep.result.findings) {
      if (f.signature == trace->finding->signature) finding = f;
    }
  }
  if (rep.reproduced()) {
    if (!finding) {
      std::printf("reproduced: no finding (digest %s)\n",
                  model::DigestHex(rep.result.digest).c_str());
      return kExitClean;
    }
    std::printf("reproduced: %s %s\n",
                std::string(sim::FindingKindName(finding->kind)).c_str(),
                finding->signature.c_str());
    if (args.report) std::printf("\n%s\n", finding->report.c_str());
    return kExitFindings;
  }
  std::string got = finding ? std::string(sim::FindingKindName(finding->kind)) +
                                  " " + finding->signature
                            : "no finding";
  std::string want = trace->finding
                         ? std::string(sim::FindingKindName(trace->finding->kind)) +
                               " " + trace->finding->signature
                         : "no finding";
  std::printf("not reproduced: trace has %s, replay gave %s", want.c_str(), got.c_str());
  if (!rep.divergence.empty()) std::printf("; diverged at %s", rep.divergence.c_str());
  if (!rep.same_digest) {
    std::printf("; digest %s, trace says %s",
                model::DigestHex(rep.result.digest).c_str(),
                model::DigestHex(trace->digest).c_str());
  }
  std::printf("\n");
  if (args.report && finding) std::printf("\n%s\n", finding->report.c_str());
  return kExitNotReproduced;
}

}  // namespace fsim::tools
