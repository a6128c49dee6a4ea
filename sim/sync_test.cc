// Checks each sync primitive's contract under many random schedules
// (mutual exclusion, reader/writer exclusion, completion counting, wait
// queues), and that misuse and sleeping in atomic context are reported as
// findings rather than silently tolerated.
#include "sim/sync.h"

#include <gtest/gtest.h>

#include <memory>

#include "sim/testing.h"

namespace fsim::sim {
namespace {

using testing::NonPreemptive;
using testing::RandomStrategy;
using testing::RunFunctions;

constexpr int kSeeds = 300;

RunOptions Seed(uint64_t seed) {
  RunOptions o;
  o.seed = seed;
  return o;
}

TEST(MutexTest, MutualExclusionUnderRandomSchedules) {
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<Mutex> m;
    int inside = 0, max_inside = 0, total = 0;
    RunResult r = RunFunctions(
        s, strategy,
        [&] {
          m = std::make_unique<Mutex>(s, "m");
          for (int f = 0; f < 3; ++f) {
            s.Spawn("w", [&] {
              for (int i = 0; i < 3; ++i) {
                Guard<Mutex> g(*m);
                max_inside = std::max(max_inside, ++inside);
                s.Yield("critical");
                --inside;
                ++total;
              }
            });
          }
        },
        [] {}, Seed(seed));
    ASSERT_FALSE(r.finding.has_value()) << r.finding->report;
    ASSERT_EQ(max_inside, 1) << "seed " << seed;
    ASSERT_EQ(total, 9);
  }
}

TEST(MutexTest, TryLockFailsWhileHeldAndAddsNoWait) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<Mutex> m;
  bool got = true;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<Mutex>(s, "m");
    s.Spawn("holder", [&] {
      m->Lock();
      s.Spawn("trier", [&] { got = m->TryLock(); });
      s.SleepFor(10);  // let the trier run while we hold m
      m->Unlock();
    });
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_FALSE(got);
}

TEST(MutexTest, UnlockOfUnheldMutexIsMisuse) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<Mutex> m;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<Mutex>(s, "inode_lock");
    s.Spawn("t", [&] { m->Unlock(); });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kLockMisuse);
  EXPECT_EQ(r.finding->signature, "lock_misuse:unlock_unheld:mutex:inode_lock");
}

TEST(MutexTest, RecursiveLockIsMisuse) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<Mutex> m;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<Mutex>(s, "m");
    s.Spawn("t", [&] { m->Lock(); m->Lock(); });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kLockMisuse);
  EXPECT_NE(r.finding->report.find("recursive locking"), std::string::npos);
}

TEST(SpinLockTest, SleepingWhileHoldingASpinlockIsReported) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<SpinLock> spin;
  std::unique_ptr<Mutex> m;
  RunResult r = RunFunctions(s, strategy, [&] {
    spin = std::make_unique<SpinLock>(s, "tree_lock");
    m = std::make_unique<Mutex>(s, "m");
    // The mutex is free: the report must come from might_sleep(), not from
    // an actual wait.
    s.Spawn("t", [&] { spin->Lock(); m->Lock(); m->Unlock(); spin->Unlock(); });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kSleepInAtomic);
  EXPECT_EQ(r.finding->signature, "sleep_in_atomic:mutex_lock");
  EXPECT_NE(r.finding->report.find("in_atomic(): 1"), std::string::npos);
}

TEST(SpinLockTest, SpinningOnAContendedSpinlockIsNotSleeping) {
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<SpinLock> spin;
    int inside = 0, max_inside = 0;
    RunResult r = RunFunctions(
        s, strategy,
        [&] {
          spin = std::make_unique<SpinLock>(s, "lock");
          for (int f = 0; f < 3; ++f) {
            s.Spawn("w", [&] {
              spin->Lock();
              max_inside = std::max(max_inside, ++inside);
              s.Yield("critical");
              --inside;
              spin->Unlock();
            });
          }
        },
        [] {}, Seed(seed));
    ASSERT_FALSE(r.finding.has_value()) << r.finding->report;
    ASSERT_EQ(max_inside, 1);
  }
}

TEST(RwSemaphoreTest, ReadersShareWritersExclude) {
  int max_readers = 0;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<RwSemaphore> sem;
    int readers = 0, writers = 0;
    RunResult r = RunFunctions(
        s, strategy,
        [&] {
          sem = std::make_unique<RwSemaphore>(s, "i_mmap_lock");
          for (int f = 0; f < 3; ++f) {
            s.Spawn("reader", [&] {
              sem->DownRead();
              ++readers;
              max_readers = std::max(max_readers, readers);
              EXPECT_EQ(writers, 0);
              s.Yield("reading");
              --readers;
              sem->UpRead();
            });
          }
          s.Spawn("writer", [&] {
            sem->DownWrite();
            ++writers;
            EXPECT_EQ(readers, 0);
            EXPECT_EQ(writers, 1);
            s.Yield("writing");
            --writers;
            sem->UpWrite();
          });
        },
        [] {}, Seed(seed));
    ASSERT_FALSE(r.finding.has_value()) << r.finding->report;
  }
  EXPECT_GE(max_readers, 2);  // some schedule had readers inside together
}

TEST(RwSemaphoreTest, QueuedWriterBlocksNewReaders) {
  // Recursive read with a writer queued in between deadlocks, as in the
  // kernel: the second down_read waits behind the writer, which waits for
  // the first read hold.
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<RwSemaphore> sem;
  RunResult r = RunFunctions(s, strategy, [&] {
    sem = std::make_unique<RwSemaphore>(s, "sem");
    s.Spawn("reader", [&] {
      sem->DownRead();
      s.SleepFor(10);  // the writer queues meanwhile
      sem->DownRead();
      sem->UpRead();
      sem->UpRead();
    });
    s.Spawn("writer", [&] { sem->DownWrite(); sem->UpWrite(); });
  });
  // lockdep names it first (rwsem readers are not recursive), then the
  // deadlock happens.
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_EQ(r.findings[0].signature, "lock_misuse:recursive:sem");
  EXPECT_EQ(r.findings[1].kind, FindingKind::kDeadlock);
  EXPECT_NE(r.findings[1].report.find("read-held by 'reader'"), std::string::npos)
      << r.findings[1].report;
}

TEST(CompletionTest, CountsCompletionsAndCompleteAllReleasesEveryone) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<Completion> one, all;
  int passed_one = 0, passed_all = 0;
  RunResult r = RunFunctions(s, strategy, [&] {
    one = std::make_unique<Completion>(s, "one");
    all = std::make_unique<Completion>(s, "all");
    for (int i = 0; i < 3; ++i) {
      s.Spawn("w", [&] { one->Wait(); ++passed_one; all->Wait(); ++passed_all; });
    }
    s.Spawn("c", [&] {
      one->Complete();
      one->Complete();
      s.SleepFor(5);
      EXPECT_EQ(passed_one, 2);  // two completions, two waiters through
      one->Complete();
      all->CompleteAll();
    });
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_EQ(passed_one, 3);
  EXPECT_EQ(passed_all, 3);
}

TEST(WaitQueueTest, WaitEventSeesEveryWakeup) {
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<WaitQueue> wq;
    bool ready = false, consumed = false;
    RunResult r = RunFunctions(
        s, strategy,
        [&] {
          wq = std::make_unique<WaitQueue>(s, "wq");
          s.Spawn("waiter", [&] { wq->WaitEvent([&] { return ready; }); consumed = true; });
          s.Spawn("waker", [&] { s.Yield("y"); ready = true; wq->WakeUp(); });
        },
        [] {}, Seed(seed));
    ASSERT_FALSE(r.finding.has_value()) << r.finding->report;
    ASSERT_TRUE(consumed);
  }
}

TEST(WaitQueueTest, WaitEventTimeoutReturnsFalseWhenNobodyWakes) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<WaitQueue> wq;
  bool result = true;
  RunResult r = RunFunctions(s, strategy, [&] {
    wq = std::make_unique<WaitQueue>(s, "wq");
    s.Spawn("waiter", [&] { result = wq->WaitEventTimeout([] { return false; }, 50); });
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_FALSE(result);
  EXPECT_EQ(r.virtual_ns, 50u);
}

}  // namespace
}  // namespace fsim::sim
