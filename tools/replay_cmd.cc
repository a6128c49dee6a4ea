// fsim replay TRACE [--report] [--log] [--chrome-trace OUT.json]:
// re-executes a trace and says whether its finding recurs with the same
// digest. --log prints the run's events as they happen (model/event_log.h);
// --chrome-trace writes the run as a timeline (model/chrome_trace.h). Both
// only observe: the verdict and the exit code are those of a plain replay.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/chrome_trace.h"
#include "model/event_log.h"
#include "model/explorer.h"
#include "model/trace.h"
#include "model/tracing.h"
#include "scenarios/registry.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

nlohmann::json RunInfo(const ReplayArgs& args, const model::Trace& trace,
                       const model::Reproduction& rep) {
  nlohmann::json info = {{"trace", args.trace},
                         {"scenario", trace.scenario},
                         {"seed", trace.seed},
                         {"run", trace.run},
                         {"config", trace.config},
                         {"digest", model::DigestHex(rep.result.digest)},
                         {"reproduced", rep.reproduced()},
                         {"steps", rep.result.steps},
                         {"virtual_ns", rep.result.virtual_ns},
                         {"decisions", rep.result.decisions}};
  if (trace.finding) {
    info["finding"] = {{"kind", sim::FindingKindName(trace.finding->kind)},
                       {"signature", trace.finding->signature},
                       {"message", trace.finding->message()}};
  }
  return info;
}

}  // namespace

int Replay(const ReplayArgs& args) {
  std::string error;
  std::optional<model::Trace> trace = model::ReadTrace(args.trace, &error);
  if (!trace) return UsageError(error);
  // A data scenario replays from the JSON the trace recorded, not its file.
  auto target = scenarios::MakeTargetForTrace(trace->scenario, trace->scenario_json,
                                              trace->config, &error);
  if (!target) return UsageError(args.trace + ": " + error);
  std::ofstream chrome_out;
  if (!args.chrome_trace.empty()) {
    // Opened before the run, so that a bad path costs no replay.
    chrome_out.open(args.chrome_trace, std::ios::binary | std::ios::trunc);
    if (!chrome_out) return UsageError(args.chrome_trace + ": cannot open for writing");
  }
  model::EventLog log(stdout);
  model::ChromeTrace chrome;
  model::TeeTracer tee;
  if (args.log) tee.Add(&log);
  if (!args.chrome_trace.empty()) tee.Add(&chrome);
  model::Reproduction rep = args.log || !args.chrome_trace.empty()
                                ? model::Reproduce(*trace, *target, &tee)
                                : model::Reproduce(*trace, *target);
  if (!args.chrome_trace.empty()) {
    chrome_out << chrome.Json(RunInfo(args, *trace, rep)).dump() << "\n";
    chrome_out.close();
    if (!chrome_out) return UsageError(args.chrome_trace + ": write failed");
  }
  if (args.log) std::printf("\n");
  // The finding the trace is about, as the replay reported it.
  std::optional<sim::Finding> finding = rep.result.finding;
  if (trace->finding) {
    for (const sim::Finding& f : rep.result.findings) {
      if (f.signature == trace->finding->signature) finding = f;
    }
  }
  if (args.json) {
    nlohmann::json j = RunInfo(args, *trace, rep);
    j["fsim_replay"] = 1;
    j["trace_digest"] = model::DigestHex(trace->digest);
    j["trace_steps"] = trace->steps;
    j["trace_virtual_ns"] = trace->virtual_ns;
    if (!rep.divergence.empty()) j["divergence"] = rep.divergence;
    if (finding) {
      j["replayed_finding"] = {{"kind", sim::FindingKindName(finding->kind)},
                               {"signature", finding->signature},
                               {"message", finding->message()}};
      if (args.report) j["replayed_finding"]["report"] = finding->report;
    }
    std::printf("%s\n", j.dump().c_str());
    if (!rep.reproduced()) return kExitNotReproduced;
    return finding ? kExitFindings : kExitClean;
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
  if (!rep.same_steps) {
    std::printf("; %llu steps and %llu ns of virtual time, trace says %llu and %llu",
                static_cast<unsigned long long>(rep.result.steps),
                static_cast<unsigned long long>(rep.result.virtual_ns),
                static_cast<unsigned long long>(trace->steps),
                static_cast<unsigned long long>(trace->virtual_ns));
  }
  std::printf("\n");
  if (args.report && finding) std::printf("\n%s\n", finding->report.c_str());
  return kExitNotReproduced;
}

}  // namespace fsim::tools
