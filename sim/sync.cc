#include "sim/sync.h"

#include <cstdio>

namespace fsim::sim {
namespace {

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

void ReportMisuse(Scheduler& sched, const Waitable& lock,
                  std::string_view problem, std::string_view what) {
  Finding finding;
  finding.kind = FindingKind::kLockMisuse;
  finding.signature = std::string("lock_misuse:") + std::string(problem) + ":" +
                      std::string(lock.type()) + ":" + lock.name();
  const char* fiber = sched.in_fiber() ? sched.fiber(sched.current()).name
                                       : "main";
  finding.report = "WARNING: " + std::string(what) + "\n  fiber " +
                   Quote(fiber) + " on " + std::string(lock.type()) + " " +
                   Quote(lock.name());
  sched.Report(std::move(finding));
}

std::string HeldBy(const Scheduler& sched, FiberId owner) {
  if (owner == kNoFiber) return "(not held)";
  return "held by " + Quote(sched.fiber(owner).name);
}

}  // namespace

void MightSleep(Scheduler& sched, std::string_view what) {
  sched.MightSleep(what);
}

// --- Mutex -----------------------------------------------------------------

void Mutex::Lock() {
  MightSleep(sched_, "mutex_lock");
  sched_.Yield("mutex_lock");
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  if (owner_ == self) {
    // The kernel would now wait for itself forever; so does the fiber.
    ReportMisuse(sched_, *this, "recursive",
                 "possible recursive locking detected");
  }
  while (owner_ != kNoFiber && !sched_.unwinding()) sched_.Block(*this);
  owner_ = self;
}

bool Mutex::TryLock() {
  sched_.Yield("mutex_trylock");
  if (sched_.unwinding() || owner_ != kNoFiber) return false;
  owner_ = sched_.current();
  return true;
}

void Mutex::Unlock() {
  if (sched_.unwinding()) return;
  if (owner_ != sched_.current()) {
    ReportMisuse(sched_, *this, "unlock_unheld",
                 "bad unlock balance detected: releasing a mutex not held");
    return;
  }
  owner_ = kNoFiber;
  WakeAll();
}

std::string Mutex::DescribeHolders() const { return HeldBy(sched_, owner_); }

// --- SpinLock --------------------------------------------------------------

void SpinLock::Lock() {
  sched_.Yield("spin_lock");
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  if (owner_ == self) {
    ReportMisuse(sched_, *this, "recursive",
                 "possible recursive locking detected");
  }
  while (owner_ != kNoFiber && !sched_.unwinding()) {
    sched_.Block(*this);  // spinning, not sleeping
  }
  owner_ = self;
  ++sched_.fiber(self).atomic_depth;
}

bool SpinLock::TryLock() {
  sched_.Yield("spin_trylock");
  if (sched_.unwinding() || owner_ != kNoFiber) return false;
  owner_ = sched_.current();
  ++sched_.fiber(owner_).atomic_depth;
  return true;
}

void SpinLock::Unlock() {
  if (sched_.unwinding()) return;
  if (owner_ != sched_.current()) {
    ReportMisuse(sched_, *this, "unlock_unheld",
                 "bad unlock balance detected: releasing a spinlock not held");
    return;
  }
  --sched_.fiber(owner_).atomic_depth;
  owner_ = kNoFiber;
  WakeAll();
}

std::string SpinLock::DescribeHolders() const {
  return HeldBy(sched_, owner_);
}

// --- RwSemaphore -----------------------------------------------------------

void RwSemaphore::DownRead() {
  MightSleep(sched_, "down_read");
  sched_.Yield("down_read");
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  if (writer_ == self) {
    ReportMisuse(sched_, *this, "recursive",
                 "possible recursive locking detected (read under write)");
  }
  while ((writer_ != kNoFiber || writers_waiting_ > 0) &&
         !sched_.unwinding()) {
    sched_.Block(*this);
  }
  ++readers_;
  ++read_holds_[self];
}

bool RwSemaphore::TryDownRead() {
  sched_.Yield("down_read_trylock");
  if (sched_.unwinding() || writer_ != kNoFiber || writers_waiting_ > 0) {
    return false;
  }
  ++readers_;
  ++read_holds_[sched_.current()];
  return true;
}

void RwSemaphore::UpRead() {
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  if (read_holds_[self] == 0) {
    ReportMisuse(sched_, *this, "unlock_unheld",
                 "bad unlock balance detected: up_read of a rw_semaphore "
                 "not read-held");
    return;
  }
  --read_holds_[self];
  if (--readers_ == 0) WakeAll();
}

void RwSemaphore::DownWrite() {
  MightSleep(sched_, "down_write");
  sched_.Yield("down_write");
  if (sched_.unwinding()) return;
  FiberId self = sched_.current();
  if (writer_ == self || read_holds_[self] > 0) {
    ReportMisuse(sched_, *this, "recursive",
                 "possible recursive locking detected (write under hold)");
  }
  ++writers_waiting_;
  while ((writer_ != kNoFiber || readers_ > 0) && !sched_.unwinding()) {
    sched_.Block(*this);
  }
  --writers_waiting_;
  writer_ = self;
}

bool RwSemaphore::TryDownWrite() {
  sched_.Yield("down_write_trylock");
  if (sched_.unwinding() || writer_ != kNoFiber || readers_ > 0) return false;
  writer_ = sched_.current();
  return true;
}

void RwSemaphore::UpWrite() {
  if (sched_.unwinding()) return;
  if (writer_ != sched_.current()) {
    ReportMisuse(sched_, *this, "unlock_unheld",
                 "bad unlock balance detected: up_write of a rw_semaphore "
                 "not write-held");
    return;
  }
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

// --- Completion ------------------------------------------------------------

void Completion::Wait() {
  MightSleep(sched_, "wait_for_completion");
  sched_.Yield("wait_for_completion");
  while (done_ == 0 && !sched_.unwinding()) sched_.Block(*this);
  if (done_ != kAll && done_ > 0) --done_;
}

bool Completion::WaitTimeout(uint64_t timeout_ns) {
  MightSleep(sched_, "wait_for_completion_timeout");
  sched_.Yield("wait_for_completion_timeout");
  uint64_t deadline = sched_.now_ns() + timeout_ns;
  while (done_ == 0 && !sched_.unwinding()) {
    if (!sched_.Block(*this, deadline)) break;
  }
  if (done_ == 0) return false;
  if (done_ != kAll) --done_;
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
  MightSleep(sched_, "schedule");
  if (sched_.unwinding()) return;
  sched_.Block(*this);
}

}  // namespace fsim::sim
