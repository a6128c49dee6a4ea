// The Bazel test shard this process is (TEST_SHARD_INDEX of
// TEST_TOTAL_SHARDS; 0 of 1 when not sharded), for explorations that split
// their runs by shard (ExploreOptions::shard_index/shard_count).
#ifndef FSIM_MODEL_SHARD_H_
#define FSIM_MODEL_SHARD_H_

#include <cstdint>
#include <cstdlib>

namespace fsim::model {

struct TestShard {
  uint32_t index = 0;
  uint32_t count = 1;
};

inline TestShard TestShardFromEnv() {
  TestShard s;
  const char* total = std::getenv("TEST_TOTAL_SHARDS");
  const char* index = std::getenv("TEST_SHARD_INDEX");
  if (total != nullptr && index != nullptr) {
    uint32_t n = static_cast<uint32_t>(std::strtoul(total, nullptr, 10));
    uint32_t i = static_cast<uint32_t>(std::strtoul(index, nullptr, 10));
    if (n > 0 && i < n) {
      s.count = n;
      s.index = i;
    }
  }
  return s;
}

}  // namespace fsim::model

#endif  // FSIM_MODEL_SHARD_H_
