// The filesystem configuration of a scenario from its K=V configuration:
// `order=NAME` (a lock-order variant, scenarios/orders/) and `bug=NAME` (an
// injectable mistake, fs/btrfs/inode.h).
#ifndef FSIM_SCENARIOS_FS_CONFIG_H_
#define FSIM_SCENARIOS_FS_CONFIG_H_

#include <string>
#include <vector>

#include "fs/btrfs/inode.h"
#include "model/target.h"

namespace fsim::scenarios {

// Throws ConfigError (scenarios/registry.h) with one line naming the bad
// key and value and what is accepted.
// The largest readahead window (config ra_pages) with lockdep on: the
// page locks of a readahead batch, each tracked, plus the locks around
// it, stay below MAX_LOCK_DEPTH.
inline constexpr uint64_t kRaPagesWithLockdepMax = 40;

fs::FsConfig ParseFsConfig(const model::Config& config);

// The names `bug=` accepts, sorted.
std::vector<std::string> BugNames();

// The bug catalogue (`fsim bugs`): every injectable mistake of the model.
struct BugInfo {
  std::string name;
  std::string hunt_order;  // the lock order its hunt explores under
  std::string kinds;       // expected finding kinds, comma-separated
  std::string what;        // one line: the mistake
  std::string not_found;   // why default exploration cannot show it, or ""
  bool needs_rfc = false;  // refused under an order that does not run its code
};
std::vector<BugInfo> BugCatalogue();

// The configuration keys the fs scenarios take, with one line each.
std::vector<std::pair<std::string, std::string>> FsConfigKeys();

}  // namespace fsim::scenarios

#endif  // FSIM_SCENARIOS_FS_CONFIG_H_
