// A RapidCheck property over fsx-style workloads: fsx's random operation
// mix (model::GenerateFsxLog: write, mapwrite, read, mapread, truncate,
// fallocate and zero_range with and without keep_size, punch_hole,
// clone_range, copy_range, dedupe_range) replayed on the simulated btrfs
// under every correct lock order, alone and beside a flusher, kswapd, fsync
// and a power cut. The fsx fiber checks every read and every size field
// against the independent byte model (model::ApplyFileOp), settle checks
// the final bytes and the disk: any finding fails the property.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/explorer.h"
#include "model/fsx_log.h"
#include "scenarios/fsx_scenario.h"
#include "scenarios/orders/order_variant.h"
#include "scenarios/registry.h"

namespace fsim::scenarios {
namespace {

std::string OutDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/fsx-property";
}

RC_GTEST_PROP(FsxPropertyTest, GeneratedFsxLogsMatchTheByteModelUnderEveryCorrectOrder, ()) {
  const auto seed = *rc::gen::inRange<uint32_t>(1, 1u << 30);
  const auto n = *rc::gen::inRange<uint64_t>(1, 150);
  const bool concurrent = *rc::gen::arbitrary<bool>();
  const std::string log = model::GenerateFsxLog(n, seed, 128 * 1024, 32 * 1024);
  FsxScenarioOptions o;
  o.source = "generated";
  o.seed = seed;
  o.max_len = 128 * 1024;
  o.concurrent = concurrent;
  std::string error;
  std::optional<std::string> json = FsxScenarioJson("fsx_property", log, o, &error);
  RC_ASSERT(json.has_value());
  std::filesystem::create_directories(OutDir());
  // A path of its own per case: scenario files are loaded once per path.
  const std::string path = OutDir() + "/fsx_property-" + std::to_string(seed) + "-" +
                           std::to_string(n) + (concurrent ? "-c" : "") + ".json";
  std::ofstream(path) << *json;
  for (const std::string& order : CorrectOrderNames()) {
    std::string why;
    std::optional<model::Target> t = MakeTarget(path, {{"order", order}}, &why);
    RC_ASSERT(t.has_value());
    model::ExploreOptions e;
    e.runs = concurrent ? 5 : 1;
    e.seed = seed;
    e.out_dir = OutDir();
    model::ExploreSummary s = model::Explore({*t}, e);
    if (!s.findings.empty()) {
      RC_FAIL(order + ": " + s.findings[0].finding.report + "\nlog (seed " + std::to_string(seed) +
              "):\n" + log);
    }
  }
}

// The generator draws every op kind the property promises.
TEST(FsxPropertyTest, TheGeneratorDrawsEveryOpKind) {
  const std::string log = model::GenerateFsxLog(2000, 1);
  for (const char* op : {"\nwrite ", "\nmapwrite ", "\nread ", "\nmapread ", "\ntruncate ",
                         "\nfallocate ", "\npunch_hole ", "\nzero_range ", "\nclone_range ",
                         "\ncopy_range ", "\ndedupe_range ", " keep_size"}) {
    EXPECT_NE(log.find(op), std::string::npos) << op;
  }
  std::string error;
  EXPECT_TRUE(model::ParseFsxLog(log, "generated", &error).has_value()) << error;
}

}  // namespace
}  // namespace fsim::scenarios
