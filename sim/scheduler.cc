#include "sim/scheduler.h"

#include <signal.h>

#include <algorithm>
#include <cstddef>
#include <bit>
#include <cstdio>
#include <cstring>
#include <cxxabi.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <typeinfo>
#include <variant>

#include "sim/check.h"
#include "sim/race.h"
#include "sim/random.h"
#include "sim/sanitizer.h"

namespace fsim::sim {

namespace ctx = boost::context::detail;

namespace {

thread_local Scheduler* g_running = nullptr;

bool TimerLater(const auto& a, const auto& b) {
  if (a.deadline_ns != b.deadline_ns) return a.deadline_ns > b.deadline_ns;
  return a.seq > b.seq;
}

// The waitable a sleeping fiber blocks on.
class SleepWaitable final : public Waitable {
 public:
  explicit SleepWaitable(Scheduler& s) : Waitable(s, "sleep", "hrtimer") {}
};

// What a fiber waits on after the object it waited on was freed.
class OrphanWaitable final : public Waitable {
 public:
  explicit OrphanWaitable(Scheduler& s) : Waitable(s, "freed object", "(freed)") {}
};

}  // namespace

Scheduler::Scheduler()
    : fibers_(std::make_unique<Fiber[]>(kFibersMax)),
      sleep_(std::make_unique<SleepWaitable>(*this)),
      orphan_(std::make_unique<OrphanWaitable>(*this)) {
  for (FiberId i = 0; i < kFibersMax; ++i) {
    fibers_[i].id = i;
    fibers_[i].sched = this;
  }
  main_.id = kNoFiber;
  main_.sched = this;
  std::snprintf(main_.name, sizeof main_.name, "main");
  timers_.reserve(64);
  FaultTrap::Install();
}

Scheduler::~Scheduler() = default;

Scheduler* Scheduler::Running() { return g_running; }

void Scheduler::SwitchTo(Fiber* next) {
  Fiber* prev = current_;
  if (tracer_ != nullptr) [[unlikely]] TraceSwitch(*prev, *next);
  current_ = next;
  // A fiber that exited never comes back: ASan may drop its fake frames.
  sanitizer::StartSwitch(prev->state == FiberState::kDone ? nullptr : &prev->asan_fake_stack,
                         next->asan_bottom, next->asan_size);
  ctx::transfer_t t = ctx::jump_fcontext(next->ctx, prev);
  // Resumed: whoever jumped here passed itself; remember where it stopped.
  auto* from = static_cast<Fiber*>(t.data);
  sanitizer::FinishSwitch(prev->asan_fake_stack, &from->asan_bottom, &from->asan_size);
  from->ctx = t.fctx;
}

// Out of line and cold: SwitchTo() is the hottest path of a run.
[[gnu::noinline, gnu::cold]] void Scheduler::TraceSwitch(const Fiber& from, const Fiber& to) {
  if (!unwinding_) tracer_->Switch(from, to);
}

namespace {

// The standard library's "the program misused me" exceptions (see Entry).
bool IsLibraryMisuse(const std::exception& e) {
  return dynamic_cast<const std::logic_error*>(&e) != nullptr ||
         dynamic_cast<const std::bad_alloc*>(&e) != nullptr ||
         dynamic_cast<const std::bad_optional_access*>(&e) != nullptr ||
         dynamic_cast<const std::bad_function_call*>(&e) != nullptr ||
         dynamic_cast<const std::bad_variant_access*>(&e) != nullptr ||
         dynamic_cast<const std::bad_cast*>(&e) != nullptr;
}

}  // namespace

void Scheduler::Entry(ctx::transfer_t t) {
  Fiber* from = static_cast<Fiber*>(t.data);
  // The first arrival on this stack; ASan tells the stack we came from
  // (how the main context's stack becomes known).
  sanitizer::FinishSwitch(nullptr, &from->asan_bottom, &from->asan_size);
  from->ctx = t.fctx;
  Scheduler* s = from->sched;
  Fiber* self = s->current_;
  if (!s->unwinding_) {
    // What the system under test does wrong that C++ turns into an
    // exception (an index out of range, a length computed negative, an
    // empty optional read, an allocation of a garbage size) is its crash,
    // the kernel's oops: a finding with its trace. Any other exception is
    // the harness's own error (FiberKill aside), rethrown from Run().
    try {
      self->body();
    } catch (const FiberKill&) {
      // The run ended early; this fiber is done.
    } catch (const std::exception& e) {
      if (s->harness_error_) {
        // The first harness error is the one rethrown.
      } else if (IsLibraryMisuse(e)) {
        s->ReportCrashException(e);
      } else {
        s->harness_error_ = std::current_exception();
      }
    } catch (...) {
      if (!s->harness_error_) s->harness_error_ = std::current_exception();
    }
  }
  s->ExitCurrent();
}

void Scheduler::ReportCrashException(const std::exception& e) {
  Report(ExceptionFinding(*current_, e));
  ended_ = true;
  exit_crashed_ = true;
}

Finding Scheduler::ExceptionFinding(const Fiber& f, const std::exception& e) {
  int status = 0;
  const char* mangled = typeid(e).name();
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  const std::string type = status == 0 && demangled ? demangled.get() : mangled;
  Finding finding;
  finding.kind = FindingKind::kCrash;
  finding.signature = "crash:exception:" + std::string(f.name);
  finding.report = "BUG: uncaught C++ exception " + type + " in fiber '" + f.name + "' (id " +
                   std::to_string(f.id) + "): " + e.what() +
                   "\nThe code under test misused the standard library (an index out of range, a "
                   "length computed negative, an empty optional read, an allocation of a garbage "
                   "size): the fiber was stopped there, as the kernel would oops.";
  return finding;
}

void Scheduler::ExitCurrent() {
  Fiber* self = current_;
  const bool crashed = exit_crashed_;
  exit_crashed_ = false;
  if (!unwinding_ && !harness_error_ && !crashed) {
    for (auto& [tag, service] : services_) service->OnFiberExit(*self);
    if (tracer_ != nullptr) [[unlikely]] tracer_->Exit(*self);
  }
  chooser_.Event(EventTag::kExit, self->id);
  self->state = FiberState::kDone;
  self->body = nullptr;
  runnable_.erase(self->id);
  --live_;
  if (!self->daemon) --workers_;
  if (unwinding_ || harness_error_ || crashed) {
    SwitchTo(&main_);
  } else {
    Schedule(false);
  }
  CheckFailed(__FILE__, __LINE__, "exited fiber resumed", nullptr);
}

RunResult Scheduler::Run(Strategy& strategy, const RunOptions& options,
                         const std::function<void()>& start,
                         const std::function<void()>& finish,
                         const std::function<void()>& teardown) {
  FSIM_CHECK(!in_fiber());
  options_ = options;
  strategy_ = &strategy;
  track_footprints_ = strategy.WantsFootprints();
  footprint_.Clear();
  footprint_fiber_ = kNoFiber;
  // Only the slots the previous run used need resetting.
  used_.ForEach([this](FiberId id) {
    Fiber& f = fibers_[id];
    f.state = FiberState::kFree;
    f.body = nullptr;
    f.waiting_on = nullptr;
  });
  used_.clear();
  covered_.clear();
  sleep_->waiters_.clear();
  orphan_->waiters_.clear();
  runnable_.clear();
  live_ = 0;
  workers_ = 0;
  steps_ = 0;
  now_ns_ = 0;
  wait_seq_ = 0;
  object_seq_ = 0;
  timer_seq_ = 0;
  timers_.clear();
  findings_.clear();
  ended_ = false;
  harness_error_ = nullptr;
  unwinding_ = false;
  current_ = &main_;
  chooser_.Begin(&strategy);
  strategy.BeginRun(options.seed);
  for (auto& [tag, service] : services_) service->OnRunBegin();
  if (tracer_ != nullptr) tracer_->RunBegin(*this);

  g_running = this;
  ++run_seq_;
  soft_lockup_ms_ = options.soft_lockup_ms;
  watchdog_ticks_ = 0;
  FaultTrap::Arm(&OnFault, this, &fault_jump_);
  // No signal mask saved: that costs a system call per run. The fault
  // path unblocks the signals itself. A fault while fibers are unwound
  // lands here again (the trap is re-armed), and the unwinding goes on.
  if (int fault = sigsetjmp(fault_jump_, 0); fault == 0) {
    try {
      start();
    } catch (...) {
      harness_error_ = std::current_exception();
    }
    if (!harness_error_) Schedule(false);
  } else {
    OnFaultLanded(fault);
  }
  UnwindAll();
  FaultTrap::Disarm();

  if (!ended_ && !harness_error_) {
    try {
      finish();
    } catch (...) {
      harness_error_ = std::current_exception();
    }
  }
  if (tracer_ != nullptr) tracer_->RunEnd();
  strategy.EndRun();
  // Teardown reports nothing: the run's verdict is already in.
  unwinding_ = true;
  try {
    if (teardown) teardown();
    for (auto& [tag, service] : services_) service->OnRunEnd();
  } catch (...) {
    if (!harness_error_) harness_error_ = std::current_exception();
  }
  unwinding_ = false;
  g_running = nullptr;
  if (harness_error_) std::rethrow_exception(harness_error_);

  RunResult result;
  uint64_t outcome = Mix64(steps_) ^ Mix64(now_ns_ + 1);
  for (const Finding& f : findings_) {
    outcome = Mix64(outcome ^ NameHash(f.signature) ^
                    static_cast<uint64_t>(f.kind));
  }
  result.digest = chooser_.Digest(outcome);
  if (!findings_.empty()) result.finding = findings_.front();
  result.findings = std::move(findings_);
  result.steps = steps_;
  result.virtual_ns = now_ns_;
  result.decisions = chooser_.decisions().size();
  for (const char* p : covered_) result.covered.emplace_back(p);
  std::sort(result.covered.begin(), result.covered.end());
  result.covered.erase(std::unique(result.covered.begin(), result.covered.end()),
                       result.covered.end());
  return result;
}

void Scheduler::OnFaultLanded(int fault) {
  // We arrive here by siglongjmp from the signal handler, with the signal
  // still blocked and current_ the fiber that faulted. The fiber is
  // abandoned: its frames are garbage and must not be unwound.
  sanitizer::FinishSwitch(nullptr, &current_->asan_bottom, &current_->asan_size);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGSEGV);
  sigaddset(&set, SIGBUS);
  sigaddset(&set, SIGVTALRM);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  FaultTrap::Install();
  FaultTrap::Arm(&OnFault, this, &fault_jump_);  // the handler disarmed it
  Fiber* f = current_;
  current_ = &main_;
  FSIM_CHECK(f != &main_);
  f->state = FiberState::kDone;
  if (f->waiting_on != nullptr) {
    f->waiting_on->waiters_.erase(f->id);
    f->waiting_on = nullptr;
  }
  runnable_.erase(f->id);
  --live_;
  if (!f->daemon) --workers_;
  ended_ = true;
  if (tracer_ != nullptr && !unwinding_) tracer_->Exit(*f);
  Report(fault == kFaultStackOverflow ? StackOverflowFinding(*f)
         : fault == kFaultSoftLockup  ? SoftLockupFinding(*f)
                                      : CrashFinding(*f, fault == kFaultBus ? "SIGBUS" : "SIGSEGV"));
}

Finding Scheduler::StackOverflowFinding(const Fiber& f) {
  Finding finding;
  finding.kind = FindingKind::kStackOverflow;
  finding.signature = std::string("stack_overflow:") + f.name;
  char line[160];
  std::snprintf(line, sizeof line,
                "BUG: stack guard page was hit: fiber '%s' (id %u) overran "
                "its %zu-byte stack",
                f.name, f.id, f.stack.size());
  finding.report = line;
  finding.report +=
      "\nThe fiber was stopped at the guard page below its stack; nothing "
      "beyond it was written.\nRaise the stack size with --config "
      "stack_kib=N if the depth is legitimate.";
  return finding;
}

Finding Scheduler::CrashFinding(const Fiber& f, std::string_view signal) {
  // No address in the report: it would differ between runs and builds.
  std::string lower(signal);
  for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
  Finding finding;
  finding.kind = FindingKind::kCrash;
  finding.signature = "crash:" + lower + ":" + f.name;
  char line[160];
  std::snprintf(line, sizeof line,
                "BUG: unable to handle page fault: %.*s in fiber '%s' (id %u)",
                static_cast<int>(signal.size()), signal.data(), f.name, f.id);
  finding.report = line;
  finding.report +=
      "\nThe fiber made a bad memory access (outside its stack's guard) and "
      "was stopped there; its frames were abandoned, not unwound.";
  return finding;
}

Finding Scheduler::SoftLockupFinding(const Fiber& f) const {
  // No time measured in the report: the step it stopped at says where.
  Finding finding;
  finding.kind = FindingKind::kLivelock;
  finding.signature = std::string("livelock:soft_lockup:") + f.name;
  char line[200];
  std::snprintf(line, sizeof line,
                "watchdog: BUG: soft lockup - fiber '%s' (id %u) stuck for %llu ms of CPU "
                "without reaching a scheduling point (after step %llu)",
                f.name, f.id, static_cast<unsigned long long>(soft_lockup_ms_),
                static_cast<unsigned long long>(steps_));
  finding.report = line;
  finding.report +=
      "\nA loop that never ends and never sleeps or yields: one that cannot "
      "progress, or waits for a state only another fiber could change. The "
      "fiber was stopped there; its frames were abandoned, not unwound.";
  return finding;
}

int Scheduler::OnFault(void* self, int sig, const void* addr) {
  auto* s = static_cast<Scheduler*>(self);
  if (sig == SIGVTALRM) {
    // The watchdog's tick (sim/stack.h): the same fiber at the same step
    // of the same run for a whole period is stuck.
    if (s->current_ == &s->main_ || s->unwinding_) {
      s->watchdog_ticks_ = 0;
      return 0;
    }
    if (s->watchdog_run_ != s->run_seq_ || s->watchdog_steps_ != s->steps_ ||
        s->watchdog_fiber_ != s->current_) {
      s->watchdog_run_ = s->run_seq_;
      s->watchdog_steps_ = s->steps_;
      s->watchdog_fiber_ = s->current_;
      s->watchdog_ticks_ = 0;
      return 0;
    }
    if (++s->watchdog_ticks_ * FaultTrap::kWatchdogTickMs < s->soft_lockup_ms_) return 0;
    sanitizer::StartSwitch(nullptr, s->main_.asan_bottom, s->main_.asan_size);
    return kFaultSoftLockup;
  }
  // A fault of the main context (building the world, finish) is the
  // harness's own: passed on.
  if (s->current_ == &s->main_) return 0;
  int value = kFaultSegv;
  if (sig == SIGBUS) {
    value = kFaultBus;
  } else {
    for (FiberId i = 0; i < kFibersMax; ++i) {
      if (s->fibers_[i].stack.InGuard(addr)) value = kFaultStackOverflow;
    }
  }
  // The jump lands on the main context's stack.
  sanitizer::StartSwitch(nullptr, s->main_.asan_bottom, s->main_.asan_size);
  return value;
}

void Scheduler::UnwindAll() {
  if (live_ == 0) return;
  unwinding_ = true;
  // Only slots of this run can hold a live fiber; ascending, as before.
  // (Spawn is refused while unwinding, so used_ does not grow here.)
  used_.ForEach([this](FiberId id) {
    Fiber& f = fibers_[id];
    if (f.state == FiberState::kRunnable || f.state == FiberState::kBlocked) {
      if (f.waiting_on != nullptr) {
        f.waiting_on->waiters_.erase(f.id);
        f.waiting_on = nullptr;
      }
      if (f.abandon_on_kill) {
        // Its frames own nothing: record the exit it would have made and
        // leave its stack as it is (the next Spawn makes a new context).
        chooser_.Event(EventTag::kExit, f.id);
        f.state = FiberState::kDone;
        f.body = nullptr;
        runnable_.erase(f.id);
        --live_;
        if (!f.daemon) --workers_;
        return;
      }
      SwitchTo(&f);  // it unwinds, exits and switches back here
      FSIM_CHECK(f.state == FiberState::kDone);
    }
  });
  unwinding_ = false;
  FSIM_CHECK(live_ == 0 && workers_ == 0);
}

FiberId Scheduler::Spawn(std::string_view name, std::function<void()> body,
                         SpawnOptions options) {
  if (unwinding_) return kNoFiber;
  FiberId id = kNoFiber;
  for (FiberId i = 0; i < kFibersMax; ++i) {
    // An exiting fiber is kDone while it still runs on its stack (it may
    // fire a timer that spawns): its slot is reusable only once it is gone.
    if (&fibers_[i] == current_) continue;
    if (fibers_[i].state == FiberState::kFree ||
        fibers_[i].state == FiberState::kDone) {
      id = i;
      break;
    }
  }
  if (id == kNoFiber) {
    throw std::runtime_error("more than kFibersMax (" +
                             std::to_string(kFibersMax) +
                             ") fibers alive at once");
  }
  Fiber& f = fibers_[id];
  size_t size = Stack::Rounded(options_.stack_size);
  if (f.stack.allocated() && f.stack.size() != size) f.stack.Release();
  if (!f.stack.allocated()) f.stack.Allocate(size);
  // The stack may hold the shadow of frames abandoned in an earlier run.
  sanitizer::Unpoison(f.stack.bottom(), f.stack.size());
  f.asan_bottom = f.stack.bottom();
  f.asan_size = f.stack.size();
  f.asan_fake_stack = nullptr;
  f.ctx = ctx::make_fcontext(f.stack.top(), f.stack.size(), &Entry);
  f.state = FiberState::kRunnable;
  f.pending = {};
  pending_by_id_[f.id] = {};
  f.reached_point = false;
  size_t n = std::min(name.size(), sizeof f.name - 1);
  std::memcpy(f.name, name.data(), n);
  f.name[n] = '\0';
  f.body = std::move(body);
  f.waiting_on = nullptr;
  f.timed_out = false;
  f.atomic_depth = 0;
  f.in_irq = options.in_irq;
  f.irqs_disabled = 0;
  f.daemon = options.daemon;
  f.abandon_on_kill = options.abandon_on_kill;
  f.memalloc = false;
  f.kswapd = false;
  f.nr_dirtied = 0;
  f.nr_dirtied_pause = kNrDirtiedPauseInit;
  runnable_.insert(id);
  used_.insert(id);
  ++live_;
  if (!f.daemon) ++workers_;
  chooser_.Event(EventTag::kSpawn, id);
  strategy_->OnSpawn(id);
  if (options_.race_detector) [[unlikely]] Service<RaceDetector>().Spawned(id);
  if (tracer_ != nullptr) [[unlikely]] tracer_->Spawn(f);
  return id;
}

void Scheduler::Yield(Site site, uint64_t object, bool read) {
  YieldBefore(site, {object, read, false});
}

void Scheduler::YieldHint(Site site, uint64_t object) { YieldBefore(site, {object, false, true}); }

void Scheduler::YieldBefore(Site site, PendingOp op) {
  if (!in_fiber() || unwinding_) return;
  current_->pending = op;
  pending_by_id_[current_->id] = op;
  current_->reached_point = true;
  if (tracer_ != nullptr) [[unlikely]] tracer_->Yield(*current_, site);
  chooser_.Event(EventTag::kYield, site.hash());
  Schedule(true);
}

bool Scheduler::Block(Waitable& on, uint64_t deadline_ns) {
  FSIM_CHECK_MSG(in_fiber(), "Block() called outside a fiber");
  if (unwinding_) return false;
  Fiber* self = current_;
  self->state = FiberState::kBlocked;
  self->waiting_on = &on;
  self->wait_seq = ++wait_seq_;
  self->timed_out = false;
  self->pending = {on.object_id_, false};  // woken, it retries on `on`
  pending_by_id_[self->id] = self->pending;
  self->reached_point = true;
  Touch(on.object_id_);
  if (deadline_ns != kNever) Touch(0);  // time: not a named object
  const uint64_t on_id = on.object_id_;
  on.waiters_.insert(self->id);
  runnable_.erase(self->id);
  chooser_.Event(EventTag::kBlock, NameHash(on.name()) ^ self->id);
  if (tracer_ != nullptr) [[unlikely]] tracer_->Block(*self, on, deadline_ns);
  if (deadline_ns != kNever) {
    PushTimer({deadline_ns, ++timer_seq_, self->id, self->wait_seq, {}, {}});
  }
  Schedule(false);
  // Woken from `on` (or timed out): what its waker released happened
  // before this fiber goes on (sim/race.h).
  if (options_.race_detector && !unwinding_) [[unlikely]] {
    Service<RaceDetector>().Acquire(on_id);
  }
  return !self->timed_out;
}

void Scheduler::Wake(FiberId id) {
  if (unwinding_) return;
  Fiber& f = fibers_[id];
  if (f.state != FiberState::kBlocked) return;
  Touch(f.waiting_on->object_id_);
  f.waiting_on->waiters_.erase(id);
  f.waiting_on = nullptr;
  f.state = FiberState::kRunnable;
  runnable_.insert(id);
  chooser_.Event(EventTag::kWake, id);
  if (tracer_ != nullptr) [[unlikely]] tracer_->Wake(f);
}

void Scheduler::SleepFor(uint64_t ns) {
  if (!in_fiber() || unwinding_) return;
  MightSleep("msleep");
  Block(*sleep_, now_ns_ + ns);
}

void Scheduler::ReportSleepInAtomic(std::string_view what) {
  if (!in_fiber() || unwinding_) return;
  const Fiber& f = *current_;
  Finding finding;
  finding.kind = FindingKind::kSleepInAtomic;
  finding.signature = "sleep_in_atomic:" + std::string(what);
  char detail[128];
  std::snprintf(detail, sizeof detail,
                "\n  in_atomic(): %d, irqs_disabled(): %d, fiber: '%s'",
                f.atomic_depth > 0 ? 1 : 0, f.in_irq ? 1 : 0, f.name);
  finding.report = "BUG: sleeping function called from invalid context (" +
                   std::string(what) + ")" + detail;
  Report(std::move(finding));
}

void Scheduler::AddTimer(uint64_t deadline_ns, std::string_view name,
                         std::function<void()> fn) {
  if (unwinding_) return;
  PushTimer({deadline_ns, ++timer_seq_, kNoFiber, 0, std::move(fn),
             std::string(name)});
}

void Scheduler::PushTimer(Timer timer) {
  Touch(0);  // time is not a named object
  if (timers_.size() >= kTimersMax) [[unlikely]] {
    TimersExhausted();
    return;
  }
  timers_.push_back(std::move(timer));
  std::push_heap(timers_.begin(), timers_.end(),
                 [](const Timer& a, const Timer& b) { return TimerLater(a, b); });
}

bool Scheduler::FireTimers() {
  auto later = [](const Timer& a, const Timer& b) { return TimerLater(a, b); };
  bool fired = false;
  while (!timers_.empty()) {
    uint64_t deadline = timers_.front().deadline_ns;
    if (fired && deadline > now_ns_) break;  // fire one instant at a time
    std::pop_heap(timers_.begin(), timers_.end(), later);
    Timer t = std::move(timers_.back());
    timers_.pop_back();
    if (t.fiber != kNoFiber) {
      Fiber& f = fibers_[t.fiber];
      if (f.state != FiberState::kBlocked || f.wait_seq != t.wait_seq) {
        continue;  // stale: the wait ended before its timeout
      }
      now_ns_ = std::max(now_ns_, deadline);
      f.timed_out = true;
      chooser_.Event(EventTag::kTimeout, f.id);
      if (tracer_ != nullptr) tracer_->Timeout(f);
      Wake(f.id);
    } else {
      now_ns_ = std::max(now_ns_, deadline);
      chooser_.Event(EventTag::kTimer, NameHash(t.name));
      if (tracer_ != nullptr) tracer_->Timer(t.name);
      Spawn(t.name, std::move(t.fn), {.in_irq = true});
    }
    fired = true;
  }
  if (fired && track_footprints_) [[unlikely]] {
    // Time moved: an environment transition that may touch anything.
    Footprint any;
    any.unknown = true;
    strategy_->OnTransition(kNoFiber, any);
  }
  return fired;
}

void Scheduler::EndTransition() {
  if (footprint_fiber_ != kNoFiber) strategy_->OnTransition(footprint_fiber_, footprint_);
  footprint_.Clear();
  footprint_fiber_ = kNoFiber;
}

void Scheduler::BeginTransition(FiberId next) {
  footprint_.Clear();
  footprint_fiber_ = next;
  if (fibers_[next].reached_point) footprint_.Add(fibers_[next].pending);
}

// The program armed more timers than time let fire: a mistake of the
// program (a wait loop re-arming its timeout, a throttle that never
// lifts), so a finding that ends the run, with its trace, never a harness
// error that would end the whole exploration and lose its findings.
[[gnu::noinline, gnu::cold]] void Scheduler::TimersExhausted() {
  Finding finding;
  finding.kind = FindingKind::kLivelock;
  finding.signature = "livelock:timers";
  finding.report = "livelock: more than " + std::to_string(kTimersMax) +
                   " timers pending at once (timed waits and timers armed faster than virtual "
                   "time fires them)";
  if (in_fiber()) finding.report += "; the last armed by fiber '" + std::string(current_->name) + "'";
  Fail(std::move(finding));
}

// Out of line and cold: Schedule() is every step's path, and a finding
// built inline gave it a large frame and a stack protector.
[[gnu::noinline, gnu::cold]] void Scheduler::StepLimitExceeded() {
  Finding finding;
  finding.kind = FindingKind::kLivelock;
  finding.signature = "livelock:step_limit";
  finding.report = "livelock: the run took more than " + std::to_string(options_.steps_max) +
                   " scheduling steps without finishing";
  Fail(std::move(finding));
}

void Scheduler::Schedule(bool current_runnable) {
  if (track_footprints_) [[unlikely]] EndTransition();
  if (++steps_ > options_.steps_max) [[unlikely]] {
    StepLimitExceeded();
    return;
  }
  while (runnable_.empty()) {
    if (!FireTimers()) {
      // Only blocked daemons left: the run is complete (they are
      // unwound). Blocked workers: a deadlock.
      if (workers_ > 0) {
        ReportDeadlock();
        ended_ = true;
      }
      EndRun();
      return;
    }
  }
  FiberId next;
  if (runnable_.single()) {
    next = runnable_.first();
  } else {
    uint32_t n = runnable_.ToArray(runnable_ids_);
    SchedulePoint point;
    point.runnable = std::span<const FiberId>(runnable_ids_, n);
    point.pending = std::span<const PendingOp>(pending_by_id_, kFibersMax);
    point.current = current_->id;
    point.current_runnable = current_runnable;
    point.step = steps_;
    next = chooser_.PickFiber(point);
    FSIM_CHECK_MSG(next < kFibersMax && runnable_.contains(next),
                   "strategy picked a fiber that is not runnable");
  }
  if (track_footprints_) [[unlikely]] BeginTransition(next);
  if (&fibers_[next] != current_) SwitchTo(&fibers_[next]);
  if (unwinding_ && in_fiber()) throw FiberKill{};
}

void Scheduler::EndRun() {
  if (!in_fiber()) return;
  SwitchTo(&main_);
  // Main resumes a fiber of a finished run only to unwind it.
  throw FiberKill{};
}

void Scheduler::Report(Finding finding) {
  if (unwinding_) return;
  for (const Finding& f : findings_) {
    if (f.signature == finding.signature) return;
  }
  if (findings_.size() < kFindingsMax) {
    findings_.push_back(std::move(finding));
    if (tracer_ != nullptr) tracer_->FindingReported(findings_.back());
  }
}

void Scheduler::Fail(Finding finding) {
  if (unwinding_) {
    if (in_fiber()) throw FiberKill{};
    return;
  }
  Report(std::move(finding));
  ended_ = true;
  EndRun();
}

namespace {

// FSIM_BUG_ON in the system under test, during a run: that run's finding.
void BugOnInRun(const char* file, int line, const char* expr, const char* message) {
  if (Scheduler* running = Scheduler::Running(); running != nullptr) {
    running->BugOn(file, line, expr, message);
  }
}

[[maybe_unused]] const bool kBugOnHandlerSet = (SetBugOnHandler(&BugOnInRun), true);

}  // namespace

void Scheduler::BugOn(const char* file, int line, const char* expr, const char* message) {
  if (in_fiber() && !unwinding_) {
    Finding finding;
    finding.kind = FindingKind::kAssertion;
    finding.signature = "bug_on:" + std::string(file) + ":" + std::to_string(line);
    finding.report = "kernel BUG at " + std::string(file) + ":" + std::to_string(line) + "!\n  " +
                     expr + (message != nullptr ? std::string(": ") + message : std::string()) +
                     "\n  in fiber '" + current_->name + "'";
    Fail(std::move(finding));  // unwinds this fiber: does not return
  }
  if (in_fiber()) throw FiberKill{};
  CheckFailed(file, line, expr, message);
}

void Scheduler::ReportDeadlock() {
  // The wait-for graph: a blocked fiber -> the fibers holding what it
  // waits for (where the object knows). The fibers on a cycle of it are
  // the deadlock; the others blocked behind them are bystanders, left out
  // of the signature so one deadlock has one signature whoever else was
  // waiting. With no cycle known (waits on completions, queues without
  // holders), every blocked fiber is in the signature. On the heap: this
  // runs on a fiber's stack, and a run may have kFibersMax fibers.
  FiberSet blocked;
  std::vector<FiberId> blocked_ids;
  used_.ForEach([&](FiberId id) {
    if (fibers_[id].state != FiberState::kBlocked) return;
    blocked.insert(id);
    blocked_ids.push_back(id);
  });
  std::vector<FiberSet> edges(blocked_ids.size());  // by index in blocked_ids
  std::vector<uint32_t> index_of(kFibersMax, 0);
  for (uint32_t i = 0; i < blocked_ids.size(); ++i) {
    const Fiber& f = fibers_[blocked_ids[i]];
    index_of[f.id] = i;
    f.waiting_on->AddHolders(f.id, edges[i]);
  }
  FiberSet on_cycle;
  for (uint32_t i = 0; i < blocked_ids.size(); ++i) {
    // Fibers reachable from f's successors; f is on a cycle if among them.
    FiberSet seen;
    std::vector<FiberId> frontier;
    edges[i].ForEach([&](FiberId id) {
      if (blocked.contains(id)) frontier.push_back(id);
    });
    while (!frontier.empty()) {
      FiberId id = frontier.back();
      frontier.pop_back();
      if (seen.contains(id)) continue;
      seen.insert(id);
      edges[index_of[id]].ForEach([&](FiberId next) {
        if (blocked.contains(next) && !seen.contains(next)) frontier.push_back(next);
      });
    }
    if (seen.contains(blocked_ids[i])) on_cycle.insert(blocked_ids[i]);
  }
  // The signature is the set of what the cycle waits for (kind and
  // class), with no fiber names: one inversion is one finding however
  // many fibers, and which of them, meet in it (as lockdep names classes,
  // not tasks).
  std::vector<std::string> keys;
  for (FiberId id : blocked_ids) {
    const Fiber& f = fibers_[id];
    if (on_cycle.empty() || on_cycle.contains(f.id)) {
      const Waitable* w = f.waiting_on;
      keys.push_back(std::string(w->type()) + ":" + w->SignatureName());
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  Finding finding;
  finding.kind = FindingKind::kDeadlock;
  finding.signature = "deadlock:";
  for (size_t i = 0; i < keys.size(); ++i) {
    finding.signature += (i ? "," : "") + keys[i];
  }
  // The report is built once per signature: the explorer already has it.
  if (KnownSignature(finding.signature)) return Report(std::move(finding));
  std::vector<std::string> lines;
  for (FiberId id : blocked_ids) {
    const Fiber& f = fibers_[id];
    const Waitable* w = f.waiting_on;
    std::string what = std::string(w->type()) + " '" + w->name() + "'";
    std::string holders = w->DescribeHolders();
    const bool cycle = on_cycle.contains(f.id);
    char head[96];
    std::snprintf(head, sizeof head, "  fiber '%s' (id %u) waits for ", f.name,
                  f.id);
    lines.push_back(head + what + (holders.empty() ? "" : " " + holders) +
                    (!on_cycle.empty() && !cycle ? " (behind the cycle)" : ""));
  }
  finding.report = "deadlock: " + std::to_string(lines.size()) +
                   " fiber(s) blocked forever, none runnable, no timer "
                   "pending";
  for (const std::string& l : lines) finding.report += "\n" + l;
  if (held_locks_describer_) {
    // Who holds what, and where each was taken (debug_show_all_locks()).
    std::string all;
    for (FiberId id : blocked_ids) {
      std::string held = held_locks_describer_(id);
      while (!held.empty() && held.back() == '\n') held.pop_back();
      if (!held.empty()) all += "\n" + held;
    }
    if (!all.empty()) finding.report += "\n\nShowing all locks held by the blocked fibers:" + all;
  }
  Report(std::move(finding));
}

bool Scheduler::KnownSignature(std::string_view signature) const {
  return known_signatures_ != nullptr && known_signatures_->count(NameHash(signature)) != 0;
}

// Waitable is polymorphic, so offsetof is only conditionally supported;
// GCC and Clang compute it as for any class without virtual bases.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
const size_t Waitable::kMagicOffset = offsetof(Waitable, magic_);
#pragma GCC diagnostic pop

Waitable::~Waitable() {
  if (!waiters_.empty() && !sched_.unwinding()) {
    Finding finding;
    finding.kind = FindingKind::kLockMisuse;
    finding.signature = "lock_misuse:freed_with_waiters:" + std::string(type_) +
                        ":" + name_;
    finding.report = "BUG: " + std::string(type_) + " '" + name_ +
                     "' freed while fibers wait on it:";
    waiters_.ForEach([&](FiberId id) {
      finding.report += std::string("\n  fiber '") + sched_.fiber(id).name +
                        "' (id " + std::to_string(id) + ")";
      // The waiter now waits on nothing that exists: park it on the
      // scheduler's orphan waitable, so no wake-up goes through freed
      // memory (and a deadlock report can still name what it waits for).
      sched_.fiber(id).waiting_on = sched_.orphan_.get();
      sched_.orphan_->waiters_.insert(id);
    });
    sched_.Report(std::move(finding));
  }
  magic_ = 0;
}

void Waitable::HbAcquire() {
  if (RaceDetector::On(sched_)) [[unlikely]] RaceDetector::Of(sched_).Acquire(object_id_);
}

void Waitable::WakeAll() {
  sched_.Touch(object_id_);  // an unlock or completion changes the object
  if (RaceDetector::On(sched_)) [[unlikely]] RaceDetector::Of(sched_).Release(object_id_);
  if (waiters_.empty()) return;  // the common case: an uncontended unlock
  // Wake() erases each woken id from waiters_ as ForEach visits it.
  waiters_.ForEach([this](FiberId id) { sched_.Wake(id); });
}

bool Waitable::WakeOne() {
  sched_.Touch(object_id_);
  if (RaceDetector::On(sched_)) [[unlikely]] RaceDetector::Of(sched_).Release(object_id_);
  FiberId first = kNoFiber;
  uint64_t first_seq = ~uint64_t{0};
  waiters_.ForEach([&](FiberId id) {
    if (sched_.fiber(id).wait_seq < first_seq) {
      first_seq = sched_.fiber(id).wait_seq;
      first = id;
    }
  });
  if (first == kNoFiber) return false;
  sched_.Wake(first);
  return true;
}

}  // namespace fsim::sim
