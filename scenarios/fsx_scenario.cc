#include "scenarios/fsx_scenario.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "model/error_line.h"
#include "model/fsx_log.h"
#include "scenarios/json_scenario.h"

namespace fsim::scenarios {
namespace {

using json = nlohmann::json;

constexpr uint64_t kPage = 4096;

}  // namespace

// The scenario that replays `log` (already checked): one file, the fsx
// fiber, and with `concurrent` the background and the power cut.
std::optional<std::string> FsxScenarioJson(const std::string& name, const std::string& log,
                                           const FsxScenarioOptions& args, std::string* error) {
  // The log, checked here so that its errors name the file and the line.
  std::optional<std::vector<model::FsxOp>> parsed = model::ParseFsxLog(log, args.source, error);
  if (!parsed) return std::nullopt;
  std::optional<std::vector<model::FileOp>> ops = model::ToFileOps(
      *parsed, model::FsxBuffer(static_cast<uint32_t>(args.seed), args.max_len), args.source, error);
  if (!ops) return std::nullopt;
  uint64_t file_end = 0, written = 0;
  for (size_t i = 0; i < ops->size(); ++i) {
    const model::FileOp& op = (*ops)[i];
    const uint64_t end = op.kind == model::FileOpKind::kTruncate ? op.offset : op.offset + op.length;
    if (end > kScenarioFileBytesMax) {
      *error = model::OneLine(args.source + ":" + std::to_string((*parsed)[i].line) + ": " +
                              (*parsed)[i].name + " reaches " + std::to_string(end) +
                              ", past fsim's largest file (" +
                              std::to_string(kScenarioFileBytesMax) + " bytes)");
      return std::nullopt;
    }
    file_end = std::max(file_end, end);
    if (op.kind != model::FileOpKind::kRead) written += op.length + 2 * kPage;
  }
  json s;
  s["name"] = name;
  s["description"] = std::string("fsx log ") + args.source + " (seed " + std::to_string(args.seed) +
                     ") replayed on btrfs" +
                     (args.concurrent ? ", beside a flusher, kswapd and fsync, power cut" : "");
  // Every write lands in fresh data space (COW): room for all of them.
  const uint64_t mib = std::clamp<uint64_t>((written + (uint64_t{8} << 20)) >> 20,
                                            16, kScenarioDeviceMibMax);
  const int disks = args.profile == "raid10" ? 4
                    : args.profile == "raid0" || args.profile == "raid1" ? 2
                                                                          : 1;
  if (disks == 1 && args.profile != "single" && args.profile != "dup") {
    *error = "unknown data profile '" + args.profile + "' (single, dup, raid0, raid1, raid10)";
    return std::nullopt;
  }
  s["devices"] = json::array();
  for (int d = 0; d < disks; ++d) s["devices"].push_back({{"size_mib", mib}});
  s["data_profile"] = args.profile;
  const uint64_t pages = (file_end + kPage - 1) / kPage;
  if (args.concurrent) {
    // Pressure: about half of the file fits, and at least what one fsx
    // op (64 KiB by default, -o) holds locked at once, twice.
    s["memory"] = {{"budget_pages", std::max<uint64_t>(64, pages / 2)}, {"kswapd", true}};
  } else {
    s["memory"] = {{"budget_pages", std::max<uint64_t>(256, pages * 2 + 64)}};
  }
  s["files"] = json::array({"fsx"});
  json fibers = json::array();
  fibers.push_back({{"name", "fsx"},
                    {"fsx", {{"log", log}, {"seed", args.seed}, {"max_len", args.max_len}}}});
  if (args.concurrent) {
    fibers.push_back({{"name", "flusher"},
                      {"ops", json::array({{{"op", "sleep"}, {"ns", {{"min", 0}, {"max", 4000000}, {"step", 1000000}}}},
                                           {{"op", "writeback"}},
                                           {{"op", "sleep"}, {"ns", 2000000}},
                                           {{"op", "writeback"}}})}});
    fibers.push_back({{"name", "syncer"},
                      {"ops", json::array({{{"op", "sleep"}, {"ns", {{"min", 0}, {"max", 4000000}, {"step", 500000}}}},
                                           {{"op", "fsync"}},
                                           {{"op", "sleep"}, {"ns", 1000000}},
                                           {{"op", "fsync"}}})}});
    s["power_cut"] = {{"at_ns", {{"min", 1000000}, {"max", 16000000}, {"step", 1000000}}}};
  }
  s["fibers"] = fibers;
  // A long log is a long run, not a livelock: about 200 scheduling steps
  // an op sequentially, more beside the background (and the RFC's writer
  // throttled with its range held).
  const uint64_t steps = std::max<uint64_t>(200'000, ops->size() * (args.concurrent ? 2000 : 400));
  s["config"] = {{"steps_max", std::to_string(steps)}};
  s["checks"] = {{"linearizable", false},  // the fsx fiber checks its reads itself
                 {"invariants", true},
                 {"crash_consistency", args.concurrent}};
  return s.dump(1);
}


}  // namespace fsim::scenarios
