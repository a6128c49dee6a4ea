// Checks scenario files: every built-in file loads and is the scenario of
// its name; a malformed file is refused with exactly one line naming the
// JSON pointer and the problem (syntax, types, unknown keys and
// operations, missing fields, bad ranges, duplicate keys, whole-scenario
// limits); open values are drawn through the Chooser at their sites, so
// the same seed gives the same run, different seeds different operations,
// and value 0 the smallest choice; a RAID10 scenario explores clean; a
// file scenario's trace replays from the JSON it recorded after the file
// is gone.
#include "scenarios/json_scenario.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "model/explorer.h"
#include "model/random_walk.h"
#include "model/trace.h"
#include "fs/btrfs/compression.h"
#include "scenarios/fs_config.h"
#include "scenarios/registry.h"

namespace fsim::scenarios {
namespace {

std::string TmpDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp ? tmp : "/tmp";
}

std::string Error(const std::string& text) {
  std::string error;
  EXPECT_FALSE(ParseScenario(text, &error).has_value()) << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

// A scenario with one fiber whose first operation is `op`.
std::string WithOp(const std::string& op) {
  return R"({"name": "t", "description": "d", "fibers": [{"name": "f", "ops": [)" + op + "]}]}";
}

// A scenario's "config" takes every key the command line's --config takes
// for an fs scenario (the runtime's and the filesystem's, from their
// lists), and refuses others naming the key.
TEST(JsonScenarioTest, ConfigTakesEveryRuntimeAndFilesystemKey) {
  std::vector<std::string> keys;
  for (const auto& [key, help] : RuntimeKeys()) keys.push_back(key);
  for (const auto& [key, help] : FsConfigKeys()) keys.push_back(key);
  ASSERT_FALSE(keys.empty());
  for (const std::string& key : keys) {
    const std::string text = R"({"name": "t", "description": "d", "config": {")" + key +
                             R"(": "x"}, "fibers": [{"name": "f", "ops": []}]})";
    std::string error;
    ParseScenario(text, &error);
    EXPECT_EQ(error.find("unknown key"), std::string::npos) << key << ": " << error;
  }
  const std::string error = Error(
      R"({"name": "t", "description": "d", "config": {"ra_page": "0"}, "fibers": [{"name": "f", "ops": []}]})");
  EXPECT_EQ(error.rfind("/config/ra_page: unknown key in config (expected one of: ", 0), 0) << error;
}

TEST(JsonScenarioTest, EveryBuiltInFileLoadsAsTheScenarioOfItsName) {
  ASSERT_FALSE(EmbeddedScenarioFiles().empty());  // the list is the glob's, not ours
  for (const EmbeddedScenarioFile& file : EmbeddedScenarioFiles()) {
    std::string error;
    auto spec = ParseScenario(file.text, &error);
    ASSERT_TRUE(spec.has_value()) << file.path << ": " << error;
    EXPECT_EQ(std::string(file.path), "scenarios/fs/" + spec->name + ".json");
    const Scenario* s = FindScenario(spec->name);
    ASSERT_NE(s, nullptr) << spec->name;
    EXPECT_EQ(s->source, file.path);
    // The canonical form parses back to itself.
    auto again = ParseScenario(spec->json, &error);
    ASSERT_TRUE(again.has_value()) << error;
    EXPECT_EQ(again->json, spec->json);
  }
}

TEST(JsonScenarioTest, MalformedFilesAreOneLineNamingThePointer) {
  EXPECT_EQ(Error("{\"name\": \"t\",\n  \"description\": \"d\",\n}"),
            "line 3, column 1: syntax error while parsing object key - unexpected '}'; "
            "expected string literal");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "offset": "12", "length": 1})")),
            "/fibers/0/ops/0/offset: expected an unsigned integer");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "offset": -1, "length": 1})")),
            "/fibers/0/ops/0/offset: expected an unsigned integer");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "ofset": 0, "length": 1})")),
            "/fibers/0/ops/0/ofset: unknown key for write (expected one of: op, repeat, file, "
            "offset, length, byte, sync, source, text)");
  EXPECT_EQ(Error(WithOp(R"({"op": "wrte"})")),
            "/fibers/0/ops/0/op: unknown operation 'wrte' (expected one of: write, read, "
            "truncate, fallocate, punch_hole, zero_range, fsync, mmap_write, sleep, writeback, "
            "fadvise_dontneed, clone_range, "
            "dedupe_range)");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "offset": 0})")),
            "/fibers/0/ops/0: missing required key 'length'");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "offset": {"min": 9, "max": 3}, "length": 1})")),
            "/fibers/0/ops/0/offset: min 9 is greater than max 3");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "offset": {"min": 0}, "length": 1})")),
            "/fibers/0/ops/0/offset: missing required key 'max'");
  EXPECT_EQ(Error(WithOp(R"({"op": "read", "offset": 0, "length": 0})")),
            "/fibers/0/ops/0/length: 0 is out of range [1, 2097152]");
  EXPECT_EQ(Error(WithOp(R"({"op": "fsync", "offset": 0, "op": "fsync"})")),
            "/fibers/0/ops/0/op: duplicate key");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "fiber": []})"),
            "/fiber: unknown key (expected one of: name, description, default_suite, suite_orders, "
            "config, "
            "devices, data_profile, memory, files, fibers, power_cut, checks)");
  const std::string two_disks = R"("devices": [{"name": "vda"}, {"name": "vdb"}], )";
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "data_profile": "raid1",
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/data_profile: raid1 needs exactly 2 devices, /devices has 1");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", )" + two_disks +
                  R"("data_profile": "raid10", "fibers": [{"name": "f", "ops": []}]})"),
            "/data_profile: raid10 needs exactly 4 devices, /devices has 2");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", )" + two_disks +
                  R"("data_profile": "raid5", "fibers": [{"name": "f", "ops": []}]})"),
            "/data_profile: expected \"single\", \"dup\", \"raid0\", \"raid1\" or \"raid10\", not \"raid5\"");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "devices": [{"faults": ["bitrot"]}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/data_profile: the bitrot fault needs a data profile with two copies (dup, raid1, raid10)");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "data_profile": "raid1",
                      "devices": [{"faults": ["bitrot"]}, {"faults": ["bitrot"]}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/devices: the bitrot fault is on more than one device: a block could rot on every copy");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "data_profile": "raid1",
                      "devices": [{"faults": ["bitrot"]}, {"faults": ["device_failure"]}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/devices: the bitrot fault cannot be combined with I/O errors (io_errors, io_error_once, "
            "read_error_once) or device_failure");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "data_profile": "raid1",
                      "devices": [{"faults": ["bitrot"]}, {"faults": ["io_error_once"]}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/devices: the bitrot fault cannot be combined with I/O errors (io_errors, io_error_once, "
            "read_error_once) or device_failure");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "devices": [{"io_error_window": 16}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/devices/0/io_error_window: applies to the io_error_once and read_error_once faults, "
            "which this device does not have");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d",
                      "devices": [{"faults": ["io_error_once"], "io_error_window": 0}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/devices/0/io_error_window: 0 is out of range [1, 4096]");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "devices": [{"faults": ["rot"]}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/devices/0/faults/0: unknown fault 'rot' (expected one of: io_errors, io_error_once, "
            "read_error_once, device_failure, latency_spikes, bitrot)");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "devices": [{"profile": "raid0"}],
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/devices/0/profile: the profile is the filesystem's: \"data_profile\" at the top level");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d"})"), "/: missing required key 'fibers'");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "fibers": [{"name": "f", "ops": []}],
                      "checks": {"crash_consistency": true}})"),
            "/checks/crash_consistency: needs a power_cut");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "memory": {"budget_pages": 8, "low_pages": 9},
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/memory: expected high_pages <= low_pages <= budget_pages (got 4, 9, 8)");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d",
                      "memory": {"budget_pages": 8, "dirty_ratio": 20, "dirty_background_ratio": 20},
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/memory/dirty_background_ratio: expected less than dirty_ratio (20), got 20");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "memory": {"budget_pages": 8, "dirty_ratio": 101},
                      "fibers": [{"name": "f", "ops": []}]})"),
            "/memory/dirty_ratio: 101 is out of range [1, 100]");
  EXPECT_EQ(Error(WithOp(R"({"op": "fsync", "on_error": "retry"})")),
            "/fibers/0/ops/0/on_error: expected \"stop\" or \"continue\", got \"retry\"");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "file": "b", "offset": 0, "length": 1})")),
            "/fibers/0/ops/0/file: unknown file 'b' (files: file)");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "repeat": 64, "offset": 0, "length": 8192})")),
            "/fibers: up to 128 operations (per page) on file 'file', more than the "
            "linearizability check's 62: fewer or shorter operations, or checks.linearizable "
            "false");
}

// A memory block may set only the dirty ratios (to keep writeback away):
// the budget stays the default, and no pressure is declared. A budget is
// declared pressure.
TEST(JsonScenarioTest, AMemoryBlockWithOnlyDirtyRatiosKeepsTheDefaultBudget) {
  std::string error;
  auto ratios = ParseScenario(R"({"name": "t", "description": "d",
                                  "memory": {"dirty_ratio": 80, "dirty_background_ratio": 60},
                                  "fibers": [{"name": "f", "ops": []}]})",
                              &error);
  ASSERT_TRUE(ratios.has_value()) << error;
  EXPECT_EQ(ratios->memory.budget_pages, 64u);
  EXPECT_EQ(ratios->dirty_background_ratio, 60u);
  EXPECT_FALSE(ratios->memory_declared);
  auto budget = ParseScenario(R"({"name": "t", "description": "d", "memory": {"budget_pages": 16},
                                  "fibers": [{"name": "f", "ops": []}]})",
                              &error);
  ASSERT_TRUE(budget.has_value()) << error;
  EXPECT_EQ(budget->memory.budget_pages, 16u);
  EXPECT_TRUE(budget->memory_declared);
}

TEST(JsonScenarioTest, ANumberTooLargeToParseIsOneLineWithItsPointer) {
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "fibers": [{"name": "f", "ops": [)"
                  R"({"op": "write", "offset": 1e999, "length": 10}]}]})"),
            "/fibers/0/ops/0/offset: number overflow parsing '1e999'");
}

TEST(JsonScenarioTest, SuiteOrdersNameLockOrderVariants) {
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "suite_orders": ["sideways"],)"
                  R"( "fibers": [{"name": "f", "ops": [{"op": "fsync"}]}]})"),
            "/suite_orders/0: no lock-order variant 'sideways'");
  EXPECT_EQ(Error(R"({"name": "t", "description": "d", "suite_orders": [],)"
                  R"( "fibers": [{"name": "f", "ops": [{"op": "fsync"}]}]})"),
            "/suite_orders: expected an array of 1 to 16 lock-order variant names");
}

TEST(JsonScenarioTest, AFileIsNamedInItsErrorsAndMakeTargetRefusesIt) {
  std::string path = TmpDir() + "/bad.json";
  std::ofstream(path) << WithOp(R"({"op": "write", "offset": 0, "length": true})");
  std::string error;
  EXPECT_FALSE(MakeTarget(path, {}, &error).has_value());
  EXPECT_EQ(error, path + ": /fibers/0/ops/0/length: expected an unsigned integer");
  EXPECT_FALSE(MakeTarget(TmpDir() + "/absent.json", {}, &error).has_value());
  EXPECT_EQ(error, TmpDir() + "/absent.json: cannot read: No such file or directory");
}

// A metadata area too small for what the scenario's files may hold is
// refused up front (exit 2 in the CLI), from the scenario's own config or
// the command line's, never left to the checkpoint that would not fit
// (found by a scenario of four fragmented 2 MiB files with log_kib 64,
// which aborted in its first run).
TEST(JsonScenarioTest, AMetadataAreaTooSmallForTheFilesIsRefused) {
  std::string path = TmpDir() + "/fragmented.json";
  std::ofstream(path) << R"({"name": "fragmented", "description": "d", "files": ["f", "g"], "config": {"log_kib": "64"},
    "checks": {"linearizable": false},
    "fibers": [{"name": "w", "ops": [
      {"op": "write", "file": "f", "offset": {"min": 0, "max": 2088960, "step": 8192}, "length": 100, "repeat": 60},
      {"op": "write", "file": "g", "offset": {"min": 0, "max": 2088960, "step": 8192}, "length": 100, "repeat": 60}]}]})";
  std::string error;
  EXPECT_FALSE(MakeTarget(path, {}, &error).has_value());
  EXPECT_TRUE(error.starts_with(path + ": a metadata area of 64 KiB (config log_kib) has checkpoint slots of 16384 bytes"))
      << error;
  EXPECT_NE(error.find("log_kib 256 or more"), std::string::npos) << error;
  // The built-in scenario with 260 blocks in one file fits the default
  // area, not a 64 KiB one (kswapd may write it a page at a time: 260
  // extent items).
  EXPECT_TRUE(MakeTarget("fs_chained_bio_fsync", {}, &error).has_value()) << error;
  EXPECT_FALSE(MakeTarget("fs_chained_bio_fsync", {{"log_kib", "64"}}, &error).has_value());
  EXPECT_NE(error.find("log_kib 80 or more"), std::string::npos) << error;
}

// Records each value decision's site and answers the smallest (or the
// largest) option; fibers in id order.
class Extreme final : public sim::Strategy {
 public:
  explicit Extreme(bool largest) : largest_(largest) {}
  void BeginRun(uint64_t) override { sites.clear(); }
  sim::FiberId PickFiber(const sim::SchedulePoint& p) override { return p.runnable[0]; }
  uint64_t PickValue(uint64_t n, sim::Site site) override {
    sites.emplace_back(site.name());
    return largest_ ? n - 1 : 0;
  }
  std::vector<std::string> sites;

 private:
  bool largest_;
};

constexpr const char* kOpen = R"({
  "name": "open_writes", "description": "open choices",
  "devices": [{"latency_choices": 1}],
  "fibers": [
    {"name": "w", "ops": [{"op": "write", "repeat": {"min": 1, "max": 8},
                           "offset": {"min": 0, "max": 12287}, "length": {"min": 1, "max": 8192}}]},
    {"name": "r", "ops": [{"op": "read", "offset": 0, "length": 12288}]}
  ]
})";

model::Target OpenTarget() {
  std::string path = TmpDir() + "/open_writes.json";
  std::ofstream(path) << kOpen;
  std::string error;
  auto t = MakeTarget(path, {}, &error);
  EXPECT_TRUE(t.has_value()) << error;
  return *t;
}

TEST(JsonScenarioTest, OpenValuesAreDecisionsAndZeroIsTheSmallestChoice) {
  model::Target target = OpenTarget();
  EXPECT_EQ(target.scenario, "open_writes");
  sim::Scheduler sched;
  Extreme low(false);
  EXPECT_FALSE(model::RunOnce(target, sched, low, 1).finding.has_value());
  EXPECT_EQ(low.sites, (std::vector<std::string>{"/fibers/0/ops/0/repeat",
                                                 "/fibers/0/ops/0/offset",
                                                 "/fibers/0/ops/0/length"}));
  Extreme high(true);
  EXPECT_FALSE(model::RunOnce(target, sched, high, 1).finding.has_value());
  EXPECT_EQ(high.sites.size(), 1u + 8 * 2);
}

TEST(JsonScenarioTest, SameSeedSameRunDifferentSeedsDifferentOperations) {
  model::Target target = OpenTarget();
  std::set<uint64_t> digests;
  for (uint64_t seed : {1, 2, 3, 4}) {
    sim::Scheduler sched;
    model::RandomWalk walk;
    sim::RunResult a = model::RunOnce(target, sched, walk, seed);
    sim::RunResult b = model::RunOnce(target, sched, walk, seed);
    EXPECT_FALSE(a.finding.has_value()) << a.finding->report;
    EXPECT_EQ(a.digest, b.digest);
    digests.insert(a.digest);
  }
  EXPECT_EQ(digests.size(), 4u);
  model::ExploreOptions o;
  o.runs = 200;
  o.out_dir = TmpDir() + "/open-out";
  model::ExploreSummary s1 = model::Explore({target}, o);
  model::ExploreSummary s2 = model::Explore({target}, o);
  EXPECT_TRUE(s1.findings.empty());
  EXPECT_EQ(s1.digest, s2.digest);
  o.seed = 7;
  EXPECT_NE(model::Explore({target}, o).digest, s1.digest);
}

// `text: true` writes `byte` with its top two bits drawn per 16-byte run
// of file offsets: the same bytes at an offset in every run, equal within
// a run of 16, all four variants used, and zlib-compressible into more
// than one block over 96 KiB (the point of it). A write from a source
// takes no text.
TEST(JsonScenarioTest, TextBytesAreFixedPerOffsetAndCompressIntoSeveralBlocks) {
  std::set<uint8_t> seen;
  for (uint64_t pos = 0; pos < 4096; ++pos) {
    const uint8_t b = TextByte(60, pos);
    EXPECT_EQ(b & 0x3f, 60 & 0x3f);
    EXPECT_EQ(b, TextByte(60, pos & ~uint64_t{15}));
    seen.insert(b);
  }
  EXPECT_EQ(seen.size(), 4u);
  std::vector<uint8_t> filled(100, 60);
  FillText(filled, 7);
  for (uint64_t i = 0; i < filled.size(); ++i) EXPECT_EQ(filled[i], TextByte(60, 7 + i)) << i;
  std::vector<uint8_t> data(96 * 1024);
  for (uint64_t i = 0; i < data.size(); ++i) data[i] = TextByte(60, i);
  std::optional<std::vector<uint8_t>> z = fs::ZlibCompress(data);
  ASSERT_TRUE(z.has_value());
  EXPECT_GT(z->size(), 4096u);
  EXPECT_LT(z->size(), data.size() / 4);
  auto scenario = ParseScenario(WithOp(R"({"op": "write", "offset": 0, "length": 9, "text": true})"), nullptr);
  ASSERT_TRUE(scenario.has_value());
  EXPECT_TRUE(scenario->fibers[0].ops[0].text);
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "offset": 0, "length": 1, "text": 1})")),
            "/fibers/0/ops/0/text: expected true or false");
  EXPECT_EQ(Error(WithOp(R"({"op": "write", "offset": 0, "length": 1, "text": true, "source": {"offset": 0}})")),
            "/fibers/0/ops/0/text: a write from a source takes no text");
}

TEST(JsonScenarioTest, ARaid10ScenarioExploresClean) {
  std::string path = TmpDir() + "/raid10.json";
  std::ofstream(path) << R"({
    "name": "raid10", "description": "writers, a reader, flusher and fsync over two mirrored pairs",
    "devices": [{"name": "vda"}, {"name": "vdb"}, {"name": "vdc"}, {"name": "vdd"}],
    "data_profile": "raid10",
    "memory": {"budget_pages": 12},
    "fibers": [
      {"name": "writer_a", "ops": [{"op": "write", "offset": 1000, "length": 6000}]},
      {"name": "writer_b", "ops": [{"op": "write", "offset": 3000, "length": 6000}]},
      {"name": "reader", "ops": [{"op": "read", "offset": 0, "length": 12288}]},
      {"name": "flusher", "ops": [{"op": "writeback"}]},
      {"name": "fsync", "ops": [{"op": "fsync"}]}
    ]
  })";
  std::string error;
  auto target = MakeTarget(path, {}, &error);
  ASSERT_TRUE(target.has_value()) << error;
  model::ExploreOptions o;
  o.runs = 100;
  o.out_dir = TmpDir() + "/raid10-out";
  model::ExploreSummary s = model::Explore({*target}, o);
  EXPECT_TRUE(s.findings.empty()) << s.findings[0].finding.report;
}

TEST(JsonScenarioTest, AFileScenarioTraceReplaysWithoutTheFile) {
  std::string path = TmpDir() + "/race.json";
  std::ofstream(path) << R"({
    "name": "race", "description": "writers against the flusher, the RFC's writepage mistake",
    "config": {"order": "rfc", "bug": "rfc_writepage_blocking_extent_lock"},
    "memory": {"budget_pages": 12},
    "fibers": [
      {"name": "writer_a", "ops": [{"op": "write", "offset": 1000, "length": 6000}]},
      {"name": "writer_b", "ops": [{"op": "write", "offset": 3000, "length": 6000}]},
      {"name": "flusher", "ops": [{"op": "writeback"}]}
    ]
  })";
  std::string error;
  auto target = MakeTarget(path, {}, &error);
  ASSERT_TRUE(target.has_value()) << error;
  EXPECT_EQ(target->config.at("order"), "rfc");
  model::ExploreOptions o;
  o.runs = 200;
  o.out_dir = TmpDir() + "/race-out";
  model::ExploreSummary s = model::Explore({*target}, o);
  ASSERT_FALSE(s.findings.empty());
  EXPECT_EQ(s.findings[0].finding.kind, sim::FindingKind::kLockOrder);
  std::remove(path.c_str());
  auto trace = model::ReadTrace(s.findings[0].trace_path, &error);
  ASSERT_TRUE(trace.has_value()) << error;
  EXPECT_EQ(trace->scenario, "race");
  auto again = MakeTargetForTrace(trace->scenario, trace->scenario_json, trace->config, &error);
  ASSERT_TRUE(again.has_value()) << error;
  EXPECT_TRUE(model::Reproduce(*trace, *again).reproduced());
  // Built-in programs written in C++ still replay by name.
  auto abba = MakeTarget("abba", {}, &error);
  ASSERT_TRUE(abba.has_value());
  EXPECT_TRUE(MakeTargetForTrace("abba", abba->scenario_json, abba->config, &error).has_value())
      << error;
}

}  // namespace
}  // namespace fsim::scenarios
