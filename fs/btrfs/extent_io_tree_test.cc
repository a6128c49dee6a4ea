// Checks the extent io tree against btrfs's semantics: bits set and
// cleared on ranges split and merge states (never merging locked ones);
// set_extent_bit with exclusive bits stops at the first conflict;
// lock_extent gives overlapping ranges mutual exclusion under random
// schedules while holding its prefix as it waits; try_lock_extent rolls
// back; lockdep sees range locks (an inversion against a mutex is
// reported), a range unlocked by another fiber or handed off to I/O is no
// false report, and a fiber returning with a range locked is.
#include "fs/btrfs/extent_io_tree.h"

#include <gtest/gtest.h>

#include "sim/testing.h"

namespace fsim::fs {
namespace {

using sim::testing::NonPreemptive;
using sim::testing::RandomStrategy;
using sim::testing::RunFunctions;

const sim::LockClassKey kIoTreeKey{"btrfs_inode::io_tree"};

std::string All(const sim::RunResult& r) {
  std::string s;
  for (const auto& f : r.findings) s += f.signature + "\n";
  return s;
}

// Runs `body(tree)` in one fiber.
template <typename Body>
sim::RunResult InFiber(Body body) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<ExtentIoTree> tree;
  return RunFunctions(s, strategy, [&] {
    tree = std::make_unique<ExtentIoTree>(s, "io_tree", &kIoTreeKey);
    s.Spawn("t", [&] { body(*tree); });
  });
}

TEST(ExtentIoTreeTest, SetAndClearSplitAndMergeStates) {
  sim::RunResult r = InFiber([](ExtentIoTree& t) {
    t.SetExtentBit(0, 8191, kExtentDelalloc);
    t.SetExtentBit(4096, 12287, kExtentDirty);
    EXPECT_EQ(t.States(), (std::vector<ExtentState>{{0, 4095, kExtentDelalloc},
                                                    {4096, 8191, kExtentDelalloc | kExtentDirty},
                                                    {8192, 12287, kExtentDirty}}));
    t.ClearExtentBit(4096, 8191, kExtentDirty);
    t.ClearExtentBit(8192, 12287, kExtentDirty);
    EXPECT_EQ(t.States(), (std::vector<ExtentState>{{0, 8191, kExtentDelalloc}}));
    EXPECT_TRUE(t.TestRangeBit(0, 8191, kExtentDelalloc, true));
    EXPECT_FALSE(t.TestRangeBit(0, 8192, kExtentDelalloc, true));
    EXPECT_TRUE(t.TestRangeBit(8000, 9000, kExtentDelalloc, false));
    EXPECT_EQ(t.CountRangeBits(4000, 5000, kExtentDelalloc), 1001u);
    uint64_t fs = 0, fe = 0;
    ASSERT_TRUE(t.FindFirstExtentBit(100, kExtentDelalloc, &fs, &fe));
    EXPECT_EQ(fs, 100u);
    EXPECT_EQ(fe, 8191u);
    EXPECT_FALSE(t.FindFirstExtentBit(8192, kExtentDelalloc, &fs, &fe));
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(ExtentIoTreeTest, ExclusiveSetStopsAtTheFirstConflict) {
  InFiber([](ExtentIoTree& t) {
    t.SetExtentBit(8192, 12287, kExtentLocked);
    uint64_t failed = 0;
    EXPECT_FALSE(t.SetExtentBit(0, 16383, kExtentLocked, kExtentLocked, &failed));
    EXPECT_EQ(failed, 8192u);
    // The part below the conflict was set; locked states are not merged.
    EXPECT_EQ(t.States(), (std::vector<ExtentState>{{0, 8191, kExtentLocked},
                                                    {8192, 12287, kExtentLocked}}));
  });
}

TEST(ExtentIoTreeTest, TryLockRollsBackAndLeavesNothingLocked) {
  sim::RunResult r = InFiber([](ExtentIoTree& t) {
    t.SetExtentBit(4096, 8191, kExtentLocked);  // someone else's lock
    EXPECT_FALSE(t.TryLockExtent(0, 16383));
    EXPECT_EQ(t.States(), (std::vector<ExtentState>{{4096, 8191, kExtentLocked}}));
    t.ClearExtentBit(4096, 8191, kExtentLocked);
    EXPECT_TRUE(t.TryLockExtent(0, 16383));
    t.UnlockExtent(0, 16383);
    EXPECT_TRUE(t.States().empty());
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

// RFC patch 06's btrfs_setsize range when the file shrinks: insert_state's
// WARN, and nothing is locked (a later lock of a covered range succeeds).
TEST(ExtentIoTreeTest, AnInvertedRangeIsInsertStatesWarnAndLocksNothing) {
  sim::RunResult r = InFiber([](ExtentIoTree& t) {
    t.LockExtent(16384, 4095);
    EXPECT_TRUE(t.States().empty());
    EXPECT_TRUE(t.TryLockExtent(8192, 12287));
    t.UnlockExtent(8192, 12287);
    t.UnlockExtent(16384, 4095);
  });
  EXPECT_EQ(All(r), "warn:insert_state_end_before_start:io_tree\n");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_NE(r.findings[0].report.find("insert state: end < start 4095 16384"), std::string::npos)
      << r.findings[0].report;
}

TEST(ExtentIoTreeTest, OverlappingRangesExcludeEachOtherUnderRandomSchedules) {
  int max_overlap = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    sim::Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<ExtentIoTree> tree;
    std::vector<std::pair<uint64_t, uint64_t>> inside;
    sim::RunOptions o;
    o.seed = seed;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      tree = std::make_unique<ExtentIoTree>(s, "io_tree", &kIoTreeKey);
      const std::pair<uint64_t, uint64_t> ranges[] = {{0, 8191}, {4096, 12287}, {12288, 16383}};
      for (auto [lo, hi] : ranges) {
        s.Spawn("locker", [&, lo, hi] {
          tree->LockExtent(lo, hi);
          for (auto [a, b] : inside) EXPECT_TRUE(b < lo || hi < a) << "ranges overlap";
          inside.push_back({lo, hi});
          max_overlap = std::max<int>(max_overlap, static_cast<int>(inside.size()));
          s.Yield("holding");
          inside.erase(std::find(inside.begin(), inside.end(), std::make_pair(lo, hi)));
          tree->UnlockExtent(lo, hi);
        });
      }
    }, [] {}, o);
    ASSERT_TRUE(r.findings.empty()) << All(r);
    ASSERT_TRUE(tree->States().empty());
  }
  EXPECT_GE(max_overlap, 2);  // disjoint ranges were held together
}

TEST(ExtentIoTreeTest, LockExtentHoldsItsPrefixWhileItWaits) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<ExtentIoTree> tree;
  std::vector<ExtentState> seen;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    tree = std::make_unique<ExtentIoTree>(s, "io_tree", &kIoTreeKey);
    s.Spawn("holder", [&] {
      tree->LockExtent(4096, 8191);
      s.SleepFor(100);  // the waiter runs meanwhile
      seen = tree->States();
      tree->UnlockExtent(4096, 8191);
    });
    s.Spawn("waiter", [&] {
      tree->LockExtent(0, 12287);
      tree->UnlockExtent(0, 12287);
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(seen, (std::vector<ExtentState>{{0, 4095, kExtentLocked}, {4096, 8191, kExtentLocked}}));
}

TEST(ExtentIoTreeTest, LockdepSeesRangeLocksInversions) {
  // "Extents before pages" in one place, "pages before extents" in
  // another: the RFC's central hazard, here with a mutex standing in for
  // the page lock.
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<ExtentIoTree> tree;
  std::unique_ptr<sim::Mutex> page;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    tree = std::make_unique<ExtentIoTree>(s, "io_tree", &kIoTreeKey);
    page = std::make_unique<sim::Mutex>(s, "PG_locked");
    s.Spawn("buffered_write", [&] {
      tree->LockExtent(0, 4095);
      page->Lock();
      page->Unlock();
      tree->UnlockExtent(0, 4095);
    });
    s.Spawn("writepage", [&] {
      page->Lock();
      tree->LockExtent(0, 4095);
      tree->UnlockExtent(0, 4095);
      page->Unlock();
    });
  });
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.findings[0].signature, "lock_order:PG_locked->btrfs_inode::io_tree->PG_locked");
}

// A fiber waiting in lock_extent does not own the range yet: another
// fiber's unlock of an overlapping range must not take the waiter's lock
// off its lockdep stack (it did: the waiter then held the range unseen,
// and the inversion below went unreported).
TEST(ExtentIoTreeTest, AnotherFibersUnlockDoesNotEndAWaitersLock) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<ExtentIoTree> tree;
  std::unique_ptr<sim::Mutex> page;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    tree = std::make_unique<ExtentIoTree>(s, "io_tree", &kIoTreeKey);
    page = std::make_unique<sim::Mutex>(s, "PG_locked");
    s.Spawn("writer", [&] {
      tree->LockExtent(0, 12287);
      s.SleepFor(10);  // the flusher starts waiting for [0, 4095]
      tree->UnlockExtent(0, 12287);
    });
    s.Spawn("flusher", [&] {
      tree->LockExtent(0, 4095);
      page->Lock();  // extents, then the page
      page->Unlock();
      tree->UnlockExtent(0, 4095);
    });
    s.Spawn("writepage", [&] {
      s.SleepFor(100);
      page->Lock();  // the page, then extents
      tree->LockExtent(0, 4095);
      tree->UnlockExtent(0, 4095);
      page->Unlock();
    });
  });
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.findings[0].signature, "lock_order:PG_locked->btrfs_inode::io_tree->PG_locked");
}

TEST(ExtentIoTreeTest, UnlockByAnotherContextIsNoFalseReport) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<ExtentIoTree> tree;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    tree = std::make_unique<ExtentIoTree>(s, "io_tree", &kIoTreeKey);
    s.Spawn("readpage", [&] {
      tree->LockExtent(0, 4095);
      tree->HandOff(0, 4095);  // submitted: read completion unlocks
      s.AddTimer(s.now_ns() + 10, "end_bio_extent_readpage",
                 [&] { tree->UnlockExtent(0, 4095); });
    });
    s.Spawn("worker", [&] {
      tree->LockExtent(8192, 12287);  // unlocked by an async worker below
      s.Spawn("async_cow", [&] { tree->UnlockExtent(8192, 12287); });
      s.SleepFor(100);
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(tree->States().empty());
}

TEST(ExtentIoTreeTest, ReturningWithARangeLockedOrUnlockingAnUnlockedRangeIsMisuse) {
  sim::RunResult held = InFiber([](ExtentIoTree& t) { t.LockExtent(0, 4095); });
  EXPECT_NE(All(held).find("lock_misuse:held_at_exit:btrfs_inode::io_tree"), std::string::npos)
      << All(held);
  sim::RunResult unheld = InFiber([](ExtentIoTree& t) { t.UnlockExtent(0, 4095); });
  EXPECT_NE(All(unheld).find("lock_misuse:unlock_extent_unlocked:io_tree"), std::string::npos)
      << All(unheld);
}

TEST(ExtentIoTreeTest, RangesReachingTheEndOfTheAddressSpace) {
  sim::RunResult r = InFiber([](ExtentIoTree& t) {
    t.LockExtent(4096, UINT64_MAX);  // truncate locks to (u64)-1
    EXPECT_TRUE(t.TestRangeBit(4096, UINT64_MAX, kExtentLocked, true));
    t.UnlockExtent(4096, UINT64_MAX);
    EXPECT_TRUE(t.States().empty());
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

}  // namespace
}  // namespace fsim::fs
