// The deterministic scheduler: runs one execution of a set of fibers to
// completion, to a deadlock (no runnable fiber, some blocked, no timer
// pending), to a step limit (livelock), or to the first finding.
//
// Invariants:
// - Exactly one fiber (or the main context) runs at a time; control moves
//   only at scheduling points: Yield(), Block(), fiber exit. At each one
//   with two or more runnable fibers the Chooser picks the next.
// - A fiber switches directly to the next one (one context switch per
//   decision); the main context is resumed only when the run is over.
// - Virtual time advances only when no fiber is runnable, to the earliest
//   pending timer. Timers at equal deadlines fire in creation order.
// - Fiber ids are dense slots [0, kFibersMax); a slot is reused after its
//   fiber exits, its stack (mapped on the slot's first spawn, with its
//   guard) kept across runs (no allocation per run).
// - After the first finding the run ends: every live fiber is unwound (its
//   destructors run) while sync primitives do nothing; a fiber that
//   overflowed its stack or faulted (SIGSEGV, SIGBUS: a crash finding) is
//   abandoned, not unwound.
//
// Locking rules: none; the scheduler is the simulation's only thread.
#ifndef FSIM_SIM_SCHEDULER_H_
#define FSIM_SIM_SCHEDULER_H_

#include <boost/context/detail/fcontext.hpp>
#include <bit>
#include <csetjmp>
#include <cstring>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "sim/chooser.h"
#include "sim/fiber_set.h"
#include "sim/finding.h"
#include "sim/limits.h"
#include "sim/site.h"
#include "sim/stack.h"
#include "sim/strategy.h"
#include "sim/tracer.h"

namespace fsim::sim {

class Scheduler;
class Waitable;

inline constexpr uint64_t kNever = ~uint64_t{0};

enum class FiberState : uint8_t { kFree, kRunnable, kBlocked, kDone };

// copy_process(): a new task's nr_dirtied_pause, 128 KiB in 4 KiB pages.
inline constexpr int kNrDirtiedPauseInit = 128 >> (12 - 10);

struct Fiber {
  FiberId id = kNoFiber;
  FiberState state = FiberState::kFree;
  char name[kFiberNameMax] = {};
  Scheduler* sched = nullptr;
  boost::context::detail::fcontext_t ctx = nullptr;
  Stack stack;
  std::function<void()> body;
  // Blocking: what the fiber waits for, in which order it started waiting
  // (FIFO wake-up), and whether its timeout fired.
  Waitable* waiting_on = nullptr;
  uint64_t wait_seq = 0;
  bool timed_out = false;
  // The object its next visible operation touches (set at Yield() and
  // Block(), cleared at spawn): what SchedulePoint::pending reports.
  PendingOp pending;
  // It has reached a scheduling point since it was spawned: until then its
  // transition is its body's start, which touches no shared state unnamed
  // in a program that names its accesses (Footprint).
  bool reached_point = false;
  // Context: spinlocks held (sleeping then is sleep_in_atomic), and whether
  // the fiber runs in simulated interrupt context (I/O completion, timers).
  int atomic_depth = 0;
  bool in_irq = false;
  // local_irq_save() depth: a lock taken with interrupts enabled (not in
  // interrupt context, depth 0) is "irq-unsafe" for lockdep.
  int irqs_disabled = 0;
  bool daemon = false;
  bool abandon_on_kill = false;  // SpawnOptions::abandon_on_kill
  // PF_MEMALLOC: the fiber is reclaiming memory (writepage must not
  // recurse into the filesystem's heavy paths).
  bool memalloc = false;
  // PF_KSWAPD: the fiber is the background reclaimer.
  bool kswapd = false;
  // task_struct's nr_dirtied and nr_dirtied_pause: pages this task dirtied
  // since it last ran balance_dirty_pages(), and how many it may dirty
  // before it must (balance_dirty_pages_ratelimited(); 128 KiB at fork).
  int nr_dirtied = 0;
  int nr_dirtied_pause = kNrDirtiedPauseInit;
  // AddressSanitizer's view of this context (sim/sanitizer.h): its stack,
  // learned from ASan for the main context, and its saved fake frames.
  const void* asan_bottom = nullptr;
  size_t asan_size = 0;
  void* asan_fake_stack = nullptr;
};

struct SpawnOptions {
  bool in_irq = false;  // the fiber runs in simulated interrupt context
  // A daemon (kswapd, a flusher) serves the others: the run is complete
  // when every non-daemon fiber has exited; daemons still blocked then are
  // unwound, not reported as a deadlock.
  bool daemon = false;
  // The fiber's frames own nothing that needs destruction (no RAII object,
  // no heap memory held by a local): when a run ends early (a deadlock, a
  // failure), the fiber is abandoned where it stands instead of being
  // unwound with an exception, which costs about as much as a whole run of
  // a small program. Its stack is reused as is by the next spawn. Only for
  // bodies that are plain calls into sync primitives; never for fs/ code.
  bool abandon_on_kill = false;
};

struct RunOptions {
  uint64_t seed = 0;
  bool lockdep = true;  // validate lock usage (sim/lockdep.h)
  uint64_t steps_max = kStepsMaxDefault;
  size_t stack_size = kStackSizeDefault;
  // Report data races on sim::Shared variables by happens-before
  // (sim/race.h).
  bool race_detector = false;
  // The soft-lockup watchdog: a fiber that runs this long (user CPU time,
  // in milliseconds) without reaching a scheduling point is stuck in a
  // loop with no way out (no cond_resched(), or one that never
  // progresses), as the kernel's "BUG: soft lockup" says of a CPU: the
  // run ends with a livelock finding instead of the tool hanging. It only
  // fires on a run that would never end, so it changes no outcome.
  uint64_t soft_lockup_ms = kSoftLockupMsDefault;
};

struct RunResult {
  // Every distinct finding of the run (by signature), in the order they
  // were reported; `finding` is the first of them.
  std::vector<Finding> findings;
  std::optional<Finding> finding;
  uint64_t digest = 0;
  uint64_t steps = 0;
  uint64_t virtual_ns = 0;
  size_t decisions = 0;
  // The coverage points the run reached (Scheduler::Cover), sorted.
  std::vector<std::string> covered;
};

// A per-scheduler component of the simulated world that lives across runs
// and is told when a run begins and when a fiber exits (lockdep, the
// heap). Created on first use with Scheduler::Service<T>().
class RunService {
 public:
  virtual ~RunService() = default;
  // A run begins: drop all state of the previous run.
  virtual void OnRunBegin() {}
  // `fiber` returned from its body (not called for unwound fibers). May
  // Report() findings.
  virtual void OnFiberExit(Fiber& fiber) { (void)fiber; }
  // The run is over (after `finish`): release what it left behind.
  // Nothing reported here counts.
  virtual void OnRunEnd() {}
};

// Thrown into a fiber to unwind it when the run ends early. Fiber code
// must never catch it (no catch (...) in simulated code).
struct FiberKill {};

class Scheduler {
 public:
  Scheduler();
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs one execution. `start` runs on the main context and creates the
  // initial fibers; `finish` runs on the main context after every fiber
  // exited without a finding, and may report one with Fail(). Exceptions
  // other than FiberKill escaping a fiber are harness errors: they are
  // rethrown from Run() after the run is torn down.
  // `teardown` (optional) runs last, like OnRunEnd: it destroys the
  // program's world; nothing it reports counts.
  RunResult Run(Strategy& strategy, const RunOptions& options,
                const std::function<void()>& start,
                const std::function<void()>& finish,
                const std::function<void()>& teardown = nullptr);

  // --- Called from fibers (or from `start` for Spawn) -------------------

  // Creates a runnable fiber. On exhaustion of kFibersMax the run ends
  // with a harness error (thrown from Run()).
  FiberId Spawn(std::string_view name, std::function<void()> body,
                SpawnOptions options = {});
  // A scheduling point where the current fiber could go on, before an
  // operation on `object` (an id from NewObjectId(); 0: none), which only
  // reads it if `read`. The object is shown to the strategy, not hashed
  // into the digest.
  void Yield(Site site, uint64_t object = 0, bool read = false);
  // A scheduling point of code that does not declare each access it makes
  // (fs/ and the simulated hardware: before a page lock, an extent range
  // lock, a bio's submission, a page allocation): `object` names what the
  // fiber is about to touch, as a hint (PendingOp::hint). surw orders by
  // it in half its runs and lets it run first in the others
  // (model/surw.h).
  void YieldHint(Site site, uint64_t object);
  // A fresh object id for PendingOp: 1, 2, ... in creation order, from 1
  // again at each run's start (objects made between runs share ids with
  // the next run's first objects: ids are hints for strategies, never
  // identities the harness relies on).
  uint64_t NewObjectId() { return ++object_seq_; }
  // The current transition touches `object` (0: something unnamed), for a
  // strategy that asks for footprints (Strategy::WantsFootprints).
  void Touch(uint64_t object, bool read = false) {
    if (track_footprints_) [[unlikely]] footprint_.Add({object, read});
  }
  // Blocks the current fiber on `on` until Wake() or until virtual time
  // reaches `deadline_ns`. Returns true when woken, false on timeout.
  // REQUIRES: a sleeping wait has been checked with MightSleep() (a
  // spinlock waiter spins: it does not sleep, and is not checked).
  bool Block(Waitable& on, uint64_t deadline_ns = kNever);
  // The kernel's might_sleep(): reports sleep_in_atomic if the current
  // fiber holds a spinlock or runs in interrupt context. `what` names the
  // sleeping operation. The run goes on.
  void MightSleep(std::string_view what) {
    if (current_->atomic_depth != 0 || current_->in_irq) ReportSleepInAtomic(what);
  }
  // Makes a blocked fiber runnable. No-op if it is not blocked.
  void Wake(FiberId id);
  void SleepFor(uint64_t ns);
  // Runs `fn` at `deadline_ns` in a new fiber in interrupt context.
  void AddTimer(uint64_t deadline_ns, std::string_view name,
                std::function<void()> fn);
  // A value in [0, n) through the Chooser.
  uint64_t Choose(uint64_t n, Site site) {
    uint64_t value = chooser_.Choose(n, site);
    if (tracer_ != nullptr && n > 1) [[unlikely]] tracer_->Choice(site, n, value);
    return value;
  }
  // Reports a finding and lets the run go on, as the kernel goes on after
  // a lockdep splat or a WARN. A signature already reported in this run is
  // ignored; past kFindingsMax findings, further ones are dropped.
  void Report(Finding finding);
  // Reports a finding and ends the run. From a fiber it does not return
  // (the fiber is unwound); from `finish` it records and returns.
  void Fail(Finding finding);
  // BUG_ON() of the system under test (FSIM_BUG_ON): a broken invariant of
  // the simulated filesystem's own state, which a mistake in fs/ can
  // cause. In a fiber: a finding of kind assertion ("kernel BUG at
  // FILE:LINE!") that ends the run, so the trace is written and shrinks.
  // Outside a run's fibers: a harness error, as FSIM_CHECK.
  [[noreturn]] void BugOn(const char* file, int line, const char* expr, const char* message);
  // Signatures (NameHash) whose report the caller already holds, e.g. the
  // explorer's findings so far: a report for one of them may be left
  // empty, so that its text is built once per distinct signature. Null:
  // every report is built. The set must outlive the runs it is set for.
  void set_known_signatures(const std::unordered_set<uint64_t>* known) {
    known_signatures_ = known;
  }
  // Describes the locks a fiber holds, with where each was taken (set by
  // the lock validator when it exists; a deadlock report shows them for
  // every blocked fiber, as the kernel's hung-task report shows all locks
  // held). Empty function: none.
  void set_held_locks_describer(std::function<std::string(FiberId)> fn) {
    held_locks_describer_ = std::move(fn);
  }
  // A coverage point: the run reached `point` (a string literal naming a
  // path: "vmscan:pageout_kswapd"). Observed only, never part of a choice
  // or the digest; explore --coverage counts the runs that reach each.
  void Cover(const char* point) {
    for (const char* p : covered_) {
      if (p == point) return;
    }
    covered_.push_back(point);
  }
  // The fiber slots spawned into during this run.
  const FiberSet& used() const { return used_; }
  // True if a report with this signature need not be built.
  bool KnownSignature(std::string_view signature) const;

  // The scheduler whose Run() is executing on this thread, or null. For
  // code that cannot trust its own members (a use after free).
  static Scheduler* Running();

  // The service of type T (constructed as T(Scheduler&) on first use).
  template <typename T>
  T& Service() {
    static const char tag = 0;  // one per T: its identity, never ordered
    for (auto& [t, service] : services_) {
      if (t == &tag) return static_cast<T&>(*service);
    }
    auto owned = std::make_unique<T>(*this);
    T& service = *owned;
    service.OnRunBegin();
    services_.emplace_back(&tag, std::move(owned));
    return service;
  }

  // --- Queries ----------------------------------------------------------
  FiberId current() const { return current_->id; }
  bool in_fiber() const { return current_ != &main_; }
  Fiber& fiber(FiberId id) { return fibers_[id]; }
  Fiber& current_fiber() { return *current_; }
  const RunOptions& options() const { return options_; }
  const Fiber& fiber(FiberId id) const { return fibers_[id]; }
  // True while the run is being torn down: primitives must do nothing.
  bool unwinding() const { return unwinding_; }
  uint64_t now_ns() const { return now_ns_; }
  Chooser& chooser() { return chooser_; }
  bool has_finding() const { return !findings_.empty(); }
  uint64_t steps() const { return steps_; }
  uint64_t next_wait_seq() { return ++wait_seq_; }

  // --- Tracing (sim/tracer.h) ----------------------------------------------
  // Installs an observer for the following runs (null: none, the default).
  // REQUIRES: not during a run; `tracer` outlives its runs.
  void set_tracer(Tracer* tracer) { tracer_ = tracer; }
  // The observer, or null. Instrumentation points test this pointer and
  // nothing else: a run without a tracer pays one predictable branch.
  Tracer* tracer() const { return tracer_; }

 private:
  struct Timer {
    uint64_t deadline_ns;
    uint64_t seq;
    FiberId fiber;     // a timed wait, or kNoFiber for a callback
    uint64_t wait_seq; // the wait it belongs to (stale if it changed)
    std::function<void()> fn;
    std::string name;
  };

  static void Entry(boost::context::detail::transfer_t t);
  // The fault trap (sim/stack.h): which fault a signal is, if the run
  // takes it, and the landing after the jump.
  static constexpr int kFaultStackOverflow = 1;
  static constexpr int kFaultSegv = 2;
  static constexpr int kFaultBus = 3;
  static constexpr int kFaultSoftLockup = 4;
  static int OnFault(void* self, int sig, const void* addr);
  void OnFaultLanded(int fault);
  static Finding StackOverflowFinding(const Fiber& f);
  static Finding CrashFinding(const Fiber& f, std::string_view signal);
  // An exception of the standard library's "the program misused me" kinds
  // escaping a fiber: a crash finding that ends the run (see Entry).
  static Finding ExceptionFinding(const Fiber& f, const std::exception& e);
  void ReportCrashException(const std::exception& e);
  Finding SoftLockupFinding(const Fiber& f) const;

  void SwitchTo(Fiber* next);
  void TraceSwitch(const Fiber& from, const Fiber& to);
  void Schedule(bool current_runnable);
  void StepLimitExceeded();
  void TimersExhausted();
  // Yield and YieldHint: a scheduling point before `op`.
  void YieldBefore(Site site, PendingOp op);
  bool FireTimers();
  [[noreturn]] void ExitCurrent();
  void ReportDeadlock();
  void ReportSleepInAtomic(std::string_view what);
  void EndRun();  // back to main; throws FiberKill if resumed to unwind
  void UnwindAll();
  void PushTimer(Timer timer);

  std::unique_ptr<Fiber[]> fibers_;  // kFibersMax slots
  Fiber main_;
  Fiber* current_ = &main_;
  FiberSet runnable_;
  FiberSet used_;  // slots spawned into during this run
  FiberId runnable_ids_[kFibersMax];  // Schedule()'s scratch: not on a fiber's stack
  // Each fiber's Fiber::pending, by id: what SchedulePoint::pending
  // shows, kept as it changes so a decision copies nothing.
  PendingOp pending_by_id_[kFibersMax];
  uint32_t live_ = 0;     // fibers neither free nor done
  uint32_t workers_ = 0;  // of which not daemons
  Chooser chooser_;
  Strategy* strategy_ = nullptr;
  // Partial-order reduction's view (only if the strategy asks): what the
  // running transition has touched, and whose it is.
  bool track_footprints_ = false;
  Footprint footprint_;
  FiberId footprint_fiber_ = kNoFiber;
  void EndTransition();
  void BeginTransition(FiberId next);
  RunOptions options_;
  uint64_t steps_ = 0;
  uint64_t now_ns_ = 0;
  uint64_t wait_seq_ = 0;
  uint64_t object_seq_ = 0;
  uint64_t timer_seq_ = 0;
  std::vector<Timer> timers_;  // a min-heap on (deadline_ns, seq)
  std::vector<Finding> findings_;
  const std::unordered_set<uint64_t>* known_signatures_ = nullptr;  // lookup only
  std::function<std::string(FiberId)> held_locks_describer_;
  std::vector<const char*> covered_;  // this run's coverage points
  bool ended_ = false;  // a fatal finding ended the run
  std::exception_ptr harness_error_;
  // The current fiber ended by an exception taken as a crash finding
  // (ExceptionFinding): it exits to the main context, as after a fault.
  bool exit_crashed_ = false;
  bool unwinding_ = false;
  Tracer* tracer_ = nullptr;
  friend class Waitable;
  std::unique_ptr<Waitable> sleep_;   // what SleepFor() blocks on
  std::unique_ptr<Waitable> orphan_;  // what waiters of a freed object wait on
  std::vector<std::pair<const void*, std::unique_ptr<RunService>>> services_;
  sigjmp_buf fault_jump_;
  // The watchdog's view (read in the signal handler, same thread): the
  // run, step and fiber at the last tick, and the ticks since they last
  // changed.
  uint64_t run_seq_ = 0;
  uint64_t soft_lockup_ms_ = 0;
  uint64_t watchdog_run_ = 0;
  uint64_t watchdog_steps_ = 0;
  const Fiber* watchdog_fiber_ = nullptr;
  uint64_t watchdog_ticks_ = 0;
};

// Base of everything a fiber can block on. Knows its waiters (a set of
// fiber ids) and describes itself for deadlock reports.
class Waitable {
 public:
  Waitable(Scheduler& sched, std::string_view type, std::string_view name)
      : sched_(sched), object_id_(sched.NewObjectId()), type_(type), name_(name) {}
  // Reports (lock_misuse) a waitable destroyed while fibers wait on it.
  virtual ~Waitable();
  Waitable(const Waitable&) = delete;
  Waitable& operator=(const Waitable&) = delete;

  std::string_view type() const { return type_; }
  const std::string& name() const { return name_; }
  // Its id for SchedulePoint::pending (Scheduler::NewObjectId()).
  uint64_t object_id() const { return object_id_; }
  // For deadlock reports: who holds this object, e.g. "held by 'T1'", or
  // empty when that is not a meaningful question (a completion).
  virtual std::string DescribeHolders() const { return {}; }
  // For deadlock signatures: the fibers (a mask of ids below 64) whose
  // release `waiter` waits for here; 0 if none or not known. Objects
  // whose holders may have larger ids override AddHolders() too.
  virtual uint64_t Holders(FiberId waiter) const {
    (void)waiter;
    return 0;
  }
  // Adds to `out` the fibers whose release `waiter` waits for here. The
  // default adds Holders()'s mask.
  virtual void AddHolders(FiberId waiter, FiberSet& out) const {
    for (uint64_t m = Holders(waiter); m != 0; m &= m - 1) {
      out.insert(static_cast<FiberId>(std::countr_zero(m)));
    }
  }
  // The name in finding signatures: what varies from run to run (a page's
  // index) left out, so the same deadlock has one signature.
  virtual std::string SignatureName() const { return name_; }
  const FiberSet& waiters() const { return waiters_; }
  Scheduler& sched() const { return sched_; }

  // Objects of the simulated world carry this word while alive; freeing
  // them (sim/heap.h) poisons it, so a use after free is seen at the use.
  static constexpr uint32_t kMagicAlive = 0x10c4a11e;
  // True if the Waitable at `object` has not been destroyed or freed.
  // Reads the magic word as bytes at its offset: no member call or access
  // on what may be a poisoned corpse (UBSan calls those undefined), and
  // volatile, so the compiler assumes nothing of a destroyed object.
  static bool AliveAt(const void* object) {
    const volatile unsigned char* at =
        static_cast<const volatile unsigned char*>(object) + kMagicOffset;
    unsigned char bytes[sizeof(uint32_t)];
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = at[i];
    uint32_t magic;
    std::memcpy(&magic, bytes, sizeof magic);
    return magic == kMagicAlive;
  }
  bool alive() const { return AliveAt(this); }

 protected:
  // Wakes every waiter; each will re-check its condition.
  void WakeAll();
  // Wakes the waiter that started waiting first. Returns false if none.
  bool WakeOne();
  std::string FiberName(FiberId id) const { return sched_.fiber(id).name; }
  // This fiber took the object, or found it done without waiting: what
  // wake-ups of it released happened before (sim/race.h).
  void HbAcquire();

  Scheduler& sched_;

 private:
  friend class Scheduler;
  static const size_t kMagicOffset;  // of magic_ (scheduler.cc)
  uint64_t object_id_;
  uint32_t magic_ = kMagicAlive;
  std::string_view type_;
  std::string name_;
  FiberSet waiters_;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_SCHEDULER_H_
