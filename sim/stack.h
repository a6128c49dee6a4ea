// Guard-paged fiber stacks and the detection of their overflow.
//
// Each stack is one mmap: a PROT_NONE guard of kStackGuardSize at the low
// end, then the usable stack. A fiber that runs off its stack touches the
// guard and takes SIGSEGV; the handler (on an alternate signal stack)
// recognises the guard of the running fiber's stack and jumps back to the
// scheduler, which reports a stack_overflow finding instead of letting the
// fiber corrupt its neighbour.
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
  // True if `addr` lies in this stack's guard.
  bool InGuard(const void* addr) const;

 private:
  void* base_ = nullptr;  // start of the mapping (the guard)
  size_t guard_ = 0;
  size_t size_ = 0;
};

// The overflow trap. Arm() registers, for the duration of a run, a
// predicate that says whether a faulting address is a guard of one of the
// run's stacks, and the jump buffer to return to; Disarm() clears it. The
// SIGSEGV handler is installed once per process, with an alternate signal
// stack for the calling thread. A fault anywhere else is passed on to the
// previous handler (normally: the process dies with SIGSEGV as usual).
class OverflowTrap {
 public:
  using GuardPredicate = bool (*)(void* context, const void* addr);
  static void Install();
  static void Arm(GuardPredicate in_guard, void* context, sigjmp_buf* jump);
  static void Disarm();
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_STACK_H_
