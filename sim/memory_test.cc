// Checks the memory-pressure model by watching a fake page cache's
// shrinker: direct reclaim calls it on the allocating fiber, inside the
// allocation, with PF_MEMALLOC set; kswapd calls it from its own daemon
// fiber, which does not turn a finished run into a deadlock; usage never
// exceeds the budget and is accounted exactly, over many random schedules;
// an atomic allocation never reclaims and never sleeps, while a sleeping
// one under a spinlock is sleep_in_atomic; the fs_reclaim annotation makes
// lockdep name an allocation under a lock that the shrinker takes (and
// GFP_NOFS not); and early direct reclaim is a choice that strategies
// explore both ways.
#include "sim/memory.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sim/lockdep.h"
#include "sim/sync.h"
#include "sim/testing.h"

namespace fsim::sim {
namespace {

using testing::NonPreemptive;
using testing::RandomStrategy;
using testing::RunFunctions;

std::string All(const RunResult& r) {
  std::string s;
  for (const Finding& f : r.findings) s += f.signature + "\n";
  return s;
}

MemoryConfig Config(uint64_t budget, uint64_t low, uint64_t high, bool kswapd) {
  MemoryConfig c;
  c.budget_pages = budget;
  c.low_pages = low;
  c.high_pages = high;
  c.kswapd = kswapd;
  return c;
}

// A page cache of clean pages, each one counted in Memory::used(): Scan
// drops them. It records who called it and in what state; with `lock`
// set, a scan under __GFP_FS takes it first, as writepage takes an fs lock.
class FakeCache final : public Shrinker {
 public:
  struct Call {
    std::string fiber;
    bool memalloc;
    bool in_alloc;  // the test's marker: inside the allocation under test
    Gfp gfp;
  };

  explicit FakeCache(Scheduler& s) : s_(s) {}
  std::string_view name() const override { return "fake_cache"; }
  uint64_t Count() override { return pages; }
  uint64_t Scan(uint64_t nr_to_scan, uint64_t, Gfp gfp) override {
    const Fiber& f = s_.current_fiber();
    calls.push_back({f.name, f.memalloc, in_alloc, gfp});
    if (lock != nullptr && (gfp & kGfpFs) != 0) {
      lock->Lock();
      lock->Unlock();
    }
    Memory& mem = Memory::Of(s_);
    if (mem.used() > mem.config().budget_pages) over_budget = true;
    uint64_t freed = std::min(nr_to_scan, pages);
    pages -= freed;
    mem.FreePages(freed);
    return freed;
  }
  // Allocates `n` single pages into the cache; returns how many it got.
  uint64_t Fill(uint64_t n, Gfp gfp) {
    uint64_t got = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (!Memory::Of(s_).AllocPages(1, gfp)) continue;
      ++pages;
      ++got;
    }
    return got;
  }

  uint64_t pages = 0;
  Mutex* lock = nullptr;
  bool in_alloc = false;
  bool over_budget = false;
  std::vector<Call> calls;

 private:
  Scheduler& s_;
};

TEST(MemoryTest, DirectReclaimCallsTheShrinkerInsideTheAllocation) {
  Scheduler s;
  NonPreemptive strategy;
  FakeCache cache(s);
  bool ok = false, memalloc_after = true;
  RunResult r = RunFunctions(s, strategy, [&] {
    Memory& mem = Memory::Of(s);
    mem.Configure(Config(4, 4, 4, /*kswapd=*/false));
    mem.RegisterShrinker(&cache);
    s.Spawn("alloc", [&] {
      ASSERT_EQ(cache.Fill(4, kGfpKernel), 4u);
      ASSERT_TRUE(cache.calls.empty());  // nothing was over the budget yet
      cache.in_alloc = true;
      ok = mem.AllocPages(1, kGfpKernel);
      cache.in_alloc = false;
      memalloc_after = s.current_fiber().memalloc;
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(ok);
  EXPECT_FALSE(memalloc_after);  // PF_MEMALLOC is restored after the pass
  ASSERT_FALSE(cache.calls.empty());
  EXPECT_EQ(cache.calls[0].fiber, "alloc");
  EXPECT_TRUE(cache.calls[0].memalloc);
  EXPECT_TRUE(cache.calls[0].in_alloc);
  EXPECT_EQ(cache.calls[0].gfp, kGfpKernel);
  const Memory& mem = Memory::Of(s);
  EXPECT_GE(mem.stats().direct_reclaims, 1u);
  EXPECT_EQ(mem.stats().kswapd_reclaims, 0u);
  EXPECT_EQ(mem.stats().failed_allocations, 0u);
  EXPECT_EQ(mem.used(), cache.pages + 1);
}

// should_reclaim_retry(): a pass that freed nothing, with nothing under
// I/O and nothing dirty, is retried while the shrinkers still hold
// objects (the pass may have scanned few, or found them busy), up to
// MAX_RECLAIM_RETRIES passes; only then does the allocation fail.
class BusyForAWhile final : public Shrinker {
 public:
  explicit BusyForAWhile(Scheduler& s) : s_(s) {}
  std::string_view name() const override { return "busy_for_a_while"; }
  uint64_t Count() override { return pages; }
  uint64_t Scan(uint64_t nr_to_scan, uint64_t, Gfp) override {
    ++scans;
    if (scans <= busy_scans) return 0;  // every object in use this time
    const uint64_t freed = std::min(nr_to_scan, pages);
    pages -= freed;
    Memory::Of(s_).FreePages(freed);
    return freed;
  }
  uint64_t pages = 0;
  int busy_scans = 0;
  int scans = 0;

 private:
  Scheduler& s_;
};

TEST(MemoryTest, AnAllocationRetriesReclaimWhileObjectsRemainThenFails) {
  for (int busy : {3, 100}) {
    SCOPED_TRACE("busy scans " + std::to_string(busy));
    Scheduler s;
    NonPreemptive strategy;
    BusyForAWhile cache(s);
    cache.busy_scans = busy;
    bool ok = true;
    RunResult r = RunFunctions(s, strategy, [&] {
      Memory& mem = Memory::Of(s);
      mem.Configure(Config(4, 4, 4, /*kswapd=*/false));
      mem.RegisterShrinker(&cache);
      s.Spawn("alloc", [&] {
        for (int i = 0; i < 4; ++i) {
          ASSERT_TRUE(mem.AllocPages(1, kGfpKernel));
          ++cache.pages;
        }
        ok = mem.AllocPages(1, kGfpKernel);
      });
    });
    EXPECT_TRUE(r.findings.empty()) << All(r);
    const Memory& mem = Memory::Of(s);
    if (busy == 3) {
      // Three passes found everything busy; the fourth freed a page.
      EXPECT_TRUE(ok);
      EXPECT_EQ(cache.scans, 4);
      EXPECT_EQ(mem.stats().failed_allocations, 0u);
    } else {
      // Busy for good: 16 passes (MAX_RECLAIM_RETRIES), then it fails.
      EXPECT_FALSE(ok);
      EXPECT_EQ(cache.scans, 16);
      EXPECT_EQ(mem.stats().failed_allocations, 1u);
    }
  }
}

// A page cache whose pages are all under writeback until a timer ends it:
// a scan isolates the pages it can see, yields (another reclaimer may run
// meanwhile and find them isolated), puts them back and frees nothing.
class IsolatingCache final : public Shrinker {
 public:
  explicit IsolatingCache(Scheduler& s) : s_(s) {}
  std::string_view name() const override { return "isolating_cache"; }
  uint64_t Count() override { return pages - isolated; }
  uint64_t Scan(uint64_t, uint64_t, Gfp) override {
    ++scans;
    const uint64_t taken = pages - isolated;
    isolated += taken;
    s_.Yield("isolate_lru_pages");
    isolated -= taken;
    Memory::Of(s_).PutbackDone();
    return 0;  // every page under writeback: nothing freed
  }
  uint64_t InFlight() override { return writeback + isolated; }
  uint64_t Isolated() override { return isolated; }
  uint64_t pages = 0, writeback = 0, isolated = 0;
  int scans = 0;

 private:
  Scheduler& s_;
};

// Runs another fiber than the current one whenever it can.
class Alternating final : public Strategy {
 public:
  void BeginRun(uint64_t) override {}
  FiberId PickFiber(const SchedulePoint& p) override {
    for (FiberId id : p.runnable) {
      if (id != p.current) return id;
    }
    return p.runnable[0];
  }
  uint64_t PickValue(uint64_t, Site) override { return 0; }
};

// should_reclaim_retry() waits for I/O (congestion_wait) between passes
// that freed nothing. Two direct reclaimers that find each other's pages
// isolated look again when they are put back, but that wake is no I/O and
// no time: it may not use up MAX_RECLAIM_RETRIES while the writeback that
// will free the pages is in flight. Both allocations wait for it and
// succeed.
TEST(MemoryTest, ReclaimersPuttingPagesBackDoNotUseUpEachOthersRetries) {
  Scheduler s;
  Alternating strategy;
  IsolatingCache cache(s);
  bool ok_a = false, ok_b = false;
  uint64_t at_a = 0, at_b = 0;
  RunResult r = RunFunctions(s, strategy, [&] {
    Memory& mem = Memory::Of(s);
    mem.Configure(Config(4, 4, 4, /*kswapd=*/false));
    mem.RegisterShrinker(&cache);
    s.Spawn("setup", [&] {
      ASSERT_TRUE(mem.AllocPages(4, kGfpKernel));
      cache.pages = cache.writeback = 4;
      s.AddTimer(5'000'000, "end_writeback", [&] {
        mem.FreePages(4);
        cache.pages = cache.writeback = 0;
        mem.IoCompleted();
      });
      s.Spawn("a", [&] {
        ok_a = mem.AllocPages(1, kGfpKernel);
        at_a = s.now_ns();
      });
      s.Spawn("b", [&] {
        ok_b = mem.AllocPages(1, kGfpKernel);
        at_b = s.now_ns();
      });
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_TRUE(ok_a);
  EXPECT_TRUE(ok_b);
  EXPECT_GE(at_a, 5'000'000u);  // each waited for the writeback
  EXPECT_GE(at_b, 5'000'000u);
  EXPECT_GE(cache.scans, 2);  // b met a's isolated pages and looked again
  EXPECT_EQ(Memory::Of(s).stats().failed_allocations, 0u);
}

TEST(MemoryTest, KswapdReclaimsInItsOwnFiberAndIsADaemon) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    FakeCache cache(s);
    RunOptions options;
    options.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      Memory& mem = Memory::Of(s);
      mem.Configure(Config(16, 4, 2, /*kswapd=*/true));
      mem.RegisterShrinker(&cache);
      // Atomic allocations never reclaim themselves: only kswapd can.
      s.Spawn("filler", [&] { ASSERT_EQ(cache.Fill(8, kGfpAtomic), 8u); });
    }, [] {}, options);
    // kswapd sleeps forever once done: that ends the run, not a deadlock.
    ASSERT_TRUE(r.findings.empty()) << "seed " << seed << ": " << All(r);
    const Memory& mem = Memory::Of(s);
    ASSERT_FALSE(cache.calls.empty()) << "seed " << seed;
    for (const FakeCache::Call& c : cache.calls) {
      EXPECT_EQ(c.fiber, "kswapd0");
      EXPECT_TRUE(c.memalloc);
      EXPECT_EQ(c.gfp, kGfpKernel);
    }
    EXPECT_GT(mem.stats().kswapd_reclaims, 0u);
    EXPECT_EQ(mem.stats().direct_reclaims, 0u);
    // Woken whenever usage went above the low watermark, it reclaimed
    // (towards the high one) after the last such allocation.
    EXPECT_LE(mem.used(), 4u);
    EXPECT_EQ(mem.used(), cache.pages);
  }
  // Without preemption the filler allocates all 8 pages before kswapd
  // runs: then kswapd reclaims down to the high watermark and sleeps.
  Scheduler s;
  NonPreemptive strategy;
  FakeCache cache(s);
  RunResult r = RunFunctions(s, strategy, [&] {
    Memory& mem = Memory::Of(s);
    mem.Configure(Config(16, 4, 2, /*kswapd=*/true));
    mem.RegisterShrinker(&cache);
    s.Spawn("filler", [&] { ASSERT_EQ(cache.Fill(8, kGfpAtomic), 8u); });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(Memory::Of(s).used(), 2u);
}

TEST(MemoryTest, UsageNeverExceedsTheBudgetAndIsAccountedExactly) {
  constexpr uint64_t kBudget = 6;
  uint64_t seeds_with_failures = 0, seeds_with_reclaim = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    FakeCache cache(s);
    bool over = false;
    RunOptions options;
    options.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      Memory& mem = Memory::Of(s);
      mem.Configure(Config(kBudget, 4, 2, /*kswapd=*/true));
      mem.RegisterShrinker(&cache);
      for (const char* name : {"F0", "F1", "F2"}) {
        s.Spawn(name, [&] {
          for (int i = 0; i < 4; ++i) {
            const Gfp gfps[] = {kGfpKernel, kGfpNoFs, kGfpAtomic};
            Gfp gfp = gfps[s.Choose(3, "test_gfp")];
            uint64_t n = 1 + s.Choose(3, "test_pages");
            bool ok = mem.AllocPages(n, gfp);
            over |= mem.used() > kBudget;
            if (!ok) continue;
            if (s.Choose(2, "test_keep") == 0) {
              cache.pages += n;  // into the cache: reclaimable
            } else {
              s.Yield("test_hold");  // a buffer, returned after use
              mem.FreePages(n);
            }
          }
        });
      }
    }, [] {}, options);
    ASSERT_TRUE(r.findings.empty()) << "seed " << seed << ": " << All(r);
    const Memory& mem = Memory::Of(s);
    ASSERT_FALSE(over) << "seed " << seed;
    ASSERT_FALSE(cache.over_budget) << "seed " << seed;
    ASSERT_LE(mem.stats().max_used, kBudget) << "seed " << seed;
    ASSERT_EQ(mem.used(), cache.pages) << "seed " << seed;  // nothing leaked
    seeds_with_failures += mem.stats().failed_allocations > 0;
    seeds_with_reclaim += mem.stats().direct_reclaims > 0;
  }
  // The test is only worth something if it put the budget under pressure.
  EXPECT_GT(seeds_with_failures, 0u);
  EXPECT_GT(seeds_with_reclaim, 0u);
}

TEST(MemoryTest, AtomicAllocationOverBudgetFailsAtOnceWithoutSleeping) {
  Scheduler s;
  NonPreemptive strategy;
  FakeCache cache(s);
  std::unique_ptr<SpinLock> lock;
  bool ok = true;
  RunResult r = RunFunctions(s, strategy, [&] {
    Memory& mem = Memory::Of(s);
    mem.Configure(Config(2, 2, 2, /*kswapd=*/false));
    mem.RegisterShrinker(&cache);
    lock = std::make_unique<SpinLock>(s, "lru_lock");
    s.Spawn("irq_like", [&] {
      ASSERT_EQ(cache.Fill(2, kGfpKernel), 2u);
      lock->Lock();
      ok = mem.AllocPages(1, kGfpAtomic);
      lock->Unlock();
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);  // no sleep_in_atomic
  EXPECT_FALSE(ok);
  EXPECT_TRUE(cache.calls.empty());
  const Memory& mem = Memory::Of(s);
  EXPECT_EQ(mem.stats().direct_reclaims, 0u);
  EXPECT_EQ(mem.stats().failed_allocations, 1u);
  EXPECT_EQ(mem.used(), 2u);
}

TEST(MemoryTest, SleepingAllocationUnderASpinlockIsSleepInAtomic) {
  for (Gfp gfp : {kGfpKernel, kGfpNoFs, kGfpNoIo}) {
    Scheduler s;
    NonPreemptive strategy;
    std::unique_ptr<SpinLock> lock;
    RunResult r = RunFunctions(s, strategy, [&] {
      lock = std::make_unique<SpinLock>(s, "lru_lock");
      s.Spawn("bad", [&] {
        lock->Lock();
        Memory& mem = Memory::Of(s);
        if (mem.AllocPages(1, gfp)) mem.FreePages(1);
        lock->Unlock();
      });
    });
    ASSERT_EQ(r.findings.size(), 1u) << GfpName(gfp) << ": " << All(r);
    EXPECT_EQ(r.finding->kind, FindingKind::kSleepInAtomic);
    EXPECT_EQ(r.finding->signature, "sleep_in_atomic:alloc_pages");
  }
}

// A writer holds X and allocates; then another fiber's allocation goes
// over the budget and direct reclaim runs the shrinker, which takes X.
RunResult InversionRun(Scheduler& s, FakeCache& cache, std::unique_ptr<Mutex>& x,
                       Gfp writer_gfp) {
  NonPreemptive strategy;  // writer first, to its end; then the reclaimer
  return RunFunctions(s, strategy, [&] {
    Memory& mem = Memory::Of(s);
    mem.Configure(Config(3, 3, 3, /*kswapd=*/false));
    mem.RegisterShrinker(&cache);
    x = std::make_unique<Mutex>(s, "X");
    cache.lock = x.get();
    s.Spawn("writer", [&] {
      x->Lock();
      if (mem.AllocPages(1, writer_gfp)) cache.pages += 1;
      x->Unlock();
    });
    s.Spawn("reclaimer", [&] { cache.Fill(3, kGfpKernel); });
  });
}

TEST(MemoryTest, AllocatingUnderALockTheShrinkerTakesIsALockOrderCycle) {
  Scheduler s;
  FakeCache cache(s);
  std::unique_ptr<Mutex> x;
  RunResult r = InversionRun(s, cache, x, kGfpKernel);
  ASSERT_FALSE(cache.calls.empty());  // reclaim did run the shrinker
  EXPECT_EQ(cache.calls[0].fiber, "reclaimer");
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.finding->kind, FindingKind::kLockOrder);
  EXPECT_EQ(r.finding->signature, "lock_order:X->fs_reclaim->X");
}

TEST(MemoryTest, AllocatingWithNoFsUnderThatLockIsClean) {
  Scheduler s;
  FakeCache cache(s);
  std::unique_ptr<Mutex> x;
  RunResult r = InversionRun(s, cache, x, kGfpNoFs);
  ASSERT_FALSE(cache.calls.empty());  // the same reclaim, the same lock
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(MemoryTest, AShrinkerThatAllocatesDoesNotReclaimRecursively) {
  // A PF_MEMALLOC fiber's allocation skips reclaim (and fs_reclaim): were
  // it to recurse, fs_reclaim would be taken twice (lock_misuse).
  class Allocating final : public Shrinker {
   public:
    explicit Allocating(Scheduler& s) : s_(s) {}
    std::string_view name() const override { return "allocating"; }
    uint64_t Count() override { return 1; }
    uint64_t Scan(uint64_t, uint64_t, Gfp gfp) override {
      ++scans;
      if (Memory::Of(s_).AllocPages(1, gfp)) Memory::Of(s_).FreePages(1);
      return 0;
    }
    int scans = 0;

   private:
    Scheduler& s_;
  };
  Scheduler s;
  NonPreemptive strategy;
  Allocating shrinker(s);
  bool ok = true;
  RunResult r = RunFunctions(s, strategy, [&] {
    Memory& mem = Memory::Of(s);
    mem.Configure(Config(1, 1, 1, /*kswapd=*/false));
    mem.RegisterShrinker(&shrinker);
    s.Spawn("alloc", [&] {
      ASSERT_TRUE(mem.AllocPages(1, kGfpKernel));
      ok = mem.AllocPages(1, kGfpKernel);
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_FALSE(ok);
  // Each pass freed nothing while the shrinker still counted an object:
  // MAX_RECLAIM_RETRIES passes, each with one allocation of the
  // shrinker's own that failed at once (no reclaim under PF_MEMALLOC),
  // then the outer allocation failed.
  EXPECT_EQ(shrinker.scans, 16);
  EXPECT_EQ(Memory::Of(s).stats().failed_allocations, 17u);
}

TEST(MemoryTest, EarlyDirectReclaimIsExploredBothWays) {
  // Usage goes above the low watermark but never near the budget, and
  // kswapd is off: a direct reclaim pass happens only if chosen early.
  int with = 0, without = 0;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    FakeCache cache(s);
    RunOptions options;
    options.seed = seed;
    auto start = [&] {
      Memory& mem = Memory::Of(s);
      mem.Configure(Config(8, 2, 1, /*kswapd=*/false));
      mem.RegisterShrinker(&cache);
      s.Spawn("alloc", [&] { cache.Fill(4, kGfpKernel); });
    };
    RunResult r = RunFunctions(s, strategy, start, [] {}, options);
    ASSERT_TRUE(r.findings.empty()) << All(r);
    (Memory::Of(s).stats().direct_reclaims > 0 ? with : without) += 1;
    // Replays: the same seed makes the same decisions.
    cache.pages = 0;
    cache.calls.clear();
    EXPECT_EQ(RunFunctions(s, strategy, start, [] {}, options).digest, r.digest);
  }
  EXPECT_GT(with, 0);
  EXPECT_GT(without, 0);
}

TEST(MemoryTest, GfpNames) {
  EXPECT_EQ(GfpName(kGfpKernel), "GFP_KERNEL");
  EXPECT_EQ(GfpName(kGfpNoFs), "GFP_NOFS");
  EXPECT_EQ(GfpName(kGfpNoIo), "GFP_NOIO");
  EXPECT_EQ(GfpName(kGfpAtomic), "GFP_ATOMIC");
  EXPECT_EQ(GfpName(kGfpDirectReclaim | kGfpFs), "__GFP_DIRECT_RECLAIM|__GFP_FS");
}

TEST(MemoryDeathTest, FreeingMorePagesThanAreInUseIsAHarnessError) {
  Scheduler s;
  EXPECT_DEATH(Memory::Of(s).FreePages(1), "more pages than are in use");
}

}  // namespace
}  // namespace fsim::sim
