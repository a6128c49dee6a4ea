// Checks the volume layer: btrfs_map_block's map_length ends at the
// RAID0/RAID10 stripe or the chunk; RAID10 stripes over mirror pairs;
// writes reach every mirror of RAID1, RAID10 and DUP and survive one
// failed copy where btrfs tolerates it (not on DUP); reads come from a
// mirror the Chooser picks (both are seen across seeds); a bio crossing
// map_length is split at the boundaries (mid-page if need be) and ends
// once, failed if any piece failed; with splitting off it is the WARN the
// RFC hit, failed and not submitted. Random geometry is covered by
// volumes_property_test.
#include "fs/btrfs/volumes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
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

TEST(VolumesTest, WithoutSplittingABioPastMapLengthIsTheRfcsWarn) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<Volumes> v;
  std::vector<uint8_t> data(2 * kStripeLen, 5);
  sim::BlkStatus status = sim::BlkStatus::kOk;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    array = std::make_unique<sim::BlockArray>(s, ThreeDisks());
    v = std::make_unique<Volumes>(s, *array);
    v->set_split_bios(false);  // bug iomap_merge_past_map_length
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
  EXPECT_TRUE(array->device(1).writes().empty());
}

std::vector<sim::DeviceConfig> Disks(size_t n) {
  std::vector<sim::DeviceConfig> c(n);
  for (size_t i = 0; i < n; ++i) {
    c[i].name = "sd" + std::string(1, static_cast<char>('a' + i));
    c[i].capacity_sectors = 8192;  // 4 MiB
    c[i].max_sectors = 512;
  }
  return c;
}

// Byte `i` of a test bio's data.
uint8_t Pattern(uint64_t i) { return static_cast<uint8_t>(i * 7 + i / 4096 + 1); }

// A bio over all of `buffer`, at logical `logical`, in vecs of 4 KiB (a
// page each; the last may be shorter).
sim::Bio MakeBio(sim::BioOp op, uint64_t logical, std::vector<uint8_t>& buffer) {
  sim::Bio bio;
  bio.op = op;
  bio.sector = logical / 512;
  for (uint64_t at = 0; at < buffer.size(); at += 4096) {
    const uint64_t len = std::min<uint64_t>(4096, buffer.size() - at);
    bio.vecs.push_back({buffer.data() + at, static_cast<uint32_t>(len)});
  }
  return bio;
}

// One MapBio of `bio` from a fiber, over `disks` with `chunk`; the
// status, how often end_io ran and bio_counter at end_io are recorded.
struct OneBio {
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<Volumes> v;
  int end_io_calls = 0;
  uint64_t bio_counter_at_end_io = ~uint64_t{0};
  sim::BlkStatus status = sim::BlkStatus::kOk;
  sim::RunResult result;

  void Run(uint64_t seed, const std::vector<sim::DeviceConfig>& disks, const Chunk& chunk,
           sim::Bio& bio) {
    sim::Scheduler s;
    RandomStrategy strategy;
    sim::RunOptions o;
    o.seed = seed;
    result = RunFunctions(s, strategy, [&] {
      array = std::make_unique<sim::BlockArray>(s, disks);
      v = std::make_unique<Volumes>(s, *array);
      v->AddChunk(chunk);
      s.Spawn("fs", [&] {
        sim::Completion done(s, "done");
        bio.end_io = [&](sim::Bio& b) {
          ++end_io_calls;
          bio_counter_at_end_io = v->bio_counter();
          status = b.status;
          done.Complete();
        };
        v->MapBio(&bio);
        done.Wait();
      });
    }, [] {}, o);
  }
};

TEST(VolumesTest, SplitTheRfcsMergedBioLandsOnBothStripes) {
  // The bio of WithoutSplittingABioPastMapLengthIsTheRfcsWarn, split.
  std::vector<uint8_t> data(2 * kStripeLen);
  for (uint64_t i = 0; i < data.size(); ++i) data[i] = Pattern(i);
  sim::Bio bio = MakeBio(sim::BioOp::kWrite, 0, data);
  OneBio one;
  one.Run(0, ThreeDisks(), {0, 1 << 20, Profile::kRaid0, {{0, 0}, {1, 0}}}, bio);
  ASSERT_TRUE(one.result.findings.empty()) << one.result.findings[0].report;
  EXPECT_EQ(one.end_io_calls, 1);
  EXPECT_EQ(one.status, sim::BlkStatus::kOk);
  for (size_t d = 0; d < 2; ++d) {
    ASSERT_EQ(one.array->device(d).writes().size(), 1u);
    const sim::WriteRecord& w = one.array->device(d).writes()[0];
    EXPECT_EQ(w.sector, 0u);
    EXPECT_EQ(w.sectors, kStripeLen / 512);
    EXPECT_TRUE(std::equal(w.data.begin(), w.data.end(), data.begin() + d * kStripeLen));
  }
}

TEST(VolumesTest, Raid10StripesOverMirrorPairs) {
  sim::Scheduler s;
  sim::BlockArray array(s, Disks(4));
  Volumes v(s, array);
  const uint64_t at = 1 << 20;
  v.AddChunk({at, 8 * kStripeLen, Profile::kRaid10, {{0, 0}, {1, 4096}, {2, 0}, {3, 8192}}});
  EXPECT_EQ(v.NumCopies(at), 2);
  Mapping m;
  // A write goes to both mirrors of the stripe's pair, up to the stripe's end.
  ASSERT_TRUE(v.MapBlock(true, at + 4096, 4096, 0, &m));
  EXPECT_EQ(m.map_length, kStripeLen - 4096);
  EXPECT_EQ(m.max_errors, 1);
  ASSERT_EQ(m.stripes.size(), 2u);
  EXPECT_EQ(m.stripes[0].device, 0u);
  EXPECT_EQ(m.stripes[0].physical, 4096u);
  EXPECT_EQ(m.stripes[1].device, 1u);
  EXPECT_EQ(m.stripes[1].physical, 4096u + 4096);
  // The next stripe is the second pair's, in the same row.
  ASSERT_TRUE(v.MapBlock(true, at + kStripeLen, 4096, 0, &m));
  ASSERT_EQ(m.stripes.size(), 2u);
  EXPECT_EQ(m.stripes[0].device, 2u);
  EXPECT_EQ(m.stripes[0].physical, 0u);
  EXPECT_EQ(m.stripes[1].device, 3u);
  EXPECT_EQ(m.stripes[1].physical, 8192u);
  EXPECT_EQ(m.map_length, kStripeLen);
  // The third is the first pair's again, one row down.
  ASSERT_TRUE(v.MapBlock(true, at + 2 * kStripeLen + 512, 4096, 0, &m));
  ASSERT_EQ(m.stripes.size(), 2u);
  EXPECT_EQ(m.stripes[0].device, 0u);
  EXPECT_EQ(m.stripes[0].physical, kStripeLen + 512);
  EXPECT_EQ(m.stripes[1].device, 1u);
  EXPECT_EQ(m.stripes[1].physical, 4096 + kStripeLen + 512);
  EXPECT_EQ(m.map_length, kStripeLen - 512);
  // A read: the one copy `mirror` names, no errors tolerated.
  ASSERT_TRUE(v.MapBlock(false, at + kStripeLen, 4096, 1, &m));
  ASSERT_EQ(m.stripes.size(), 1u);
  EXPECT_EQ(m.stripes[0].device, 3u);
  EXPECT_EQ(m.stripes[0].physical, 8192u);
  EXPECT_EQ(m.max_errors, 0);
  // The last 4 KiB: stripe 7 is the second pair's, row 3.
  ASSERT_TRUE(v.MapBlock(false, at + 8 * kStripeLen - 4096, 4096, 0, &m));
  EXPECT_EQ(m.map_length, 4096u);
  EXPECT_EQ(m.stripes[0].device, 2u);
  EXPECT_EQ(m.stripes[0].physical, 3 * kStripeLen + kStripeLen - 4096);
}

TEST(VolumesTest, BioFitsInStripeStopsAtTheStripeAndTheChunk) {
  sim::Scheduler s;
  sim::BlockArray array(s, Disks(4));
  Volumes v(s, array);
  v.AddChunk({0, 1 << 20, Profile::kRaid0, {{0, 0}, {1, 0}}});
  v.AddChunk({1 << 20, 1 << 20, Profile::kRaid1, {{2, 0}, {3, 0}}});
  EXPECT_TRUE(v.BioFitsInStripe(sim::BioOp::kWrite, 0, kStripeLen));
  EXPECT_FALSE(v.BioFitsInStripe(sim::BioOp::kWrite, 4096, kStripeLen));
  EXPECT_TRUE(v.BioFitsInStripe(sim::BioOp::kRead, kStripeLen - 512, 512));
  EXPECT_FALSE(v.BioFitsInStripe(sim::BioOp::kRead, kStripeLen - 512, 1024));
  EXPECT_TRUE(v.BioFitsInStripe(sim::BioOp::kWrite, 1 << 20, 1 << 20));  // RAID1: the whole chunk
  EXPECT_FALSE(v.BioFitsInStripe(sim::BioOp::kWrite, (1 << 20) + 4096, 1 << 20));  // past its end
  EXPECT_FALSE(v.BioFitsInStripe(sim::BioOp::kWrite, 2 << 20, 4096));  // in no chunk
}

TEST(VolumesTest, ASplitRaid10WriteReachesBothMirrorsOfEveryStripe) {
  // 160 KiB from logical 33 KiB: pieces of 31, 64, 64 and 1 KiB; the first
  // boundary falls 3 KiB into a page.
  const uint64_t logical = 33 * 1024, len = 160 * 1024;
  std::vector<uint8_t> data(len);
  for (uint64_t i = 0; i < len; ++i) data[i] = Pattern(i);
  sim::Bio bio = MakeBio(sim::BioOp::kWrite, logical, data);
  OneBio one;
  one.Run(1, Disks(4), {0, 1 << 20, Profile::kRaid10, {{0, 0}, {1, 0}, {2, 0}, {3, 0}}}, bio);
  ASSERT_TRUE(one.result.findings.empty()) << one.result.findings[0].report;
  EXPECT_EQ(one.end_io_calls, 1);
  EXPECT_EQ(one.bio_counter_at_end_io, 0u);
  EXPECT_EQ(one.status, sim::BlkStatus::kOk);
  // Logical stripe k lives on pair k % 2 at row k / 2; check every byte.
  for (size_t d = 0; d < 4; ++d) {
    std::vector<uint8_t> disk(4 * kStripeLen);
    one.array->device(d).ReadSectors(0, disk.size() / 512, disk.data(), false);
    for (uint64_t i = 0; i < len; ++i) {
      const uint64_t l = logical + i, k = l / kStripeLen;
      if (k % 2 != d / 2) continue;
      ASSERT_EQ(disk[k / 2 * kStripeLen + l % kStripeLen], data[i])
          << "device " << d << " byte " << i;
    }
    EXPECT_EQ(one.array->device(d).stats().bios, 2u);  // a piece in each of its two stripes
  }
}

TEST(VolumesTest, ASplitReadFailsIfAnyPieceFailsAndEndsOnce) {
  // 128 KiB from 32 KiB over RAID0: pieces on sda, sdb, sda; sdb may fail.
  std::set<sim::BlkStatus> seen;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    auto disks = Disks(2);
    disks[1].fault_io_errors = true;
    std::vector<uint8_t> buffer(128 * 1024);
    sim::Bio bio = MakeBio(sim::BioOp::kRead, 32 * 1024, buffer);
    OneBio one;
    one.Run(seed, disks, {0, 1 << 20, Profile::kRaid0, {{0, 0}, {1, 0}}}, bio);
    ASSERT_TRUE(one.result.findings.empty()) << one.result.findings[0].report;
    ASSERT_EQ(one.end_io_calls, 1);
    EXPECT_EQ(one.bio_counter_at_end_io, 0u);
    // The first error sticks, whichever pieces complete after it.
    EXPECT_EQ(one.status == sim::BlkStatus::kIoError, one.array->device(1).stats().errors > 0);
    EXPECT_EQ(one.array->device(0).stats().bios, 2u);
    seen.insert(one.status);
  }
  EXPECT_EQ(seen, (std::set<sim::BlkStatus>{sim::BlkStatus::kOk, sim::BlkStatus::kIoError}));
}

TEST(VolumesTest, ASplitMirroredWriteSurvivesOneFailedCopyPerPiece) {
  bool saw_failure = false;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    auto disks = Disks(4);
    disks[0].fault_io_errors = true;  // one mirror of the first pair
    std::vector<uint8_t> data(3 * kStripeLen);
    for (uint64_t i = 0; i < data.size(); ++i) data[i] = Pattern(i);
    sim::Bio bio = MakeBio(sim::BioOp::kWrite, 0, data);
    OneBio one;
    one.Run(seed, disks, {0, 1 << 20, Profile::kRaid10, {{0, 0}, {1, 0}, {2, 0}, {3, 0}}}, bio);
    ASSERT_TRUE(one.result.findings.empty()) << one.result.findings[0].report;
    ASSERT_EQ(one.end_io_calls, 1);
    EXPECT_EQ(one.status, sim::BlkStatus::kOk);
    std::vector<uint8_t> mirror(2 * kStripeLen);  // sdb: logical stripes 0 and 2
    one.array->device(1).ReadSectors(0, mirror.size() / 512, mirror.data(), false);
    EXPECT_TRUE(std::equal(mirror.begin(), mirror.begin() + kStripeLen, data.begin()));
    EXPECT_TRUE(
        std::equal(mirror.begin() + kStripeLen, mirror.end(), data.begin() + 2 * kStripeLen));
    if (one.array->device(0).stats().errors > 0) saw_failure = true;
  }
  EXPECT_TRUE(saw_failure);
}

TEST(VolumesTest, ADupWriteFailsWithOneFailedCopy) {
  // Both copies on one device: btrfs tolerates no failure (DUP's
  // tolerated_failures is 0).
  bool saw_failure = false;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto disks = Disks(1);
    disks[0].fault_io_errors = true;
    std::vector<uint8_t> data(8192, 3);
    sim::Bio bio = MakeBio(sim::BioOp::kWrite, 0, data);
    OneBio one;
    one.Run(seed, disks, {0, 1 << 20, Profile::kDup, {{0, 0}, {0, 1 << 20}}}, bio);
    ASSERT_EQ(one.end_io_calls, 1);
    const bool failed = one.array->device(0).stats().errors > 0;
    EXPECT_EQ(one.status == sim::BlkStatus::kIoError, failed);
    saw_failure |= failed;
  }
  EXPECT_TRUE(saw_failure);
}

TEST(VolumesTest, ABioRunningOutOfItsChunkIsUnmappedAndNotSubmitted) {
  std::vector<uint8_t> data(64 * 1024, 9);
  sim::Bio bio = MakeBio(sim::BioOp::kWrite, 96 * 1024, data);  // the chunk ends at 128 KiB
  OneBio one;
  one.Run(0, Disks(1), {0, 128 * 1024, Profile::kSingle, {{0, 0}}}, bio);
  ASSERT_EQ(one.result.findings.size(), 1u);
  EXPECT_EQ(one.result.findings[0].signature, "warn:btrfs_map_bio:unmapped");
  EXPECT_EQ(one.end_io_calls, 1);
  EXPECT_EQ(one.status, sim::BlkStatus::kIoError);
  EXPECT_TRUE(one.array->device(0).writes().empty());
}

}  // namespace
}  // namespace fsim::fs
