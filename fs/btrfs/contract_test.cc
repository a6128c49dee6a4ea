// The contracts of single btrfs/iomap functions of the model, each in both
// lock orders where the order matters: readahead, releasepage,
// invalidatepage (whole and partial page), and truncate's promise about
// what lies past the new size. Schedules are non-preemptive: these are
// statements about one call, not about races (the explorers own those).
#include <gtest/gtest.h>

#include <algorithm>

#include "fs/btrfs/inode.h"
#include "sim/memory.h"
#include "sim/testing.h"

namespace fsim::fs {
namespace {

using sim::testing::NonPreemptive;
using sim::testing::RunFunctions;

std::string All(const sim::RunResult& r) {
  std::string s;
  for (const auto& f : r.findings) s += f.signature + "\n";
  return s;
}

// One disk, plenty of memory, the filesystem and inode 257.
struct World {
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<BtrfsFs> fs;
  std::unique_ptr<BtrfsInode> inode;

  void Build(sim::Scheduler& s, LockOrder order) {
    FsConfig config;
    config.order = order;
    Build(s, config, 3);  // DeviceConfig's default
  }
  void Build(sim::Scheduler& s, FsConfig config, uint32_t latency_choices) {
    sim::MemoryConfig m;
    m.budget_pages = 256;
    sim::Memory::Of(s).Configure(m);
    sim::DeviceConfig d;
    d.name = "vda";
    d.capacity_sectors = 16384;
    d.latency_choices = latency_choices;
    array = std::make_unique<sim::BlockArray>(s, std::vector<sim::DeviceConfig>{d});
    fs = std::make_unique<BtrfsFs>(s, *array, config);
    inode = std::make_unique<BtrfsInode>(*fs, 257);
  }
};

std::vector<uint8_t> Pattern(uint64_t len) {
  std::vector<uint8_t> v(len);
  for (uint64_t i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(i * 13 + 1);
  return v;
}

class ContractTest : public ::testing::TestWithParam<LockOrder> {};

INSTANTIATE_TEST_SUITE_P(BothOrders, ContractTest,
                         ::testing::Values(LockOrder::kLegacy, LockOrder::kRfc),
                         [](const auto& info) {
                           return info.param == LockOrder::kLegacy ? "legacy" : "rfc";
                         });

// Readahead sizes its windows as v5.13's ondemand_readahead(): a read of
// one byte at the start of an uncached file brings in the initial window
// (get_init_ra_size(1, 32): 4 pages) with the lookahead mark on page 1;
// the read that reaches the mark starts the next window (8 pages, cut at
// EOF) while the first is still there, and clears the mark. Every page
// read comes from disk.
TEST_P(ContractTest, ReadaheadWindowsGrowFromTheLookaheadMark) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  const std::vector<uint8_t> want = Pattern(10 * kPageSize);
  std::vector<uint8_t> first, second;
  uint64_t cached_first = 0, cached_second = 0, uptodate = 0;
  bool marked_first = false, marked_second = true;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      w.inode->BufferedWrite(0, want);
      ASSERT_EQ(w.inode->Fsync(), 0);
      w.inode->mapping().TruncateInodePagesRange(0, kLEndMax);  // drop_caches
      first = w.inode->Read(0, 1);
      cached_first = w.inode->mapping().nrpages();
      marked_first = PageReadahead(*w.inode->mapping().Peek(1));
      second = w.inode->Read(kPageSize + 5, 1);
      marked_second = PageReadahead(*w.inode->mapping().Peek(1));
      // The second window's reads may still be in flight: wait for them.
      for (uint64_t i = 0; i < 10; ++i) {
        Page* page = w.inode->mapping().Peek(i);
        if (page == nullptr) continue;
        ++cached_second;
        GetPage(*page);
        WaitOnPageLocked(*page);
        if (PageUptodate(*page) &&
            std::equal(page->data.begin(), page->data.end(), want.begin() + i * kPageSize)) {
          ++uptodate;
        }
        PutPage(*page);
      }
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], want[0]);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0], want[kPageSize + 5]);
  EXPECT_EQ(cached_first, 4u);
  EXPECT_TRUE(marked_first);
  EXPECT_FALSE(marked_second);
  EXPECT_EQ(cached_second, 10u);
  EXPECT_EQ(uptodate, 10u);
  EXPECT_EQ(w.inode->ra().start, 4u);
  EXPECT_EQ(w.inode->ra().size, 8u);
}

// A small read in the middle of a file with nothing cached before it is
// random: only the pages asked for are read, and the window is left alone.
TEST_P(ContractTest, ReadaheadOfARandomReadIsTheRequestOnly) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  const std::vector<uint8_t> want = Pattern(10 * kPageSize);
  std::vector<uint8_t> got;
  uint64_t cached = 0;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      w.inode->BufferedWrite(0, want);
      ASSERT_EQ(w.inode->Fsync(), 0);
      w.inode->mapping().TruncateInodePagesRange(0, kLEndMax);
      got = w.inode->Read(6 * kPageSize + 1, 2);
      cached = w.inode->mapping().nrpages();
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(got, std::vector<uint8_t>(want.begin() + 6 * kPageSize + 1, want.begin() + 6 * kPageSize + 3));
  EXPECT_EQ(cached, 1u);
  EXPECT_EQ(w.inode->ra().size, 0u);
}

// Under extents-before-pages, readahead (handed locked pages) cannot wait
// for the range: with the range held elsewhere it leaves the pages
// !uptodate and unlocked, and the read fills them under its own locks.
TEST(ContractRfcTest, ReadaheadGivesUpOnALockedRangeAndTheReadStillReturnsTheData) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  const std::vector<uint8_t> want = Pattern(2 * kPageSize);
  std::vector<uint8_t> got;
  bool uptodate_after_readahead = true, locked_after_readahead = true;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, LockOrder::kRfc);
    s.Spawn("app", [&] {
      w.inode->BufferedWrite(0, want);
      ASSERT_EQ(w.inode->Fsync(), 0);
      w.inode->mapping().TruncateInodePagesRange(0, kLEndMax);
      w.inode->io_tree().LockExtent(0, 2 * kPageSize - 1);
      std::vector<Page*> pages;
      for (uint64_t i = 0; i < 2; ++i) {
        Page* page = w.inode->mapping().FindOrCreatePage(i, sim::kGfpNoFs);
        SetPageExtentMapped(*page);
        pages.push_back(page);
      }
      w.inode->Readahead(pages);
      Page* page = w.inode->mapping().Peek(0);
      ASSERT_NE(page, nullptr);
      uptodate_after_readahead = PageUptodate(*page);
      locked_after_readahead = PageLocked(*page);
      w.inode->io_tree().UnlockExtent(0, 2 * kPageSize - 1);
      got = w.inode->Read(0, want.size());
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_FALSE(uptodate_after_readahead);
  EXPECT_FALSE(locked_after_readahead);
  EXPECT_EQ(got, want);
}

// releasepage: a clean page's private state goes, unless its range is
// locked (legacy: the LOCKED bit; RFC: try_lock_extent fails); a dirty
// page is never released. Released, the page's range loses its io_tree
// bits but LOCKED, NODATASUM and DELALLOC_NEW (try_release_extent_state);
// the next page's range keeps its own.
TEST_P(ContractTest, ReleasepageRefusesDirtyPagesAndLockedRanges) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  bool dirty_released = true, locked_released = true, clean_released = false;
  bool private_after = true;
  bool bit_kept_when_refused = false, bit_after = true, next_bit_after = false;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      w.inode->BufferedWrite(0, Pattern(kPageSize));
      Page* page = w.inode->mapping().FindLockPage(0);
      ASSERT_NE(page, nullptr);
      ASSERT_TRUE(PagePrivate(*page));
      dirty_released = w.inode->Releasepage(*page, sim::kGfpNoFs);
      UnlockPage(*page);
      ASSERT_EQ(w.inode->Fsync(), 0);  // now clean
      LockPage(*page);
      ExtentIoTree& tree = w.inode->io_tree();
      tree.SetExtentBit(0, 2 * kPageSize - 1, kExtentDefrag);
      tree.LockExtent(0, kPageSize - 1);
      locked_released = w.inode->Releasepage(*page, sim::kGfpNoFs);
      tree.UnlockExtent(0, kPageSize - 1);
      bit_kept_when_refused = tree.TestRangeBit(0, kPageSize - 1, kExtentDefrag, true);
      clean_released = w.inode->Releasepage(*page, sim::kGfpNoFs);
      private_after = PagePrivate(*page);
      bit_after = tree.TestRangeBit(0, kPageSize - 1, kExtentDefrag, false);
      next_bit_after = tree.TestRangeBit(kPageSize, 2 * kPageSize - 1, kExtentDefrag, true);
      tree.ClearExtentBit(kPageSize, 2 * kPageSize - 1, kExtentDefrag);
      UnlockPage(*page);
      PutPage(*page);
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_FALSE(dirty_released);
  EXPECT_FALSE(locked_released);
  EXPECT_TRUE(clean_released);
  EXPECT_FALSE(private_after);
  EXPECT_TRUE(bit_kept_when_refused);
  EXPECT_FALSE(bit_after);
  EXPECT_TRUE(next_bit_after);
}

// invalidatepage of part of a dirty page (truncate's partial page) keeps
// the page's state; of the whole page, clears its delalloc and releases
// its private state.
TEST_P(ContractTest, InvalidatepageOfAPartialPageKeepsItOfAWholePageReleasesIt) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  bool private_after_partial = false, private_after_whole = true;
  bool delalloc_before = false, delalloc_after = true;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      w.inode->BufferedWrite(0, Pattern(kPageSize));
      Page* page = w.inode->mapping().FindLockPage(0);
      ASSERT_NE(page, nullptr);
      delalloc_before = w.inode->io_tree().TestRangeBit(0, kPageSize - 1, kExtentDelalloc, true);
      w.inode->Invalidatepage(*page, 100, kPageSize - 100);
      private_after_partial = PagePrivate(*page);
      w.inode->Invalidatepage(*page, 0, kPageSize);
      private_after_whole = PagePrivate(*page);
      delalloc_after = w.inode->io_tree().TestRangeBit(0, kPageSize - 1, kExtentDelalloc, false);
      // As truncate_cleanup_page() would go on: the dirty bit is cancelled
      // and the page leaves the cache.
      CancelDirtyPage(*page);
      w.inode->mapping().DeleteFromPageCache(*page);
      UnlockPage(*page);
      PutPage(*page);
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(delalloc_before);
  EXPECT_TRUE(private_after_partial);
  EXPECT_FALSE(private_after_whole);
  EXPECT_FALSE(delalloc_after);
}

// truncate: past the new size nothing survives, in the page cache or on
// disk: growing the file again reads zeroes there, cached or not, and the
// partial page keeps its head.
TEST_P(ContractTest, TruncateDownThenUpReadsZeroesPastTheCutFromCacheAndDisk) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  const uint64_t cut = kPageSize + 1000;
  std::vector<uint8_t> want = Pattern(3 * kPageSize);
  std::fill(want.begin() + cut, want.end(), 0);
  std::vector<uint8_t> cached, from_disk;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      w.inode->BufferedWrite(0, Pattern(3 * kPageSize));
      ASSERT_EQ(w.inode->Fsync(), 0);  // the old data is on disk
      w.inode->Truncate(cut);
      w.inode->Truncate(3 * kPageSize);
      cached = w.inode->Read(0, 3 * kPageSize);
      ASSERT_EQ(w.inode->Fsync(), 0);
      w.inode->mapping().TruncateInodePagesRange(0, kLEndMax);
      from_disk = w.inode->Read(0, 3 * kPageSize);
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(cached, want);
  EXPECT_EQ(from_disk, want);
}

// truncate waits for writeback of the pages it drops: none is left under
// writeback, dirty or cached past the new size when it returns.
TEST_P(ContractTest, TruncateLeavesNothingCachedPastTheNewSize) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  uint64_t past = 99;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      w.inode->BufferedWrite(0, Pattern(4 * kPageSize));
      w.inode->WritebackAll();  // pages under writeback as truncate starts
      w.inode->Truncate(kPageSize);
      past = 0;
      for (uint64_t i = 1; i < 4; ++i) past += w.inode->mapping().Peek(i) != nullptr;
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(past, 0u);
}

// The mistake bug=writeback_past_eof_after_truncate (iomap writes a page
// truncate moved wholly past i_size instead of redirtying it) is not
// load-bearing for btrfs, in the model as in the kernel: the page is under
// writeback, so truncate_inode_pages waits for it; btrfs_truncate then
// waits for its ordered extent (btrfs_wait_ordered_range from the new
// size) and only then drops the file extent items past the new size. So
// the bytes written past EOF never become visible. This pins that safety
// net: over many random schedules the mistake does happen, and every run
// still reads zeroes past the cut after the file grows again.
TEST(ContractLegacyTest, BtrfsTruncateCoversWritebackPastEofByWaitingOrderedExtents) {
  uint64_t written_past_eof = 0;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    sim::Scheduler s;
    sim::testing::RandomStrategy strategy;
    World w;
    std::vector<uint8_t> got;
    sim::RunOptions options;
    options.seed = seed;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.bug_writeback_past_eof_after_truncate = true;
      w.Build(s, config, 2);
      BtrfsInode* inode = w.inode.get();
      auto written = std::make_shared<sim::Completion>(s, "written");
      s.Spawn("writer", [inode, written] {
        inode->BufferedWrite(0, Pattern(4 * kPageSize));
        written->CompleteAll();
      });
      s.Spawn("flusher", [inode, written] {
        // The write dirties its four pages at once (one batch): writeback
        // races the truncate, not the write.
        written->Wait();
        for (int i = 0; i < 3; ++i) inode->WritebackAll();
      });
      s.Spawn("truncate", [&got, inode, written] {
        written->Wait();
        inode->Truncate(kPageSize);
        inode->Truncate(4 * kPageSize);
        ASSERT_EQ(inode->Fsync(), 0);
        inode->mapping().TruncateInodePagesRange(0, kLEndMax);
        got = inode->Read(0, 4 * kPageSize);
      });
    }, [] {}, options);
    ASSERT_TRUE(r.findings.empty()) << "seed " << seed << ": " << All(r);
    ASSERT_EQ(got.size(), 4 * kPageSize) << "seed " << seed;
    for (uint64_t i = kPageSize; i < got.size(); ++i) {
      ASSERT_EQ(got[i], 0) << "seed " << seed << " offset " << i;
    }
    written_past_eof += w.inode->pages_written_past_eof();
  }
  EXPECT_GT(written_past_eof, 0u);  // the mistake was made, and covered
}


// An ordered extent that writeback allocated over four dirty pages, of
// which only the first was written before truncate dropped the other
// three: btrfs_invalidatepage accounts for each page it drops
// (PG_private_2, btrfs_dec_test_ordered_pending), so the extent finishes
// (its bytes_left reaches zero through one write and three invalidations)
// and the file keeps exactly the written page. Without the accounting (the
// injected mistake) the extent never finishes and truncate waits for it
// forever. (The item's truncated_len is not what trims it here:
// btrfs_truncate drops the items past the new size once the extent is
// done.) Legacy order: the RFC's truncate waits for ordered extents
// before it invalidates.
TEST(ContractLegacyTest, AnOrderedExtentCutByInvalidatepageFinishesWithTheTruncatedLength) {
  for (bool mistake : {false, true}) {
    sim::Scheduler s;
    NonPreemptive strategy;
    World w;
    std::vector<uint8_t> got;
    uint64_t item_bytes = 0, items = 0;
    bool pending_after = true;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.bug_invalidatepage_no_ordered_accounting = mistake;
      w.Build(s, config, 1);
      BtrfsInode* inode = w.inode.get();
      s.Spawn("app", [&, inode] {
        inode->BufferedWrite(0, Pattern(4 * kPageSize));
        // A pass that writes the first page of the run only.
        IomapWritepageCtx wpc(s, *inode);
        wpc.whole_pass = true;
        WritebackControl wbc;
        wbc.nr_to_write = 4;
        Page* first = inode->mapping().FindLockPage(0);
        ASSERT_NE(first, nullptr);
        ASSERT_TRUE(ClearPageDirtyForIo(*first));
        ASSERT_EQ(wpc.DoWritepage(*first, wbc, inode->i_size()), 0);
        PutPage(*first);
        OrderedExtent* oe = inode->ordered().Lookup(0);
        ASSERT_NE(oe, nullptr);
        EXPECT_EQ(oe->num_bytes, 4 * kPageSize);  // the whole dirty run
        inode->ordered().Put(oe);
        wpc.SubmitPending();
        inode->Truncate(kPageSize);  // drops pages 1-3, never written
        ASSERT_EQ(inode->Fsync(), 0);
        pending_after = !inode->ordered().Pending().empty();
        for (const auto& [off, item] : w.fs->log().state().extents.at(257)) {
          ++items;
          item_bytes += item.num_bytes;
        }
        inode->mapping().TruncateInodePagesRange(0, kLEndMax);
        got = inode->Read(0, 4 * kPageSize);
      });
    });
    if (mistake) {
      // truncate waits for the extent, which waits for three pages nobody
      // will write: the run ends in a hang.
      ASSERT_FALSE(r.findings.empty());
      EXPECT_EQ(r.findings[0].kind, sim::FindingKind::kDeadlock) << All(r);
      continue;
    }
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_FALSE(pending_after);
    EXPECT_EQ(items, 1u);
    EXPECT_EQ(item_bytes, kPageSize);  // the first page only
    const std::vector<uint8_t> want = Pattern(4 * kPageSize);
    ASSERT_EQ(got.size(), kPageSize);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin()));
  }
}


// Data space reservations (bytes_may_use): each delalloc byte holds one.
// A write reserves, an overwrite of delalloc keeps one per byte, the
// allocation at writeback takes them over, and truncate, punch and mmap
// stores give back or take what they drop or dirty: after writeback and
// unmount nothing is reserved. With EXTENT_DO_ACCOUNTING left out of
// invalidatepage's clear, the truncated pages' reservation leaks, which
// is the unmount WARN.
TEST_P(ContractTest, DataReservationsFollowDelallocBytesAndNoneIsLeftAtUnmount) {
  for (bool mistake : {false, true}) {
    SCOPED_TRACE(mistake ? "bug_invalidatepage_keeps_data_reservation" : "correct");
    sim::Scheduler s;
    NonPreemptive strategy;
    World w;
    uint64_t after_write = 0, after_overwrite = 0, after_truncate = 0, after_writeback = 0;
    uint64_t after_mkwrite = 0, after_punch = 0, at_unmount = 0, delalloc_after_write = 0;
    std::string unmount;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.order = GetParam();
      config.bug_invalidatepage_keeps_data_reservation = mistake;
      w.Build(s, config, 3);
      s.Spawn("app", [&] {
        BtrfsInode& inode = *w.inode;
        inode.BufferedWrite(0, Pattern(4 * kPageSize));
        after_write = w.fs->bytes_may_use();
        delalloc_after_write = inode.delalloc_bytes();
        inode.BufferedWrite(100, Pattern(2 * kPageSize));  // pages 0-2 again
        after_overwrite = w.fs->bytes_may_use();
        inode.Truncate(2 * kPageSize);  // pages 2-3 dropped unwritten
        after_truncate = w.fs->bytes_may_use();
        inode.WritebackAll();
        ASSERT_EQ(inode.Fsync(), 0);
        after_writeback = w.fs->bytes_may_use();
        inode.MmapWrite(10, {1, 2, 3});
        after_mkwrite = w.fs->bytes_may_use();
        inode.PunchHole(0, 2 * kPageSize);
        after_punch = w.fs->bytes_may_use();
        inode.EvictAtUnmount();
        at_unmount = w.fs->bytes_may_use();
        unmount = w.fs->CheckUnmount();
      });
    });
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(after_write, 4 * kPageSize);
    EXPECT_EQ(delalloc_after_write, 4 * kPageSize);
    EXPECT_EQ(after_overwrite, 4 * kPageSize);
    EXPECT_EQ(after_writeback, mistake ? 2 * kPageSize : 0);
    EXPECT_EQ(after_truncate, mistake ? 4 * kPageSize : 2 * kPageSize);
    EXPECT_EQ(after_mkwrite, after_writeback + kPageSize);
    EXPECT_EQ(after_punch, after_writeback);
    EXPECT_EQ(at_unmount, after_writeback);
    EXPECT_EQ(unmount.empty(), !mistake) << unmount;
  }
}


// A store through mmap faults once (btrfs_page_mkwrite dirties the page,
// sets its delalloc range, and the PTE maps it writable); the stores
// after it go straight to the page. Writeback's clear_page_dirty_for_io
// write-protects the page (page_mkclean), so the next store faults again
// and dirties it again: no store is left on a clean page, where
// writeback would never see it. Truncation unmaps a page before it
// leaves the cache.
TEST_P(ContractTest, MmapStoresFaultAgainOnlyAfterWritebackCleansThePage) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      BtrfsInode& inode = *w.inode;
      AddressSpace& mapping = inode.mapping();
      inode.BufferedWrite(0, Pattern(2 * kPageSize));
      ASSERT_EQ(inode.Fsync(), 0);
      ASSERT_EQ(mapping.WritablePte(0), nullptr);
      EXPECT_EQ(inode.MmapWrite(10, {1, 2, 3}), 3u);  // faults
      Page* page = mapping.WritablePte(0);
      ASSERT_NE(page, nullptr);
      EXPECT_TRUE(PageDirty(*page));
      EXPECT_EQ(inode.delalloc_bytes(), kPageSize);
      EXPECT_EQ(page->refcount(), 3);  // the cache's, PG_private's, the PTE's
      EXPECT_EQ(inode.MmapWrite(20, {4}), 1u);  // no fault: the same PTE
      EXPECT_EQ(mapping.WritablePte(0), page);
      EXPECT_EQ(page->data[20], 4);
      ASSERT_EQ(inode.Fsync(), 0);  // cleaned for writeback: write-protected
      EXPECT_EQ(mapping.WritablePte(0), nullptr);
      EXPECT_FALSE(PageDirty(*page));
      EXPECT_EQ(inode.delalloc_bytes(), 0u);
      EXPECT_EQ(inode.MmapWrite(30, {5}), 1u);  // faults again
      EXPECT_EQ(mapping.WritablePte(0), page);
      EXPECT_TRUE(PageDirty(*page));
      EXPECT_EQ(inode.delalloc_bytes(), kPageSize);
      EXPECT_EQ(inode.MmapWrite(kPageSize + 7, {6}), 1u);  // page 1 too
      ASSERT_NE(mapping.WritablePte(1), nullptr);
      inode.Truncate(kPageSize);  // page 1 unmapped, then removed
      EXPECT_EQ(mapping.WritablePte(1), nullptr);
      EXPECT_EQ(mapping.Peek(1), nullptr);
      EXPECT_EQ(mapping.WritablePte(0), page);  // the page holding EOF stays mapped
      ASSERT_EQ(inode.Fsync(), 0);
      EXPECT_EQ(mapping.WritablePte(0), nullptr);
      EXPECT_EQ(page->data[10], 1);
      EXPECT_EQ(page->data[20], 4);
      EXPECT_EQ(page->data[30], 5);
      inode.EvictAtUnmount();
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

// The superblock shrinker evicts an inode nobody holds once its pages
// are clean and settled: its page cache goes, and a read brings the data
// back from disk with the size the inode item holds. It does nothing
// without __GFP_FS, and never to an inode in use.
TEST_P(ContractTest, ReclaimEvictsAnIdleCleanInodeAndReadsItBackFromDisk) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  const std::vector<uint8_t> want = Pattern(3 * kPageSize + 100);
  uint64_t after_nofs = 0, after_held = 0, after_kernel = 0, cached_after = 1, size_after = 0;
  std::vector<uint8_t> got;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, GetParam());
    s.Spawn("app", [&] {
      BtrfsInode& inode = *w.inode;
      inode.Igrab();
      inode.BufferedWrite(0, want);
      ASSERT_EQ(inode.Fsync(), 0);
      sim::Memory& memory = sim::Memory::Of(s);
      memory.Reclaim(1000, sim::kGfpNoFs, /*kswapd=*/false);
      after_nofs = inode.evictions();
      memory.Reclaim(1000, sim::kGfpKernel, /*kswapd=*/false);  // held: not evicted
      after_held = inode.evictions();
      inode.Iput();
      memory.Reclaim(1000, sim::kGfpKernel, /*kswapd=*/false);
      after_kernel = inode.evictions();
      cached_after = inode.mapping().nrpages();
      size_after = inode.i_size();
      inode.Igrab();
      got = inode.Read(0, want.size());
      inode.Iput();
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(after_nofs, 0u);
  EXPECT_EQ(after_held, 0u);
  EXPECT_EQ(after_kernel, 1u);
  EXPECT_EQ(cached_after, 0u);
  EXPECT_EQ(size_after, want.size());
  EXPECT_EQ(got, want);
}

// Eviction locks io_tree ranges under fs_reclaim (legacy's invalidatepage
// takes each page's range; evict_inode_truncate_pages() each range left),
// so an allocation that may enter the filesystem (GFP_KERNEL) made while
// holding an extent range is the inversion lockdep reports, even though
// no run deadlocks. (Under the RFC invalidatepage takes no extent lock and
// a settled clean inode has no io_tree state left, so evicting one
// teaches lockdep nothing.)
TEST(ContractLegacyTest, AGfpKernelAllocationUnderTheExtentLockIsAFsReclaimInversion) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    w.Build(s, LockOrder::kLegacy);
    s.Spawn("app", [&] {
      BtrfsInode& inode = *w.inode;
      inode.BufferedWrite(0, Pattern(2 * kPageSize));
      ASSERT_EQ(inode.Fsync(), 0);
      sim::Memory& memory = sim::Memory::Of(s);
      memory.Reclaim(1000, sim::kGfpKernel, /*kswapd=*/false);  // evicts: fs_reclaim -> io_tree
      inode.Igrab();
      inode.io_tree().LockExtent(0, kPageSize - 1);
      if (memory.AllocPages(1, sim::kGfpKernel)) memory.FreePages(1);  // io_tree -> fs_reclaim
      inode.io_tree().UnlockExtent(0, kPageSize - 1);
      inode.Iput();
    });
  });
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].kind, sim::FindingKind::kLockOrder) << All(r);
  EXPECT_NE(r.findings[0].signature.find("fs_reclaim"), std::string::npos) << All(r);
}

}  // namespace
}  // namespace fsim::fs
