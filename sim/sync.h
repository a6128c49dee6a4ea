// Kernel-style synchronisation primitives that block through the
// scheduler: mutex, spinlock, rw semaphore, completion, wait queue.
//
// Every acquisition is a scheduling point (it yields first), so strategies
// can interleave other fibers before any lock is taken. Releases wake all
// waiters, which then compete again: the kernel's locks are not FIFO
// hand-offs, and exploring who wins is the point. A sleeping primitive used
// in atomic context (spinlock held, simulated interrupt) is reported as
// sleep_in_atomic at the call, whether or not it would have had to wait, as
// the kernel's might_sleep() does.
//
// Every lock is tracked by the lock validator (sim/lockdep.h): its class
// is its LockClassKey if given, else its name. Each locking call takes the
// caller's source location (defaulted), which lockdep's reports print as
// the acquisition site. Misuse the primitive itself can see (unlock of a
// lock not held) is a lock_misuse finding even with lockdep off; a use of
// a freed lock is use_after_free (sim/heap.h).
#ifndef FSIM_SIM_SYNC_H_
#define FSIM_SIM_SYNC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "sim/heap.h"
#include "sim/limits.h"
#include "sim/lockdep.h"
#include "sim/scheduler.h"

namespace fsim::sim {

// Reports a sleep_in_atomic finding if the current fiber may not sleep
// (spinlock held, or interrupt context). `what` names the operation.
void MightSleep(Scheduler& sched, std::string_view what);

using Where = std::source_location;

// What locks have in common: the lockdep map and the lifetime check.
class LockBase : public Waitable {
 public:
  LockMap& lockdep_map() { return map_; }
  // lockdep_init_map() on a live lock (misuse if held).
  void Reinit(std::string_view name, const LockClassKey* key = nullptr,
              Where where = Where::current());

 protected:
  LockBase(Scheduler& sched, std::string_view type, std::string_view name,
           const LockClassKey* key)
      : Waitable(sched, type, name), map_(name, key), lockdep_(Lockdep::Of(sched)) {}
  // False (and reported) if this lock was freed; the caller then does
  // nothing, as there is no lock to take.
  bool Alive(std::string_view what, Where where) {
    return Heap::CheckAlive(*this, what, where);
  }
  void Acquire(int subclass, bool trylock, LockRead read, Where where,
               const LockMap* nest = nullptr) {
    lockdep_.Acquire(map_, subclass, trylock, read, where, nest);
    if (trylock) HbAcquire();  // a trylock is called only once it succeeded
  }
  void Release(Where where) { lockdep_.Release(map_, where); }
  // The wait for the lock requested with Acquire() is over (the tracer).
  void Acquired() {
    lockdep_.Acquired(map_);
    HbAcquire();
  }
  void ReportUnheld(std::string_view what, Where where);
  bool lockdep_on() const { return sched_.options().lockdep; }

  LockMap map_;
  Lockdep& lockdep_;
};

class Mutex : public LockBase {
 public:
  Mutex(Scheduler& sched, std::string_view name, const LockClassKey* key = nullptr)
      : LockBase(sched, "mutex", name, key) {}

  // mutex_lock(). REQUIRES: may sleep.
  void Lock(Where where = Where::current()) { LockNested(0, where); }
  // mutex_lock_nested(): a deliberate nesting of one class.
  void LockNested(int subclass, Where where = Where::current());
  // mutex_lock_nest_lock(): nesting serialised by the held `nest`.
  void LockNestLock(const LockMap& nest, Where where = Where::current());
  // mutex_trylock(): returns true if acquired. Never sleeps.
  bool TryLock(Where where = Where::current());
  // REQUIRES: the current fiber holds it.
  void Unlock(Where where = Where::current());

  FiberId owner() const { return owner_; }
  std::string DescribeHolders() const override;
  uint64_t Holders(FiberId) const override {
    return owner_ == kNoFiber || owner_ >= 64 ? 0 : uint64_t{1} << owner_;
  }
  void AddHolders(FiberId, FiberSet& out) const override {
    if (owner_ != kNoFiber) out.insert(owner_);
  }

 private:
  void DoLock(int subclass, const LockMap* nest, Where where);
  FiberId owner_ = kNoFiber;
};

class SpinLock : public LockBase {
 public:
  SpinLock(Scheduler& sched, std::string_view name, const LockClassKey* key = nullptr)
      : LockBase(sched, "spinlock", name, key) {}

  // Spins (waits without sleeping) while another fiber holds it. While
  // held, the fiber is atomic: sleeping is a finding.
  void Lock(Where where = Where::current()) { LockNested(0, where); }
  void LockNested(int subclass, Where where = Where::current());
  // spin_lock_irqsave(): also disables interrupts, so the lock is safe to
  // share with interrupt context.
  void LockIrqSave(Where where = Where::current());
  bool TryLock(Where where = Where::current());
  void Unlock(Where where = Where::current());
  void UnlockIrqRestore(Where where = Where::current());

  FiberId owner() const { return owner_; }
  std::string DescribeHolders() const override;
  uint64_t Holders(FiberId) const override {
    return owner_ == kNoFiber || owner_ >= 64 ? 0 : uint64_t{1} << owner_;
  }
  void AddHolders(FiberId, FiberSet& out) const override {
    if (owner_ != kNoFiber) out.insert(owner_);
  }

 private:
  FiberId owner_ = kNoFiber;
};

// A reader/writer semaphore. A reader waits while a writer holds it or
// waits for it (writer preference, as the kernel's rwsem after a writer
// queued), which is what makes reads non-recursive for lockdep.
class RwSemaphore : public LockBase {
 public:
  RwSemaphore(Scheduler& sched, std::string_view name, const LockClassKey* key = nullptr)
      : LockBase(sched, "rw_semaphore", name, key) {}

  void DownRead(Where where = Where::current()) { DownReadNested(0, where); }
  void DownReadNested(int subclass, Where where = Where::current());
  bool TryDownRead(Where where = Where::current());
  void UpRead(Where where = Where::current());
  void DownWrite(Where where = Where::current()) { DownWriteNested(0, where); }
  void DownWriteNested(int subclass, Where where = Where::current());
  bool TryDownWrite(Where where = Where::current());
  void UpWrite(Where where = Where::current());

  FiberId writer() const { return writer_; }
  uint32_t readers() const { return readers_; }
  std::string DescribeHolders() const override;
  uint64_t Holders(FiberId) const override;
  void AddHolders(FiberId, FiberSet& out) const override;

 private:
  FiberId writer_ = kNoFiber;
  uint32_t readers_ = 0;
  uint32_t writers_waiting_ = 0;
  uint8_t read_holds_[kFibersMax] = {};
};

// The kernel's struct completion: Complete() releases one waiter (or
// lets the next Wait() pass), CompleteAll() releases every present and
// future waiter.
class Completion : public Waitable {
 public:
  Completion(Scheduler& sched, std::string_view name)
      : Waitable(sched, "completion", name) {}

  void Wait();
  // Returns false if `timeout_ns` of virtual time passed first.
  bool WaitTimeout(uint64_t timeout_ns);
  void Complete();
  void CompleteAll();
  void Reinit() { done_ = 0; }
  bool done() const { return done_ != 0; }

 private:
  static constexpr uint32_t kAll = ~uint32_t{0};
  uint32_t done_ = 0;
};

// A wait queue: fibers sleep until woken and re-check their condition.
class WaitQueue : public Waitable {
 public:
  WaitQueue(Scheduler& sched, std::string_view name)
      : Waitable(sched, "wait_queue", name) {}

  // wait_event(): sleeps until `condition()` holds. The check and the
  // sleep are one step, as prepare_to_wait() makes them in the kernel.
  template <typename Condition>
  void WaitEvent(Condition condition) {
    MightSleep(sched_, "wait_event");
    sched_.Yield("wait_event", object_id());
    while (!sched_.unwinding() && !condition()) sched_.Block(*this);
    HbAcquire();
  }
  // As WaitEvent; returns false if `timeout_ns` passed with the condition
  // still false.
  template <typename Condition>
  bool WaitEventTimeout(Condition condition, uint64_t timeout_ns) {
    MightSleep(sched_, "wait_event_timeout");
    sched_.Yield("wait_event_timeout", object_id());
    uint64_t deadline = sched_.now_ns() + timeout_ns;
    while (!sched_.unwinding() && !condition()) {
      if (!sched_.Block(*this, deadline)) return condition();
    }
    HbAcquire();
    return true;
  }
  // schedule() after an earlier, separate check: sleeps until woken. Code
  // that checks, yields and then sleeps here has the classic lost-wakeup
  // window; that is deliberate, to model such code.
  void Sleep();
  void WakeUp() { WakeAll(); }
  bool WakeUpOne() { return WakeOne(); }

  // Who a waiter waits for, when the owner of the queue knows (e.g. the
  // holders of the byte range an extent lock waits for).
  void SetHolders(std::function<uint64_t(FiberId)> holders) { holders_ = std::move(holders); }
  uint64_t Holders(FiberId waiter) const override { return holders_ ? holders_(waiter) : 0; }

 private:
  std::function<uint64_t(FiberId)> holders_;
};

// Scoped holders, as guard(mutex) in the kernel.
template <typename Lock>
class Guard {
 public:
  explicit Guard(Lock& lock) : lock_(lock) { lock_.Lock(); }
  ~Guard() { lock_.Unlock(); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  Lock& lock_;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_SYNC_H_
