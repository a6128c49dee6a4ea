// Checks iomap writeback: contiguous dirty pages become one ioend and one
// bio; on a RAID0 volume that bio crosses the 64 KiB stripe and
// btrfs_map_bio WARNs, as the RFC saw (iomap merges by sector contiguity
// only); with the boundary flag on each per-stripe mapping, the ioend is
// cut at the stripe and the data lands on both devices; a page past EOF is
// redirtied, not written, and the page straddling EOF goes out with its
// tail zeroed; writepage from direct reclaim WARNs and redirties; more
// than 256 pages chain bios.
#include "fs/iomap/buffered_io.h"

#include <gtest/gtest.h>

#include "fs/btrfs/volumes.h"
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

// A filesystem whose file maps 1:1 onto the logical disk address space,
// submitting through the volume layer (the RFC's submit hook).
class IdentityFs final : public AddressSpaceOps, public IomapWritebackOps {
 public:
  IdentityFs(sim::Scheduler& s, Volumes& volumes, bool boundary)
      : sched_(s), volumes_(volumes), boundary_(boundary) {}

  uint64_t i_size = 0;
  int map_calls = 0;
  std::vector<uint64_t> ioend_sizes;

  int Writepage(Page& page, WritebackControl& wbc) override {
    IomapWritepageCtx wpc(sched_, *this);
    int ret = wpc.DoWritepage(page, wbc, i_size);
    wpc.SubmitPending();
    return ret;
  }
  bool Releasepage(Page&, sim::Gfp) override { return true; }
  void Invalidatepage(Page&, uint64_t, uint64_t) override {}

  int MapBlocks(IomapWritepageCtx& wpc, uint64_t offset) override {
    ++map_calls;
    // One extent for the whole file, or (boundary) one mapping per RAID0
    // stripe, flagged so that iomap does not merge past it.
    wpc.iomap.type = IomapType::kMapped;
    if (boundary_) {
      wpc.iomap.offset = offset / kStripeLen * kStripeLen;
      wpc.iomap.length = kStripeLen;
      wpc.iomap.flags = kIomapFBoundary;
    } else {
      wpc.iomap.offset = 0;
      wpc.iomap.length = 1 << 30;
      wpc.iomap.flags = 0;
    }
    wpc.iomap.addr = wpc.iomap.offset;
    return 0;
  }
  void SubmitBio(Ioend&, sim::Bio* bio) override { volumes_.MapBio(bio); }
  void EndIoend(Ioend& ioend) override { ioend_sizes.push_back(ioend.size); }

 private:
  sim::Scheduler& sched_;
  Volumes& volumes_;
  bool boundary_;
};

struct World {
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<Volumes> volumes;
  std::unique_ptr<IdentityFs> fs;
  std::unique_ptr<AddressSpace> mapping;
};

void BuildWorld(sim::Scheduler& s, World& w, bool boundary, uint64_t chunk_len = 4 << 20) {
  sim::MemoryConfig mem;
  mem.budget_pages = 4096;
  mem.low_pages = 4000;
  mem.high_pages = 3900;
  mem.kswapd = false;
  sim::Memory::Of(s).Configure(mem);
  std::vector<sim::DeviceConfig> disks(2);
  for (int i = 0; i < 2; ++i) {
    disks[i].name = i == 0 ? "sda" : "sdb";
    disks[i].capacity_sectors = 16384;
    disks[i].max_sectors = 2048;
    disks[i].latency_choices = 1;
  }
  w.array = std::make_unique<sim::BlockArray>(s, disks);
  w.volumes = std::make_unique<Volumes>(s, *w.array);
  w.volumes->AddChunk({0, chunk_len, Profile::kRaid0, {{0, 0}, {1, 0}}});
  w.fs = std::make_unique<IdentityFs>(s, *w.volumes, boundary);
  w.mapping = std::make_unique<AddressSpace>(s, "ino257", w.fs.get());
}

void Dirty(AddressSpace& m, uint64_t pages) {
  for (uint64_t i = 0; i < pages; ++i) {
    Page* page = m.FindOrCreatePage(i, sim::kGfpKernel);
    ASSERT_NE(page, nullptr);
    page->data.fill(static_cast<uint8_t>(i + 1));
    SetPageUptodate(*page);
    SetPageDirty(*page);
    UnlockPage(*page);
    PutPage(*page);
  }
}

TEST(IomapWritebackTest, ContiguousPagesMergePastTheStripeAndTripTheMapBioWarn) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  int wait_error = 0;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, w, false);
    w.volumes->set_split_bios(false);  // v5.13: btrfs_map_bio does not split
    s.Spawn("flusher", [&] {
      Dirty(*w.mapping, 32);  // 128 KiB, contiguous in file and on disk
      w.fs->i_size = 32 * kPageSize;
      WritebackControl wbc;
      wbc.sync_mode = WbSyncMode::kAll;
      IomapWritepageCtx wpc(s, *w.fs);
      wpc.Writepages(*w.mapping, wbc, w.fs->i_size);
      EXPECT_EQ(wpc.ioends(), 1u);  // one ioend, one 128 KiB bio
      wait_error = w.mapping->FilemapFdatawaitRange(0, kLEndMax);
    });
  });
  EXPECT_EQ(All(r), "warn:btrfs_map_bio:bio_beyond_map_length\n");
  EXPECT_EQ(wait_error, -5);  // -EIO reaches fdatawait
}

TEST(IomapWritebackTest, TheBoundaryFlagCutsIoendsAtTheStripe) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  std::vector<uint8_t> dev0(512), dev1(512);
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, w, true);
    s.Spawn("flusher", [&] {
      Dirty(*w.mapping, 32);
      w.fs->i_size = 32 * kPageSize;
      WritebackControl wbc;
      wbc.sync_mode = WbSyncMode::kAll;
      IomapWritepageCtx wpc(s, *w.fs);
      wpc.Writepages(*w.mapping, wbc, w.fs->i_size);
      EXPECT_EQ(wpc.ioends(), 2u);
      w.mapping->FilemapFdatawaitRange(0, kLEndMax);
      EXPECT_EQ(w.mapping->nr_dirty(), 0u);
      EXPECT_FALSE(PageError(*w.mapping->Peek(0)));
    });
  }, [&] {
    // Page 0 is the first 4 KiB of sda; page 16 the first of sdb.
    w.array->device(0).ReadSectors(0, 1, dev0.data(), false);
    w.array->device(1).ReadSectors(0, 1, dev1.data(), false);
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(w.fs->ioend_sizes, (std::vector<uint64_t>{kStripeLen, kStripeLen}));
  EXPECT_EQ(dev0[0], 1);
  EXPECT_EQ(dev1[0], 17);
}

TEST(IomapWritebackTest, PagesPastEofAreRedirtiedAndTheStraddlingPageIsZeroedPastEof) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  std::vector<uint8_t> on_disk(kPageSize);
  bool page2_dirty = false;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, w, true);
    s.Spawn("flusher", [&] {
      Dirty(*w.mapping, 3);
      w.fs->i_size = kPageSize + 100;  // truncated: page 1 straddles, page 2 is past EOF
      WritebackControl wbc;
      wbc.sync_mode = WbSyncMode::kNone;
      IomapWritepageCtx wpc(s, *w.fs);
      wpc.Writepages(*w.mapping, wbc, w.fs->i_size);
      w.mapping->FilemapFdatawaitRange(0, 2 * kPageSize - 1);
      page2_dirty = PageDirty(*w.mapping->Peek(2));
    });
  }, [&] { w.array->device(0).ReadSectors(8, 8, on_disk.data(), false); });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(page2_dirty);  // left for truncate, not written
  EXPECT_EQ(on_disk[99], 2);
  EXPECT_EQ(on_disk[100], 0);  // zeroed past EOF
  EXPECT_EQ(on_disk[kPageSize - 1], 0);
}

// The injectable mistake bug=writeback_past_eof_after_truncate: the page
// wholly past EOF is written instead of left dirty for truncate.
TEST(IomapWritebackTest, TheWritePastEofMistakeWritesThePageTruncateWasToDrop) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  std::vector<uint8_t> on_disk(kPageSize);
  bool page2_dirty = true;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, w, true);
    s.Spawn("flusher", [&] {
      Dirty(*w.mapping, 3);
      w.fs->i_size = kPageSize + 100;
      WritebackControl wbc;
      wbc.sync_mode = WbSyncMode::kNone;
      IomapWritepageCtx wpc(s, *w.fs);
      wpc.write_past_eof = true;
      wpc.Writepages(*w.mapping, wbc, w.fs->i_size);
      w.mapping->FilemapFdatawaitRange(0, 3 * kPageSize - 1);
      page2_dirty = PageDirty(*w.mapping->Peek(2));
    });
  }, [&] { w.array->device(0).ReadSectors(16, 8, on_disk.data(), false); });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_FALSE(page2_dirty);
  EXPECT_EQ(on_disk[0], 3);  // page 2's bytes reached the disk
  EXPECT_EQ(on_disk[kPageSize - 1], 3);
}

TEST(IomapWritebackTest, WritepageFromDirectReclaimWarnsAndRedirties) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  bool dirty_after = false;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, w, true);
    s.Spawn("direct_reclaim", [&] {
      Dirty(*w.mapping, 1);
      w.fs->i_size = kPageSize;
      Page* page = w.mapping->FindLockPage(0);
      ASSERT_TRUE(ClearPageDirtyForIo(*page));
      s.current_fiber().memalloc = true;  // as in shrink_page_list()
      WritebackControl wbc;
      wbc.for_reclaim = true;
      w.fs->Writepage(*page, wbc);
      s.current_fiber().memalloc = false;
      dirty_after = PageDirty(*page);
      PutPage(*page);
    });
  });
  EXPECT_EQ(All(r), "warn:iomap_do_writepage:direct_reclaim\n");
  EXPECT_TRUE(dirty_after);
}

TEST(IomapWritebackTest, MoreThan256PagesChainBios) {
  sim::Scheduler s;
  NonPreemptive strategy;
  World w;
  size_t bios = 0;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    BuildWorld(s, w, false, 8 << 20);
    // One device-sized stripe: make the chunk SINGLE so no stripe limits it.
    w.volumes = std::make_unique<Volumes>(s, *w.array);
    w.volumes->AddChunk({0, 8 << 20, Profile::kSingle, {{0, 0}}});
    w.fs = std::make_unique<IdentityFs>(s, *w.volumes, false);
    w.mapping = std::make_unique<AddressSpace>(s, "ino258", w.fs.get());
    s.Spawn("flusher", [&] {
      Dirty(*w.mapping, 300);
      w.fs->i_size = 300 * kPageSize;
      WritebackControl wbc;
      wbc.sync_mode = WbSyncMode::kAll;
      IomapWritepageCtx wpc(s, *w.fs);
      wpc.Writepages(*w.mapping, wbc, w.fs->i_size);
      EXPECT_EQ(wpc.ioends(), 1u);
      w.mapping->FilemapFdatawaitRange(0, kLEndMax);
      bios = w.array->device(0).stats().bios;
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(bios, 2u);  // 256 + 44 pages: one ioend, two chained bios
}

}  // namespace
}  // namespace fsim::fs
