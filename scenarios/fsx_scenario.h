// An fsx operation log (fstests' ltp/fsx.c, --record-ops) as a data
// scenario: the log is a fiber's "fsx" (scenarios/FORMAT.md), replayed as
// `fsx --replay-ops` does, alone or (concurrent) beside a flusher, kswapd
// under memory pressure and fsync, with a power cut at an explored moment.
// `fsim fsx` runs it; tests run the shared samples through it.
#ifndef FSIM_SCENARIOS_FSX_SCENARIO_H_
#define FSIM_SCENARIOS_FSX_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>

namespace fsim::scenarios {

struct FsxScenarioOptions {
  std::string source = "ops";  // the log's path, for errors and the description
  uint64_t seed = 1;           // fsx -S
  uint64_t max_len = 256 * 1024;  // fsx -l
  bool concurrent = false;
  // The data profile (mkfs.btrfs -d): single (one disk), dup, raid0 (two
  // disks), raid1 (two), raid10 (four).
  std::string profile = "single";
};

// The scenario JSON that replays `log`, named `name`. On a bad log returns
// nullopt and sets `error` to one line "SOURCE:LINE: problem".
std::optional<std::string> FsxScenarioJson(const std::string& name, const std::string& log,
                                           const FsxScenarioOptions& options, std::string* error);

}  // namespace fsim::scenarios

#endif  // FSIM_SCENARIOS_FSX_SCENARIO_H_
