// Checks every rule of the lock validator, positive and negative: an
// inversion is reported on first sight of both orders with no deadlock
// needed; correct nesting (subclasses, nest locks), trylocks and recursive
// reads are not reported; irq-safety inversions, misuse (unbalanced
// unlock, recursion, locks held at exit, held locks freed, re-init while
// held, class-name mismatch) and use after free are; the fs_reclaim
// pseudo-lock closes reclaim cycles; limits are reported; and the chain
// cache changes speed, not verdicts.
#include "sim/lockdep.h"

#include <gtest/gtest.h>

#include <memory>
#include <regex>

#include "sim/heap.h"
#include "sim/sync.h"
#include "sim/testing.h"

namespace fsim::sim {
namespace {

using testing::NonPreemptive;
using testing::RunFunctions;

bool Has(const RunResult& r, const std::string& signature) {
  for (const Finding& f : r.findings) {
    if (f.signature == signature) return true;
  }
  return false;
}

std::string All(const RunResult& r) {
  std::string s;
  for (const Finding& f : r.findings) s += f.signature + "\n";
  return s;
}

// Runs `body(s)` (which spawns fibers) under the non-preemptive strategy:
// each fiber runs to its end before the next starts, so nothing deadlocks.
template <typename Body>
RunResult Serial(Scheduler& s, Body body) {
  NonPreemptive strategy;
  return RunFunctions(s, strategy, [&] { body(s); });
}

TEST(LockdepTest, AbbaIsReportedOnASerialScheduleThatNeverDeadlocks) {
  Scheduler s;
  std::unique_ptr<Mutex> a, b;
  bool t2_finished = false;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] { b->Lock(); a->Lock(); a->Unlock(); b->Unlock(); t2_finished = true; });
  });
  EXPECT_TRUE(t2_finished);  // the run completed
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.finding->kind, FindingKind::kLockOrder);
  EXPECT_EQ(r.finding->signature, "lock_order:A->B->A");
  EXPECT_EQ(r.finding->message(), "WARNING: possible circular locking dependency detected");
  EXPECT_NE(r.finding->report.find("WARNING: possible circular locking dependency detected"),
            std::string::npos);
  EXPECT_NE(r.finding->report.find("T2/1 is trying to acquire lock:\n (A)"), std::string::npos)
      << r.finding->report;
  EXPECT_NE(r.finding->report.find("fiber 'T1', holding A taken at"), std::string::npos);
}

TEST(LockdepTest, SameOrderEverywhereIsClean) {
  Scheduler s;
  std::unique_ptr<Mutex> a, b;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    for (const char* n : {"T1", "T2"}) {
      s.Spawn(n, [&] { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); });
    }
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(LockdepTest, ReportsTheShortestCycleThroughAChain) {
  Scheduler s;
  std::unique_ptr<Mutex> a, b, c;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    c = std::make_unique<Mutex>(s, "C");
    s.Spawn("ab", [&] { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("bc", [&] { b->Lock(); c->Lock(); c->Unlock(); b->Unlock(); });
    s.Spawn("ca", [&] { c->Lock(); a->Lock(); a->Unlock(); c->Unlock(); });
  });
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.finding->signature, "lock_order:A->B->C->A");
  EXPECT_NE(r.finding->report.find("Chain exists of:\n  A --> B --> C"), std::string::npos)
      << r.finding->report;
  EXPECT_NE(r.finding->report.find("-> #2 (C)"), std::string::npos);
}

TEST(LockdepTest, SubclassesAllowDeliberateNestingOfOneClass) {
  static const LockClassKey inode_key{"&inode->i_rwsem"};
  Scheduler s;
  std::unique_ptr<Mutex> dir, file;
  RunResult ok = Serial(s, [&](Scheduler& s) {
    dir = std::make_unique<Mutex>(s, "i_rwsem", &inode_key);
    file = std::make_unique<Mutex>(s, "i_rwsem", &inode_key);
    s.Spawn("rename", [&] {
      dir->LockNested(0);
      file->LockNested(1);
      file->Unlock();
      dir->Unlock();
    });
  });
  EXPECT_TRUE(ok.findings.empty()) << All(ok);
  RunResult bad = Serial(s, [&](Scheduler& s) {
    dir = std::make_unique<Mutex>(s, "i_rwsem", &inode_key);
    file = std::make_unique<Mutex>(s, "i_rwsem", &inode_key);
    s.Spawn("rename", [&] { dir->Lock(); file->Lock(); file->Unlock(); dir->Unlock(); });
  });
  ASSERT_EQ(bad.findings.size(), 1u) << All(bad);
  EXPECT_EQ(bad.finding->signature, "lock_misuse:recursive:&inode->i_rwsem");
  EXPECT_NE(bad.finding->report.find("May be due to missing lock nesting notation"),
            std::string::npos);
}

TEST(LockdepTest, NestLockSerialisesNestingOfOneClass) {
  static const LockClassKey page_key{"PG_locked"};
  Scheduler s;
  std::unique_ptr<Mutex> range;
  std::vector<std::unique_ptr<Mutex>> pages;
  RunResult r = Serial(s, [&](Scheduler& s) {
    range = std::make_unique<Mutex>(s, "extent_range");
    for (int i = 0; i < 4; ++i) pages.push_back(std::make_unique<Mutex>(s, "page", &page_key));
    s.Spawn("batch", [&] {
      range->Lock();
      for (auto& p : pages) p->LockNestLock(range->lockdep_map());
      for (auto& p : pages) p->Unlock();
      range->Unlock();
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

// Many instances of one class under a nest lock share one held entry
// (hlock->references): more of them than MAX_LOCK_DEPTH is no limit
// report, and they may be released in any order.
TEST(LockdepTest, InstancesUnderANestLockShareOneHeldEntry) {
  static const LockClassKey page_key{"PG_locked"};
  Scheduler s;
  std::unique_ptr<Mutex> range;
  std::vector<std::unique_ptr<Mutex>> pages;
  RunResult r = Serial(s, [&](Scheduler& s) {
    range = std::make_unique<Mutex>(s, "extent_range");
    for (int i = 0; i < 200; ++i) pages.push_back(std::make_unique<Mutex>(s, "page", &page_key));
    s.Spawn("batch", [&] {
      range->Lock();
      for (auto& p : pages) p->LockNestLock(range->lockdep_map());
      for (size_t i = 0; i < pages.size(); i += 2) pages[i]->Unlock();
      for (size_t i = 1; i < pages.size(); i += 2) pages[i]->Unlock();
      range->Unlock();
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  // Without the nest lock the same batch is recursion.
  Scheduler s2;
  pages.clear();
  r = Serial(s2, [&](Scheduler& s) {
    for (int i = 0; i < 2; ++i) pages.push_back(std::make_unique<Mutex>(s, "page", &page_key));
    s.Spawn("batch", [&] {
      for (auto& p : pages) p->Lock();
      for (auto& p : pages) p->Unlock();
    });
  });
  EXPECT_TRUE(Has(r, "lock_misuse:recursive:PG_locked")) << All(r);
  // A shared entry still held at exit is reported.
  Scheduler s3;
  pages.clear();
  r = Serial(s3, [&](Scheduler& s) {
    range = std::make_unique<Mutex>(s, "extent_range");
    for (int i = 0; i < 3; ++i) pages.push_back(std::make_unique<Mutex>(s, "page", &page_key));
    s.Spawn("batch", [&] {
      range->Lock();
      for (auto& p : pages) p->LockNestLock(range->lockdep_map());
      pages[0]->Unlock();
      pages[2]->Unlock();
      range->Unlock();
    });
  });
  EXPECT_TRUE(Has(r, "lock_misuse:held_at_exit:PG_locked")) << All(r);
}

TEST(LockdepTest, TrylockAddsNoEdgeIntoTheLockItTakes) {
  Scheduler s;
  std::unique_ptr<Mutex> a, b;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] {
      b->Lock();
      if (a->TryLock()) a->Unlock();  // best effort: cannot deadlock
      b->Unlock();
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(LockdepTest, LocksTakenAfterATrylockDoDependOnIt) {
  Scheduler s;
  std::unique_ptr<Mutex> a, b;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] {
      ASSERT_TRUE(b->TryLock());
      a->Lock();  // B -> A: the inversion
      a->Unlock();
      b->Unlock();
    });
  });
  EXPECT_TRUE(Has(r, "lock_order:A->B->A")) << All(r);
}

TEST(LockdepTest, ConcurrentReadersOfOneRwsemAreClean) {
  Scheduler s;
  std::unique_ptr<RwSemaphore> sem;
  std::unique_ptr<Mutex> m;
  testing::RandomStrategy strategy;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    RunOptions options;
    options.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      sem = std::make_unique<RwSemaphore>(s, "mmap_lock");
      m = std::make_unique<Mutex>(s, "page_table");
      for (const char* n : {"fault1", "fault2", "fault3"}) {
        s.Spawn(n, [&] { sem->DownRead(); m->Lock(); m->Unlock(); sem->UpRead(); });
      }
    }, [] {}, options);
    ASSERT_TRUE(r.findings.empty()) << All(r);
  }
}

TEST(LockdepTest, RecursiveReadsInOppositeOrdersAreNotADeadlock) {
  Scheduler s;
  std::unique_ptr<PseudoLock> r1, r2;
  RunResult r = Serial(s, [&](Scheduler& s) {
    r1 = std::make_unique<PseudoLock>(s, "R1");
    r2 = std::make_unique<PseudoLock>(s, "R2");
    s.Spawn("T1", [&] { r1->AcquireRead(); r2->AcquireRead(); r2->Release(); r1->Release(); });
    s.Spawn("T2", [&] { r2->AcquireRead(); r1->AcquireRead(); r1->Release(); r2->Release(); });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(LockdepTest, ExclusiveThenRecursiveReadIsNotADeadlock) {
  // T1: A -> R(read); T2: R(read) -> A. A recursive reader never waits
  // for another reader, so there is no cycle (-(ER)-> then -(SN)->).
  Scheduler s;
  std::unique_ptr<PseudoLock> a, rd;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<PseudoLock>(s, "A");
    rd = std::make_unique<PseudoLock>(s, "R");
    s.Spawn("T1", [&] { a->Acquire(); rd->AcquireRead(); rd->Release(); a->Release(); });
    s.Spawn("T2", [&] { rd->AcquireRead(); a->Acquire(); a->Release(); rd->Release(); });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(LockdepTest, NonRecursiveRwsemReadsInOppositeOrdersAreReported) {
  // As in the kernel: rwsem readers queue behind a waiting writer, so
  // down_read(A); down_read(B) against down_read(B); down_read(A) can
  // deadlock once writers wait on both.
  Scheduler s;
  std::unique_ptr<RwSemaphore> a, b;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<RwSemaphore>(s, "A");
    b = std::make_unique<RwSemaphore>(s, "B");
    s.Spawn("T1", [&] { a->DownRead(); b->DownRead(); b->UpRead(); a->UpRead(); });
    s.Spawn("T2", [&] { b->DownRead(); a->DownRead(); a->UpRead(); b->UpRead(); });
  });
  EXPECT_TRUE(Has(r, "lock_order:A->B->A")) << All(r);
  EXPECT_NE(r.finding->report.find("rlock(B)"), std::string::npos) << r.finding->report;
}

TEST(LockdepTest, LockTakenInIrqAndWithIrqsEnabledIsInconsistent) {
  Scheduler s;
  std::unique_ptr<SpinLock> lock;
  RunResult r = Serial(s, [&](Scheduler& s) {
    lock = std::make_unique<SpinLock>(s, "io_tree_lock");
    s.Spawn("process", [&] { lock->Lock(); lock->Unlock(); });
    s.AddTimer(10, "end_io", [&] { lock->Lock(); lock->Unlock(); });
  });
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.finding->signature, "lock_order:irq_inconsistent:io_tree_lock");
  EXPECT_NE(r.finding->report.find("inconsistent {HARDIRQ-ON-W} -> {IN-HARDIRQ-W} usage."),
            std::string::npos) << r.finding->report;
  EXPECT_NE(r.finding->report.find("<Interrupt>"), std::string::npos);
}

TEST(LockdepTest, IrqSaveMakesSharingWithInterruptsSafe) {
  Scheduler s;
  std::unique_ptr<SpinLock> lock;
  RunResult r = Serial(s, [&](Scheduler& s) {
    lock = std::make_unique<SpinLock>(s, "io_tree_lock");
    s.Spawn("process", [&] { lock->LockIrqSave(); lock->UnlockIrqRestore(); });
    s.AddTimer(10, "end_io", [&] { lock->Lock(); lock->Unlock(); });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(LockdepTest, IrqSafeToIrqUnsafeDependencyIsReported) {
  Scheduler s;
  std::unique_ptr<SpinLock> safe, unsafe;
  RunResult r = Serial(s, [&](Scheduler& s) {
    safe = std::make_unique<SpinLock>(s, "safe");
    unsafe = std::make_unique<SpinLock>(s, "unsafe");
    s.AddTimer(1, "irq", [&] { safe->Lock(); safe->Unlock(); });
    s.Spawn("p1", [&] {
      s.SleepFor(5);  // after the interrupt made `safe` irq-safe
      unsafe->Lock();
      unsafe->Unlock();
      safe->LockIrqSave();
      unsafe->Lock();  // safe -> unsafe
      unsafe->Unlock();
      safe->UnlockIrqRestore();
    });
  });
  EXPECT_TRUE(Has(r, "lock_order:irq:safe->unsafe")) << All(r);
  EXPECT_NE(r.finding->report.find("HARDIRQ-safe -> HARDIRQ-unsafe lock order detected"),
            std::string::npos) << r.finding->report;
}

TEST(LockdepTest, UnbalancedReleaseIsMisuse) {
  Scheduler s;
  std::unique_ptr<PseudoLock> p;
  RunResult r = Serial(s, [&](Scheduler& s) {
    p = std::make_unique<PseudoLock>(s, "trans_lock");
    s.Spawn("t", [&] { p->Release(); });
  });
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.finding->signature, "lock_misuse:unlock_unheld:trans_lock");
  EXPECT_NE(r.finding->report.find("WARNING: bad unlock balance detected!"), std::string::npos);
}

TEST(LockdepTest, RecursiveAcquisitionIsMisuseAndThenADeadlock) {
  Scheduler s;
  std::unique_ptr<Mutex> m;
  RunResult r = Serial(s, [&](Scheduler& s) {
    m = std::make_unique<Mutex>(s, "m");
    s.Spawn("t", [&] { m->Lock(); m->Lock(); });
  });
  ASSERT_EQ(r.findings.size(), 2u) << All(r);
  EXPECT_EQ(r.findings[0].signature, "lock_misuse:recursive:m");
  EXPECT_EQ(r.findings[1].kind, FindingKind::kDeadlock);
}

TEST(LockdepTest, ReturningWithLocksHeldIsMisuse) {
  Scheduler s;
  std::unique_ptr<Mutex> m;
  RunResult r = Serial(s, [&](Scheduler& s) {
    m = std::make_unique<Mutex>(s, "inode_lock");
    s.Spawn("forgetful", [&] { m->Lock(); });
  });
  ASSERT_EQ(r.findings.size(), 1u) << All(r);
  EXPECT_EQ(r.finding->signature, "lock_misuse:held_at_exit:inode_lock");
  EXPECT_NE(r.finding->report.find("1 lock held by forgetful/0:"), std::string::npos)
      << r.finding->report;
}

TEST(LockdepTest, FreeingAHeldLockIsMisuse) {
  Scheduler s;
  RunResult r = Serial(s, [&](Scheduler& s) {
    s.Spawn("t", [&] {
      Mutex* m = Heap::Of(s).New<Mutex>(s, "ordered_extent_lock");
      m->Lock();
      Heap::Of(s).Delete(m);
    });
  });
  EXPECT_TRUE(Has(r, "lock_misuse:held_lock_freed:ordered_extent_lock")) << All(r);
}

TEST(LockdepTest, UseOfAFreedLockIsReportedAtTheUseWithWhereItWasFreed) {
  Scheduler s;
  RunResult r = Serial(s, [&](Scheduler& s) {
    Mutex* m = Heap::Of(s).New<Mutex>(s, "ioend_lock");
    s.Spawn("freer", [&s, m] { Heap::Of(s).Delete(m); });
    s.Spawn("user", [m] { m->Lock(); m->Unlock(); });
  });
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].kind, FindingKind::kUseAfterFree) << All(r);
  EXPECT_EQ(r.findings[0].signature, "use_after_free:mutex_lock");
  EXPECT_NE(r.findings[0].report.find("was freed by fiber 'freer' at"), std::string::npos)
      << r.findings[0].report;
}

// kmemleak's view of the sim heap: the objects not freed yet, in
// allocation order, with their type (as TypeName gives it) and the fiber
// that allocated them; a freed object is not listed.
TEST(HeapTest, ForEachLiveListsTheObjectsNotFreedWithTheirTypeAndAllocator) {
  Scheduler s;
  std::vector<std::string> live;
  RunResult r = Serial(s, [&](Scheduler& s) {
    s.Spawn("writer", [&s, &live] {
      Heap& heap = Heap::Of(s);
      Mutex* kept = heap.New<Mutex>(s, "kept");
      Mutex* freed = heap.New<Mutex>(s, "freed");
      auto* leaked = heap.New<std::vector<int>>(3, 7);
      heap.Delete(freed);
      heap.ForEachLive([&](const void* p, const char* type, size_t size, const FiberSite& by) {
        live.push_back(Heap::TypeName(type) + "/" + by.fiber_name() + "/" +
                       (p == kept ? "kept" : p == leaked ? "leaked" : "?") +
                       (size > 0 ? "" : "/empty"));
      });
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
  EXPECT_EQ(live, (std::vector<std::string>{"Mutex/writer/kept", "vector<int, std::allocator<int> >/writer/leaked"}));
}

TEST(LockdepTest, ReinitialisingAHeldLockIsMisuse) {
  Scheduler s;
  std::unique_ptr<Mutex> m;
  RunResult r = Serial(s, [&](Scheduler& s) {
    m = std::make_unique<Mutex>(s, "bio_lock");
    s.Spawn("t", [&] { m->Lock(); m->Reinit("bio_lock"); m->Unlock(); });
  });
  EXPECT_TRUE(Has(r, "lock_misuse:reinit_held:bio_lock")) << All(r);
}

TEST(LockdepTest, OneKeyTwoNamesIsTheLookUpLockClassWarning) {
  static const LockClassKey key{"btrfs_ordered_extent"};
  Scheduler s;
  std::unique_ptr<Mutex> a, b;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<Mutex>(s, "ordered->lock", &key);
    b = std::make_unique<Mutex>(s, "ioend->lock", &key);  // memory reused as another type
    s.Spawn("t", [&] { a->Lock(); a->Unlock(); b->Lock(); b->Unlock(); });
  });
  EXPECT_TRUE(Has(r, "lock_misuse:class_name_mismatch:btrfs_ordered_extent")) << All(r);
  EXPECT_NE(r.finding->report.find("lockdep.c:895 look_up_lock_class"), std::string::npos);
}

TEST(LockdepTest, AllocationUnderALockThatReclaimTakesIsAReclaimCycle) {
  Scheduler s;
  std::unique_ptr<Mutex> extent;
  RunResult r = Serial(s, [&](Scheduler& s) {
    extent = std::make_unique<Mutex>(s, "extent_lock");
    s.Spawn("writer", [&] {
      extent->Lock();
      FsReclaim::Of(s).MightEnterReclaim();  // a GFP_KERNEL allocation
      extent->Unlock();
    });
    s.Spawn("kswapd", [&] {
      FsReclaim::Of(s).Enter();
      extent->Lock();  // writepage takes the extent lock
      extent->Unlock();
      FsReclaim::Of(s).Exit();
    });
  });
  EXPECT_TRUE(Has(r, "lock_order:extent_lock->fs_reclaim->extent_lock")) << All(r);
}

TEST(LockdepTest, NoFsAllocationsDoNotDependOnReclaim) {
  Scheduler s;
  std::unique_ptr<Mutex> extent;
  RunResult r = Serial(s, [&](Scheduler& s) {
    extent = std::make_unique<Mutex>(s, "extent_lock");
    s.Spawn("writer", [&] { extent->Lock(); extent->Unlock(); });  // GFP_NOFS: no annotation
    s.Spawn("kswapd", [&] {
      FsReclaim::Of(s).Enter();
      extent->Lock();
      extent->Unlock();
      FsReclaim::Of(s).Exit();
    });
  });
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

TEST(LockdepTest, HeldLockStackOverflowIsReportedNotSilent) {
  Scheduler s;
  std::vector<std::unique_ptr<PseudoLock>> locks;
  RunResult r = Serial(s, [&](Scheduler& s) {
    for (int i = 0; i <= kHeldLocksMax; ++i) {
      locks.push_back(std::make_unique<PseudoLock>(s, "L" + std::to_string(i)));
    }
    s.Spawn("deep", [&] {
      for (auto& l : locks) l->Acquire();
    });
  });
  EXPECT_TRUE(Has(r, "warn:lockdep_limit:MAX_LOCK_DEPTH")) << All(r);
}

TEST(LockdepTest, ChainCacheSkipsKnownChainsWithoutChangingVerdicts) {
  for (bool cache : {true, false}) {
    Scheduler s;
    Lockdep::Of(s).set_chain_cache(cache);
    std::unique_ptr<Mutex> a, b;
    uint64_t hits_before = Lockdep::Of(s).chain_hits();
    RunResult r = Serial(s, [&](Scheduler& s) {
      a = std::make_unique<Mutex>(s, "A");
      b = std::make_unique<Mutex>(s, "B");
      s.Spawn("loop", [&] {
        for (int i = 0; i < 50; ++i) { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); }
      });
      s.Spawn("inverse", [&] { b->Lock(); a->Lock(); a->Unlock(); b->Unlock(); });
    });
    EXPECT_EQ(All(r), "lock_order:A->B->A\n") << "cache " << cache;
    uint64_t hits = Lockdep::Of(s).chain_hits() - hits_before;
    if (cache) {
      EXPECT_GE(hits, 98u);  // 49 repeats of two chains
    } else {
      EXPECT_EQ(hits, 0u);
    }
  }
}

TEST(LockdepTest, LockdepOffReportsNothing) {
  Scheduler s;
  NonPreemptive strategy;
  RunOptions off;
  off.lockdep = false;
  std::unique_ptr<Mutex> a, b;
  RunResult r = RunFunctions(s, strategy, [&] {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] { b->Lock(); a->Lock(); a->Unlock(); b->Unlock(); });
  }, [] {}, off);
  EXPECT_TRUE(r.findings.empty()) << All(r);
}

// The report of the ABBA inversion, in the kernel's shape, against a
// golden copy (source lines replaced by N so that edits elsewhere in this
// file do not matter).
TEST(LockdepGoldenTest, AbbaReportMatchesTheKernelsShape) {
  Scheduler s;
  std::unique_ptr<Mutex> a, b;
  RunResult r = Serial(s, [&](Scheduler& s) {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] { b->Lock(); a->Lock(); a->Unlock(); b->Unlock(); });
  });
  ASSERT_TRUE(r.finding.has_value());
  std::string got = std::regex_replace(r.finding->report, std::regex(R"(\.cc:\d+\))"), ".cc:N)");
  const char* golden =
      "======================================================\n"
      "WARNING: possible circular locking dependency detected\n"
      "------------------------------------------------------\n"
      "T2/1 is trying to acquire lock:\n"
      " (A){+.+.}, at: LockdepGoldenTest_AbbaReportMatchesTheKernelsShape_Test::TestBody::<lambda>::<lambda> (sim/lockdep_test.cc:N)\n"
      "\n"
      "but task is already holding lock:\n"
      " (B){+.+.}, at: LockdepGoldenTest_AbbaReportMatchesTheKernelsShape_Test::TestBody::<lambda>::<lambda> (sim/lockdep_test.cc:N)\n"
      "\n"
      "which lock already depends on the new lock.\n"
      "\n"
      "\n"
      "the existing dependency chain (in reverse order) is:\n"
      "\n"
      "-> #1 (B){+.+.}:\n"
      "       LockdepGoldenTest_AbbaReportMatchesTheKernelsShape_Test::TestBody::<lambda>::<lambda> (sim/lockdep_test.cc:N)\n"
      "       fiber 'T1', holding A taken at LockdepGoldenTest_AbbaReportMatchesTheKernelsShape_Test::TestBody::<lambda>::<lambda> (sim/lockdep_test.cc:N)\n"
      "\n"
      "-> #0 (A){+.+.}:\n"
      "       LockdepGoldenTest_AbbaReportMatchesTheKernelsShape_Test::TestBody::<lambda>::<lambda> (sim/lockdep_test.cc:N)\n"
      "       fiber 'T2', now\n"
      "\n"
      "other info that might help us debug this:\n"
      "\n"
      " Possible unsafe locking scenario:\n"
      "\n"
      "       CPU0                    CPU1\n"
      "       ----                    ----\n"
      "  lock(B);\n"
      "                               lock(A);\n"
      "                               lock(B);\n"
      "  lock(A);\n"
      "\n"
      " *** DEADLOCK ***\n"
      "\n"
      "2 locks held by T2/1:\n"
      " #0: (B){+.+.}, at: LockdepGoldenTest_AbbaReportMatchesTheKernelsShape_Test::TestBody::<lambda>::<lambda> (sim/lockdep_test.cc:N)\n"
      " #1: (A){+.+.}, at: LockdepGoldenTest_AbbaReportMatchesTheKernelsShape_Test::TestBody::<lambda>::<lambda> (sim/lockdep_test.cc:N)\n";
  EXPECT_EQ(got, golden);
}

}  // namespace
}  // namespace fsim::sim
