// What the fiber scheduler tells AddressSanitizer, and nothing otherwise.
//
// ASan keeps a shadow of every stack and must know which one is current:
// each Boost.Context jump is bracketed by StartSwitch() (before the jump,
// naming the stack it goes to) and FinishSwitch() (first thing on arrival,
// learning the stack it came from). A stack reused after its fiber was
// abandoned (a stack overflow, a fault, abandon_on_kill) still carries the
// shadow of frames that never returned: Unpoison() clears it before reuse.
//
// In a build without ASan every function here is an empty inline.
#ifndef FSIM_SIM_SANITIZER_H_
#define FSIM_SIM_SANITIZER_H_

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define FSIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FSIM_ASAN 1
#endif
#endif

#ifdef FSIM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace fsim::sim::sanitizer {

// True in a build where ASan watches memory.
inline constexpr bool kAsan =
#ifdef FSIM_ASAN
    true;
#else
    false;
#endif

// Before jumping to the stack [bottom, bottom + size). `fake_stack` keeps
// the leaving context's fake frames; null when the leaving context never
// resumes (a fiber that exited), so ASan frees them.
inline void StartSwitch(void** fake_stack, const void* bottom, size_t size) {
#ifdef FSIM_ASAN
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}

// On arrival after a jump: `fake_stack` is what StartSwitch saved when this
// context left (null on a context's first entry). Stores the bounds of the
// stack jumped from (they tell the main context's stack, which nobody
// allocated).
inline void FinishSwitch(void* fake_stack, const void** from_bottom, size_t* from_size) {
#ifdef FSIM_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, from_bottom, from_size);
#else
  (void)fake_stack, (void)from_bottom, (void)from_size;
#endif
}

// Marks [p, p + size) addressable: no stale shadow from abandoned frames.
inline void Unpoison(const void* p, size_t size) {
#ifdef FSIM_ASAN
  __asan_unpoison_memory_region(p, size);
#else
  (void)p, (void)size;
#endif
}

}  // namespace fsim::sim::sanitizer

#endif  // FSIM_SIM_SANITIZER_H_
