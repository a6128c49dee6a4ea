// Checks the built-in filesystem scenarios (scenarios/fs/*.json, run by
// the interpreter in fs_programs.cc) end to end through the explorer: both lock orders stay clean under PCT and random schedules
// (the oracles: linearizability, invariants, crash consistency), the
// injected blocking-extent-lock mistake is found as a lock-order inversion
// and its trace replays with the same digest, and bad fs configuration is
// refused with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/error_line.h"
#include "model/explorer.h"
#include "model/trace.h"
#include "scenarios/fs_config.h"
#include "scenarios/fsx_scenario.h"
#include "scenarios/orders/order_variant.h"
#include "scenarios/registry.h"

namespace fsim::scenarios {
namespace {

model::Target Make(const std::string& name, model::Config config) {
  std::string error;
  auto t = MakeTarget(name, config, &error);
  EXPECT_TRUE(t.has_value()) << error;
  return *t;
}

std::string OutDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/fs-programs-out";
}

// Explores `target` for `runs` runs: every run made, none with a finding
// (`what` names the case in a failure).
void ExpectCleanRuns(const model::Target& target, uint64_t runs, const std::string& what = "") {
  model::ExploreOptions o;
  o.runs = runs;
  o.out_dir = OutDir();
  model::ExploreSummary s = model::Explore({target}, o);
  EXPECT_EQ(s.runs, runs) << what;
  EXPECT_TRUE(s.findings.empty()) << what << ": " << s.findings[0].finding.report;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// An fsx log as a scenario file under the test's temporary directory.
std::string FsxScenarioFile(const std::string& name, const std::string& log, bool concurrent,
                            uint64_t seed = 200, const std::string& profile = "single") {
  FsxScenarioOptions o;
  o.source = name;
  o.seed = seed;
  o.concurrent = concurrent;
  o.profile = profile;
  std::string error;
  std::optional<std::string> json = FsxScenarioJson(name, log, o, &error);
  EXPECT_TRUE(json.has_value()) << error;
  std::filesystem::create_directories(OutDir());
  const std::string path = OutDir() + "/" + name + (concurrent ? "-c" : "") + "-" + profile + ".json";
  std::ofstream(path) << json.value_or("");
  return path;
}

const char* const kFsxSamples[] = {"basic_S200_N200", "falloc_S200_N200"};

// The fsx logs recorded on a real kernel replay on the simulated btrfs
// byte for byte, under every correct lock order: each read and size the
// log names, and the final file, which must equal what fsx left on ext4.
TEST(FsProgramsTest, FsxSamplesReplayByteExactUnderEveryCorrectOrder) {
  for (const char* sample : kFsxSamples) {
    const std::string dir = std::string("model/testdata/fsx/") + sample;
    const std::string path = FsxScenarioFile(sample, ReadAll(dir + "/ops"), false);
    const std::string want = ReadAll(dir + "/expected.bin");
    for (const std::string& order : CorrectOrderNames()) {
      model::ExploreOptions o;
      o.runs = 1;
      o.out_dir = OutDir();
      model::ExploreSummary s = model::Explore({Make(path, {{"order", order}})}, o);
      EXPECT_EQ(s.runs, 1u);
      ASSERT_TRUE(s.findings.empty()) << sample << "/" << order << ": " << s.findings[0].finding.report;
      const std::vector<uint8_t>& got = LastFsxFinalBytes();
      EXPECT_EQ(std::string(got.begin(), got.end()), want) << sample << "/" << order;
    }
  }
}

// The same logs beside a flusher, kswapd under memory pressure, fsync and
// a power cut: clean under every correct order.
TEST(FsProgramsTest, FsxSamplesAreCleanBesideWritebackReclaimAndAPowerCut) {
  for (const char* sample : kFsxSamples) {
    const std::string path = FsxScenarioFile(
        sample, ReadAll(std::string("model/testdata/fsx/") + sample + "/ops"), true);
    for (const std::string& order : CorrectOrderNames()) {
      model::ExploreOptions o;
      o.runs = 100;
      o.all = true;
      o.out_dir = OutDir();
      model::ExploreSummary s = model::Explore({Make(path, {{"order", order}})}, o);
      EXPECT_EQ(s.runs, 100u);
      EXPECT_TRUE(s.findings.empty()) << sample << "/" << order << ": " << s.findings[0].finding.report;
    }
  }
}

// On a RAID0 array the same workload stays clean under every correct
// order, and finds the map_length mistake (the RFC's first TODO).
TEST(FsProgramsTest, FsxOnRaid0IsCleanAndFindsTheMapLengthMistake) {
  const std::string path = FsxScenarioFile(
      "falloc", ReadAll("model/testdata/fsx/falloc_S200_N200/ops"), true, 200, "raid0");
  model::ExploreOptions o;
  o.runs = 50;
  o.all = true;
  o.out_dir = OutDir();
  for (const std::string& order : CorrectOrderNames()) {
    model::ExploreSummary s = model::Explore({Make(path, {{"order", order}})}, o);
    EXPECT_TRUE(s.findings.empty()) << order << ": " << s.findings[0].finding.report;
  }
  o.all = false;
  model::ExploreSummary s = model::Explore({Make(path, {{"bug", "iomap_merge_past_map_length"}})}, o);
  ASSERT_FALSE(s.findings.empty());
  EXPECT_EQ(s.findings[0].finding.signature, "warn:btrfs_map_bio:bio_beyond_map_length");
}

// The fsx fiber's own checks fire: a size field the file does not have
bool HasKind(const model::ExploreSummary& s, sim::FindingKind kind) {
  for (const auto& f : s.findings) {
    if (f.finding.kind == kind) return true;
  }
  return false;
}

bool HasSignature(const model::ExploreSummary& s, const std::string& signature) {
  for (const auto& f : s.findings) {
    if (f.finding.signature == signature) return true;
  }
  return false;
}

// names its line; and a bug on the path fsx exercises is found from it.
TEST(FsProgramsTest, FsxChecksNameTheLineAndFindABug) {
  const std::string path = FsxScenarioFile("sizes", "write 0 8192 0\ntruncate 0 100 9999\n", false);
  model::ExploreOptions o;
  o.runs = 1;
  o.out_dir = OutDir();
  model::ExploreSummary s = model::Explore({Make(path, {})}, o);
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_EQ(s.findings[0].finding.signature, "data_mismatch:fsx_size:fsx");
  EXPECT_NE(s.findings[0].finding.report.find("fsx line 2"), std::string::npos)
      << s.findings[0].finding.report;

  const std::string falloc = FsxScenarioFile(
      "falloc", ReadAll("model/testdata/fsx/falloc_S200_N200/ops"), true);
  o.runs = 1000;
  s = model::Explore({Make(falloc, {{"bug", "free_extent_without_pinning"}})}, o);
  ASSERT_FALSE(s.findings.empty());
  // The reused extent's new data fails the committed checksum at the
  // remount, and the fsync'd bytes are not there.
  EXPECT_EQ(s.findings[0].finding.signature, "checksum:after_power_cut");
  EXPECT_TRUE(HasKind(s, sim::FindingKind::kCrashInconsistency));
}

// Coverage points say which paths a scenario exercised: the RAID1
// re-read scenario does evict pages, the stripe-crossing one does split a
// bio at map_length (in nearly every run: where reclaim wakes the flusher
// early, it may write the first stripe's pages before the rest are
// dirty), and under extents-before-pages the flusher does find ranges
// busy. Counted over runs, never part of a choice: the same seed
// gives the same digest and the same counts.
TEST(FsProgramsTest, CoverageShowsWhatAScenarioExercised) {
  model::ExploreOptions o;
  o.runs = 200;
  o.all = true;
  o.out_dir = OutDir();
  model::ExploreSummary a = model::Explore(
      {Make("fs_raid1_evict_reread", {}), Make("fs_raid0_stripe_cross", {}),
       Make("fs_writers", {{"order", "rfc_sync_waits"}})},
      o);
  ASSERT_EQ(a.targets.size(), 3u);
  EXPECT_GT(a.targets[0].coverage["vmscan:page_reclaimed"], 100u);
  EXPECT_GT(a.targets[1].coverage["btrfs_map_bio:split_at_map_length"], 180u);
  EXPECT_GT(a.targets[2].coverage["map_blocks:range_busy_redirty"], 100u);
  model::ExploreSummary b = model::Explore(
      {Make("fs_raid1_evict_reread", {}), Make("fs_raid0_stripe_cross", {}),
       Make("fs_writers", {{"order", "rfc_sync_waits"}})},
      o);
  EXPECT_EQ(a.digest, b.digest);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a.targets[i].coverage, b.targets[i].coverage);
}

// Writepage from kswapd shows where memory runs short, and nothing of
// reclaim where it does not; every point reached has the first run that
// reached it, within the budget.
TEST(FsProgramsTest, CoverageShowsKswapdWritepageOnlyUnderPressure) {
  model::ExploreOptions o;
  o.runs = 200;
  o.all = true;
  o.out_dir = OutDir();
  model::ExploreSummary s =
      model::Explore({Make("fs_clone_two_files", {}), Make("fs_small_truncate", {})}, o);
  ASSERT_EQ(s.targets.size(), 2u);
  const model::TargetStats& pressure = s.targets[0];
  const model::TargetStats& none = s.targets[1];
  EXPECT_GT(pressure.coverage.count("vmscan:pageout_kswapd"), 0u);
  EXPECT_GT(pressure.coverage.count("reclaim:kswapd"), 0u);
  for (const auto& [point, runs] : none.coverage) {
    EXPECT_NE(point.rfind("reclaim:", 0), 0u) << point;
    EXPECT_NE(point.rfind("vmscan:", 0), 0u) << point;
  }
  for (const model::TargetStats& t : s.targets) {
    ASSERT_EQ(t.coverage.size(), t.coverage_first.size()) << t.scenario;
    for (const auto& [point, first] : t.coverage_first) {
      EXPECT_EQ(t.coverage.count(point), 1u) << point;
      EXPECT_LT(first, t.runs) << point;
    }
  }
}

TEST(FsProgramsTest, BothOrdersAreCleanUnderExploration) {
  for (const std::string& order : CorrectOrderNames()) {
    std::vector<model::Target> targets;
    for (const char* name :
         {"fs_writers", "fs_write_pressure", "fs_fsync_powercut", "fs_truncate",
          "fs_punch_hole", "fs_mmap_truncate", "fs_small_truncate"}) {
      targets.push_back(Make(name, {{"order", order}}));
    }
    for (const std::string strategy : {"pct", "random"}) {
      model::ExploreOptions o;
      o.strategy.name = strategy;
      o.runs = 300;
      o.all = true;
      o.out_dir = OutDir();
      model::ExploreSummary s = model::Explore(targets, o);
      EXPECT_EQ(s.runs, 2100u);
      EXPECT_TRUE(s.findings.empty()) << order << "/" << strategy << ": "
                                      << s.findings[0].finding.report;
    }
  }
}

// Bounded exhaustive search: every schedule of the smallest scenario with
// at most one preemption, in both orders, is clean, and the space is
// finite (`fsim explore --strategy dfs --preemptions 2` covers bound 2).
TEST(FsProgramsTest, DfsExhaustsTheSmallestScenarioCleanInBothOrders) {
  for (const std::string& order : CorrectOrderNames()) {
    model::ExploreOptions o;
    o.strategy.name = "dfs";
    o.strategy.preemptions = 1;
    o.runs = 1000000;
    o.out_dir = OutDir();
    model::ExploreSummary s = model::Explore({Make("fs_small_truncate", {{"order", order}})}, o);
    ASSERT_EQ(s.targets.size(), 1u);
    EXPECT_TRUE(s.targets[0].exhausted) << order << ": " << s.runs << " schedules";
    EXPECT_GT(s.runs, 1000u);
    EXPECT_TRUE(s.findings.empty()) << order << ": " << s.findings[0].finding.report;
  }
}

TEST(FsProgramsTest, TheBlockingExtentLockMistakeIsFoundAndReplays) {
  model::Target target =
      Make("fs_writers", {{"order", "rfc_sync_waits"}, {"bug", "rfc_writepage_blocking_extent_lock"}});
  model::ExploreOptions o;
  o.runs = 100;
  o.out_dir = OutDir();
  model::ExploreSummary s = model::Explore({target}, o);
  ASSERT_FALSE(s.findings.empty());
  EXPECT_EQ(s.findings[0].finding.signature,
            "lock_order:&BTRFS_I(inode)->io_tree->PG_locked->&BTRFS_I(inode)->io_tree");
  std::string error;
  auto trace = model::ReadTrace(s.findings[0].trace_path, &error);
  ASSERT_TRUE(trace.has_value()) << error;
  EXPECT_TRUE(model::Reproduce(*trace, target).reproduced());
}

TEST(FsProgramsTest, PageMkwriteLeftPageBeforeExtentIsFoundUnderTheRfcOrder) {
  model::Target target =
      Make("fs_mmap_truncate", {{"order", "rfc_sync_waits"}, {"bug", "rfc_page_mkwrite_page_before_extent"}});
  model::ExploreOptions o;
  o.runs = 1000;
  o.out_dir = OutDir();
  model::ExploreSummary s = model::Explore({target}, o);
  ASSERT_FALSE(s.findings.empty());
  EXPECT_EQ(s.findings[0].finding.kind, sim::FindingKind::kLockOrder);
  EXPECT_NE(s.findings[0].finding.signature.find("PG_locked"), std::string::npos);
}

// The RFC's read path: readahead hands iomap locked pages, and read's
// iomap_begin then takes the range with a blocking lock: page before
// extent, against the write path's extent before page.
TEST(FsProgramsTest, RfcReadaheadTakingABlockingExtentLockIsFoundAndReplays) {
  model::Target target =
      Make("fs_truncate", {{"order", "rfc_sync_waits"}, {"bug", "rfc_readahead_blocking_extent_lock"}});
  model::ExploreOptions o;
  o.runs = 2000;
  o.out_dir = OutDir();
  model::ExploreSummary s = model::Explore({target}, o);
  ASSERT_FALSE(s.findings.empty());
  const auto& found = s.findings[0];
  EXPECT_EQ(found.finding.kind, sim::FindingKind::kLockOrder);
  // The page lock held is readahead's (page_cache_ra_unbounded()).
  EXPECT_NE(found.finding.report.find("BtrfsInode::DoPageCacheRa"), std::string::npos);
  std::string error;
  auto trace = model::ReadTrace(found.trace_path, &error);
  ASSERT_TRUE(trace.has_value()) << error;
  EXPECT_TRUE(model::Reproduce(*trace, target).reproduced());
}

// The lock-order variants register from their own files, are listed by
// name, and the RFC as posted is found wanting where the completed RFC
// order is clean.
TEST(FsProgramsTest, OrderVariantsAreRegisteredAndTheRfcAsPostedIsFound) {
  std::vector<std::string> names;
  for (const OrderVariant& v : OrderVariants()) names.push_back(v.name);
  // The registry's own listing: sorted, the shipped variants among them.
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* shipped : {"legacy", "rfc", "rfc_as_posted", "rfc_sync_waits"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), shipped), names.end()) << shipped;
  }
  model::ExploreOptions o;
  o.runs = 200;
  o.out_dir = OutDir();
  model::ExploreSummary s =
      model::Explore({Make("fs_writers", {{"order", "rfc_as_posted"}})}, o);
  ASSERT_FALSE(s.findings.empty());
  EXPECT_EQ(s.findings[0].finding.kind, sim::FindingKind::kLockOrder);
}

// The fs scenarios are data: each comes from its file under scenarios/fs/
// and its targets carry the whole scenario for traces.
TEST(FsProgramsTest, TheFsScenariosAreTheirJsonFiles) {
  for (const Scenario& s : Scenarios()) {
    if (s.name.rfind("fs_", 0) != 0) {
      EXPECT_TRUE(s.source.empty()) << s.name;
      continue;
    }
    EXPECT_EQ(s.source, "scenarios/fs/" + s.name + ".json");
    model::Target t = Make(s.name, {});
    EXPECT_EQ(t.scenario_json, s.json);
    EXPECT_NE(t.scenario_json.find("\"fibers\""), std::string::npos) << s.name;
  }
}

// Two disks, data RAID0: fsync must flush every data device before the
// log commit makes the extents pointing at them durable; without that
// barrier a power cut loses fsync'd data on the second disk.
TEST(FsProgramsTest, CommitWithoutBarrierAllDevicesLosesFsyncedDataOnTheOtherDisk) {
  model::ExploreOptions o;
  o.runs = 2000;
  o.out_dir = OutDir();
  model::ExploreSummary clean = model::Explore({Make("fs_raid0_fsync_powercut", {})}, o);
  EXPECT_TRUE(clean.findings.empty()) << clean.findings[0].finding.report;
  model::Target buggy =
      Make("fs_raid0_fsync_powercut", {{"bug", "commit_without_barrier_all_devices"}});
  model::ExploreSummary s = model::Explore({buggy}, o);
  ASSERT_FALSE(s.findings.empty());
  // The commit made durable extents whose data on the second disk was not:
  // their checksums fail at the remount, and the fsync'd bytes are lost.
  EXPECT_EQ(s.findings[0].finding.signature, "checksum:after_power_cut");
  EXPECT_TRUE(HasKind(s, sim::FindingKind::kCrashInconsistency));
  std::string error;
  auto trace = model::ReadTrace(s.findings[0].trace_path, &error);
  ASSERT_TRUE(trace.has_value()) << error;
  EXPECT_TRUE(model::Reproduce(*trace, buggy).reproduced());
}

// RAID1 with both disks failing requests: a data write fails on one copy
// (tolerated), the other copy's write succeeds, and then that device's
// flush fails; v5.13's barrier_all_devices commits anyway (the array is
// rw-degradable), so the block's item is durable with no durable good
// copy. The end-of-run disk check counts the copy lost to a failed flush
// as no committed failed write. A generated scenario reported it as
// checksum:on_disk:after_io_error at run 68.
TEST(FsProgramsTest, ACopyLostToAFailedFlushIsNotAFailedWriteCommitted) {
  const std::string path = OutDir() + "-raid1_write_error_then_flush_error.json";
  std::ofstream(path) << R"({"checks": {"crash_consistency": false, "invariants": true, "linearizable": false}, "config": {"ra_pages": "0"}, "data_profile": "raid1", "description": "generated", "devices": [{"faults": ["io_errors"], "size_mib": 4}, {"faults": ["io_errors", "latency_spikes"], "size_mib": 8}], "fibers": [{"name": "t0", "ops": [{"file": "f1", "length": 129374, "offset": {"max": 126976, "min": 0, "step": 4096}, "op": "read"}, {"file": "f0", "length": {"max": 98304, "min": 8192, "step": 8192}, "offset": 710, "op": "dedupe_range", "source": {"file": "f0", "offset": {"max": 65536, "min": 0, "step": 65536}}}, {"file": "f2", "length": 35095, "offset": {"max": 16384, "min": 0, "step": 4096}, "op": "dedupe_range", "source": {"file": "f0", "offset": 26994}}, {"file": "f2", "op": "writeback"}, {"byte": 145, "file": "f0", "length": 113280, "offset": 106139, "op": "mmap_write", "past_eof": true, "text": true}]}, {"name": "t1", "ops": [{"byte": 115, "file": "f2", "length": 1, "offset": 123647, "op": "mmap_write", "past_eof": true}, {"file": "f2", "length": 49226, "offset": 262143, "op": "punch_hole"}, {"file": "f2", "length": 4095, "offset": 192841, "op": "clone_range", "source": {"file": "f0", "offset": 97550}}, {"file": "f1", "op": "truncate", "repeat": {"max": 4, "min": 1}, "size": 190205}, {"file": "f0", "on_error": "continue", "op": "fsync"}, {"file": "f1", "length": {"max": 57344, "min": 8192, "step": 8192}, "offset": {"max": 196031, "min": 0, "step": 1}, "op": "zero_range"}]}, {"name": "t2", "ops": [{"file": "f2", "length": {"max": 119143, "min": 1, "step": 1}, "offset": {"max": 188416, "min": 0, "step": 8192}, "op": "clone_range", "source": {"file": "f0", "offset": 4097}}, {"ns": 0, "op": "sleep"}, {"file": "f2", "length": 1, "offset": 12114, "op": "clone_range", "source": {"file": "f1", "offset": {"max": 126976, "min": 0, "step": 4096}}}, {"byte": 140, "file": "f1", "length": 4095, "offset": {"max": 20480, "min": 0, "step": 4096}, "op": "mmap_write"}, {"file": "f0", "length": 4095, "offset": 0, "op": "zero_range"}]}, {"name": "t3", "ops": [{"file": "f2", "length": 4097, "offset": 100477, "op": "zero_range"}, {"file": "f2", "op": "truncate", "size": 1}, {"file": "f1", "length": 57779, "offset": 233318, "op": "dedupe_range", "source": {"file": "f2", "offset": {"max": 152522, "min": 0, "step": 1}}}]}], "files": ["f0", "f1", "f2"], "memory": {"budget_pages": 16, "kswapd": true}, "name": "raid1_write_error_then_flush_error"})";
  ExpectCleanRuns(Make(path, {}), 300);
}

// After a power cut a page whose writeback failed (the disks are gone)
// and that reclaim then dropped reads as the disk had it: a hole where
// the write never got its extent. Linearizability judges the reads that
// ended before the cut, never the file at the end (the crash check's
// business). A generated scenario (mmap stores, truncates, clones, four
// pages of memory, the power cut at 0 ns) reported the lost bytes as a
// data mismatch at run 28.
TEST(FsProgramsTest, LinearizabilityStopsAtThePowerCut) {
  const std::string path = OutDir() + "-power_cut_lost_pages.json";
  std::ofstream(path) << R"({"checks": {"crash_consistency": false, "invariants": true, "linearizable": true}, "config": {"compress": "on"}, "data_profile": "single", "description": "generated", "devices": [{"size_mib": 16}, {"faults": ["read_error_once", "device_failure"], "io_error_window": 1, "queue_depth": 32, "size_mib": 8}], "fibers": [{"name": "t0", "ops": [{"file": "f0", "op": "writeback"}, {"file": "f0", "op": "fsync"}, {"file": "f1", "op": "truncate", "repeat": 4, "size": 1}, {"file": "f1", "op": "writeback"}, {"file": "f3", "op": "truncate", "size": 0}, {"file": "f3", "length": {"max": 20480, "min": 4096, "step": 4096}, "offset": 31361, "op": "read"}, {"file": "f3", "length": 30344, "offset": {"max": 24576, "min": 0, "step": 8192}, "op": "read", "repeat": 2}]}, {"name": "t1", "ops": [{"file": "f2", "length": 3419, "offset": 32767, "op": "fadvise_dontneed"}, {"byte": 176, "file": "f2", "length": 25093, "offset": {"max": 55430, "min": 0, "step": 1}, "op": "mmap_write", "past_eof": true}, {"file": "f0", "length": {"max": 8192, "min": 4096, "step": 4096}, "offset": 32767, "op": "punch_hole"}, {"file": "f0", "length": 16384, "offset": {"max": 40960, "min": 0, "step": 8192}, "op": "fadvise_dontneed"}, {"file": "f0", "length": 21062, "offset": {"max": 63471, "min": 0, "step": 1}, "op": "read"}, {"file": "f0", "length": 5028, "offset": 0, "op": "clone_range", "source": {"file": "f0", "offset": 4097}}, {"file": "f3", "length": 32768, "offset": 65535, "op": "read"}]}, {"name": "t2", "ops": [{"file": "f2", "op": "truncate", "repeat": {"max": 4, "min": 1}, "size": 65536}, {"file": "f1", "length": 1, "offset": 4095, "op": "clone_range", "source": {"file": "f2", "offset": {"max": 46898, "min": 0, "step": 1}}}, {"file": "f1", "length": 4095, "offset": 0, "op": "dedupe_range", "source": {"file": "f2", "offset": 19302}}, {"file": "f2", "op": "fsync"}, {"file": "f3", "length": 10424, "offset": 0, "op": "punch_hole", "repeat": {"max": 4, "min": 1}}]}], "files": ["f0", "f1", "f2", "f3"], "memory": {"budget_pages": 4}, "name": "power_cut_lost_pages", "power_cut": {"at_ns": {"max": 5000000, "min": 0, "step": 100000}}})";
  ExpectCleanRuns(Make(path, {}), 400);
}

// A page whose writeback failed may lose the write (under the legacy
// order end_extent_writepage clears PG_uptodate and the page is read from
// the disk again; under either order reclaim may drop it): its later
// reads and the file at the end are not the model's to judge. Before
// that rule the legacy order's fs_clone_after_write_error read file f
// back as its first, fsynced write at run 0 (data_mismatch:f).
TEST(FsProgramsTest, AWriteLostToAFailedWritebackIsNotADataMismatch) {
  for (const std::string& order : CorrectOrderNames()) {
    for (const char* scenario : {"fs_clone_after_write_error", "fs_io_errors"}) {
      ExpectCleanRuns(Make(scenario, {{"order", order}}), 300, order + " " + scenario);
    }
  }
}

// btrfs_buffered_write falls back to one page at a time after a short
// copy ("if (copied < write_bytes) nrptrs = 1"). Without it, a write whose
// source maps a file, in 16 pages of memory, faulted its whole batch in
// again and again while kswapd took the source pages back before the
// copy: livelock:step_limit at run 2 (a generated scenario).
TEST(FsProgramsTest, AShortCopyFallsBackToOnePageAtATime) {
  const std::string path = OutDir() + "-write_from_mapped_file_tight_memory.json";
  std::ofstream(path) << R"({"name": "write_from_mapped_file_tight_memory", "description": "a write whose source maps a holey file, in 16 pages of memory with kswapd, generated", "devices": [{"size_mib": 64, "faults": ["io_error_once"], "max_sectors": 256}, {"size_mib": 16, "faults": ["latency_spikes"]}, {"size_mib": 8, "write_cache": false}, {"size_mib": 64, "faults": ["device_failure", "io_error_once"], "queue_depth": 2}], "data_profile": "single", "files": ["f0", "f1", "f2"], "fibers": [{"name": "t0", "ops": [{"op": "writeback", "file": "f0"}, {"op": "read", "file": "f0", "offset": 131071, "length": {"min": 4096, "max": 114688, "step": 4096}}, {"op": "fallocate", "file": "f0", "offset": 131071, "length": {"min": 8192, "max": 98304, "step": 8192}, "keep_size": true}, {"op": "write", "file": "f2", "offset": 0, "length": 35016, "byte": 253, "text": true}, {"op": "dedupe_range", "file": "f0", "offset": 131071, "length": 69288, "source": {"file": "f2", "offset": 4097}}]}, {"name": "t1", "ops": [{"op": "dedupe_range", "file": "f2", "offset": {"min": 0, "max": 191316, "step": 1}, "length": 65536, "source": {"file": "f2", "offset": 197663}}, {"op": "zero_range", "file": "f0", "offset": 30887, "length": 22069, "keep_size": true}, {"op": "zero_range", "file": "f0", "offset": 210589, "length": 80713, "repeat": 2}, {"op": "write", "file": "f2", "offset": 0, "length": 44821, "source": {"file": "f0", "offset": 219316}}, {"op": "dedupe_range", "file": "f1", "offset": 194265, "length": 45910, "source": {"file": "f2", "offset": 4097}}]}], "memory": {"budget_pages": 16, "kswapd": true}, "config": {"ra_pages": "1"}, "checks": {"linearizable": false, "invariants": true, "crash_consistency": false}})";
  ExpectCleanRuns(Make(path, {}), 20);
}

// A write with "sync" (RWF_SYNC) promises its data as an fsync does: the
// RAID0 power-cut scenario written with sync writes finds the missing
// barrier too (were the promise not kept, any prefix would pass).
TEST(FsProgramsTest, ASyncWritePromisesItsDataAsFsyncDoes) {
  const std::string path = OutDir() + "-raid0_sync_writes.json";
  std::ofstream(path) << R"({"name": "raid0_sync_writes", "description": "d",
    "devices": [{"size_mib": 8}, {"size_mib": 8}], "data_profile": "raid0",
    "memory": {"budget_pages": 32},
    "fibers": [{"name": "app", "ops": [
      {"op": "write", "offset": 0, "length": 81920, "byte": 17, "sync": true},
      {"op": "write", "offset": 4096, "length": 4096, "byte": 34, "sync": true}]}],
    "power_cut": {"at_ns": {"min": 50000, "max": 400000, "step": 50000}},
    "checks": {"linearizable": false, "invariants": false, "crash_consistency": true}})";
  model::ExploreOptions o;
  o.runs = 300;
  o.out_dir = OutDir();
  model::ExploreSummary clean = model::Explore({Make(path, {})}, o);
  EXPECT_TRUE(clean.findings.empty()) << clean.findings[0].finding.report;
  o.runs = 2000;  // stops at the first finding
  model::ExploreSummary s =
      model::Explore({Make(path, {{"bug", "commit_without_barrier_all_devices"}})}, o);
  ASSERT_FALSE(s.findings.empty());
  EXPECT_TRUE(HasSignature(s, "crash_inconsistency:fsync_lost"));
}

// 1,000 write+fsync pairs checkpoint the metadata log about eight times;
// a power cut anywhere in them (or after) keeps every fsync'd write, in
// both orders. (A few runs: each takes milliseconds; `fsim explore
// --scenario fs_fsync_many` explores more.)
TEST(FsProgramsTest, AThousandFsyncsThroughCheckpointsStayDurable) {
  for (const std::string& order : CorrectOrderNames()) {
    ExpectCleanRuns(Make("fs_fsync_many", {{"order", order}}), 25, order);
  }
}

// A store through mmap that runs past EOF in the EOF page, then the file
// grows: btrfs_cont_expand's btrfs_truncate_block zeroes the old EOF
// page's tail first. Without it the stored bytes become file data.
TEST(FsProgramsTest, GrowingWithoutTruncateBlockRevealsBytesStoredPastEof) {
  for (const std::string& order : CorrectOrderNames()) {
    model::ExploreOptions o;
    o.runs = 3000;
    o.out_dir = OutDir();
    model::ExploreSummary clean =
        model::Explore({Make("fs_mmap_eof_extend", {{"order", order}})}, o);
    EXPECT_TRUE(clean.findings.empty()) << order << ": " << clean.findings[0].finding.report;
    model::Target buggy = Make("fs_mmap_eof_extend",
                               {{"order", order}, {"bug", "cont_expand_without_truncate_block"}});
    model::ExploreSummary s = model::Explore({buggy}, o);
    ASSERT_FALSE(s.findings.empty()) << order;
    EXPECT_EQ(s.findings[0].finding.kind, sim::FindingKind::kDataMismatch);
    std::string error;
    auto trace = model::ReadTrace(s.findings[0].trace_path, &error);
    ASSERT_TRUE(trace.has_value()) << error;
    EXPECT_TRUE(model::Reproduce(*trace, buggy).reproduced());
  }
}

// The race detector on the model's lockless fields (races=on): i_size's
// writers, disk_i_size and page->private. The correct model has none
// (every fs scenario of the default suite, from the registry, under each
// correct order); a growing truncate without inode_lock races i_size.
TEST(FsProgramsTest, RacesOnFindsNoRaceInTheModelAndOneInTheUnlockedTruncate) {
  for (const std::string& order : CorrectOrderNames()) {
    std::vector<model::Target> targets;
    for (const Scenario& sc : Scenarios()) {
      if (sc.name.rfind("fs_", 0) != 0 || !sc.default_suite) continue;
      if (!sc.suite_orders.empty() &&
          std::find(sc.suite_orders.begin(), sc.suite_orders.end(), order) == sc.suite_orders.end()) {
        continue;
      }
      targets.push_back(Make(sc.name, {{"order", order}, {"races", "on"}}));
    }
    ASSERT_FALSE(targets.empty());
    model::ExploreOptions o;
    o.runs = 100;
    o.all = true;
    o.out_dir = OutDir();
    model::ExploreSummary clean = model::Explore(targets, o);
    EXPECT_TRUE(clean.findings.empty()) << order << ": " << clean.findings[0].finding.report;
  }
  model::Target buggy = Make("fs_truncate", {{"races", "on"}, {"bug", "setsize_grow_without_inode_lock"}});
  model::ExploreOptions o;
  o.runs = 200;
  o.all = true;
  o.out_dir = OutDir();
  model::ExploreSummary s = model::Explore({buggy}, o);
  bool race = false;
  for (const auto& f : s.findings) {
    if (f.finding.kind != sim::FindingKind::kDataRace) continue;
    race = true;
    EXPECT_NE(f.finding.report.find("inode->i_size"), std::string::npos) << f.finding.report;
    std::string error;
    auto trace = model::ReadTrace(f.trace_path, &error);
    ASSERT_TRUE(trace.has_value()) << error;
    EXPECT_TRUE(model::Reproduce(*trace, buggy).reproduced());
  }
  EXPECT_TRUE(race);
}

TEST(FsProgramsTest, BadFsConfigurationIsOneLine) {
  std::string error;
  EXPECT_FALSE(MakeTarget("fs_writers", {{"order", "sideways"}}, &error));
  EXPECT_EQ(error.rfind("config order=sideways: expected one of ", 0), 0u) << error;
  for (const OrderVariant& v : OrderVariants()) {
    EXPECT_NE(error.find(v.name), std::string::npos) << v.name;
  }
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_FALSE(MakeTarget("fs_writers", {{"bug", "nope"}}, &error));
  // The catalogue's names, from the registry (a flag added joins it):
  // whole names in catalogue order, as many as fit one line, then how
  // many more.
  const std::vector<std::string> names = BugNames();
  const std::string head =
      "config bug=nope: unknown ('fsim bugs' lists all " + std::to_string(names.size()) + "; known: ";
  ASSERT_EQ(error.rfind(head, 0), 0u) << error;
  EXPECT_LE(error.size(), model::kErrorLineMax);
  EXPECT_EQ(error, model::OneLine(error));  // nothing cut, nothing escaped
  std::string listed = error.substr(head.size(), error.size() - head.size() - 1);
  std::string expect;
  size_t shown = 0;
  while (shown < names.size() && listed.compare(expect.size() + (shown ? 2 : 0), names[shown].size(),
                                                names[shown]) == 0) {
    expect += (shown ? ", " : "") + names[shown];
    ++shown;
  }
  EXPECT_GT(shown, 0u);
  EXPECT_EQ(listed, expect + (shown < names.size()
                                  ? ", and " + std::to_string(names.size() - shown) + " more"
                                  : std::string()))
      << error;
  // A flag in code only the RFC's order runs, without that order, would
  // explore nothing of it: refused, saying what it needs.
  EXPECT_FALSE(MakeTarget("fs_writers", {{"bug", "rfc_writepage_blocking_extent_lock"}}, &error));
  EXPECT_EQ(error.rfind("config bug=rfc_writepage_blocking_extent_lock needs an extents-before-pages "
                        "order (order=",
                        0),
            0u)
      << error;
  EXPECT_NE(error.find("legacy"), std::string::npos) << error;
  EXPECT_TRUE(MakeTarget("fs_writers",
                         {{"order", "rfc"}, {"bug", "rfc_writepage_blocking_extent_lock"}}, &error))
      << error;
}

}  // namespace
}  // namespace fsim::scenarios
