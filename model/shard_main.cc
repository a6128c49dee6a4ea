// main() of the sharded property tests. Bazel's test sharding (shard_count
// in BUILD; TEST_SHARD_INDEX and TEST_TOTAL_SHARDS at run time, locally or
// on a remote execution cluster) splits the *seed space*, not the test
// cases: every shard runs every test on its own slice of seeds. So
// gtest's own sharding is switched off, Bazel's shard protocol is honoured
// (the status file is touched), and RapidCheck's base seed (RC_PARAMS
// "seed=S" from BUILD) becomes S + shard index, so the shards of one
// property draw different cases and together draw N times as many.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "model/shard.h"

int main(int argc, char** argv) {
  const fsim::model::TestShard shard = fsim::model::TestShardFromEnv();
  if (const char* status = std::getenv("TEST_SHARD_STATUS_FILE")) {
    if (std::FILE* f = std::fopen(status, "w")) std::fclose(f);
  }
  unsetenv("GTEST_SHARD_INDEX");
  unsetenv("GTEST_TOTAL_SHARDS");
  if (const char* params = std::getenv("RC_PARAMS")) {
    std::string p = params;
    size_t at = p.find("seed=");
    if (at != std::string::npos) {
      size_t end = p.find(' ', at);
      uint64_t seed = std::strtoull(p.c_str() + at + 5, nullptr, 10) + shard.index;
      p = p.substr(0, at) + "seed=" + std::to_string(seed) +
          (end == std::string::npos ? "" : p.substr(end));
      setenv("RC_PARAMS", p.c_str(), 1);
    }
  }
  std::printf("fsim: test shard %u of %u\n", shard.index, shard.count);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
