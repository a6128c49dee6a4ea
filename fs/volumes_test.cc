// Checks the volume layer: btrfs_map_block's map_length ends at the RAID0
// stripe or the chunk; writes reach every mirror of RAID1 and DUP and
// survive one failed copy; reads come from a mirror the Chooser picks
// (both are seen across seeds); a bio crossing map_length is the WARN the
// RFC hit, failed and never split.
#include "fs/volumes.h"

#include <gtest/gtest.h>

#include <set>

#include "sim/testing.h"

namespace fsim::fs {
namespace {

using sim::testing::NonPreemptive;
using sim::testing::RandomStrategy;
using sim::testing::RunFunctions;

std::vector<sim::DeviceConfig> ThreeDisks() {
  std::vector<sim::DeviceConfig> c(3);
  for (int i = 0; i < 3; ++i) {
    c[i].name = "sd" + std::string(1, static_cast<char>('a' + i));
    c[i].capacity_sectors = 4096 << i;  // 2, 4 and 8 MiB
    c[i].max_sectors = 512;
  }
  return c;
}

TEST(VolumesTest, MapLengthStopsAtTheRaid0StripeAndTheChunkEnd) {
  sim::Scheduler s;
  sim::BlockArray array(s, ThreeDisks());
  Volumes v(s, array);
  v.AddChunk({1 << 20, 512 * 1024, Profile::kRaid0, {{0, 0}, {1, 0}}});
  v.AddChunk({4 << 20, 1 << 20, Profile::kSingle, {{2, 1 << 20}}});
  Mapping m;
  ASSERT_TRUE(v.MapBlock(true, (1 << 20) + 4096, 8192, 0, &m));
  EXPECT_EQ(m.map_length, kStripeLen - 4096);
  ASSERT_EQ(m.stripes.size(), 1u);
  EXPECT_EQ(m.stripes[0].device, 0u);
  ASSERT_TRUE(v.MapBlock(true, (1 << 20) + kStripeLen, 4096, 0, &m));
  EXPECT_EQ(m.stripes[0].device, 1u);  // the next stripe is on the next device
  EXPECT_EQ(m.stripes[0].physical, 0u);
  ASSERT_TRUE(v.MapBlock(true, (1 << 20) + 2 * kStripeLen, 4096, 0, &m));
  EXPECT_EQ(m.stripes[0].device, 0u);
  EXPECT_EQ(m.stripes[0].physical, kStripeLen);
  ASSERT_TRUE(v.MapBlock(false, (5 << 20) - 4096, 4096, 0, &m));
  EXPECT_EQ(m.map_length, 4096u);  // up to the chunk's end
  EXPECT_FALSE(v.MapBlock(false, 3 << 20, 4096, 0, &m));  // no chunk there
}

TEST(VolumesTest, MirroredWritesReachEveryCopyAndReadsPickAMirror) {
  std::set<uint8_t> read_from;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    sim::Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<Volumes> v;
    std::vector<uint8_t> data(4096, 0x33), back(4096);
    sim::RunOptions o;
    o.seed = seed;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      array = std::make_unique<sim::BlockArray>(s, ThreeDisks());
      v = std::make_unique<Volumes>(s, *array);
      v->AddChunk({0, 1 << 20, Profile::kRaid1, {{0, 0}, {2, 1 << 20}}});
      s.Spawn("fs", [&] {
        sim::Completion done(s, "done");
        sim::Bio w;
        w.op = sim::BioOp::kWrite;
        w.sector = 16;
        w.vecs = {{data.data(), 4096}};
        w.end_io = [&](sim::Bio& b) { EXPECT_EQ(b.status, sim::BlkStatus::kOk); done.Complete(); };
        v->MapBio(&w);
        done.Wait();
        // Make one copy different, to see which mirror a read used.
        std::vector<uint8_t> other(4096, 0x44);
        sim::Bio poke;
        poke.op = sim::BioOp::kWrite;
        poke.sector = ((1 << 20) + 16 * 512) / 512;
        poke.vecs = {{other.data(), 4096}};
        array->device(2).SubmitBioWait(poke);
        sim::Bio rd;
        rd.op = sim::BioOp::kRead;
        rd.sector = 16;
        rd.vecs = {{back.data(), 4096}};
        rd.end_io = [&](sim::Bio&) { done.Complete(); };
        v->MapBio(&rd);
        done.Wait();
      });
    }, [] {}, o);
    ASSERT_TRUE(r.findings.empty()) << r.findings[0].report;
    std::vector<uint8_t> copy(4096);
    array->device(0).ReadSectors(16, 8, copy.data(), false);
    EXPECT_EQ(copy, data);  // the first copy was written
    read_from.insert(back[0]);
  }
  EXPECT_EQ(read_from, (std::set<uint8_t>{0x33, 0x44}));  // both mirrors were read
}

TEST(VolumesTest, AMirroredWriteSurvivesOneFailedCopy) {
  bool saw_failure = false;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    sim::Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<sim::BlockArray> array;
    std::unique_ptr<Volumes> v;
    std::vector<uint8_t> data(4096, 1);
    sim::BlkStatus status = sim::BlkStatus::kIoError;
    sim::RunOptions o;
    o.seed = seed;
    RunFunctions(s, strategy, [&] {
      auto disks = ThreeDisks();
      disks[0].fault_io_errors = true;  // only the first copy can fail
      array = std::make_unique<sim::BlockArray>(s, disks);
      v = std::make_unique<Volumes>(s, *array);
      v->AddChunk({0, 1 << 20, Profile::kRaid1, {{0, 0}, {1, 0}}});
      s.Spawn("fs", [&] {
        sim::Completion done(s, "done");
        sim::Bio w;
        w.op = sim::BioOp::kWrite;
        w.vecs = {{data.data(), 4096}};
        w.end_io = [&](sim::Bio& b) { status = b.status; done.Complete(); };
        v->MapBio(&w);
        done.Wait();
      });
    }, [] {}, o);
    EXPECT_EQ(status, sim::BlkStatus::kOk);
    if (array->device(0).stats().errors > 0) saw_failure = true;
  }
  EXPECT_TRUE(saw_failure);
}

TEST(VolumesTest, ABioPastMapLengthIsTheRfcsWarnAndIsNotSplit) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<Volumes> v;
  std::vector<uint8_t> data(2 * kStripeLen, 5);
  sim::BlkStatus status = sim::BlkStatus::kOk;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    array = std::make_unique<sim::BlockArray>(s, ThreeDisks());
    v = std::make_unique<Volumes>(s, *array);
    v->AddChunk({0, 1 << 20, Profile::kRaid0, {{0, 0}, {1, 0}}});
    s.Spawn("iomap_submit", [&] {
      sim::Completion done(s, "done");
      sim::Bio w;  // 128 KiB from offset 0: crosses the first 64 KiB stripe
      w.op = sim::BioOp::kWrite;
      w.vecs = {{data.data(), static_cast<uint32_t>(data.size())}};
      w.end_io = [&](sim::Bio& b) { status = b.status; done.Complete(); };
      v->MapBio(&w);
      done.Wait();
    });
  });
  EXPECT_EQ(status, sim::BlkStatus::kIoError);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].signature, "warn:btrfs_map_bio:bio_beyond_map_length");
  EXPECT_TRUE(array->device(0).writes().empty());  // nothing was submitted
}

}  // namespace
}  // namespace fsim::fs
