#include "sim/stack.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
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
thread_local OverflowTrap::GuardPredicate g_in_guard = nullptr;
thread_local void* g_context = nullptr;
thread_local sigjmp_buf* g_armed_jump = nullptr;
struct sigaction g_previous_action;

void OnSegv(int sig, siginfo_t* info, void* context) {
  if (g_in_guard != nullptr && g_in_guard(g_context, info->si_addr)) {
    sigjmp_buf* jump = g_armed_jump;
    g_in_guard = nullptr;
    g_armed_jump = nullptr;
    siglongjmp(*jump, 1);
  }
  // Not ours: behave as if we were never installed, so the fault is
  // reported by whatever handled it before (or kills the process).
  sigaction(SIGSEGV, &g_previous_action, nullptr);
  (void)sig;
  (void)context;
}

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

void OverflowTrap::Install() {
  static bool installed = false;
  thread_local bool altstack = false;
  if (!altstack) {
    // The handler runs here: the faulting stack is exhausted.
    static constexpr size_t kAltSize = 64 * 1024;
    stack_t ss;
    std::memset(&ss, 0, sizeof ss);
    ss.ss_sp = std::malloc(kAltSize);
    FSIM_CHECK(ss.ss_sp != nullptr);
    ss.ss_size = kAltSize;
    FSIM_CHECK(sigaltstack(&ss, nullptr) == 0);
    altstack = true;
  }
  if (installed) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnSegv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  FSIM_CHECK(sigaction(SIGSEGV, &sa, &g_previous_action) == 0);
  installed = true;
}

void OverflowTrap::Arm(GuardPredicate in_guard, void* context,
                       sigjmp_buf* jump) {
  g_in_guard = in_guard;
  g_context = context;
  g_armed_jump = jump;
}

void OverflowTrap::Disarm() {
  g_in_guard = nullptr;
  g_context = nullptr;
  g_armed_jump = nullptr;
}

}  // namespace fsim::sim
