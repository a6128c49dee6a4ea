// fsim fsx: an fsx operation log (fstests' ltp/fsx.c, --record-ops) replayed
// on the simulated btrfs, as `fsx --replay-ops` replays it on a kernel.
//
// The log becomes a data scenario (scenarios/FORMAT.md, a fiber's "fsx")
// written next to the traces, so the run is an ordinary exploration: the
// fsx fiber checks every size field and every read against the log's
// reference model, settle checks the page cache, the extent state and the
// disk (every mirror, after a remount), and a finding is a trace that
// replays and shrinks. Sequentially the fsx fiber runs alone; with
// --concurrent it runs beside a flusher, kswapd under memory pressure and
// a fiber that fsyncs, while the power fails at an explored moment.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include <unistd.h>

#include "model/fsx_log.h"
#include "scenarios/fsx_scenario.h"
#include "scenarios/json_scenario.h"
#include "scenarios/registry.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace fsim::tools {
namespace {

constexpr uint64_t kPage = 4096;

bool ReadText(const std::string& path, std::string* text, std::string* error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    *error = path + ": is a directory, not an fsx log";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot open";
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  *text = s.str();
  return true;
}

}  // namespace

int Fsx(const FsxArgs& args) {
  std::string text, error;
  if (args.generate > 0) {
    if (!args.ops.empty()) return UsageError("fsx: give an op log or --generate, not both");
    const std::string log = model::GenerateFsxLog(args.generate, static_cast<uint32_t>(args.seed),
                                                  args.max_len, std::min<uint64_t>(args.max_len, 64 * 1024));
    if (args.out.empty()) {
      std::fwrite(log.data(), 1, log.size(), stdout);
      return kExitClean;
    }
    std::ofstream out(args.out, std::ios::binary);
    out << log;
    if (!out.flush()) return UsageError(args.out + ": cannot write");
    return kExitClean;
  }
  if (args.ops.empty()) return UsageError("fsx: an op log to replay (or --generate N) is required");
  if (!ReadText(args.ops, &text, &error)) return UsageError(error);
  if (!CheckOutDir(args.trace_dir, &error)) return UsageError(error);
  std::string name = std::filesystem::path(args.ops).filename().string();
  if (name == "ops") name = std::filesystem::path(args.ops).parent_path().filename().string();
  std::string clean;
  for (char c : name) clean += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  name = "fsx_" + (clean.empty() ? std::string("log") : clean);
  const std::string scenario_path =
      (std::filesystem::path(args.trace_dir) / (name + ".scenario.json")).string();
  scenarios::FsxScenarioOptions so;
  so.source = args.ops;
  so.seed = args.seed;
  so.max_len = args.max_len;
  so.concurrent = args.concurrent;
  so.profile = args.profile;
  std::optional<std::string> scenario = scenarios::FsxScenarioJson(name, text, so, &error);
  if (!scenario) return UsageError(error);
  {
    std::error_code ec;
    std::filesystem::create_directories(args.trace_dir, ec);
    std::ofstream out(scenario_path + ".tmp." + std::to_string(getpid()));
    out << *scenario << "\n";
    if (!out.flush()) return UsageError(scenario_path + ": cannot write");
  }
  std::filesystem::rename(scenario_path + ".tmp." + std::to_string(getpid()), scenario_path);

  ExploreArgs ex;
  ex.scenarios = {scenario_path};
  ex.strategy = args.strategy;
  ex.seed = args.explore_seed;
  ex.runs = args.concurrent ? args.runs : 1;
  ex.config = args.config;
  ex.config.push_back("order=" + args.order);
  ex.out = args.trace_dir;
  ex.json = args.json;
  const int rc = Explore(ex);
  if (args.concurrent || (rc != kExitClean && rc != kExitFindings)) return rc;
  const std::vector<uint8_t>& bytes = scenarios::LastFsxFinalBytes();
  if (!args.out.empty()) {
    std::ofstream out(args.out, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return UsageError(args.out + ": cannot write");
  }
  if (!args.expect.empty()) {
    std::string want;
    if (!ReadText(args.expect, &want, &error)) return UsageError(error);
    if (want.size() != bytes.size() || !std::equal(bytes.begin(), bytes.end(),
                                                   reinterpret_cast<const uint8_t*>(want.data()))) {
      size_t at = 0;
      while (at < want.size() && at < bytes.size() &&
             static_cast<uint8_t>(want[at]) == bytes[at]) {
        ++at;
      }
      std::fprintf(stderr, "fsim: fsx: the file differs from %s: %zu bytes against %zu, first at byte %zu\n",
                   args.expect.c_str(), bytes.size(), want.size(), at);
      return kExitFindings;
    }
    if (!args.json) {
      std::printf("the file matches %s (%zu bytes)\n", args.expect.c_str(), bytes.size());
    }
  }
  return rc;
}

}  // namespace fsim::tools
