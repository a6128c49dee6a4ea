// The exploration property CI runs: the default suite explored with a fixed
// budget under every lock-order variant that claims to be correct (taken
// from the registry, so an added variant joins) reports nothing. Sharded (see
// shard_count in BUILD and model/shard_main.cc): shard I of N runs the runs
// r with r mod N == I of every scenario, so `bazel test` spreads one
// exploration over cores, and over machines on a remote execution cluster,
// and the shards together run exactly the unsharded exploration. A finding
// prints its trace's path and the exact command that replays it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <tuple>

#include "model/explorer.h"
#include "model/shard.h"
#include "scenarios/orders/order_variant.h"
#include "scenarios/registry.h"

namespace fsim::scenarios {
namespace {

// Over all shards. Under a sanitizer (--config=asan, ubsan: several times
// slower) a tenth of them: the same paths, checked for memory errors and
// undefined behaviour; the optimised build keeps the full count.
#ifdef FSIM_SANITIZER
constexpr uint64_t kRunsPerScenario = 400;
#else
constexpr uint64_t kRunsPerScenario = 4000;
#endif

std::vector<model::Target> Suite(const std::string& order) {
  std::vector<model::Target> targets;
  for (const std::string& name : DefaultSuiteFor(order)) {
    const Scenario* sc = FindScenario(name);
    model::Config config;
    if (AcceptsKey(*sc, "order")) config["order"] = order;
    std::string error;
    auto t = MakeTarget(name, config, &error);
    EXPECT_TRUE(t.has_value()) << error;
    if (t) targets.push_back(std::move(*t));
  }
  return targets;
}

std::string OutDir() {
  // Bazel keeps undeclared outputs (zipped) under
  // bazel-testlogs/scenarios/explore_property_test/[shard_K_of_N/]test.outputs/.
  for (const char* var : {"TEST_UNDECLARED_OUTPUTS_DIR", "TEST_TMPDIR"}) {
    if (const char* dir = std::getenv(var)) return dir;
  }
  return "fsim-out";
}

TEST(ExplorePropertyTest, TheDefaultSuiteIsCleanUnderEveryCorrectOrderOnThisShard) {
  const model::TestShard shard = model::TestShardFromEnv();
  ASSERT_FALSE(CorrectOrderNames().empty());
  for (const std::string& order : CorrectOrderNames()) {
    model::ExploreOptions o;
    o.runs = kRunsPerScenario;
    o.shard_index = shard.index;
    o.shard_count = shard.count;
    o.all = true;
    o.out_dir = OutDir();
    o.on_finding = [&](const model::FindingRecord& f) {
      // The sandbox path is gone after the test: Bazel zips undeclared
      // outputs into bazel-testlogs/<target>/[shard_K_of_N/]test.outputs/
      // outputs.zip (unzip comes with Debian's bazel-bootstrap).
      const std::string zip =
          "bazel-testlogs/scenarios/explore_property_test/" +
          (shard.count > 1 ? "shard_" + std::to_string(shard.index + 1) + "_of_" +
                                 std::to_string(shard.count) + "/"
                           : std::string()) +
          "test.outputs/outputs.zip";
      const std::string name = std::filesystem::path(f.trace_path).filename().string();
      std::printf(
          "FINDING %s in %s (order=%s, seed %llu, run %llu, shard %u/%u)\n"
          "  trace: %s in %s\n"
          "  replay: unzip -o %s %s -d fsim-out && ./fsim replay fsim-out/%s --report\n",
          f.finding.signature.c_str(), f.scenario.c_str(), order.c_str(),
          static_cast<unsigned long long>(f.seed), static_cast<unsigned long long>(f.run),
          shard.index, shard.count, name.c_str(), zip.c_str(), zip.c_str(), name.c_str(),
          name.c_str());
    };
    model::ExploreSummary s = model::Explore(Suite(order), o);
    // This shard's share: the runs r < budget with r mod N == I.
    const uint64_t share =
        (kRunsPerScenario + shard.count - 1 - shard.index) / shard.count;
    EXPECT_EQ(s.runs, share * s.targets.size());
    EXPECT_TRUE(s.findings.empty()) << "order=" << order << ": " << s.findings.size()
                                    << " finding(s), traces and replay commands above";
  }
}

// The CI sharding contract: N shards together run exactly the runs (and
// seeds) of one unsharded exploration, each run once.
TEST(ExplorePropertyTest, ShardsTogetherRunExactlyTheUnshardedSeeds) {
  auto seeds = [](uint32_t index, uint32_t count) {
    std::multiset<std::tuple<std::string, uint64_t, uint64_t>> out;
    model::ExploreOptions o;
    o.runs = 50;
    // The whole budget whatever it finds: `rfc` claims no correctness
    // (a clone under it may copy a page its writeback skipped), and the
    // contract is about which runs each shard takes.
    o.all = true;
    o.shard_index = index;
    o.shard_count = count;
    o.out_dir = OutDir();
    o.on_run = [&](const model::RunRecord& r) {
      out.insert({r.target->scenario, r.run, r.seed});
    };
    model::Explore(Suite("rfc"), o);
    return out;
  };
  const auto whole = seeds(0, 1);
  for (uint32_t count : {2u, 3u}) {
    std::multiset<std::tuple<std::string, uint64_t, uint64_t>> together;
    for (uint32_t i = 0; i < count; ++i) {
      auto part = seeds(i, count);
      together.insert(part.begin(), part.end());
    }
    EXPECT_EQ(together, whole) << count << " shards";
  }
  EXPECT_EQ(whole.size(), 50 * DefaultSuiteFor("rfc").size());
}

}  // namespace
}  // namespace fsim::scenarios
