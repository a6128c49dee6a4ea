// Checks the page cache against the kernel behaviour it models, through a
// fake filesystem whose ->writepage starts writeback, unlocks the page and
// ends writeback later from a timer (interrupt context): the page lock
// excludes under random schedules and is seen by lockdep; truncation
// removes, zeroes, invalidates and waits as mm/truncate.c does; reclaim
// writes dirty pages under __GFP_FS only, with the page locked and
// PF_MEMALLOC set, and frees clean ones oldest first; write-and-wait
// leaves its range clean; references keep pages alive and a freed page's
// lock is a use after free; throttling bounds the dirty count; and the
// invariant checks name what the fs got wrong. A random stress run of all
// of it together keeps memory and dirty accounting exact.
#include "fs/mm/page_cache.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/heap.h"
#include "sim/sync.h"
#include "sim/testing.h"

namespace fsim::fs {
namespace {

using sim::Finding;
using sim::FindingKind;
using sim::kGfpKernel;
using sim::kGfpNoFs;
using sim::Memory;
using sim::MemoryConfig;
using sim::RunOptions;
using sim::RunResult;
using sim::Scheduler;
using sim::testing::NonPreemptive;
using sim::testing::RandomStrategy;
using sim::testing::RunFunctions;

std::string All(const RunResult& r) {
  std::string s;
  for (const Finding& f : r.findings) s += f.signature + "\n" + f.report + "\n";
  return s;
}

bool Has(const RunResult& r, const std::string& signature) {
  for (const Finding& f : r.findings) {
    if (f.signature == signature) return true;
  }
  return false;
}

// Runs fibers to completion one after another; values chosen are the
// largest allowed (reclaim scans everything it is offered).
class SerialScanAll : public NonPreemptive {
 public:
  uint64_t PickValue(uint64_t n, sim::Site) override { return n - 1; }
};

void ConfigureMemory(Scheduler& s, uint64_t budget) {
  MemoryConfig c;
  c.budget_pages = c.low_pages = c.high_pages = budget;
  c.kswapd = false;
  Memory::Of(s).Configure(c);
}

int marker;  // page->private of the fake fs

// The fake filesystem: writeback completes from a timer.
class FakeOps final : public AddressSpaceOps {
 public:
  struct WriteCall {
    uint64_t index;
    bool locked_by_caller;
    bool memalloc;
    bool for_reclaim;
    std::string fiber;
  };
  struct InvalidateCall {
    uint64_t index, offset, length;
    bool locked;
  };

  explicit FakeOps(Scheduler& s) : s_(s) {}

  int Writepage(Page& page, WritebackControl& wbc) override {
    const sim::Fiber& f = s_.current_fiber();
    writes.push_back({page.index(), PageLocked(page) && page.lock_owner() == s_.current(),
                      f.memalloc, wbc.for_reclaim, f.name});
    SetPageWriteback(page);
    UnlockPage(page);
    uint64_t latency = latency_ns * (1 + s_.Choose(3, "test_io_latency"));
    s_.AddTimer(s_.now_ns() + latency, "end_io", [this, &page] {
      irq_ok = irq_ok && s_.current_fiber().in_irq;
      if (on_end_io) on_end_io(page);
      EndPageWriteback(page);
    });
    return 0;
  }
  bool Releasepage(Page& page, sim::Gfp) override {
    releases.push_back(page.index());
    if (!release_ok) return false;
    DetachPagePrivate(page);
    return true;
  }
  void Invalidatepage(Page& page, uint64_t offset, uint64_t length) override {
    invalidates.push_back({page.index(), offset, length, PageLocked(page)});
    if (offset == 0 && length == kPageSize) DetachPagePrivate(page);
  }

  uint64_t latency_ns = 1000;
  bool release_ok = true;
  bool irq_ok = true;
  std::function<void(Page&)> on_end_io;
  std::vector<WriteCall> writes;
  std::vector<uint64_t> releases;
  std::vector<InvalidateCall> invalidates;

 private:
  Scheduler& s_;
};

// Caches page `index` filled with `fill`, optionally dirty and with
// private data; returns it unlocked, without a reference of the caller's.
Page* Populate(AddressSpace& m, uint64_t index, uint8_t fill, bool dirty, bool priv = false) {
  Page* page = m.FindOrCreatePage(index, kGfpKernel);
  if (page == nullptr) return nullptr;
  page->data.fill(fill);
  SetPageUptodate(*page);
  if (dirty) SetPageDirty(*page);
  if (priv) AttachPagePrivate(*page, &marker);
  UnlockPage(*page);
  PutPage(*page);
  return page;
}

TEST(PageCacheTest, LockPageExcludesUnderRandomSchedules) {
  // Three fibers find-or-create the same page (locked) and hold it across
  // yields; a counter of holders must never exceed one, the page must be
  // created once, and some runs must have contended for it.
  Scheduler s;
  RandomStrategy strategy;
  uint64_t contended = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    FakeOps ops(s);
    std::unique_ptr<AddressSpace> m;
    int holders = 0, max_holders = 0;
    RunOptions options;
    options.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      m = std::make_unique<AddressSpace>(s, "ino257", &ops);
      for (const char* name : {"A", "B", "C"}) {
        s.Spawn(name, [&] {
          for (int i = 0; i < 2; ++i) {
            Page* seen = m->Peek(0);
            if (seen != nullptr && PageLocked(*seen)) ++contended;
            Page* page = m->FindOrCreatePage(0, kGfpKernel);
            ASSERT_NE(page, nullptr);
            max_holders = std::max(max_holders, ++holders);
            s.Yield("test_hold");
            s.Yield("test_hold");
            --holders;
            UnlockPage(*page);
            PutPage(*page);
          }
        });
      }
    }, [&] { EXPECT_TRUE(m->CheckInvariants(kPageSize).empty()); }, options);
    ASSERT_TRUE(r.findings.empty()) << "seed " << seed << ": " << All(r);
    ASSERT_EQ(max_holders, 1) << "seed " << seed;
    ASSERT_EQ(m->nrpages(), 1u);
  }
  EXPECT_GT(contended, 0u);
}

TEST(PageCacheTest, LockdepSeesPageLocks) {
  // Page lock then a mutex in one fiber, the mutex then the page lock in
  // another, run serially (no deadlock): lockdep reports the inversion,
  // naming PG_locked. Then pages nested under a held lock are clean with
  // the nest annotation and recursive locking without it.
  Scheduler s;
  NonPreemptive strategy;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  std::unique_ptr<sim::Mutex> extent;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    extent = std::make_unique<sim::Mutex>(s, "extent_lock");
    s.Spawn("writeback", [&] {
      Page* page = Populate(*m, 0, 1, false);
      GetPage(*page);
      LockPage(*page);
      extent->Lock();
      extent->Unlock();
      UnlockPage(*page);
      PutPage(*page);
    });
    s.Spawn("write", [&] {
      Page* page = m->FindGetPage(0);
      extent->Lock();
      LockPage(*page);
      UnlockPage(*page);
      extent->Unlock();
      PutPage(*page);
    });
  });
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.finding->kind, FindingKind::kLockOrder);
  EXPECT_NE(r.finding->signature.find("PG_locked"), std::string::npos) << r.finding->signature;
  EXPECT_NE(r.finding->report.find("PG_locked"), std::string::npos);

  for (bool nest : {true, false}) {
    RunResult n = RunFunctions(s, strategy, [&] {
      m = std::make_unique<AddressSpace>(s, "ino258", &ops);
      extent = std::make_unique<sim::Mutex>(s, "extent_lock");
      s.Spawn("batch", [&, nest] {
        for (uint64_t i = 0; i < 4; ++i) Populate(*m, i, 1, false);
        extent->Lock();
        for (uint64_t i = 0; i < 4; ++i) {
          LockPage(*m->Peek(i), sim::Where::current(),
                   nest ? &extent->lockdep_map() : nullptr);
        }
        for (uint64_t i = 0; i < 4; ++i) UnlockPage(*m->Peek(i));
        extent->Unlock();
      });
    });
    if (nest) {
      EXPECT_TRUE(n.findings.empty()) << All(n);
    } else {
      EXPECT_TRUE(Has(n, "lock_misuse:recursive:PG_locked")) << All(n);
    }
  }
}

TEST(PageCacheTest, TruncateRemovesZeroesInvalidatesAndWaitsForWriteback) {
  // Pages 0-3 full of 0xaa; 1 and 3 have private data; 2 is under
  // writeback (slow I/O). truncate_setsize to 4096+100 keeps page 0,
  // zeroes page 1 from byte 100 and tells the fs (100, 3996), drops page
  // 3 with invalidatepage(0, 4096), and drops page 2 only after its
  // writeback ended: the end_io callback still sees it cached.
  Scheduler s;
  NonPreemptive strategy;
  FakeOps ops(s);
  ops.latency_ns = 1'000'000;
  std::unique_ptr<AddressSpace> m;
  uint64_t i_size = 4 * kPageSize;
  bool cached_at_end_io = false;
  uint64_t truncate_done_ns = 0;
  RunResult r = RunFunctions(s, strategy, [&] {
    ConfigureMemory(s, 16);
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    ops.on_end_io = [&](Page& page) { cached_at_end_io = m->Peek(page.index()) == &page; };
    s.Spawn("truncate", [&] {
      for (uint64_t i = 0; i < 4; ++i) Populate(*m, i, 0xaa, i == 2, i == 1 || i == 3);
      ASSERT_EQ(m->FilemapFdatawriteRange(2 * kPageSize, 3 * kPageSize - 1, WbSyncMode::kNone),
                0);
      ASSERT_TRUE(PageWriteback(*m->Peek(2)));
      m->TruncateSetsize(i_size, kPageSize + 100);
      truncate_done_ns = s.now_ns();
    });
  }, [&] {  // pages live until the run ends: look at them before
    ASSERT_EQ(m->Indices(), (std::vector<uint64_t>{0, 1}));
    const Page& p0 = *m->Peek(0);
    const Page& p1 = *m->Peek(1);
    for (uint64_t b = 0; b < kPageSize; ++b) {
      ASSERT_EQ(p0.data[b], 0xaa) << b;
      ASSERT_EQ(p1.data[b], b < 100 ? 0xaa : 0) << b;
    }
    EXPECT_TRUE(m->CheckInvariants(i_size).empty());
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(i_size, kPageSize + 100);
  EXPECT_EQ(m->Indices(), (std::vector<uint64_t>{0, 1}));
  EXPECT_TRUE(cached_at_end_io);
  EXPECT_GE(truncate_done_ns, ops.latency_ns);
  ASSERT_EQ(ops.invalidates.size(), 2u);
  EXPECT_EQ(ops.invalidates[0].index, 3u);  // first pass: whole page, trylocked
  EXPECT_EQ(ops.invalidates[0].offset, 0u);
  EXPECT_EQ(ops.invalidates[0].length, kPageSize);
  EXPECT_EQ(ops.invalidates[1].index, 1u);  // the partial page
  EXPECT_EQ(ops.invalidates[1].offset, 100u);
  EXPECT_EQ(ops.invalidates[1].length, kPageSize - 100);
  for (const auto& call : ops.invalidates) EXPECT_TRUE(call.locked);
  EXPECT_TRUE(ops.irq_ok);
  EXPECT_EQ(Memory::Of(s).used(), 2u);  // pages 2 and 3 were freed
}

TEST(PageCacheTest, PunchHoleZeroesBothPartialPagesAndDropsTheMiddle) {
  // truncate_inode_pages_range(4096+10, 3*4096+19) over pages 0-4 with
  // private data: page 1 zeroed from 10, page 3 up to 20, page 2 gone;
  // invalidatepage sees exactly those ranges. A hole inside one page
  // zeroes [100, 200) of page 0 only.
  Scheduler s;
  NonPreemptive strategy;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("punch", [&] {
      for (uint64_t i = 0; i < 5; ++i) Populate(*m, i, 0xaa, true, true);
      m->TruncateInodePagesRange(kPageSize + 10, 3 * kPageSize + 19);
      m->TruncateInodePagesRange(100, 199);
    });
  }, [&] {
    ASSERT_EQ(m->Indices(), (std::vector<uint64_t>{0, 1, 3, 4}));
    for (uint64_t b = 0; b < kPageSize; ++b) {
      ASSERT_EQ(m->Peek(0)->data[b], b >= 100 && b < 200 ? 0 : 0xaa) << b;
      ASSERT_EQ(m->Peek(1)->data[b], b < 10 ? 0xaa : 0) << b;
      ASSERT_EQ(m->Peek(3)->data[b], b < 20 ? 0 : 0xaa) << b;
      ASSERT_EQ(m->Peek(4)->data[b], 0xaa) << b;
    }
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  ASSERT_EQ(ops.invalidates.size(), 4u);
  auto expect = [&](size_t i, uint64_t index, uint64_t offset, uint64_t length) {
    EXPECT_EQ(ops.invalidates[i].index, index) << i;
    EXPECT_EQ(ops.invalidates[i].offset, offset) << i;
    EXPECT_EQ(ops.invalidates[i].length, length) << i;
  };
  expect(0, 2, 0, kPageSize);
  expect(1, 1, 10, kPageSize - 10);
  expect(2, 3, 0, 20);
  expect(3, 0, 100, 100);
  EXPECT_EQ(m->nr_dirty(), 4u);  // partial pages stay dirty
  EXPECT_EQ(PageCache::Of(s).nr_dirty(), 4u);
}

// A budget of `n` pages filled with pages 0 to n-1 (clean or dirty), then
// page n cached with `gfp`, all in one fiber (SerialScanAll: reclaim is
// offered every page). Sets *got to whether page n could be cached.
RunResult FillThenAllocate(Scheduler& s, FakeOps& ops, std::unique_ptr<AddressSpace>& m, uint64_t n,
                           bool dirty, sim::Gfp gfp, bool* got) {
  SerialScanAll strategy;
  return RunFunctions(s, strategy, [&, n, dirty, gfp, got] {
    ConfigureMemory(s, n);
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("alloc", [&, n, dirty, gfp, got] {
      for (uint64_t i = 0; i < n; ++i) Populate(*m, i, 1, dirty);
      Page* page = m->FindOrCreatePage(n, gfp);
      *got = page != nullptr;
      if (page != nullptr) {
        UnlockPage(*page);
        PutPage(*page);
      }
    });
  });
}

// Pages 0-7 fill a budget of 8: 0 and 2 dirty, 4 with private data, 5
// still referenced by the test. Caching page 8 must reclaim.
struct ReclaimWorld {
  explicit ReclaimWorld(Scheduler& s) : ops(s) {}
  FakeOps ops;
  std::unique_ptr<AddressSpace> m;
  Page* page5 = nullptr;
  bool got = false;
};

RunResult ReclaimRun(Scheduler& s, ReclaimWorld& w, sim::Gfp gfp,
                     std::function<void()> finish,
                     PageCacheConfig::ReclaimWritepage mode =
                         PageCacheConfig::ReclaimWritepage::kAll) {
  SerialScanAll strategy;
  return RunFunctions(s, strategy, [&, mode] {
    ConfigureMemory(s, 8);
    PageCacheConfig config;
    config.reclaim_writepage = mode;
    PageCache::Of(s).Configure(config);
    w.m = std::make_unique<AddressSpace>(s, "ino257", &w.ops);
    s.Spawn("alloc", [&, gfp] {
      for (uint64_t i = 0; i < 8; ++i) Populate(*w.m, i, 1, i == 0 || i == 2, i == 4);
      w.page5 = w.m->FindGetPage(5);
      Page* page = w.m->FindOrCreatePage(8, gfp);
      w.got = page != nullptr;
      if (page != nullptr) {
        UnlockPage(*page);
        PutPage(*page);
      }
      PutPage(*w.page5);
    });
  }, std::move(finish));
}

TEST(PageCacheTest, ReclaimWritesDirtyPagesLockedUnderMemallocAndDropsCleanOnes) {
  // Under GFP_KERNEL the shrinker, walking oldest first, writes pages 0
  // and 2 through ->writepage (page locked by the reclaiming fiber,
  // PF_MEMALLOC set, for_reclaim), releases page 4's private data, keeps
  // the page in use, and frees the clean ones; writeback ends in
  // interrupt context and rotates the written pages to the LRU's oldest
  // end. The budget is never exceeded.
  Scheduler s;
  ReclaimWorld w(s);
  std::vector<uint64_t> lru;
  RunResult r = ReclaimRun(s, w, kGfpKernel, [&] {
    for (const Page* page : PageCache::Of(s).LruPages()) lru.push_back(page->index());
    EXPECT_TRUE(w.m->CheckInvariants(9 * kPageSize).empty());
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(w.got);
  ASSERT_EQ(w.ops.writes.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const FakeOps::WriteCall& c = w.ops.writes[i];
    EXPECT_EQ(c.index, 2 * i);
    EXPECT_TRUE(c.locked_by_caller);
    EXPECT_TRUE(c.memalloc);
    EXPECT_TRUE(c.for_reclaim);
    EXPECT_EQ(c.fiber, "alloc");
  }
  EXPECT_EQ(w.ops.releases, (std::vector<uint64_t>{4}));
  EXPECT_EQ(w.m->Indices(), (std::vector<uint64_t>{0, 2, 5, 8}));
  EXPECT_EQ(w.m->nr_dirty(), 0u);
  EXPECT_EQ(w.m->nr_writeback(), 0u);
  EXPECT_TRUE(w.ops.irq_ok);
  const Memory& mem = Memory::Of(s);
  EXPECT_EQ(mem.used(), 4u);
  EXPECT_LE(mem.stats().max_used, 8u);
  ASSERT_EQ(lru.size(), 4u);
  EXPECT_EQ(lru[0] + lru[1], 2u);  // 0 and 2, rotated to the oldest end
  EXPECT_EQ(PageCache::Of(s).pages_freed(), 5u);
}

TEST(PageCacheTest, AReclaimPassStopsOnceItFreedSwapClusterMaxPages) {
  // 80 clean pages fill a budget of 80; caching one more reclaims. The
  // pass is offered the whole LRU (SerialScanAll) but, as shrink_lruvec()
  // with nr_to_reclaim = SWAP_CLUSTER_MAX, it isolates 32 pages at a time
  // and stops after the batch that freed 32: the oldest 32 go, the
  // newest 48 stay. (Before, one pass freed all 80.)
  Scheduler s;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  bool got = false;
  RunResult r = FillThenAllocate(s, ops, m, 80, /*dirty=*/false, kGfpKernel, &got);
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(got);
  std::vector<uint64_t> expected;
  for (uint64_t i = 32; i <= 80; ++i) expected.push_back(i);
  EXPECT_EQ(m->Indices(), expected);
  EXPECT_EQ(PageCache::Of(s).pages_freed(), 32u);
  EXPECT_EQ(Memory::Of(s).used(), 49u);
  EXPECT_EQ(Memory::Of(s).stats().direct_reclaims, 1u);
}

TEST(PageCacheTest, APageAUserMappingJustTouchedIsKeptOncePerScan) {
  // 80 clean pages, the oldest (page 0) young in a user mapping
  // (SetPageReferencedByPte, as a read fault of a write's mapped buffer
  // leaves it): page_check_references() keeps it, clearing the bit, and
  // the pass's first batch of 32 frees the other 31.
  Scheduler s;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  bool got = false;
  Page* first = nullptr;
  SerialScanAll strategy;
  RunResult r = RunFunctions(s, strategy, [&] {
    ConfigureMemory(s, 80);
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("alloc", [&] {
      for (uint64_t i = 0; i < 80; ++i) Populate(*m, i, 1, false);
      first = m->FindGetPage(0);
      SetPageReferencedByPte(*first);
      PutPage(*first);
      Page* page = m->FindOrCreatePage(80, kGfpKernel);
      got = page != nullptr;
      if (page != nullptr) {
        UnlockPage(*page);
        PutPage(*page);
      }
      first = m->FindGetPage(0);
      ASSERT_NE(first, nullptr);
      EXPECT_EQ(first->flags() & kPgReferenced, 0u);  // cleared: the next scan may take it
      PutPage(*first);
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(got);
  std::vector<uint64_t> expected{0};
  for (uint64_t i = 32; i <= 80; ++i) expected.push_back(i);
  EXPECT_EQ(m->Indices(), expected);
}

TEST(PageCacheTest, AsInV513DirectReclaimOnlyMarksDirtyPagesForKswapd) {
  // v5.13's shrink_page_list(): direct reclaim never calls ->writepage
  // for file pages; it marks them PG_reclaim and keeps them (kswapd writes
  // such a page when it meets it again).
  Scheduler s;
  ReclaimWorld w(s);
  bool marked = false;
  RunResult r = ReclaimRun(
      s, w, kGfpKernel,
      [&] { marked = PageReclaim(*w.m->Peek(0)) && PageReclaim(*w.m->Peek(2)); },
      PageCacheConfig::ReclaimWritepage::kKswapdOnly);
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(w.ops.writes.empty());
  EXPECT_TRUE(marked);
  EXPECT_EQ(w.m->nr_dirty(), 2u);
}

TEST(PageCacheTest, NoFsReclaimSkipsDirtyPages) {
  // The same world under GFP_NOFS: no ->writepage at all, the dirty pages
  // stay dirty and cached, the clean ones are still freed.
  Scheduler s;
  ReclaimWorld w(s);
  bool still_dirty = false;
  RunResult r = ReclaimRun(s, w, kGfpNoFs, [&] {
    still_dirty = PageDirty(*w.m->Peek(0)) && PageDirty(*w.m->Peek(2));
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(w.got);
  EXPECT_TRUE(w.ops.writes.empty());
  EXPECT_EQ(w.m->Indices(), (std::vector<uint64_t>{0, 2, 5, 8}));
  EXPECT_EQ(w.m->nr_dirty(), 2u);
  EXPECT_TRUE(still_dirty);
  EXPECT_EQ(Memory::Of(s).used(), 4u);
}

TEST(PageCacheTest, NoFsAllocationOverOnlyDirtyPagesWakesTheFlusherAndWaits) {
  // Every cached page dirty and none under writeback, and a GFP_NOFS
  // allocation (reclaim may not write): as v5.13's shrink_inactive_list(),
  // reclaim that took only unqueued dirty pages wakes the flusher
  // (WB_REASON_VMSCAN), and as should_reclaim_retry(), the allocation that
  // freed nothing waits for writeback while pages are write-pending, then
  // reclaims the pages the flusher cleaned. Giving up at once, as fsim's
  // allocator did before, was a page allocation failure Linux would not
  // have.
  Scheduler s;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  bool got = false;
  RunResult r = FillThenAllocate(s, ops, m, 4, /*dirty=*/true, kGfpNoFs, &got);
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(got);
  ASSERT_FALSE(ops.writes.empty());
  for (const FakeOps::WriteCall& c : ops.writes) {
    EXPECT_EQ(c.fiber, "flush-btrfs");  // never the allocating task
    EXPECT_FALSE(c.for_reclaim);
  }
  auto covered = [&r](const std::string& point) {
    return std::find(r.covered.begin(), r.covered.end(), point) != r.covered.end();
  };
  EXPECT_TRUE(covered("vmscan:wakeup_flusher")) << "reclaim did not wake the flusher";
  EXPECT_TRUE(covered("alloc_pages:wait_for_writeback"));
  EXPECT_LE(Memory::Of(s).stats().max_used, 4u);
}

TEST(PageCacheTest, WriteAndWaitLeavesNoDirtyOrWritebackPageInRange) {
  // Ten dirty pages; page 3 is already under writeback and dirtied again.
  // filemap_write_and_wait_range over pages 2-5 waits for page 3's old
  // writeback, writes 2-5 once each, and returns with all of them clean
  // and written; pages outside the range stay dirty.
  Scheduler s;
  RandomStrategy strategy;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    FakeOps ops(s);
    std::unique_ptr<AddressSpace> m;
    bool clean_after = false;
    int error = -1;
    RunOptions options;
    options.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      m = std::make_unique<AddressSpace>(s, "ino257", &ops);
      s.Spawn("fsync", [&] {
        for (uint64_t i = 0; i < 10; ++i) Populate(*m, i, 1, true);
        ASSERT_EQ(m->FilemapFdatawriteRange(3 * kPageSize, 4 * kPageSize - 1,
                                            WbSyncMode::kNone), 0);
        SetPageDirty(*m->Peek(3));
        error = m->FilemapWriteAndWaitRange(2 * kPageSize, 6 * kPageSize - 1);
        clean_after = true;
        for (uint64_t i = 2; i < 6; ++i) {
          clean_after = clean_after && !PageDirty(*m->Peek(i)) && !PageWriteback(*m->Peek(i));
        }
      });
    }, [] {}, options);
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(error, 0);
    EXPECT_TRUE(clean_after) << "seed " << seed;
    std::vector<uint64_t> written;
    for (const auto& c : ops.writes) written.push_back(c.index);
    EXPECT_EQ(written, (std::vector<uint64_t>{3, 2, 3, 4, 5}));
    EXPECT_EQ(m->nr_dirty(), 6u);
  }
}

TEST(PageCacheTest, ReferencesKeepPagesAliveAndAFreedPageLockIsUseAfterFree) {
  // A page truncated while the test holds a reference leaves the cache but
  // is not freed (its memory still charged); the last put frees it; then
  // locking it through the stale pointer is reported as a use after free
  // naming who freed it. Dropping the cache's own reference is a bad page
  // state and does not free the page.
  Scheduler s;
  NonPreemptive strategy;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  bool alive_after_truncate = false, orphaned = false;
  uint64_t used_held = 0, used_put = 9;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("user", [&] {
      Page* page = Populate(*m, 0, 1, false);
      GetPage(*page);
      m->TruncatePagecache(0);
      alive_after_truncate = page->alive();
      orphaned = page->mapping() == nullptr && m->nrpages() == 0;
      used_held = Memory::Of(s).used();
      PutPage(*page);
      used_put = Memory::Of(s).used();
      LockPage(*page);
    });
  });
  EXPECT_TRUE(alive_after_truncate);
  EXPECT_TRUE(orphaned);
  EXPECT_EQ(used_held, 1u);
  EXPECT_EQ(used_put, 0u);
  ASSERT_TRUE(Has(r, "use_after_free:lock_page")) << All(r);
  EXPECT_NE(r.findings[0].report.find("was freed by fiber 'user'"), std::string::npos)
      << r.findings[0].report;

  RunResult u = RunFunctions(s, strategy, [&] {
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("user", [&] {
      Page* page = Populate(*m, 0, 1, false);
      PutPage(*page);  // one put too many
    });
  });
  EXPECT_TRUE(Has(u, "warn:page_refcount_underflow")) << All(u);
  EXPECT_EQ(m->nrpages(), 1u);
  EXPECT_EQ(Memory::Of(s).used(), 1u);
}

TEST(PageCacheTest, BalanceDirtyPagesKeepsTheDirtyCountNearTheThreshold) {
  // With a threshold of 4 dirty pages, a writer that dirties 12 pages and
  // calls balance_dirty_pages after each never returns from it above the
  // threshold, and the writing is done by the flusher it woke, never by
  // the writer's own ->writepage calls.
  Scheduler s;
  NonPreemptive strategy;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  uint64_t max_after_balance = 0;
  RunResult r = RunFunctions(s, strategy, [&] {
    PageCacheConfig config;
    config.dirty_thresh_pages = 4;
    PageCache::Of(s).Configure(config);
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("writer", [&] {
      for (uint64_t i = 0; i < 12; ++i) {
        Populate(*m, i, 1, true);
        BalanceDirtyPages(*m);
        max_after_balance = std::max(max_after_balance, PageCache::Of(s).nr_dirty());
      }
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  EXPECT_LE(max_after_balance, 4u);
  ASSERT_GE(ops.writes.size(), 8u);
  for (const auto& c : ops.writes) EXPECT_EQ(c.fiber, "flush-btrfs");
  EXPECT_GE(PageCache::Of(s).flusher_passes(), 1u);
}

TEST(PageCacheTest, ADataIntegrityPassFindsAPageAnotherWritepageHoldsCleaned) {
  // PAGECACHE_TAG_DIRTY outlives clear_page_dirty_for_io(): while another
  // task's writepage holds page 0 locked and cleaned, a WB_SYNC_ALL pass
  // still finds it, waits for its lock, and, the page redirtied by that
  // writepage (a best-effort path giving up), writes it itself.
  Scheduler s;
  NonPreemptive strategy;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  RunResult r = RunFunctions(s, strategy, [&] {
    ConfigureMemory(s, 16);
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("flusher", [&] {
      Populate(*m, 0, 2, true);
      Page* page = m->FindLockPage(0);
      ASSERT_NE(page, nullptr);
      ASSERT_TRUE(ClearPageDirtyForIo(*page));
      s.SleepFor(1000);  // writepage busy: the integrity pass looks now
      WritebackControl wbc;
      RedirtyPageForWritepage(wbc, *page);
      UnlockPage(*page);
      PutPage(*page);
    });
    s.Spawn("fsync", [&] {
      EXPECT_EQ(m->FilemapWriteAndWaitRange(0, kLEndMax), 0);
    });
  });
  ASSERT_TRUE(r.findings.empty()) << All(r);
  std::vector<uint64_t> by_fsync;
  for (const auto& c : ops.writes) {
    if (c.fiber == "fsync") by_fsync.push_back(c.index);
  }
  EXPECT_EQ(by_fsync, (std::vector<uint64_t>{0}));
  EXPECT_EQ(PageCache::Of(s).nr_dirty(), 0u);
}

TEST(PageCacheTest, InvariantChecksNameWhatTheFsGotWrong) {
  // A page left locked, a leaked reference and a dirty page wholly past
  // i_size are each one WARNING line and one warn finding; a clean world
  // has none.
  Scheduler s;
  NonPreemptive strategy;
  FakeOps ops(s);
  std::unique_ptr<AddressSpace> m;
  std::vector<std::string> violations;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<AddressSpace>(s, "ino257", &ops);
    s.Spawn("sloppy", [&] {
      Populate(*m, 0, 1, false);
      Populate(*m, 1, 1, false);
      Populate(*m, 3, 1, true);
      m->FindGetPage(1);  // leaked
      Page* locked = m->FindLockPage(0);
      HandOffPageLock(*locked);  // "I/O" owns it; never unlocked
      PutPage(*locked);
    });
  }, [&] {
    violations = m->CheckInvariants(2 * kPageSize);
    m->ReportInvariants(2 * kPageSize);
  });
  ASSERT_EQ(violations.size(), 3u);
  for (const std::string& v : violations) EXPECT_EQ(v.rfind("WARNING: ", 0), 0u) << v;
  EXPECT_TRUE(Has(r, "warn:page_left_locked:ino257")) << All(r);
  EXPECT_TRUE(Has(r, "warn:page_refcount:ino257")) << All(r);
  EXPECT_TRUE(Has(r, "warn:dirty_beyond_eof:ino257")) << All(r);
  for (const Finding& f : r.findings) EXPECT_EQ(f.kind, FindingKind::kWarn);
}

TEST(PageCacheTest, RandomStressKeepsAccountingExact) {
  // Two writers (each under its inode's i_rwsem) dirty pages of two files
  // under a small budget with direct reclaim, throttling after each page;
  // a truncater shrinks file A and an fsync-er writes and waits on file B.
  // Over many schedules: no finding, memory used equals pages cached, the
  // run's dirty count equals the files', nothing dirty past EOF.
  Scheduler s;
  RandomStrategy strategy;
  uint64_t reclaims = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    FakeOps ops(s);
    std::unique_ptr<AddressSpace> a, b;
    std::unique_ptr<sim::Mutex> a_rwsem, b_rwsem;
    uint64_t a_size = 0, b_size = 0;
    RunOptions options;
    options.seed = seed;
    auto writer = [&](AddressSpace& m, sim::Mutex& rwsem, uint64_t& size) {
      for (uint64_t i = 0; i < 6; ++i) {
        uint64_t index = s.Choose(8, "test_index");
        sim::Gfp gfp = s.Choose(2, "test_gfp") == 0 ? kGfpKernel : kGfpNoFs;
        rwsem.Lock();
        if (Page* page = m.FindOrCreatePage(index, gfp)) {
          page->data.fill(static_cast<uint8_t>(i));
          SetPageUptodate(*page);
          SetPageDirty(*page);
          size = std::max(size, (index + 1) * kPageSize);
          UnlockPage(*page);
          PutPage(*page);
        }
        rwsem.Unlock();
        BalanceDirtyPages(m);
      }
    };
    RunResult r = RunFunctions(s, strategy, [&] {
      MemoryConfig c;
      c.budget_pages = 8;
      c.low_pages = 6;
      c.high_pages = 4;
      c.kswapd = false;
      Memory::Of(s).Configure(c);
      a = std::make_unique<AddressSpace>(s, "A", &ops);
      b = std::make_unique<AddressSpace>(s, "B", &ops);
      a_rwsem = std::make_unique<sim::Mutex>(s, "i_rwsem_A");
      b_rwsem = std::make_unique<sim::Mutex>(s, "i_rwsem_B");
      s.Spawn("writeA", [&] { writer(*a, *a_rwsem, a_size); });
      s.Spawn("writeB", [&] { writer(*b, *b_rwsem, b_size); });
      s.Spawn("truncA", [&] {
        s.Yield("test_before_truncate");
        a_rwsem->Lock();
        a->TruncateSetsize(a_size, std::min<uint64_t>(a_size, 3 * kPageSize + 7));
        a_rwsem->Unlock();
      });
      s.Spawn("fsyncB", [&] {
        s.Yield("test_before_fsync");
        EXPECT_EQ(b->FilemapWriteAndWaitRange(0, kLEndMax), 0);
      });
    }, [&] {
      EXPECT_TRUE(a->CheckInvariants(a_size).empty()) << "seed " << seed;
      EXPECT_TRUE(b->CheckInvariants(b_size).empty()) << "seed " << seed;
      EXPECT_EQ(PageCache::Of(s).nr_lru(), a->nrpages() + b->nrpages());
    }, options);
    ASSERT_TRUE(r.findings.empty()) << "seed " << seed << ": " << All(r);
    EXPECT_EQ(Memory::Of(s).used(), a->nrpages() + b->nrpages()) << "seed " << seed;
    EXPECT_LE(Memory::Of(s).stats().max_used, 8u);
    EXPECT_EQ(PageCache::Of(s).nr_dirty(), a->nr_dirty() + b->nr_dirty());
    EXPECT_EQ(PageCache::Of(s).nr_writeback(), 0u);
    reclaims += Memory::Of(s).stats().direct_reclaims;
  }
  EXPECT_GT(reclaims, 0u);  // the budget was under pressure
}

}  // namespace
}  // namespace fsim::fs
