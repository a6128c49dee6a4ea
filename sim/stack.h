// Guard-paged fiber stacks and the detection of their overflow.
//
// Each stack is one mmap: a PROT_NONE guard of kStackGuardSize at the low
// end, then the usable stack. A fiber that runs off its stack touches the
// guard and takes SIGSEGV; the handler (on an alternate signal stack)
// recognises the guard of the running fiber's stack and jumps back to the
// scheduler, which reports a stack_overflow finding instead of letting the
// fiber corrupt its neighbour. Any other SIGSEGV or SIGBUS while a fiber
// runs comes back the same way, as a crash finding.
#ifndef FSIM_SIM_STACK_H_
#define FSIM_SIM_STACK_H_

#include <csetjmp>
#include <cstddef>
#include <cstdint>

namespace fsim::sim {

class Stack {
 public:
  Stack() = default;
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Maps a stack of `size` usable bytes (rounded up to pages) plus a guard.
  // Aborts (harness error) if the mapping fails.
  void Allocate(size_t size);
  void Release();

  // `size` rounded up to whole pages: what Allocate() will map.
  static size_t Rounded(size_t size);

  bool allocated() const { return base_ != nullptr; }
  size_t size() const { return size_; }
  // The highest address of the usable stack (stacks grow down).
  void* top() const { return static_cast<char*>(base_) + guard_ + size_; }
  // The lowest address of the usable stack (just above the guard).
  void* bottom() const { return static_cast<char*>(base_) + guard_; }
  // True if `addr` lies in this stack's guard.
  bool InGuard(const void* addr) const;

 private:
  void* base_ = nullptr;  // start of the mapping (the guard)
  size_t guard_ = 0;
  size_t size_ = 0;
};

// The fault trap. Arm() registers, for the duration of a run, a function
// that judges a SIGSEGV or SIGBUS raised by the hardware (the guard of a
// fiber's stack, or any bad access while a fiber runs) and the jump buffer
// to return to; Disarm() clears it. The handlers are installed once per
// process, with an alternate signal stack for the calling thread (unmapped
// when the thread exits). A fault the function declines, or one while the
// trap is disarmed, is passed on to the previous handler (normally: the
// process dies with the signal as usual).
class FaultTrap {
 public:
  // Returns the nonzero value to siglongjmp() with if the run takes the
  // fault (the function may prepare the jump), else 0. Runs in the signal
  // handler, on the alternate stack: async-signal-safe code only.
  using OnFault = int (*)(void* context, int sig, const void* addr);
  static void Install();
  static void Arm(OnFault on_fault, void* context, sigjmp_buf* jump);
  // The soft-lockup watchdog's tick: Install() also starts a process CPU
  // timer (ITIMER_VIRTUAL) that raises SIGVTALRM every kWatchdogTickMs of
  // user CPU time, handed to the armed function with `addr` null, which
  // may take it as a fault (a fiber that ran a whole watchdog period
  // without reaching a scheduling point). It only reads the run's
  // progress: nothing of a run depends on when it ticks.
  static constexpr uint64_t kWatchdogTickMs = 250;
  static void Disarm();
  // The last word before the process dies of a signal no run took: a
  // SIGSEGV or SIGBUS outside any fiber (or in one while no run is armed),
  // or a SIGABRT anywhere (heap corruption caught by the allocator, an
  // uncaught exception, a failed harness check). `hook` runs in the
  // handler, on the alternate stack, before the signal's previous
  // disposition kills the process: async-signal-safe code only (the
  // explorer writes how to reproduce the run). Null: none.
  using FatalHook = void (*)(int sig);
  static void SetFatalHook(FatalHook hook);
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_STACK_H_
