#include "sim/sync.h"

#include <cstdio>

namespace fsim::sim {
namespace {

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string HeldBy(const Scheduler& sched, FiberId owner) {
  if (owner == kNoFiber) return "(not held)";
  return "held by " + Quote(sched.fiber(owner).name);
}

}  // namespace

void MightSleep(Scheduler& sched, std::string_view what) { sched.MightSleep(what); }

void LockBase::Reinit(std::string_view name, const LockClassKey* key, Where where) {
  lockdep_.Reinit(map_, name, key, where);
}

void LockBase::ReportUnheld(std::string_view what, Where where) {
  Finding finding;
  finding.kind = FindingKind::kLockMisuse;
  finding.signature = "lock_misuse:unlock_unheld:" + std::string(type()) + ":" + name();
  const char* fiber = sched_.in_fiber() ? sched_.fiber(sched_.current()).name : "main";
  finding.report = "WARNING: bad unlock balance detected!\n  fiber " + Quote(fiber) +
                   " calls " + std::string(what) + " on " + std::string(type()) + " " +
                   Quote(name()) + " at " + WhereText(where) + ", which it does not hold";
  sched_.Report(std::move(finding));
}

// --- Mutex -----------------------------------------------------------------

void Mutex::LockNested(int subclass, Where where) { DoLock(subclass, nullptr, where); }

void Mutex::LockNestLock(const LockMap& nest, Where where) { DoLock(0, &nest, where); }

void Mutex::DoLock(int subclass, const LockMap* nest, Where where) {
  if (!Alive("mutex_lock", where)) return;
  sched_.MightSleep("mutex_lock");
  sched_.Yield("mutex_lock", object_id());
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  // lockdep first, as mutex_acquire() precedes the wait: an inversion is
  // reported even if the wait never ends.
  Acquire(subclass, false, LockRead::kExclusive, where, nest);
  if (owner_ == self && !lockdep_on()) {
    Finding finding;
    finding.kind = FindingKind::kLockMisuse;
    finding.signature = "lock_misuse:recursive:mutex:" + name();
    finding.report = "WARNING: possible recursive locking detected\n  fiber " +
                     Quote(sched_.fiber(self).name) + " takes mutex " + Quote(name()) +
                     " it already holds, at " + WhereText(where);
    sched_.Report(std::move(finding));
  }
  // A fiber taking a mutex it holds waits for itself forever, as in the
  // kernel.
  while (owner_ != kNoFiber && !sched_.unwinding()) sched_.Block(*this);
  owner_ = self;
  Acquired();
}

bool Mutex::TryLock(Where where) {
  if (!Alive("mutex_trylock", where)) return false;
  sched_.Yield("mutex_trylock", object_id());
  if (sched_.unwinding() || owner_ != kNoFiber) return false;
  owner_ = sched_.current();
  Acquire(0, true, LockRead::kExclusive, where);
  return true;
}

void Mutex::Unlock(Where where) {
  if (!Alive("mutex_unlock", where) || sched_.unwinding()) return;
  if (owner_ != sched_.current()) {
    ReportUnheld("mutex_unlock", where);
    return;
  }
  Release(where);
  owner_ = kNoFiber;
  WakeAll();
}

std::string Mutex::DescribeHolders() const { return HeldBy(sched_, owner_); }

// --- SpinLock --------------------------------------------------------------

void SpinLock::LockNested(int subclass, Where where) {
  if (!Alive("spin_lock", where)) return;
  sched_.Yield("spin_lock", object_id());
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  Acquire(subclass, false, LockRead::kExclusive, where);
  // Spinning on a lock the fiber holds itself never ends, as in the kernel.
  while (owner_ != kNoFiber && !sched_.unwinding()) sched_.Block(*this);
  owner_ = self;
  ++sched_.fiber(self).atomic_depth;
  Acquired();
}

void SpinLock::LockIrqSave(Where where) {
  if (!Alive("spin_lock_irqsave", where)) return;
  if (sched_.in_fiber()) ++sched_.current_fiber().irqs_disabled;
  LockNested(0, where);
}

bool SpinLock::TryLock(Where where) {
  if (!Alive("spin_trylock", where)) return false;
  sched_.Yield("spin_trylock", object_id());
  if (sched_.unwinding() || owner_ != kNoFiber) return false;
  owner_ = sched_.current();
  ++sched_.fiber(owner_).atomic_depth;
  Acquire(0, true, LockRead::kExclusive, where);
  return true;
}

void SpinLock::Unlock(Where where) {
  if (!Alive("spin_unlock", where) || sched_.unwinding()) return;
  if (owner_ != sched_.current()) {
    ReportUnheld("spin_unlock", where);
    return;
  }
  Release(where);
  --sched_.fiber(owner_).atomic_depth;
  owner_ = kNoFiber;
  WakeAll();
}

void SpinLock::UnlockIrqRestore(Where where) {
  bool held = owner_ == sched_.current();
  Unlock(where);
  if (held && sched_.in_fiber() && sched_.current_fiber().irqs_disabled > 0) {
    --sched_.current_fiber().irqs_disabled;
  }
}

std::string SpinLock::DescribeHolders() const { return HeldBy(sched_, owner_); }

// --- RwSemaphore -----------------------------------------------------------

void RwSemaphore::DownReadNested(int subclass, Where where) {
  if (!Alive("down_read", where)) return;
  sched_.MightSleep("down_read");
  sched_.Yield("down_read", object_id());
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  Acquire(subclass, false, LockRead::kShared, where);
  while ((writer_ != kNoFiber || writers_waiting_ > 0) && !sched_.unwinding()) {
    sched_.Block(*this);
  }
  ++readers_;
  ++read_holds_[self];
  Acquired();
}

bool RwSemaphore::TryDownRead(Where where) {
  if (!Alive("down_read_trylock", where)) return false;
  sched_.Yield("down_read_trylock", object_id());
  if (sched_.unwinding() || writer_ != kNoFiber || writers_waiting_ > 0) return false;
  ++readers_;
  ++read_holds_[sched_.current()];
  Acquire(0, true, LockRead::kShared, where);
  return true;
}

void RwSemaphore::UpRead(Where where) {
  if (!Alive("up_read", where) || sched_.unwinding()) return;
  FiberId self = sched_.current();
  if (read_holds_[self] == 0) {
    ReportUnheld("up_read", where);
    return;
  }
  Release(where);
  --read_holds_[self];
  if (--readers_ == 0) WakeAll();
}

void RwSemaphore::DownWriteNested(int subclass, Where where) {
  if (!Alive("down_write", where)) return;
  sched_.MightSleep("down_write");
  sched_.Yield("down_write", object_id());
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  Acquire(subclass, false, LockRead::kExclusive, where);
  ++writers_waiting_;
  while ((writer_ != kNoFiber || readers_ > 0) && !sched_.unwinding()) {
    sched_.Block(*this);
  }
  --writers_waiting_;
  writer_ = self;
  Acquired();
}

bool RwSemaphore::TryDownWrite(Where where) {
  if (!Alive("down_write_trylock", where)) return false;
  sched_.Yield("down_write_trylock", object_id());
  if (sched_.unwinding() || writer_ != kNoFiber || readers_ > 0) return false;
  writer_ = sched_.current();
  Acquire(0, true, LockRead::kExclusive, where);
  return true;
}

void RwSemaphore::UpWrite(Where where) {
  if (!Alive("up_write", where) || sched_.unwinding()) return;
  if (writer_ != sched_.current()) {
    ReportUnheld("up_write", where);
    return;
  }
  Release(where);
  writer_ = kNoFiber;
  WakeAll();
}

std::string RwSemaphore::DescribeHolders() const {
  if (writer_ != kNoFiber) return "write-held by " + Quote(sched_.fiber(writer_).name);
  if (readers_ == 0) return "(not held)";
  std::string s = "read-held by";
  for (FiberId i = 0; i < kFibersMax; ++i) {
    if (read_holds_[i] > 0) s += " " + Quote(sched_.fiber(i).name);
  }
  return s;
}

uint64_t RwSemaphore::Holders(FiberId waiter) const {
  FiberSet holders;
  AddHolders(waiter, holders);
  return holders.low_word();
}

void RwSemaphore::AddHolders(FiberId, FiberSet& out) const {
  if (writer_ != kNoFiber) {
    out.insert(writer_);
    return;
  }
  if (readers_ == 0) return;
  for (FiberId i = 0; i < kFibersMax; ++i) {
    if (read_holds_[i] > 0) out.insert(i);
  }
}

// --- Completion ------------------------------------------------------------

void Completion::Wait() {
  sched_.MightSleep("wait_for_completion");
  sched_.Yield("wait_for_completion", object_id());
  while (done_ == 0 && !sched_.unwinding()) sched_.Block(*this);
  if (done_ != kAll && done_ > 0) --done_;
  HbAcquire();
}

bool Completion::WaitTimeout(uint64_t timeout_ns) {
  sched_.MightSleep("wait_for_completion_timeout");
  sched_.Yield("wait_for_completion_timeout", object_id());
  uint64_t deadline = sched_.now_ns() + timeout_ns;
  while (done_ == 0 && !sched_.unwinding()) {
    if (!sched_.Block(*this, deadline)) break;
  }
  if (done_ == 0) return false;
  if (done_ != kAll) --done_;
  HbAcquire();
  return true;
}

void Completion::Complete() {
  if (sched_.unwinding()) return;
  if (done_ != kAll) ++done_;
  WakeOne();
}

void Completion::CompleteAll() {
  if (sched_.unwinding()) return;
  done_ = kAll;
  WakeAll();
}

// --- WaitQueue -------------------------------------------------------------

void WaitQueue::Sleep() {
  sched_.MightSleep("schedule");
  if (sched_.unwinding()) return;
  sched_.Block(*this);
}

}  // namespace fsim::sim
