// Checks the scheduler's contract: fibers run to completion, scheduling
// points interleave them as the strategy says, a deadlock, a livelock and a
// stack overflow each end the run with a finding naming what happened (as
// does a SIGSEGV or SIGBUS in a fiber: a crash finding),
// virtual time and timers behave, and an early end unwinds every fiber.
#include "sim/scheduler.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include <memory>
#include <new>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "sim/check.h"
#include "sim/sync.h"
#include "sim/testing.h"

namespace fsim::sim {
namespace {

using testing::FirstStrategy;
using testing::NonPreemptive;
using testing::RandomStrategy;
using testing::RunFunctions;
using testing::ScriptStrategy;

TEST(SchedulerTest, RunsFibersToCompletion) {
  Scheduler s;
  NonPreemptive strategy;
  std::vector<std::string> log;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("a", [&] { log.push_back("a1"); s.Yield("y"); log.push_back("a2"); });
    s.Spawn("b", [&] { log.push_back("b1"); });
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "a2", "b1"}));
}

// FSIM_BUG_ON in a fiber: the system under test broke its own invariant,
// as a kernel BUG_ON. A finding of kind assertion that ends the run (the
// other fiber never runs on), not a harness error.
TEST(SchedulerTest, BugOnInAFiberIsAFindingThatEndsTheRun) {
  Scheduler s;
  NonPreemptive strategy;
  std::vector<std::string> log;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("a", [&] {
      log.push_back("a1");
      const int freed_twice = 2;
      FSIM_BUG_ON(freed_twice > 1, "an extent freed twice");
      log.push_back("a2");
    });
    s.Spawn("b", [&] { log.push_back("b1"); });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kAssertion);
  EXPECT_EQ(r.finding->signature.rfind("bug_on:sim/scheduler_test.cc:", 0), 0u)
      << r.finding->signature;
  EXPECT_NE(r.finding->report.find("kernel BUG at sim/scheduler_test.cc:"), std::string::npos);
  EXPECT_NE(r.finding->report.find("an extent freed twice"), std::string::npos);
  EXPECT_NE(r.finding->report.find("in fiber 'a'"), std::string::npos);
  EXPECT_EQ(log, (std::vector<std::string>{"a1"}));
}

// A program that arms more timers than kTimersMax (a wait loop
// re-arming its timeout that time never reaches): its run ends with a
// finding, and the next run of the same scheduler is unaffected.
TEST(SchedulerTest, TooManyPendingTimersIsAFindingNotAHarnessError) {
  Scheduler s;
  NonPreemptive strategy;
  uint64_t armed = 0;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("armer", [&] {
      for (;;) {
        s.AddTimer(1'000'000'000, "never_reached", [] {});
        ++armed;
      }
    });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kLivelock);
  EXPECT_EQ(r.finding->signature, "livelock:timers");
  EXPECT_NE(r.finding->report.find("fiber 'armer'"), std::string::npos) << r.finding->report;
  EXPECT_EQ(armed, kTimersMax);
  RunResult next = RunFunctions(s, strategy, [&] { s.Spawn("quiet", [] {}); });
  EXPECT_FALSE(next.finding.has_value());
}

TEST(SchedulerTest, StrategyChoosesAtYieldPoints) {
  Scheduler s;
  // Start with b (id 1), then at b's yield switch to a, then a's yield back.
  ScriptStrategy strategy({1, 0, 1});
  std::vector<std::string> log;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("a", [&] { log.push_back("a1"); s.Yield("y"); log.push_back("a2"); });
    s.Spawn("b", [&] { log.push_back("b1"); s.Yield("y"); log.push_back("b2"); });
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_EQ(log, (std::vector<std::string>{"b1", "a1", "b2", "a2"}));
  EXPECT_EQ(r.decisions, 3u);
}

TEST(SchedulerTest, SingleOptionsAreNotDecisions) {
  Scheduler s;
  FirstStrategy strategy;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("only", [&] { for (int i = 0; i < 10; ++i) s.Yield("y"); });
  });
  EXPECT_EQ(r.decisions, 0u);
  EXPECT_EQ(r.steps, 12u);  // the first pick, ten yields and the exit
}

TEST(SchedulerTest, FibersSpawnFibers) {
  Scheduler s;
  NonPreemptive strategy;
  int children = 0;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("parent", [&] {
      // More children than fiber slots over time: an exited fiber's slot
      // is reused.
      for (uint32_t i = 0; i < 2 * kFibersMax; ++i) {
        s.Spawn("child", [&] { ++children; });
        s.SleepFor(1);
      }
    });
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_EQ(children, static_cast<int>(2 * kFibersMax));
}

// Fibers blocked behind a deadlock (here T3 on A) are in the report but
// not in the signature: the same cycle is one finding whoever queued
// behind it.
TEST(SchedulerTest, DeadlockSignatureIsTheCycleWithoutBystanders) {
  Scheduler s;
  ScriptStrategy strategy({0, 1, 2, 0, 1});
  std::unique_ptr<Mutex> a, b;
  RunOptions no_lockdep;
  no_lockdep.lockdep = false;
  RunResult r = RunFunctions(s, strategy, [&] {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); s.Yield("between"); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] { b->Lock(); s.Yield("between"); a->Lock(); a->Unlock(); b->Unlock(); });
    s.Spawn("T3", [&] { a->Lock(); a->Unlock(); });
  }, [] {}, no_lockdep);
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->signature, "deadlock:mutex:A,mutex:B");
  EXPECT_NE(r.finding->report.find("fiber 'T3' (id 2) waits for mutex 'A' held by 'T1' "
                                   "(behind the cycle)"),
            std::string::npos) << r.finding->report;
}

// The whole deadlock report, golden: each blocked fiber, what it waits
// for and who holds it, then (with lockdep) every lock each one holds and
// where it was taken, as the kernel's hung-task report shows them.
TEST(SchedulerTest, DeadlockReportShowsTheHoldersAndWhereTheyTookTheirLocks) {
  Scheduler s;
  ScriptStrategy strategy({0, 1, 0, 1});
  std::unique_ptr<Mutex> a, b;
  RunResult r = RunFunctions(s, strategy, [&] {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); s.Yield("between"); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] { b->Lock(); s.Yield("between"); a->Lock(); a->Unlock(); b->Unlock(); });
  });
  const Finding* deadlock = nullptr;
  for (const Finding& f : r.findings) {
    if (f.kind == FindingKind::kDeadlock) deadlock = &f;
  }
  ASSERT_NE(deadlock, nullptr);
  // Sites name the test's lambdas; normalise them to keep the golden text
  // stable under edits elsewhere in this file.
  const std::string report =
      std::regex_replace(deadlock->report, std::regex(R"(at: [^\n]*)"), "at: SITE");
  EXPECT_EQ(report,
            "deadlock: 2 fiber(s) blocked forever, none runnable, no timer pending\n"
            "  fiber 'T1' (id 0) waits for mutex 'B' held by 'T2'\n"
            "  fiber 'T2' (id 1) waits for mutex 'A' held by 'T1'\n"
            "\n"
            "Showing all locks held by the blocked fibers:\n"
            "2 locks held by T1/0:\n"
            " #0: (A){+.+.}, at: SITE\n"
            " #1: (B){+.+.}, at: SITE\n"
            "2 locks held by T2/1:\n"
            " #0: (B){+.+.}, at: SITE\n"
            " #1: (A){+.+.}, at: SITE");
}

TEST(SchedulerTest, DeadlockNamesEveryBlockedFiberAndHolder) {
  Scheduler s;
  // T1 takes A, then T2 takes B, then each wants the other's lock.
  ScriptStrategy strategy({0, 1, 0, 1});
  std::unique_ptr<Mutex> a, b;
  RunOptions no_lockdep;  // lockdep would name the inversion first
  no_lockdep.lockdep = false;
  RunResult r = RunFunctions(s, strategy, [&] {
    a = std::make_unique<Mutex>(s, "A");
    b = std::make_unique<Mutex>(s, "B");
    s.Spawn("T1", [&] { a->Lock(); s.Yield("between"); b->Lock(); b->Unlock(); a->Unlock(); });
    s.Spawn("T2", [&] { b->Lock(); s.Yield("between"); a->Lock(); a->Unlock(); b->Unlock(); });
  }, [] {}, no_lockdep);
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kDeadlock);
  EXPECT_EQ(r.finding->signature, "deadlock:mutex:A,mutex:B");
  EXPECT_NE(r.finding->report.find("fiber 'T1' (id 0) waits for mutex 'B' held by 'T2'"),
            std::string::npos) << r.finding->report;
  EXPECT_NE(r.finding->report.find("fiber 'T2' (id 1) waits for mutex 'A' held by 'T1'"),
            std::string::npos) << r.finding->report;
}

TEST(SchedulerTest, BlockedDaemonsDoNotMakeADeadlock) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<WaitQueue> wq;
  bool finished = false, daemon_unwound = false;
  struct Flag {
    bool* flag;
    ~Flag() { *flag = true; }
  };
  RunResult r = RunFunctions(s, strategy, [&] {
    wq = std::make_unique<WaitQueue>(s, "kswapd_wait");
    s.Spawn("kswapd0", [&] {
      Flag f{&daemon_unwound};
      wq->WaitEvent([] { return false; });  // sleeps for good
    }, {.daemon = true});
    s.Spawn("worker", [&] { s.Yield("work"); });
  }, [&] { finished = true; });
  EXPECT_TRUE(r.findings.empty());
  EXPECT_TRUE(finished);        // the run completed: Finish ran
  EXPECT_TRUE(daemon_unwound);  // and the daemon was unwound
}

TEST(SchedulerTest, AWorkerBlockedBehindADaemonIsStillADeadlock) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<Mutex> m;
  std::unique_ptr<WaitQueue> wq;
  RunOptions no_lockdep;
  no_lockdep.lockdep = false;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<Mutex>(s, "m");
    wq = std::make_unique<WaitQueue>(s, "never");
    s.Spawn("daemon", [&] { m->Lock(); wq->WaitEvent([] { return false; }); }, {.daemon = true});
    s.Spawn("worker", [&] { m->Lock(); m->Unlock(); });
  }, [] {}, no_lockdep);
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kDeadlock);
}

TEST(SchedulerTest, StepLimitIsLivelock) {
  Scheduler s;
  NonPreemptive strategy;
  RunOptions options;
  options.steps_max = 500;
  RunResult r = RunFunctions(
      s, strategy, [&] { s.Spawn("spinner", [&] { for (;;) s.Yield("spin"); }); },
      [] {}, options);
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kLivelock);
  EXPECT_EQ(r.steps, 501u);
}

#pragma GCC diagnostic ignored "-Winfinite-recursion"  // on purpose
[[gnu::noinline]] int Deep(int n) {
  volatile char frame[512];
  frame[0] = static_cast<char>(n);
  return Deep(n + 1) + frame[0];
}

TEST(SchedulerTest, StackOverflowIsReportedAndTheSchedulerSurvives) {
  Scheduler s;
  NonPreemptive strategy;
  for (int round = 0; round < 3; ++round) {  // the trap re-arms every time
    bool other_ran = false;
    RunResult r = RunFunctions(s, strategy, [&] {
      s.Spawn("deep", [] { Deep(0); });
      s.Spawn("other", [&] { other_ran = true; });
    });
    ASSERT_TRUE(r.finding.has_value());
    EXPECT_EQ(r.finding->kind, FindingKind::kStackOverflow);
    EXPECT_EQ(r.finding->signature, "stack_overflow:deep");
    EXPECT_NE(r.finding->report.find("stack guard page was hit"), std::string::npos);
    EXPECT_FALSE(other_ran);  // the run ended at the overflow
  }
  // A normal run afterwards is unaffected.
  int done = 0;
  RunResult ok = RunFunctions(s, strategy, [&] { s.Spawn("x", [&] { ++done; }); });
  EXPECT_FALSE(ok.finding.has_value());
  EXPECT_EQ(done, 1);
}

// A loop with no way out: it neither yields nor ends.
[[gnu::noinline]] void SpinForever(volatile bool* stop) {
  while (!*stop) {
  }
}

TEST(SchedulerTest, AFiberStuckWithoutASchedulingPointIsASoftLockupFinding) {
  Scheduler s;
  RandomStrategy walk;
  RunOptions options;
  options.soft_lockup_ms = 300;
  uint64_t digest = 0;
  for (int round = 0; round < 2; ++round) {  // the watchdog re-arms every run
    volatile bool stop = false;
    bool other_ran = false;
    options.seed = 7;
    RunResult r = RunFunctions(
        s, walk,
        [&] {
          s.Spawn("stuck", [&] {
            s.Yield("before");
            SpinForever(&stop);
          });
          s.Spawn("other", [&] {
            s.Yield("a");
            s.Yield("b");
            other_ran = true;
          });
        },
        [] {}, options);
    ASSERT_TRUE(r.finding.has_value());
    EXPECT_EQ(r.finding->kind, FindingKind::kLivelock);
    EXPECT_EQ(r.finding->signature, "livelock:soft_lockup:stuck");
    EXPECT_NE(r.finding->report.find("soft lockup - fiber 'stuck'"), std::string::npos);
    // Where it stopped is the run's, not the clock's: the same seed gives
    // the same digest.
    if (round == 0) digest = r.digest;
    EXPECT_EQ(r.digest, digest);
    (void)other_ran;
  }
  // Runs that reach their scheduling points are untouched by it.
  int done = 0;
  RunResult ok = RunFunctions(
      s, walk, [&] { s.Spawn("x", [&] { for (int i = 0; i < 3; ++i) s.Yield("y"); ++done; }); },
      [] {}, options);
  EXPECT_FALSE(ok.finding.has_value());
  EXPECT_EQ(done, 1);
}

// A pointer nothing is mapped at (the first page is never mapped).
int* BadPointer() {
  static volatile uintptr_t address = 16;
  return reinterpret_cast<int*>(address);
}

TEST(SchedulerTest, SegfaultInAFiberIsACrashFindingAndTheSchedulerSurvives) {
  Scheduler s;
  NonPreemptive strategy;
  uint64_t digest = 0;
  for (int round = 0; round < 3; ++round) {  // the trap re-arms every time
    bool other_ran = false;
    RunResult r = RunFunctions(s, strategy, [&] {
      s.Spawn("wild", [&] {
        s.Yield("before");
        *static_cast<volatile int*>(BadPointer()) = 1;
      });
      s.Spawn("other", [&] { other_ran = true; });
    });
    ASSERT_TRUE(r.finding.has_value());
    EXPECT_EQ(r.finding->kind, FindingKind::kCrash);
    EXPECT_EQ(r.finding->signature, "crash:sigsegv:wild");
    EXPECT_NE(r.finding->report.find("SIGSEGV in fiber 'wild'"), std::string::npos);
    EXPECT_EQ(FindingKindName(r.finding->kind), "crash");
    // The same run is the same run: no address leaks into the digest.
    if (round == 0) digest = r.digest;
    EXPECT_EQ(r.digest, digest);
    (void)other_ran;
  }
  int done = 0;
  RunResult ok = RunFunctions(s, strategy, [&] { s.Spawn("x", [&] { ++done; }); });
  EXPECT_FALSE(ok.finding.has_value());
  EXPECT_EQ(done, 1);
}

TEST(SchedulerTest, FaultWhileAnotherFiberHoldsFramesUnwindsTheOthers) {
  // The faulting fiber is abandoned; a blocked fiber with a destructor on
  // its stack is unwound as after any other finding.
  Scheduler s;
  NonPreemptive strategy;
  bool destroyed = false;
  struct Flag {
    bool* flag;
    ~Flag() { *flag = true; }
  };
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("sleeper", [&] {
      Flag flag{&destroyed};
      s.SleepFor(1000);
    });
    s.Spawn("wild", [&] { *static_cast<volatile int*>(BadPointer()) = 1; });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->signature, "crash:sigsegv:wild");
  EXPECT_TRUE(destroyed);
}

TEST(SchedulerTest, BusErrorInAFiberIsACrashFinding) {
  // A page of a shared mapping past the end of its (empty) file: SIGBUS.
  int fd = memfd_create("fsim_sigbus", 0);
  ASSERT_GE(fd, 0);
  void* map = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  Scheduler s;
  NonPreemptive strategy;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("mapper", [&] { static_cast<volatile char*>(map)[0] = 1; });
  });
  munmap(map, 4096);
  close(fd);
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kCrash);
  EXPECT_EQ(r.finding->signature, "crash:sigbus:mapper");
}

TEST(SchedulerTest, LargerStackAvoidsOverflow) {
  Scheduler s;
  NonPreemptive strategy;
  RunOptions options;
  options.stack_size = 1024 * 1024;
  std::function<int(int)> recurse = [&](int n) -> int {
    volatile char frame[512];
    frame[0] = 1;
    return n == 0 ? 0 : recurse(n - 1) + frame[0];
  };
  int result = -1;
  RunResult r = RunFunctions(
      s, strategy, [&] { s.Spawn("deep", [&] { result = recurse(500); }); }, [] {},
      options);
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_EQ(result, 500);
}

TEST(SchedulerTest, VirtualTimeAdvancesOnlyWhenIdle) {
  Scheduler s;
  NonPreemptive strategy;
  std::vector<std::pair<std::string, uint64_t>> wakes;
  RunResult r = RunFunctions(s, strategy, [&] {
    s.Spawn("slow", [&] { s.SleepFor(300); wakes.push_back({"slow", s.now_ns()}); });
    s.Spawn("fast", [&] { s.SleepFor(100); wakes.push_back({"fast", s.now_ns()}); });
    s.Spawn("busy", [&] { for (int i = 0; i < 5; ++i) s.Yield("work"); wakes.push_back({"busy", s.now_ns()}); });
  });
  EXPECT_FALSE(r.finding.has_value());
  ASSERT_EQ(wakes.size(), 3u);
  EXPECT_EQ(wakes[0], (std::pair<std::string, uint64_t>{"busy", 0}));
  EXPECT_EQ(wakes[1], (std::pair<std::string, uint64_t>{"fast", 100}));
  EXPECT_EQ(wakes[2], (std::pair<std::string, uint64_t>{"slow", 300}));
  EXPECT_EQ(r.virtual_ns, 300u);
}

TEST(SchedulerTest, TimedWaitTimesOutAndTimerRunsInInterruptContext) {
  Scheduler s;
  NonPreemptive strategy;
  bool waited = true;
  bool irq_seen = false;
  uint64_t fired_at = 0;
  std::unique_ptr<Completion> done;
  RunResult r = RunFunctions(s, strategy, [&] {
    done = std::make_unique<Completion>(s, "done");
    s.Spawn("waiter", [&] { waited = done->WaitTimeout(1000); });
    s.AddTimer(5000, "late_timer", [&] {
      irq_seen = s.fiber(s.current()).in_irq;
      fired_at = s.now_ns();
      done->Complete();
    });
  });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_FALSE(waited);
  EXPECT_TRUE(irq_seen);
  EXPECT_EQ(fired_at, 5000u);
}

TEST(SchedulerTest, SleepingInInterruptContextIsReported) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<Mutex> m;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<Mutex>(s, "m");
    s.AddTimer(10, "bio_end_io", [&] { m->Lock(); m->Unlock(); });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->kind, FindingKind::kSleepInAtomic);
  EXPECT_NE(r.finding->report.find("irqs_disabled(): 1"), std::string::npos);
}

TEST(SchedulerTest, EarlyEndUnwindsEveryFiber) {
  Scheduler s;
  NonPreemptive strategy;
  int destroyed = 0;
  struct Tracker {
    int* count;
    ~Tracker() { ++*count; }
  };
  std::unique_ptr<Mutex> m;
  RunResult r = RunFunctions(s, strategy, [&] {
    m = std::make_unique<Mutex>(s, "m");
    s.Spawn("holder", [&] {
      Tracker t{&destroyed};
      Guard<Mutex> g(*m);
      s.Yield("hold");
      s.Yield("hold");
    });
    s.Spawn("waiter", [&] { Tracker t{&destroyed}; Guard<Mutex> g(*m); });
    s.Spawn("failer", [&] {
      Tracker t{&destroyed};
      Finding f;
      f.kind = FindingKind::kWarn;
      f.signature = "warn:test";
      f.report = "WARNING: test";
      s.Fail(f);
      ADD_FAILURE() << "Fail() returned inside a fiber";
    });
  });
  ASSERT_TRUE(r.finding.has_value());
  EXPECT_EQ(r.finding->signature, "warn:test");
  EXPECT_EQ(destroyed, 3);
}

TEST(SchedulerTest, ExceptionInFiberIsAHarnessError) {
  Scheduler s;
  NonPreemptive strategy;
  EXPECT_THROW(RunFunctions(s, strategy, [&] {
                 s.Spawn("thrower", [] { throw std::runtime_error("boom"); });
                 s.Spawn("other", [&] { s.Yield("y"); });
               }),
               std::runtime_error);
  int ran = 0;
  RunResult r = RunFunctions(s, strategy, [&] { s.Spawn("x", [&] { ++ran; }); });
  EXPECT_FALSE(r.finding.has_value());
  EXPECT_EQ(ran, 1);
}

// The standard library's "misused" exceptions (std::logic_error and its
// kind: out_of_range, length_error; bad_alloc, bad_optional_access, ...)
// escaping a fiber are the code under test's crash: a crash finding that
// ends the run, its other fibers unwound, the same in every run of the
// seed; the next run is untouched.
TEST(SchedulerTest, AStandardLibraryMisuseInAFiberIsACrashFinding) {
  Scheduler s;
  RandomStrategy strategy;
  auto run = [&] {
    RunOptions o;
    o.seed = 3;
    return RunFunctions(s, strategy, [&] {
      s.Spawn("indexer", [&] {
        s.Yield("before");
        std::vector<int> v(4);
        v.at(7) = 1;
      });
      s.Spawn("other", [&] {
        for (int i = 0; i < 5; ++i) s.Yield("y");
      });
    }, [] {}, o);
  };
  RunResult a = run();
  ASSERT_TRUE(a.finding.has_value());
  EXPECT_EQ(a.finding->kind, FindingKind::kCrash);
  EXPECT_EQ(a.finding->signature, "crash:exception:indexer");
  EXPECT_NE(a.finding->report.find("uncaught C++ exception std::out_of_range in fiber 'indexer'"),
            std::string::npos)
      << a.finding->report;
  RunResult b = run();
  EXPECT_EQ(a.digest, b.digest);
  for (auto* thrower : {+[] { throw std::bad_alloc(); },
                        +[] { (void)std::optional<int>().value(); },
                        +[] { (void)std::string().substr(5); }}) {
    RunResult r = RunFunctions(s, strategy, [&] { s.Spawn("t", thrower); });
    ASSERT_TRUE(r.finding.has_value());
    EXPECT_EQ(r.finding->signature, "crash:exception:t");
  }
  int ran = 0;
  RunResult clean = RunFunctions(s, strategy, [&] { s.Spawn("x", [&] { ++ran; }); });
  EXPECT_FALSE(clean.finding.has_value());
  EXPECT_EQ(ran, 1);
}

TEST(SchedulerTest, TooManyFibersIsAHarnessError) {
  Scheduler s;
  NonPreemptive strategy;
  EXPECT_THROW(RunFunctions(s, strategy, [&] {
                 for (uint32_t i = 0; i <= kFibersMax; ++i) {
                   s.Spawn("f", [&] { s.Yield("y"); });
                 }
               }),
               std::runtime_error);
}

TEST(SchedulerTest, SameSeedSameDigestDifferentScheduleDifferentDigest) {
  auto run = [](uint64_t seed) {
    Scheduler s;
    RandomStrategy strategy;
    RunOptions options;
    options.seed = seed;
    int x = 0;
    return RunFunctions(
        s, strategy,
        [&] {
          for (int f = 0; f < 3; ++f) {
            s.Spawn("w", [&] { for (int i = 0; i < 5; ++i) { ++x; s.Yield("y"); } });
          }
        },
        [] {}, options);
  };
  EXPECT_EQ(run(7).digest, run(7).digest);
  std::set<uint64_t> digests;
  for (uint64_t seed = 0; seed < 20; ++seed) digests.insert(run(seed).digest);
  EXPECT_GT(digests.size(), 15u);
}


TEST(SchedulerTest, OneInversionIsOneDeadlockSignatureWhateverTheFibers) {
  // Four fibers over two mutexes, two in each order: whichever pair (or
  // three) of them meets in the cycle, it is one deadlock.
  std::set<std::string> signatures;
  int deadlocks = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<Mutex> a, b;
    RunOptions options;
    options.lockdep = false;
    options.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      a = std::make_unique<Mutex>(s, "A");
      b = std::make_unique<Mutex>(s, "B");
      for (const char* name : {"T1", "T3"}) {
        s.Spawn(name, [&] { a->Lock(); s.Yield("between"); b->Lock(); b->Unlock(); a->Unlock(); });
      }
      for (const char* name : {"T2", "T4"}) {
        s.Spawn(name, [&] { b->Lock(); s.Yield("between"); a->Lock(); a->Unlock(); b->Unlock(); });
      }
    }, [] {}, options);
    for (const Finding& f : r.findings) {
      if (f.kind != FindingKind::kDeadlock) continue;
      ++deadlocks;
      signatures.insert(f.signature);
    }
  }
  EXPECT_GT(deadlocks, 10);
  EXPECT_EQ(signatures, (std::set<std::string>{"deadlock:mutex:A,mutex:B"}));
}

}  // namespace
}  // namespace fsim::sim
