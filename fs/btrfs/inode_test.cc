// Checks the first slice of the btrfs model in both lock orders, under
// many random schedules with memory pressure (kswapd writing pages back):
// concurrent buffered writers, a reader, the flusher and fsync produce no
// finding, every read and the final file are explained by a legal serial
// order (per-page, as Linux guarantees), and nothing is left dirty, locked
// or pending. The injected mistake (a blocking extent lock in writepage
// under the RFC's order) is reported as a lock-order inversion. Data made
// durable by fsync is what a mount of the device reads back.
#include "fs/btrfs/inode.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "model/file_model.h"
#include "sim/memory.h"
#include "sim/testing.h"

namespace fsim::fs {
namespace {

using sim::testing::RandomStrategy;
using sim::testing::RunFunctions;

std::string All(const sim::RunResult& r) {
  std::string s;
  for (const auto& f : r.findings) s += f.signature + "\n";
  return s;
}

std::vector<sim::DeviceConfig> Disks() {
  sim::DeviceConfig d;
  d.name = "vda";
  d.capacity_sectors = 16384;  // 8 MiB
  d.max_sectors = 256;
  d.latency_choices = 2;
  return {d};
}

// Two disks of Disks()' geometry, vda and vdb: a RAID1 pair.
std::vector<sim::DeviceConfig> MirroredDisks() {
  std::vector<sim::DeviceConfig> disks = Disks();
  disks.push_back(disks[0]);
  disks[1].name = "vdb";
  return disks;
}

// Memory pressure: 12 pages.
sim::MemoryConfig SmallMemory() {
  sim::MemoryConfig m;
  m.budget_pages = 12;
  m.low_pages = 8;
  m.high_pages = 6;
  return m;
}

// Memory pressure, one disk, the filesystem and inode 257, for one run.
// REQUIRES: called from the run's `start`; the pointers are declared after
// the scheduler, so that they go first.
void BuildWorld(sim::Scheduler& s, FsConfig config, std::unique_ptr<sim::BlockArray>& array,
                std::unique_ptr<BtrfsFs>& fs, std::unique_ptr<BtrfsInode>& inode,
                const sim::MemoryConfig& memory = SmallMemory()) {
  sim::Memory::Of(s).Configure(memory);
  array = std::make_unique<sim::BlockArray>(s, Disks());
  fs = std::make_unique<BtrfsFs>(s, *array, config);
  inode = std::make_unique<BtrfsInode>(*fs, 257);
}

struct History {
  uint64_t clock = 0;
  std::vector<model::OpRecord> ops;
  void Add(const model::FileOp& op, uint64_t invoke, std::vector<uint8_t> result, std::string who) {
    model::RecordPerPage(ops, op, invoke, result, who, kPageSize, clock);
  }
};

model::FileOp WriteOp(uint64_t off, std::vector<uint8_t> data) {
  model::FileOp op;
  op.kind = model::FileOpKind::kWrite;
  op.offset = off;
  op.data = std::move(data);
  return op;
}

model::FileOp ReadOp(uint64_t off, uint64_t len) {
  model::FileOp op;
  op.kind = model::FileOpKind::kRead;
  op.offset = off;
  op.length = len;
  return op;
}

void RunWorkload(LockOrder order, uint64_t seeds) {
  for (uint64_t seed = 0; seed < seeds; ++seed) {
    sim::Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    History h;
    std::vector<uint8_t> final_bytes;
    sim::RunOptions o;
    o.seed = seed;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.order = order;
      BuildWorld(s, config, array, fs, inode);
      auto done = std::make_shared<sim::Completion>(s, "workers_done");
      auto writer = [&, done](std::string name, uint64_t off, uint64_t len, uint8_t byte) {
        s.Spawn(name, [&, done, name, off, len, byte] {
          std::vector<uint8_t> data(len, byte);
          uint64_t invoke = ++h.clock;
          inode->BufferedWrite(off, data);
          h.Add(WriteOp(off, data), invoke, {}, name);
          done->Complete();
        });
      };
      writer("writer_a", 1000, 6000, 0xaa);  // pages 0-1
      writer("writer_b", 3000, 6000, 0xbb);  // pages 0-2
      s.Spawn("reader", [&, done] {
        uint64_t invoke = ++h.clock;
        std::vector<uint8_t> got = inode->Read(0, 3 * kPageSize);
        h.Add(ReadOp(0, 3 * kPageSize), invoke, got, "reader");
        done->Complete();
      });
      s.Spawn("flusher", [&, done] {
        inode->WritebackAll();
        done->Complete();
      });
      s.Spawn("fsync", [&, done] {
        inode->Fsync();
        done->Complete();
      });
      s.Spawn("checker", [&, done] {
        for (int i = 0; i < 5; ++i) done->Wait();
        final_bytes = inode->Read(0, 1 << 20);
        inode->Fsync();
        EXPECT_TRUE(inode->ordered().Pending().empty());
        for (const std::string& v : inode->mapping().CheckInvariants(inode->i_size())) {
          ADD_FAILURE() << v;
        }
      });
    }, [&] {}, o);
    ASSERT_TRUE(r.findings.empty()) << "seed " << seed << ":\n" << All(r)
                                    << r.findings[0].report;
    model::FileState final_state{final_bytes};
    model::Linearization l = model::CheckLinearizable(model::FileState{}, h.ops, &final_state);
    ASSERT_TRUE(l.ok) << "seed " << seed << ": " << l.why;
  }
}

TEST(BtrfsInodeTest, LegacyOrderIsCorrectUnderRandomSchedulesAndPressure) {
  RunWorkload(LockOrder::kLegacy, 150);
}

TEST(BtrfsInodeTest, RfcOrderIsCorrectUnderRandomSchedulesAndPressure) {
  RunWorkload(LockOrder::kRfc, 150);
}

TEST(BtrfsInodeTest, RfcWritepageTakingABlockingExtentLockIsALockOrderInversion) {
  sim::Scheduler s;
  sim::testing::NonPreemptive strategy;
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<BtrfsFs> fs;
  std::unique_ptr<BtrfsInode> inode;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    FsConfig config;
    config.order = LockOrder::kRfc;
    config.bug_rfc_writepage_blocking_extent_lock = true;
    BuildWorld(s, config, array, fs, inode);
    s.Spawn("writer", [&] {
      inode->BufferedWrite(0, std::vector<uint8_t>(kPageSize, 1));  // creates the page
      inode->WritebackAll();  // lock_page, then a blocking lock_extent
      inode->BufferedWrite(0, std::vector<uint8_t>(kPageSize, 2));  // lock_extent, then lock_page
    });
  });
  EXPECT_EQ(All(r), "lock_order:&BTRFS_I(inode)->io_tree->PG_locked->&BTRFS_I(inode)->io_tree\n");
  // The same sequence with the best-effort lock is clean.
  sim::Scheduler s2;  // declared before the objects of its run: it outlives them
  std::unique_ptr<sim::BlockArray> array2;
  std::unique_ptr<BtrfsFs> fs2;
  std::unique_ptr<BtrfsInode> inode2;
  sim::RunResult ok = RunFunctions(s2, strategy, [&] {
    FsConfig config;
    config.order = LockOrder::kRfc;
    BuildWorld(s2, config, array2, fs2, inode2);
    s2.Spawn("writer", [&] {
      inode2->BufferedWrite(0, std::vector<uint8_t>(kPageSize, 1));
      inode2->WritebackAll();
      inode2->BufferedWrite(0, std::vector<uint8_t>(kPageSize, 2));
      EXPECT_EQ(inode2->Fsync(), 0);
    });
  });
  EXPECT_TRUE(ok.findings.empty()) << All(ok);
}

TEST(BtrfsInodeTest, DataReadBackFromDiskAfterThePageCacheIsDropped) {
  // Written, written back, the page cache dropped (as drop_caches): the
  // read goes to disk through the file extent items, and checksums match.
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    sim::Scheduler s;
    sim::testing::NonPreemptive strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    std::vector<uint8_t> got;
    std::vector<uint8_t> want(3 * kPageSize);
    for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<uint8_t>(i * 7);
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.order = order;
      BuildWorld(s, config, array, fs, inode);
      s.Spawn("app", [&] {
        inode->BufferedWrite(0, want);
        ASSERT_EQ(inode->Fsync(), 0);
        inode->mapping().TruncateInodePagesRange(0, kLEndMax);
        EXPECT_EQ(inode->mapping().nrpages(), 0u);
        got = inode->Read(0, want.size());
      });
    });
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(got, want);
  }
}

// A write whose writeback fails: v5.13 btrfs's own completion
// (end_extent_writepage, the legacy order) clears the pages' PG_uptodate,
// so a later read goes to the disk, which never got the data (a hole
// here); iomap's (iomap_finish_page_writeback, the RFC order) leaves them
// uptodate, and the cached bytes read back. Either way fsync reports the
// error (and its wait, __filemap_fdatawait_range, clears PG_error).
TEST(BtrfsInodeTest, AFailedWritebackLeavesPagesUptodateOnlyUnderIomap) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    sim::Scheduler s;
    sim::testing::NonPreemptive strategy;  // the first request fails
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    const std::vector<uint8_t> written(2 * kPageSize, 0x22);
    std::vector<uint8_t> got;
    int fsync_rc = 0;
    bool uptodate = false;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      sim::Memory::Of(s).Configure(SmallMemory());
      std::vector<sim::DeviceConfig> disks = Disks();
      disks[0].fault_io_error_once = true;
      array = std::make_unique<sim::BlockArray>(s, disks);
      FsConfig config;
      config.order = order;
      fs = std::make_unique<BtrfsFs>(s, *array, config);
      inode = std::make_unique<BtrfsInode>(*fs, 257);
      s.Spawn("app", [&] {
        inode->BufferedWrite(0, written);
        fsync_rc = inode->Fsync();
        if (Page* page = inode->mapping().FindGetPage(0)) {
          uptodate = PageUptodate(*page);
          PutPage(*page);
        }
        got = inode->Read(0, written.size());
      });
    });
    const char* name = order == LockOrder::kLegacy ? "legacy" : "rfc";
    EXPECT_EQ(fsync_rc, -kEio) << name;
    EXPECT_EQ(inode->write_failed_pages(), (std::set<uint64_t>{0, 1})) << name;
    if (order == LockOrder::kLegacy) {
      EXPECT_FALSE(uptodate);
      EXPECT_EQ(got, std::vector<uint8_t>(written.size(), 0)) << "read from the disk again";
    } else {
      EXPECT_TRUE(uptodate);
      EXPECT_EQ(got, written) << "the cached bytes";
    }
  }
}

// btrfs_buffered_write()'s page array holds nrptrs pages: the write's, at
// most what the task may still dirty before it balances
// (nr_dirtied_pause, 32 pages for a new task), at least 8. A 64-page write
// in 48 pages of memory therefore locks 32 pages, then 32 more after
// balance_dirty_pages(): it fits. Locking all 64 at once (the 512-page
// array's limit) would exhaust the budget: page_allocation_failure.
TEST(BtrfsInodeTest, ALegacyWriteLocksAtMostNrDirtiedPausePagesAtOnce) {
  sim::Scheduler s;
  sim::testing::NonPreemptive strategy;
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<BtrfsFs> fs;
  std::unique_ptr<BtrfsInode> inode;
  std::vector<uint8_t> want(64 * kPageSize), got;
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<uint8_t>(i * 13 + 1);
  uint64_t written = 0;
  int nr_dirtied_pause = 0;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    FsConfig config;
    config.order = LockOrder::kLegacy;
    sim::MemoryConfig m;
    m.budget_pages = 48;
    m.low_pages = 40;
    m.high_pages = 36;
    BuildWorld(s, config, array, fs, inode, m);
    s.Spawn("app", [&] {
      nr_dirtied_pause = s.current_fiber().nr_dirtied_pause;
      written = inode->BufferedWrite(0, want);
      ASSERT_EQ(inode->Fsync(), 0);
      inode->mapping().TruncateInodePagesRange(0, kLEndMax);
      got = inode->Read(0, want.size());
    });
  });
  EXPECT_EQ(nr_dirtied_pause, 32);
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(written, want.size());
  EXPECT_EQ(got, want);
}

// barrier_all_devices() -> check_barrier_error(): on RAID1 a barrier
// that failed on one mirror is tolerated while the array is
// rw-degradable (btrfs_check_rw_degradable): the commit goes on and fsync
// returns 0, the data written to the other copy. The bug flag counts no
// failure as tolerated for RAID1: the commit and the fsync fail.
TEST(BtrfsInodeTest, ARaid1CommitWithOneDeadMirrorGoesOnDegraded) {
  for (bool bug : {false, true}) {
    SCOPED_TRACE(bug ? "rw_degradable_misses_raid1" : "v5.13");
    sim::Scheduler s;
    sim::testing::NonPreemptive strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    int first = 1, second = 1;
    uint64_t gen_first = 0, gen_second = 0;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      sim::Memory::Of(s).Configure(SmallMemory());
      array = std::make_unique<sim::BlockArray>(s, MirroredDisks());
      FsConfig config;
      config.data_profile = Profile::kRaid1;
      config.bug_rw_degradable_misses_raid1 = bug;
      fs = std::make_unique<BtrfsFs>(s, *array, config);
      inode = std::make_unique<BtrfsInode>(*fs, 257);
      s.Spawn("app", [&] {
        inode->BufferedWrite(0, std::vector<uint8_t>(kPageSize, 0x11));
        first = inode->Fsync();
        gen_first = fs->log().generation();
        array->device(1).PowerCut();  // vdb is gone; vda (and the log) work
        inode->BufferedWrite(kPageSize, std::vector<uint8_t>(kPageSize, 0x22));
        second = inode->Fsync();
        gen_second = fs->log().generation();
      });
    });
    EXPECT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(first, 0);
    if (!bug) {
      EXPECT_EQ(second, 0);
      EXPECT_GT(gen_second, gen_first);  // the second page's item committed, degraded
    } else {
      EXPECT_NE(second, 0);
      EXPECT_EQ(gen_second, gen_first);  // no superblock written
    }
  }
}

// cow_file_range()'s -ENOSPC path (config enospc_window, here 1: the
// first reservation fails): the run's delalloc and its reservation go, its
// pages are left clean and unwritten, the page writepage held is no longer
// uptodate (a read then finds the disk's bytes: zeroes), fsync reports
// -ENOSPC once, and the next write and fsync of the range succeed. With
// bug_cow_fail_keeps_data_resv the reservation stays behind.
TEST(BtrfsInodeTest, AnAllocationThatFailsAtWritebackDropsTheRunAndFsyncReportsItOnce) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    for (bool bug : {false, true}) {
      SCOPED_TRACE(std::string(order == LockOrder::kLegacy ? "legacy" : "rfc") +
                   (bug ? " cow_fail_keeps_data_resv" : ""));
      sim::Scheduler s;
      sim::testing::NonPreemptive strategy;
      std::unique_ptr<sim::BlockArray> array;
      std::unique_ptr<BtrfsFs> fs;
      std::unique_ptr<BtrfsInode> inode;
      int first = 1, second = 1, third = 1;
      uint64_t resv_after_error = 1, dirty_after_error = 1;
      std::vector<uint8_t> after_error, at_end;
      sim::RunResult r = RunFunctions(s, strategy, [&] {
        sim::Memory::Of(s).Configure(SmallMemory());
        array = std::make_unique<sim::BlockArray>(s, Disks());
        FsConfig config;
        config.order = order;
        config.enospc_window = 1;
        config.bug_cow_fail_keeps_data_resv = bug;
        fs = std::make_unique<BtrfsFs>(s, *array, config);
        inode = std::make_unique<BtrfsInode>(*fs, 257);
        s.Spawn("app", [&] {
          inode->BufferedWrite(0, std::vector<uint8_t>(3 * kPageSize, 0x11));
          first = inode->Fsync();
          resv_after_error = fs->bytes_may_use();
          dirty_after_error = inode->mapping().nr_dirty();
          after_error = inode->Read(0, kPageSize);
          second = inode->Fsync();  // the error was reported: nothing to say
          inode->BufferedWrite(0, std::vector<uint8_t>(3 * kPageSize, 0x22));
          third = inode->Fsync();
          inode->mapping().InvalidateMappingPages(0, kLEndMax);
          at_end = inode->Read(0, 3 * kPageSize);
        });
      });
      EXPECT_TRUE(r.findings.empty()) << All(r);
      EXPECT_EQ(first, -kEnospc);
      EXPECT_EQ(second, 0);
      EXPECT_EQ(third, 0);
      EXPECT_EQ(dirty_after_error, 0u);
      EXPECT_EQ(resv_after_error, bug ? 3 * kPageSize : 0u);
      EXPECT_EQ(after_error, std::vector<uint8_t>(kPageSize, 0));  // re-read: never written
      EXPECT_EQ(at_end, std::vector<uint8_t>(3 * kPageSize, 0x22));
    }
  }
}

// Read repair (end_bio_extent_readpage -> btrfs_submit_read_repair ->
// repair_io_failure): on RAID1, a copy that fails its checksum is read
// from the other mirror and rewritten with the good data; with both
// copies bad the read fails (-EIO) and the page never becomes uptodate
// with wrong data. Each copy is corrupted behind the filesystem's back,
// on the device, after the data was made durable.
TEST(BtrfsInodeTest, ReadRepairRewritesABadCopyAndFailsOnlyWhenNoCopyIsGood) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    for (int corrupt : {1, 2, 3}) {  // bit m: copy m corrupted
      SCOPED_TRACE(std::string(order == LockOrder::kLegacy ? "legacy" : "rfc") + " corrupt " +
                   std::to_string(corrupt));
      sim::Scheduler s;
      sim::testing::NonPreemptive strategy;
      std::unique_ptr<sim::BlockArray> array;
      std::unique_ptr<BtrfsFs> fs;
      std::unique_ptr<BtrfsInode> inode;
      std::vector<uint8_t> want(kPageSize);
      for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<uint8_t>(i * 13 + 1);
      int rc = 1;
      bool uptodate = false, error = false;
      std::vector<uint8_t> got;
      std::vector<std::vector<uint8_t>> copies_after(2);
      sim::RunResult r = RunFunctions(s, strategy, [&] {
        sim::Memory::Of(s).Configure(SmallMemory());
        array = std::make_unique<sim::BlockArray>(s, MirroredDisks());
        FsConfig config;
        config.order = order;
        config.data_profile = Profile::kRaid1;
        fs = std::make_unique<BtrfsFs>(s, *array, config);
        inode = std::make_unique<BtrfsInode>(*fs, 257);
        s.Spawn("app", [&] {
          inode->BufferedWrite(0, want);
          ASSERT_EQ(inode->Fsync(), 0);
          inode->mapping().TruncateInodePagesRange(0, kLEndMax);
          const auto& item = fs->log().state().extents.at(257).begin()->second;
          const uint64_t disk = item.disk_bytenr + item.offset;
          ASSERT_EQ(fs->volumes().NumCopies(disk), 2);
          auto copy_io = [&](int mirror, sim::BioOp op, uint8_t* data) {
            Mapping map;
            ASSERT_TRUE(fs->volumes().MapBlock(false, disk, kPageSize, mirror, &map));
            sim::Bio bio;
            bio.op = op;
            bio.sector = map.stripes[0].physical / 512;
            bio.vecs = {{data, static_cast<uint32_t>(kPageSize)}};
            ASSERT_EQ(array->device(map.stripes[0].device).SubmitBioWait(bio), sim::BlkStatus::kOk);
          };
          std::vector<uint8_t> garbage(kPageSize, 0xEE);
          for (int m = 0; m < 2; ++m) {
            if (corrupt & (1 << m)) copy_io(m, sim::BioOp::kWrite, garbage.data());
          }
          Page* page = inode->mapping().FindOrCreatePage(0, sim::kGfpNoFs, true);
          ASSERT_NE(page, nullptr);
          rc = inode->Readpage(*page);  // submits; completion unlocks
          WaitOnPageLocked(*page);        // filemap_read_page()'s wait
          uptodate = PageUptodate(*page);
          error = PageError(*page);
          got.assign(page->data.begin(), page->data.end());
          PutPage(*page);
          for (int m = 0; m < 2; ++m) {
            copies_after[m].assign(kPageSize, 0);
            copy_io(m, sim::BioOp::kRead, copies_after[m].data());
          }
        });
      });
      // ->readpage() only submits: an error shows in the page's flags
      // once the read completed (filemap_read_page() makes it -EIO).
      EXPECT_EQ(rc, 0);
      if (corrupt == 3) {
        EXPECT_FALSE(uptodate);
        EXPECT_TRUE(error);
        ASSERT_EQ(r.findings.size(), 1u) << All(r);
        EXPECT_EQ(r.findings[0].signature, "checksum:data");
      } else {
        EXPECT_TRUE(r.findings.empty()) << All(r);
        EXPECT_TRUE(uptodate);
        EXPECT_FALSE(error);
        EXPECT_EQ(got, want);
        // This strategy reads copy 0 first: bad, it is rewritten from copy
        // 1; good, copy 1 is never read, and a bad copy no read touches
        // stays as it is (as in btrfs: scrub finds those).
        EXPECT_EQ(copies_after[0], want);
        EXPECT_EQ(copies_after[1], (corrupt & 2) ? std::vector<uint8_t>(kPageSize, 0xEE) : want);
      }
    }
  }
}

// try_release_extent_mapping(): releasepage drops the cached extent map
// that starts at the page only for a file larger than 16 MiB (v5.13's
// SZ_16M test), and a later read rebuilds it from the file extent items.
TEST(BtrfsInodeTest, ReleasepageDropsExtentMapsOfLargeFilesOnly) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    for (uint64_t size : {uint64_t{8192}, uint64_t{17} << 20}) {
      SCOPED_TRACE(std::to_string(size));
      sim::Scheduler s;
      sim::testing::NonPreemptive strategy;
      std::unique_ptr<sim::BlockArray> array;
      std::unique_ptr<BtrfsFs> fs;
      std::unique_ptr<BtrfsInode> inode;
      std::vector<uint8_t> want(2 * kPageSize, 0x5a), got;
      bool released = false, cached_after = true;
      sim::RunResult r = RunFunctions(s, strategy, [&] {
        FsConfig config;
        config.order = order;
        BuildWorld(s, config, array, fs, inode);
        s.Spawn("app", [&] {
          inode->BufferedWrite(0, want);
          ASSERT_EQ(inode->Fsync(), 0);
          inode->Truncate(size);
          ASSERT_TRUE(inode->em_tree().Lookup(0, 1).has_value());
          Page* page = inode->mapping().FindLockPage(0);
          ASSERT_NE(page, nullptr);
          released = inode->Releasepage(*page, sim::kGfpKernel);
          UnlockPage(*page);
          PutPage(*page);
          cached_after = inode->em_tree().Lookup(0, 1).has_value();
          inode->mapping().TruncateInodePagesRange(0, kLEndMax);
          got = inode->Read(0, want.size());
        });
      });
      ASSERT_TRUE(r.findings.empty()) << All(r);
      EXPECT_TRUE(released);
      EXPECT_EQ(cached_after, size <= (uint64_t{16} << 20));
      EXPECT_EQ(got, want);
    }
  }
}

TEST(BtrfsInodeTest, APunchedHoleReadsAsZeroesFromCacheAndFromDisk) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    sim::Scheduler s;
    sim::testing::NonPreemptive strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    std::vector<uint8_t> cached, from_disk;
    std::vector<uint8_t> want(3 * kPageSize, 0x42);
    std::fill(want.begin() + 1000, want.begin() + 9000, 0);
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.order = order;
      BuildWorld(s, config, array, fs, inode);
      s.Spawn("app", [&] {
        inode->BufferedWrite(0, std::vector<uint8_t>(3 * kPageSize, 0x42));
        ASSERT_EQ(inode->Fsync(), 0);
        inode->PunchHole(1000, 8000);
        cached = inode->Read(0, 3 * kPageSize);
        ASSERT_EQ(inode->Fsync(), 0);
        inode->mapping().TruncateInodePagesRange(0, kLEndMax);
        from_disk = inode->Read(0, 3 * kPageSize);
        // The whole page in the middle is a hole: no extent item left.
        EXPECT_EQ(fs->log().state().extents.at(257).count(kPageSize), 0u);
      });
    });
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(cached, want);
    EXPECT_EQ(from_disk, want);
  }
}

// fallocate gives the holes of its range a preallocated extent, which
// reads as zeroes; a write into it goes in place (run_delalloc_nocow), and
// when its ordered extent finishes the written part becomes a regular item
// over the same disk extent (btrfs_mark_extent_written), with checksums;
// the rest stays preallocated. Zero range over written data leaves one
// preallocated extent where the whole pages were.
TEST(BtrfsInodeTest, PreallocatedExtentsAreWrittenInPlaceAndMarkedWritten) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    sim::Scheduler s;
    sim::testing::NonPreemptive strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    std::vector<uint8_t> before, after, zeroed;
    std::map<uint64_t, FileExtentItem> items_after_write, items_after_zero;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.order = order;
      BuildWorld(s, config, array, fs, inode);
      s.Spawn("app", [&] {
        inode->Fallocate(0, 4 * kPageSize, /*keep_size=*/false);
        before = inode->Read(0, 4 * kPageSize);
        inode->BufferedWrite(kPageSize, std::vector<uint8_t>(2 * kPageSize, 0x5a));
        ASSERT_EQ(inode->Fsync(), 0);
        items_after_write = fs->log().state().extents.at(257);
        inode->mapping().TruncateInodePagesRange(0, kLEndMax);
        after = inode->Read(0, 4 * kPageSize);
        inode->ZeroRange(100, 3 * kPageSize, /*keep_size=*/true);
        ASSERT_EQ(inode->Fsync(), 0);
        items_after_zero = fs->log().state().extents.at(257);
        inode->mapping().TruncateInodePagesRange(0, kLEndMax);
        zeroed = inode->Read(0, 4 * kPageSize);
      });
    });
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(before, std::vector<uint8_t>(4 * kPageSize, 0));
    std::vector<uint8_t> want(4 * kPageSize, 0);
    std::fill(want.begin() + kPageSize, want.begin() + 3 * kPageSize, 0x5a);
    EXPECT_EQ(after, want);
    // [0, 4K) preallocated, [4K, 12K) regular in place, [12K, 16K) preallocated.
    ASSERT_EQ(items_after_write.size(), 3u);
    const FileExtentItem& head = items_after_write.at(0);
    const FileExtentItem& mid = items_after_write.at(kPageSize);
    const FileExtentItem& tail = items_after_write.at(3 * kPageSize);
    EXPECT_EQ(head.type, FileExtentType::kPrealloc);
    EXPECT_EQ(mid.type, FileExtentType::kRegular);
    EXPECT_EQ(tail.type, FileExtentType::kPrealloc);
    EXPECT_EQ(mid.disk_bytenr, head.disk_bytenr);  // the same disk extent, written in place
    EXPECT_EQ(mid.offset, kPageSize);
    EXPECT_EQ(mid.disk_num_bytes, 4 * kPageSize);
    EXPECT_TRUE(fs->log().state().csums.count(mid.disk_bytenr + kPageSize));
    // Zero range [100, 100 + 12K): pages 1 and 2 whole, one new
    // preallocated extent; the partial pages zeroed through the write path.
    std::vector<uint8_t> want_zero(4 * kPageSize, 0);
    EXPECT_EQ(zeroed, want_zero);
    bool prealloc_over_middle = false;
    for (const auto& [off, item] : items_after_zero) {
      if (off <= kPageSize && off + item.num_bytes >= 3 * kPageSize &&
          item.type == FileExtentType::kPrealloc) {
        prealloc_over_middle = true;
      }
    }
    EXPECT_TRUE(prealloc_over_middle);
  }
}

TEST(BtrfsInodeTest, WhatFsyncMadeDurableIsWhatAMountReadsBack) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    sim::Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    PersistentState mounted;
    std::vector<uint8_t> on_disk(kPageSize);
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.order = order;
      BuildWorld(s, config, array, fs, inode);
      s.Spawn("app", [&] {
        inode->BufferedWrite(100, std::vector<uint8_t>(5000, 0x5c));
        ASSERT_EQ(inode->Fsync(), 0);
        array->device(0).PowerCut();
        array->device(0).Restart();
        std::string problem;
        mounted = MetadataLog::Mount(s, array->device(0), 0, BtrfsFs::kLogLen, &problem);
        EXPECT_EQ(problem, "");
        // The item covering file offset 4096 (writeback allocates whole
        // dirty runs: one extent may cover both pages).
        for (const auto& [off, item] : mounted.extents.at(257)) {
          if (off > kPageSize || off + item.num_bytes <= kPageSize) continue;
          const uint64_t disk = item.disk_bytenr + item.offset + (kPageSize - off);
          array->device(0).ReadSectors(disk / 512, 8, on_disk.data(), true);
        }
      });
    });
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(mounted.inodes.at(257).size, 5100u);
    uint64_t covered = 0;  // the items cover both pages, once
    for (const auto& [off, item] : mounted.extents.at(257)) covered += item.num_bytes;
    EXPECT_EQ(covered, 2 * kPageSize);
    EXPECT_EQ(on_disk[0], 0x5c);           // file offset 4096
    EXPECT_EQ(on_disk[5100 - 4096 - 1], 0x5c);
    EXPECT_EQ(on_disk[5100 - 4096], 0);    // past EOF: zeroes went to disk
  }
}


// posix_fadvise(POSIX_FADV_DONTNEED) as generic_fadvise(): the range's
// dirty pages are written back first (not waited for), then only its
// whole pages that are clean and idle leave the page cache; a partial
// page at either end stays, and so does a page still under writeback. A
// read of a dropped page goes to disk and finds the data.
TEST(BtrfsInodeTest, FadviseDontneedDropsOnlyTheRangesWholeCleanIdlePages) {
  sim::Scheduler s;
  sim::testing::NonPreemptive strategy;
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<BtrfsFs> fs;
  std::unique_ptr<BtrfsInode> inode;
  std::vector<uint64_t> cached;
  bool page1_under_writeback = false;
  std::vector<uint8_t> got, want(4 * kPageSize);
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<uint8_t>(i * 11 + 3);
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, FsConfig{}, array, fs, inode);
    s.Spawn("app", [&] {
      inode->BufferedWrite(0, want);
      ASSERT_EQ(inode->Fsync(), 0);
      const std::vector<uint8_t> again(want.begin() + kPageSize, want.begin() + 2 * kPageSize);
      inode->BufferedWrite(kPageSize, again);  // page 1 dirty again
      // [100, 100 + 3 pages): whole pages 1 and 2 only.
      inode->FadviseDontneed(100, 3 * kPageSize);
      cached = inode->mapping().Indices();
      if (Page* page = inode->mapping().FindGetPage(1)) {
        page1_under_writeback = PageWriteback(*page);
        PutPage(*page);
      }
      got = inode->Read(0, want.size());
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(cached, (std::vector<uint64_t>{0, 1, 3}));
  EXPECT_TRUE(page1_under_writeback);
  EXPECT_EQ(got, want);
}

// copy_file_range's page cache path and FIDEDUPERANGE's compare read the
// file (and fsim's clone reads its source for the harness's record); a
// read that fails (-EIO: here every bio fails after the power cut) ends
// them with the error, as do_splice_direct() and
// vfs_dedupe_file_range_compare() return it. Before, the copy dropped the
// error and copied nothing, and the dedupe compared two empty reads as
// equal and shared extents holding different data. With the device
// working, the same copy extends the file and the same dedupe shares.
TEST(BtrfsInodeTest, ACopyCloneOrDedupeWhoseReadFailsReturnsEioAndChangesNothing) {
  for (bool cut : {false, true}) {
    SCOPED_TRACE(cut ? "power cut" : "device working");
    sim::Scheduler s;
    sim::testing::NonPreemptive strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> inode;
    uint64_t copied = 0, size_after = 0, disk0 = 0, disk1 = 0;
    int copy_error = 0, dedupe_error = 0, clone_error = 0;
    size_t cloned = 0;
    bool page2_item = false;
    bool same = false;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      BuildWorld(s, FsConfig{}, array, fs, inode);
      s.Spawn("app", [&] {
        // Pages 0 and 1 hold the same bytes, in two extents (two fsyncs).
        const std::vector<uint8_t> page(kPageSize, 0x3c);
        inode->BufferedWrite(0, page);
        ASSERT_EQ(inode->Fsync(), 0);
        inode->BufferedWrite(kPageSize, page);
        ASSERT_EQ(inode->Fsync(), 0);
        inode->mapping().TruncateInodePagesRange(0, kLEndMax);
        if (cut) array->PowerCut();
        same = inode->DedupeRange(0, kPageSize, kPageSize, &dedupe_error);
        cloned = inode->CloneRangeFrom(*inode, 0, kPageSize, 2 * kPageSize, &clone_error).size();
        copied = inode->CopyFileRange(1, 100, 3 * kPageSize, &copy_error);  // unaligned: copied
        size_after = inode->i_size();
        const auto& items = fs->log().state().extents.at(257);
        disk0 = items.at(0).disk_bytenr;
        disk1 = items.at(kPageSize).disk_bytenr;
        page2_item = items.count(2 * kPageSize) != 0 && items.at(2 * kPageSize).disk_bytenr == disk0;
      });
    });
    ASSERT_TRUE(r.findings.empty()) << All(r);
    if (cut) {
      EXPECT_FALSE(same);
      EXPECT_EQ(dedupe_error, -kEio);
      EXPECT_NE(disk0, disk1);  // nothing shared
      EXPECT_EQ(cloned, 0u);
      EXPECT_EQ(clone_error, -kEio);
      EXPECT_FALSE(page2_item);
      EXPECT_EQ(copied, 0u);
      EXPECT_EQ(copy_error, -kEio);
      EXPECT_EQ(size_after, 2 * kPageSize);
    } else {
      EXPECT_TRUE(same);
      EXPECT_EQ(dedupe_error, 0);
      EXPECT_EQ(disk0, disk1);  // shared
      EXPECT_EQ(cloned, kPageSize);
      EXPECT_EQ(clone_error, 0);
      EXPECT_TRUE(page2_item);  // shares page 0's extent
      EXPECT_EQ(copied, 100u);
      EXPECT_EQ(copy_error, 0);
      EXPECT_EQ(size_after, 3 * kPageSize + 100);
    }
  }
}

// The data allocator: an extent whose last file extent item went away is
// pinned until the next commit, then reused; an extent still pointed at
// by a trimmed item stays; live, pinned and free space always tile the
// chunk. Many more overwrites than the chunk holds (each one fsync'd) run
// only because freed space is reused.
TEST(BtrfsInodeTest, FreedDataSpaceIsPinnedUntilTheCommitThenReused) {
  sim::Scheduler s;
  sim::testing::NonPreemptive strategy;
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<BtrfsFs> fs;
  std::unique_ptr<BtrfsInode> inode;
  std::vector<std::string> problems;
  uint64_t first_extent = 0, reused_at = 0, pinned_before_commit = 0, rounds = 0;
  bool trimmed_stays = false;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, FsConfig{}, array, fs, inode);
    s.Spawn("app", [&] {
      auto check = [&] {
        if (std::string why = fs->CheckSpace(); !why.empty()) problems.push_back(why);
      };
      // 16 KiB, then its middle page overwritten: the first extent is
      // still pointed at by the items left on both sides.
      inode->BufferedWrite(0, std::vector<uint8_t>(4 * kPageSize, 1));
      ASSERT_EQ(inode->Fsync(), 0);
      first_extent = fs->log().state().extents.at(257).at(0).disk_bytenr;
      inode->BufferedWrite(kPageSize, std::vector<uint8_t>(kPageSize, 2));
      ASSERT_EQ(inode->Fsync(), 0);
      check();
      trimmed_stays = fs->log().state().extents.at(257).at(0).disk_bytenr == first_extent &&
                      fs->pinned_bytes() == 0;
      // Overwrite everything: the first extent loses its last item; it is
      // pinned until the commit, then free.
      inode->BufferedWrite(0, std::vector<uint8_t>(4 * kPageSize, 3));
      inode->WritebackAll();
      while (OrderedExtent* oe = inode->ordered().LookupRange(0, kLEndMax)) {
        inode->ordered().Wait(oe);
        inode->ordered().Put(oe);
      }
      pinned_before_commit = fs->pinned_bytes();
      check();
      ASSERT_EQ(inode->Fsync(), 0);
      check();
      inode->BufferedWrite(8 * kPageSize, std::vector<uint8_t>(kPageSize, 4));
      ASSERT_EQ(inode->Fsync(), 0);
      reused_at = fs->log().state().extents.at(257).at(8 * kPageSize).disk_bytenr;
      // The chunk is a few MiB: 3,000 fsync'd 8 KiB overwrites are 24 MiB.
      for (; rounds < 3000; ++rounds) {
        inode->BufferedWrite(0, std::vector<uint8_t>(2 * kPageSize, static_cast<uint8_t>(rounds)));
        ASSERT_EQ(inode->Fsync(), 0);
        if (rounds % 500 == 0) check();
      }
      check();
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_TRUE(trimmed_stays);
  EXPECT_EQ(pinned_before_commit, 5 * kPageSize);  // the first extent and the middle page's
  EXPECT_EQ(reused_at, first_extent);  // the lowest free run: the first extent's
  EXPECT_EQ(rounds, 3000u);
}

// FICLONERANGE shares extents: the destination's items point at the
// source's disk extent, the bytes read back from disk in both files, and
// the space is freed only when the last item pointing at it goes.
TEST(BtrfsInodeTest, ACloneSharesExtentsFreedOnlyByTheLastUser) {
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) {
    sim::Scheduler s;
    sim::testing::NonPreemptive strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<BtrfsFs> fs;
    std::unique_ptr<BtrfsInode> f;
    std::unique_ptr<BtrfsInode> g;
    uint64_t f_disk = 0, g_disk = 0, g_offset = 0;
    bool live_after_f_truncated = false, free_after_both = false;
    std::vector<uint8_t> g_bytes;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      FsConfig config;
      config.order = order;
      BuildWorld(s, config, array, fs, f);
      g = std::make_unique<BtrfsInode>(*fs, 258);
      s.Spawn("app", [&] {
        std::vector<uint8_t> data(4 * kPageSize);
        for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i / 100);
        f->BufferedWrite(0, data);
        ASSERT_EQ(f->Fsync(), 0);
        g->CloneRangeFrom(*f, kPageSize, 2 * kPageSize, 0);
        ASSERT_EQ(g->Fsync(), 0);
        f_disk = fs->log().state().extents.at(257).at(0).disk_bytenr;
        const FileExtentItem& gi = fs->log().state().extents.at(258).at(0);
        g_disk = gi.disk_bytenr;
        g_offset = gi.offset;
        auto is_free = [&](uint64_t at) {
          for (const auto& [start, len] : fs->free_space()) {
            if (at >= start && at < start + len) return true;
          }
          return false;
        };
        f->Truncate(0);
        ASSERT_EQ(f->Fsync(), 0);
        ASSERT_EQ(g->Fsync(), 0);  // one more commit: anything pinned is unpinned
        live_after_f_truncated = !is_free(f_disk) && fs->pinned_bytes() == 0;
        g->mapping().TruncateInodePagesRange(0, kLEndMax);
        g_bytes = g->Read(0, 2 * kPageSize);
        g->Truncate(0);
        ASSERT_EQ(g->Fsync(), 0);
        ASSERT_EQ(f->Fsync(), 0);
        free_after_both = is_free(f_disk);
        EXPECT_EQ(fs->CheckSpace(), "");
        (void)data;
      });
    });
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(g_disk, f_disk);
    EXPECT_EQ(g_offset, kPageSize);
    EXPECT_TRUE(live_after_f_truncated);
    std::vector<uint8_t> want(2 * kPageSize);
    for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<uint8_t>((i + kPageSize) / 100);
    EXPECT_EQ(g_bytes, want);
    EXPECT_TRUE(free_after_both);
  }
}

}  // namespace
}  // namespace fsim::fs
