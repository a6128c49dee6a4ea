// Checks metadata persistence: committed items come back at mount exactly
// as they were kept in memory; items of an uncommitted transaction do not;
// a power cut at any moment of any commit leaves a mount that sees either
// the previous commit or the new one whole, never a part (over many
// seeds, both outcomes occur); file extent drops trim straddling items.
// The log reclaims its space with checkpoints: thousands of commits mount
// as the last one; a power cut at every point of a checkpoint (swept in
// virtual time, schedules and what the cut keeps drawn from seeds) leaves
// the state before it or after it, never a mix, and never less than the
// last commit that returned; a torn checkpoint the superblock names is
// reported; a state larger than a checkpoint slot is a harness error.
#include "fs/btrfs/metadata_log.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "sim/testing.h"

namespace fsim::fs {
namespace {

using sim::testing::NonPreemptive;
using sim::testing::RandomStrategy;
using sim::testing::RunFunctions;

sim::DeviceConfig Disk() {
  sim::DeviceConfig c;
  c.name = "meta";
  c.capacity_sectors = 4096;  // 2 MiB
  c.latency_choices = 2;
  return c;
}

FileExtentItem Extent(uint64_t ino, uint64_t off, uint64_t len, uint64_t disk) {
  FileExtentItem e;
  e.ino = ino;
  e.file_offset = off;
  e.num_bytes = len;
  e.disk_bytenr = disk;
  e.disk_num_bytes = len;
  return e;
}

TEST(MetadataLogTest, CommittedItemsComeBackAtMountUncommittedOnesDoNot) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<sim::BlockDevice> d;
  PersistentState committed, mounted;
  std::string problem;
  RunFunctions(s, strategy, [&] {
    d = std::make_unique<sim::BlockDevice>(s, Disk());
    s.Spawn("fs", [&] {
      MetadataLog log(s, *d, 0, 1 << 20);
      log.UpdateInode({257, 12288, 1});
      log.InsertExtent(Extent(257, 0, 8192, 1 << 20));
      log.InsertExtent(Extent(257, 8192, 4096, 2 << 20));
      log.SetCsum(1 << 20, 0xdeadbeef);
      ASSERT_TRUE(log.Commit());
      committed = log.state();
      log.UpdateInode({257, 1, 2});  // never committed
      d->PowerCut();
      d->Restart();
      mounted = MetadataLog::Mount(s, *d, 0, 1 << 20, &problem);
    });
  });
  EXPECT_EQ(problem, "");
  EXPECT_EQ(mounted.inodes, committed.inodes);
  EXPECT_EQ(mounted.extents, committed.extents);
  EXPECT_EQ(mounted.csums, committed.csums);
  EXPECT_EQ(mounted.inodes.at(257).size, 12288u);
  EXPECT_EQ(mounted.generation, 1u);
}

TEST(MetadataLogTest, APowerCutDuringCommitLeavesTheOldOrTheNewStateWhole) {
  int saw_old = 0, saw_new = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    sim::Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<sim::BlockDevice> d;
    PersistentState mounted;
    std::string problem;
    sim::RunOptions o;
    o.seed = seed;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      d = std::make_unique<sim::BlockDevice>(s, Disk());
      s.Spawn("fs", [&] {
        MetadataLog log(s, *d, 0, 1 << 20);
        log.UpdateInode({257, 4096, 1});
        if (!log.Commit()) return;
        log.UpdateInode({257, 8192, 2});
        log.InsertExtent(Extent(257, 0, 8192, 1 << 20));
        log.Commit();
      });
      s.Spawn("power", [&] {
        s.SleepFor(s.Choose(8, "when") * 30'000);
        d->PowerCut();
      });
    }, [&] {}, o);
    ASSERT_TRUE(r.findings.empty()) << r.findings[0].report;
    // Mount in a new run, as a remount after the cut.
    sim::Scheduler s2;
    NonPreemptive mount_strategy;
    d->Restart();
    auto image = std::make_unique<sim::BlockDevice>(s2, Disk());
    RunFunctions(s2, mount_strategy, [&] {
      s2.Spawn("mount", [&] {
        // Copy the durable image over (the device object of a run is per
        // run; the bytes are what matter).
        std::vector<uint8_t> bytes(Disk().capacity_sectors * 512);
        d->ReadSectors(0, Disk().capacity_sectors, bytes.data(), true);
        sim::Bio w;
        w.op = sim::BioOp::kWrite;
        w.flags = sim::kBioFua;
        for (uint64_t at = 0; at < bytes.size(); at += 128 * 1024) {
          w.sector = at / 512;
          w.vecs = {{bytes.data() + at, 128 * 1024}};
          image->SubmitBioWait(w);
        }
        mounted = MetadataLog::Mount(s2, *image, 0, 1 << 20, &problem);
      });
    });
    ASSERT_EQ(problem, "") << "seed " << seed;
    if (mounted.inodes.empty()) continue;  // the first commit did not make it
    const InodeItem& inode = mounted.inodes.at(257);
    if (inode.size == 4096) {
      ++saw_old;
      EXPECT_TRUE(mounted.extents.empty());
    } else {
      ++saw_new;
      EXPECT_EQ(inode.size, 8192u);
      EXPECT_EQ(mounted.extents.at(257).size(), 1u);  // the whole commit
    }
  }
  EXPECT_GT(saw_old, 0);
  EXPECT_GT(saw_new, 0);
}

// A small area: log [4 KiB, 32 KiB), seven one-block records; slots of
// 16 KiB at 32 KiB and 48 KiB.
constexpr uint64_t kSmallArea = 64 << 10;
constexpr int kSmallLogRecords = 7;

bool SameItems(const PersistentState& a, const PersistentState& b) {
  return a.inodes == b.inodes && a.extents == b.extents && a.csums == b.csums;
}

// The items of commit `i` (each commit changes the size, one extent and
// adds a checksum, so that every generation's state is distinct).
void AddCommitItems(MetadataLog& log, uint64_t i) {
  log.UpdateInode({257, 100 * i + 1, 0});
  log.InsertExtent(Extent(257, (i % 64) * 4096, 4096, (i + 1) << 12));
  if (i % 50 == 49) log.DropExtents(257, 0, 16384);
  log.SetCsum((i + 1) << 12, static_cast<uint32_t>(i * 2654435761u));
}

TEST(MetadataLogTest, ThousandsOfCommitsMountAsTheLastOne) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<sim::BlockDevice> d;
  PersistentState committed, mounted;
  uint64_t checkpoints = 0;
  std::string problem;
  RunFunctions(s, strategy, [&] {
    d = std::make_unique<sim::BlockDevice>(s, Disk());
    s.Spawn("fs", [&] {
      MetadataLog log(s, *d, 0, 1 << 20);
      for (uint64_t i = 0; i < 1500; ++i) {
        AddCommitItems(log, i);
        ASSERT_TRUE(log.Commit()) << "commit " << i;
      }
      committed = log.state();
      checkpoints = log.checkpoints();
      log.UpdateInode({257, 1, 0});  // never committed
      d->PowerCut();
      d->Restart();
      mounted = MetadataLog::Mount(s, *d, 0, 1 << 20, &problem);
    });
  });
  EXPECT_EQ(problem, "");
  EXPECT_TRUE(SameItems(mounted, committed));
  EXPECT_EQ(mounted.generation, 1500u);
  EXPECT_EQ(mounted.inodes.at(257).size, 149901u);
  EXPECT_EQ(checkpoints, 1500u / 128);  // 127 records, then a checkpoint
}

TEST(MetadataLogTest, APowerCutAtEveryPointOfACheckpointLeavesTheOldOrTheNewState) {
  // Commits 1-7 fill the log, commit 8 is a checkpoint (slot 1), 9-15 fill
  // the log again, commit 16 is the checkpoint under test (slot 2, while
  // the superblock names slot 1), commit 17 the first record after it. The
  // cut comes `when` * 5 us after commit 16 starts: from before its first
  // bio to after commit 17's superblock.
  constexpr int kCheckpointCommit = 2 * (kSmallLogRecords + 1);
  int during = 0, during_old = 0, during_new = 0, after = 0;
  for (uint64_t when = 0; when < 80; ++when) {
    for (uint64_t seed = 0; seed < 10; ++seed) {
      sim::Scheduler s;
      RandomStrategy strategy;
      std::unique_ptr<sim::BlockDevice> d;
      std::vector<PersistentState> by_generation(1);
      uint64_t durable = 0, checkpoints = 0;
      bool in_checkpoint = false, cut_in_checkpoint = false;
      PersistentState mounted;
      std::string problem;
      sim::RunOptions o;
      o.seed = seed;
      sim::RunResult r = RunFunctions(s, strategy, [&] {
        d = std::make_unique<sim::BlockDevice>(s, Disk());
        auto start = std::make_shared<sim::Completion>(s, "checkpoint_starts");
        s.Spawn("fs", [&, start] {
          MetadataLog log(s, *d, 0, kSmallArea);
          for (int i = 1; i <= kCheckpointCommit + 1; ++i) {
            AddCommitItems(log, i);
            by_generation.push_back(log.state());
            if (i == kCheckpointCommit) {
              start->Complete();
              in_checkpoint = true;
            }
            const bool ok = log.Commit();
            in_checkpoint = false;
            if (!ok) return;
            durable = log.generation();
            checkpoints = log.checkpoints();
          }
        });
        s.Spawn("power", [&, start] {
          start->Wait();
          s.SleepFor(when * 5'000);
          cut_in_checkpoint = in_checkpoint;
          d->PowerCut();
          sim::BlockDevice image(s, Disk());
          image.LoadDurableImage(*d);
          mounted = MetadataLog::Mount(s, image, 0, kSmallArea, &problem);
        });
      }, [&] {}, o);
      ASSERT_TRUE(r.findings.empty()) << r.findings[0].report;
      ASSERT_EQ(problem, "") << "when " << when << " seed " << seed;
      ASSERT_GE(mounted.generation, durable) << "a commit that returned was lost";
      ASSERT_LT(mounted.generation, by_generation.size());
      ASSERT_TRUE(SameItems(mounted, by_generation[mounted.generation]))
          << "when " << when << " seed " << seed << ": a mix of generations";
      if (durable == kCheckpointCommit + 1) {
        EXPECT_EQ(checkpoints, 2u);
      }
      if (mounted.generation == kCheckpointCommit + 1) ++after;
      if (!cut_in_checkpoint) continue;
      ++during;
      ASSERT_GE(mounted.generation, static_cast<uint64_t>(kCheckpointCommit - 1));
      ASSERT_LE(mounted.generation, static_cast<uint64_t>(kCheckpointCommit));
      (mounted.generation == kCheckpointCommit - 1 ? during_old : during_new)++;
    }
  }
  EXPECT_GT(during, 0);
  EXPECT_GT(during_old, 0);
  EXPECT_GT(during_new, 0);
  EXPECT_GT(after, 0);  // the sweep reaches past the checkpoint
  std::printf("cuts during the checkpoint: %d (old state %d, new %d); after it: %d\n", during,
              during_old, during_new, after);
}

TEST(MetadataLogTest, ATornCheckpointTheSuperblockNamesIsReported) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<sim::BlockDevice> d;
  PersistentState mounted;
  std::string problem;
  RunFunctions(s, strategy, [&] {
    d = std::make_unique<sim::BlockDevice>(s, Disk());
    s.Spawn("fs", [&] {
      MetadataLog log(s, *d, 0, kSmallArea);
      for (int i = 1; i <= kSmallLogRecords + 1; ++i) {
        AddCommitItems(log, i);
        ASSERT_TRUE(log.Commit());
      }
      ASSERT_EQ(log.checkpoints(), 1u);
      // Damage one sector of slot 1 (at 32 KiB), past the header.
      std::vector<uint8_t> garbage(512, 0xa5);
      sim::Bio w;
      w.op = sim::BioOp::kWrite;
      w.flags = sim::kBioFua;
      w.sector = (32 << 10) / 512;
      w.vecs = {{garbage.data(), 512}};
      ASSERT_EQ(d->SubmitBioWait(w), sim::BlkStatus::kOk);
      mounted = MetadataLog::Mount(s, *d, 0, kSmallArea, &problem);
    });
  });
  EXPECT_EQ(problem, "checkpoint in slot 1 is torn or corrupt although the superblock names it");
}

TEST(MetadataLogTest, DroppedChecksumsStayDroppedThroughACheckpointAndAMount) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<sim::BlockDevice> d;
  PersistentState before, after, mounted;
  std::vector<uint64_t> orphans_before_drop;
  std::string problem;
  RunFunctions(s, strategy, [&] {
    d = std::make_unique<sim::BlockDevice>(s, Disk());
    s.Spawn("fs", [&] {
      MetadataLog log(s, *d, 0, kSmallArea);
      // One page rewritten (COW: a new extent each time, the old one's
      // checksum deleted with it, as BtrfsFs::ReleaseUnreferenced does)
      // and one extent of two pages, half of it punched (the extent stays
      // referenced, and so do both its checksums).
      log.InsertExtent(Extent(258, 0, 8192, 100 << 12));
      log.SetCsum(100 << 12, 1);
      log.SetCsum(101 << 12, 2);
      log.DropExtents(258, 4096, 8192);
      for (uint64_t i = 1; i <= kSmallLogRecords; ++i) {
        log.InsertExtent(Extent(257, 0, 4096, i << 12));
        log.SetCsum(i << 12, static_cast<uint32_t>(i));
        if (i == 2) orphans_before_drop = log.state().UnreferencedCsums();
        if (i > 1) log.DropCsums((i - 1) << 12, 4096);
        ASSERT_TRUE(log.Commit());
      }
      before = log.state();
      log.UpdateInode({257, 4096, 0});
      ASSERT_TRUE(log.Commit());  // the checkpoint
      ASSERT_EQ(log.checkpoints(), 1u);
      after = log.state();
      mounted = MetadataLog::Mount(s, *d, 0, kSmallArea, &problem);
    });
  });
  EXPECT_EQ(orphans_before_drop, std::vector<uint64_t>{1 << 12});
  const std::map<uint64_t, uint32_t> live{
      {100 << 12, 1}, {101 << 12, 2}, {uint64_t{kSmallLogRecords} << 12, 7}};
  EXPECT_EQ(before.csums, live);
  EXPECT_EQ(after.csums, live);
  EXPECT_TRUE(after.UnreferencedCsums().empty());
  EXPECT_EQ(problem, "");
  EXPECT_TRUE(SameItems(mounted, after));
  EXPECT_EQ(mounted.csums, live);
}

TEST(MetadataLogDeathTest, AStateLargerThanACheckpointSlotIsAHarnessError) {
  // 600 extent items with their checksums (46 KB) fit neither the 28 KiB
  // log nor a 16 KiB slot.
  auto run = [] {
    sim::Scheduler s;
    NonPreemptive strategy;
    std::unique_ptr<sim::BlockDevice> d;
    RunFunctions(s, strategy, [&] {
      d = std::make_unique<sim::BlockDevice>(s, Disk());
      s.Spawn("fs", [&] {
        MetadataLog log(s, *d, 0, kSmallArea);
        for (uint64_t i = 0; i < 600; ++i) {
          log.InsertExtent(Extent(257, i << 12, 4096, (i + 1) << 12));
          log.SetCsum((i + 1) << 12, 1);
        }
        log.Commit();
      });
    });
  };
  EXPECT_DEATH(run(), "does not fit its slot of 16384 bytes");
}

TEST(MetadataLogTest, DropExtentsTrimsStraddlingItems) {
  PersistentState s;
  s.InsertExtent(Extent(1, 0, 16384, 1 << 20));
  s.DropExtents(1, 4096, 8192);
  ASSERT_EQ(s.extents.at(1).size(), 2u);
  const FileExtentItem& tail = s.extents.at(1).at(8192);
  EXPECT_EQ(tail.num_bytes, 8192u);
  EXPECT_EQ(tail.disk_bytenr, 1u << 20);  // the disk extent stays whole...
  EXPECT_EQ(tail.offset, 8192u);          // ...and the item points into it
  s.InsertExtent(Extent(1, 0, 16384, 2 << 20));  // overwrites both
  ASSERT_EQ(s.extents.at(1).size(), 1u);
  EXPECT_EQ(s.extents.at(1).at(0).disk_bytenr, 2u << 20);
}

// The write-time tree-checker's view of a file extent item
// (check_extent_data_item()): every key and disk field a multiple of the
// 4 KiB sector, a known type and compression; an item the filesystem
// really writes passes.
TEST(MetadataLogTest, TheTreeCheckerRefusesFileExtentItemsTheKernelWouldNotWrite) {
  FileExtentItem good = Extent(257, 8192, 12288, 1 << 20);
  EXPECT_EQ(CheckFileExtentItem(good), "");
  FileExtentItem compressed = good;
  compressed.compression = 1;
  compressed.disk_num_bytes = 4096;  // a compressed extent smaller on disk
  EXPECT_EQ(CheckFileExtentItem(compressed), "");
  auto with = [&](auto change) {
    FileExtentItem e = good;
    change(e);
    return CheckFileExtentItem(e);
  };
  EXPECT_NE(with([](FileExtentItem& e) { e.disk_num_bytes = 308; }).find("invalid disk_num_bytes"),
            std::string::npos);
  EXPECT_NE(with([](FileExtentItem& e) { e.file_offset = 100; }).find("invalid file_offset"),
            std::string::npos);
  EXPECT_NE(with([](FileExtentItem& e) { e.num_bytes = 4095; }).find("invalid num_bytes"),
            std::string::npos);
  EXPECT_NE(with([](FileExtentItem& e) { e.offset = 512; }).find("invalid offset"), std::string::npos);
  EXPECT_NE(with([](FileExtentItem& e) { e.disk_bytenr += 1; }).find("invalid disk_bytenr"),
            std::string::npos);
  EXPECT_NE(with([](FileExtentItem& e) { e.compression = 9; }).find("invalid compression"),
            std::string::npos);
  EXPECT_NE(with([](FileExtentItem& e) {
              e.type = FileExtentType::kPrealloc;
              e.compression = 1;
            }).find("preallocated"),
            std::string::npos);
  EXPECT_NE(with([](FileExtentItem& e) {
              e.file_offset = ~uint64_t{0} - 4095;
              e.num_bytes = 8192;
            }).find("overflow"),
            std::string::npos);
}

// MetadataLog runs the checker on each item it inserts: a bad one is a
// warn finding, as the kernel's write-time check is a critical message
// and an aborted transaction.
TEST(MetadataLogTest, InsertingACorruptItemIsAWriteTimeTreeCheckerWarn) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<sim::BlockDevice> d;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    d = std::make_unique<sim::BlockDevice>(s, Disk());
    s.Spawn("fs", [&] {
      MetadataLog log(s, *d, 0, 1 << 20);
      log.InsertExtent(Extent(257, 0, 4096, 1 << 20));
      FileExtentItem bad = Extent(257, 4096, 4096, 2 << 20);
      bad.disk_num_bytes = 308;
      log.InsertExtent(bad);
    });
  });
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].signature, "warn:tree_checker:file_extent");
  EXPECT_NE(r.findings[0].report.find("write time tree block corruption detected"), std::string::npos);
}

}  // namespace
}  // namespace fsim::fs
