#include "sim/stack.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "sim/check.h"
#include "sim/limits.h"

namespace fsim::sim {
namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// The trap's state. Written by the scheduler between switches, read by the
// signal handler; both run on the one simulation thread.
thread_local FaultTrap::OnFault g_on_fault = nullptr;
thread_local void* g_context = nullptr;
thread_local sigjmp_buf* g_armed_jump = nullptr;
struct sigaction g_previous_segv;
struct sigaction g_previous_bus;
struct sigaction g_previous_abrt;
volatile sig_atomic_t g_fatal_hook_ran = 0;
FaultTrap::FatalHook g_fatal_hook = nullptr;

// Runs the fatal hook once per process (a second fatal signal inside it,
// or a re-raise, finds it done).
void RunFatalHook(int sig) {
  if (g_fatal_hook == nullptr || g_fatal_hook_ran) return;
  g_fatal_hook_ran = 1;
  g_fatal_hook(sig);
}

// Asks the armed function about signal `sig` (at `addr`); if it takes it,
// disarms the trap and jumps back to the run with its value. Returns if
// the function declines.
void TakeIfArmed(int sig, const void* addr) {
  if (g_on_fault == nullptr) return;
  int value = g_on_fault(g_context, sig, addr);
  if (value == 0) return;
  sigjmp_buf* jump = g_armed_jump;
  g_on_fault = nullptr;
  g_armed_jump = nullptr;
  siglongjmp(*jump, value);
}

// The watchdog's tick: the armed function decides; declined, it is ignored.
void OnTick(int sig, siginfo_t* info, void* context) {
  (void)info;
  (void)context;
  TakeIfArmed(sig, nullptr);
}

void OnSignal(int sig, siginfo_t* info, void* context) {
  (void)context;
  // si_code > 0: raised by the hardware, not sent with kill().
  if (info->si_code > 0) TakeIfArmed(sig, info->si_addr);
  // Not ours: behave as if we were never installed, so the fault is
  // reported by whatever handled it before (or kills the process).
  RunFatalHook(sig);
  sigaction(sig, sig == SIGBUS ? &g_previous_bus : &g_previous_segv, nullptr);
}

// SIGABRT is never taken by a run (the abort may come from inside the
// allocator, holding its locks): the hook speaks, then abort()'s second
// raise meets the previous disposition.
void OnAbort(int sig, siginfo_t* info, void* context) {
  (void)info;
  (void)context;
  RunFatalHook(sig);
  sigaction(SIGABRT, &g_previous_abrt, nullptr);
}

// The thread's alternate signal stack, where the handler runs (the
// faulting stack may be exhausted). Mapped, not malloc'd, and unmapped
// when the thread exits, so nothing of it outlives its thread.
class AltStack {
 public:
  static constexpr size_t kSize = 64 * 1024;
  void Ensure() {
    if (base_ != nullptr) return;
    void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FSIM_CHECK_MSG(p != MAP_FAILED, "mmap of the alternate signal stack failed");
    stack_t ss;
    std::memset(&ss, 0, sizeof ss);
    ss.ss_sp = p;
    ss.ss_size = kSize;
    FSIM_CHECK(sigaltstack(&ss, &previous_) == 0);
    base_ = p;
  }
  ~AltStack() {
    if (base_ == nullptr) return;
    stack_t current;
    // Put the previous one back only if ours is still the thread's.
    if (sigaltstack(nullptr, &current) == 0 && current.ss_sp == base_) {
      if ((previous_.ss_flags & SS_DISABLE) != 0 || previous_.ss_sp == nullptr) {
        stack_t off;
        std::memset(&off, 0, sizeof off);
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, nullptr);
      } else {
        sigaltstack(&previous_, nullptr);
      }
    }
    munmap(base_, kSize);
  }

 private:
  void* base_ = nullptr;
  stack_t previous_{};
};

thread_local AltStack g_alt_stack;

}  // namespace

Stack::~Stack() { Release(); }

size_t Stack::Rounded(size_t size) { return RoundUp(size, PageSize()); }

void Stack::Allocate(size_t size) {
  FSIM_CHECK(base_ == nullptr);
  size_ = RoundUp(size, PageSize());
  guard_ = RoundUp(kStackGuardSize, PageSize());
  void* p = mmap(nullptr, guard_ + size_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  FSIM_CHECK_MSG(p != MAP_FAILED, "mmap of a fiber stack failed");
  FSIM_CHECK_MSG(mprotect(p, guard_, PROT_NONE) == 0,
                 "mprotect of a stack guard failed");
  base_ = p;
}

void Stack::Release() {
  if (base_ == nullptr) return;
  munmap(base_, guard_ + size_);
  base_ = nullptr;
  size_ = 0;
}

bool Stack::InGuard(const void* addr) const {
  auto a = reinterpret_cast<uintptr_t>(addr);
  auto lo = reinterpret_cast<uintptr_t>(base_);
  return base_ != nullptr && a >= lo && a < lo + guard_;
}

void FaultTrap::SetFatalHook(FatalHook hook) { g_fatal_hook = hook; }

namespace {

// Installs `handler` for `sig` on the alternate stack, with `flags` on top
// of SA_SIGINFO | SA_ONSTACK; the previous disposition goes to `previous`.
void Handle(int sig, void (*handler)(int, siginfo_t*, void*), int flags,
            struct sigaction* previous) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | flags;
  sigemptyset(&sa.sa_mask);
  FSIM_CHECK(sigaction(sig, &sa, previous) == 0);
}

}  // namespace

void FaultTrap::Install() {
  static bool installed = false;
  g_alt_stack.Ensure();
  if (installed) return;
  Handle(SIGSEGV, OnSignal, 0, &g_previous_segv);
  Handle(SIGBUS, OnSignal, 0, &g_previous_bus);
  Handle(SIGABRT, OnAbort, SA_RESETHAND, &g_previous_abrt);
  // The watchdog: restarted system calls, so that a tick during the
  // harness's own I/O changes nothing.
  Handle(SIGVTALRM, OnTick, SA_RESTART, nullptr);
  struct itimerval period;
  std::memset(&period, 0, sizeof period);
  period.it_interval.tv_sec = static_cast<time_t>(kWatchdogTickMs / 1000);
  period.it_interval.tv_usec = static_cast<suseconds_t>(kWatchdogTickMs % 1000 * 1000);
  period.it_value = period.it_interval;
  FSIM_CHECK(setitimer(ITIMER_VIRTUAL, &period, nullptr) == 0);
  installed = true;
}

void FaultTrap::Arm(OnFault on_fault, void* context, sigjmp_buf* jump) {
  g_on_fault = on_fault;
  g_context = context;
  g_armed_jump = jump;
}

void FaultTrap::Disarm() {
  g_on_fault = nullptr;
  g_context = nullptr;
  g_armed_jump = nullptr;
}

}  // namespace fsim::sim
