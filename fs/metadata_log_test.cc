// Checks metadata persistence: committed items come back at mount exactly
// as they were kept in memory; items of an uncommitted transaction do not;
// a power cut at any moment of any commit leaves a mount that sees either
// the previous commit or the new one whole, never a part (over many
// seeds, both outcomes occur); file extent drops trim straddling items.
#include "fs/metadata_log.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fsim::fs
