// A small pthread-shaped layer over fsim's scheduler, for writing the
// SCTBench programs (mc-imperial/sctbench, "CS" set) as they read in C:
// a main thread that creates and joins threads, mutexes, condition
// variables, an atomic section, and shared variables.
//
// Scheduling points follow SCTBench's instrumentation: every
// synchronisation operation (create, join, lock, unlock, wait, signal) is
// a visible operation, and so is every access to a variable that races
// (Shared<T>). Accesses that a lock protects are plain fields: SCTBench
// made only racy accesses visible (its race-detection phase), so a
// critical section is one step.
//
// Invariants: one SctProgram per run (a fresh object each run, as every
// sim::Program); its main thread is fiber "main", spawned by Start(); the
// objects it creates live until the program is destroyed after the run.
//
// Locking rules: none; everything runs on the scheduler's one thread.
#ifndef FSIM_SCTBENCH_SCT_H_
#define FSIM_SCTBENCH_SCT_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sim/program.h"
#include "sim/scheduler.h"
#include "sim/shared.h"
#include "sim/sync.h"

namespace fsim::sctbench {

// A variable that threads access without a common lock: each load and
// store is a scheduling point taken just before the access, and checked by
// the race detector with config races=on (sim/shared.h). Peek() reads
// without either: for the end-of-run check and for accesses SCTBench does
// not count (thread-local by then).
template <typename T>
class Shared : public sim::Shared<T> {
 public:
  Shared(sim::Scheduler& sched, T value, std::string_view name = "shared")
      : sim::Shared<T>(sched, value, name, "sct_load", "sct_store") {}
};

// pthread_mutex_t: lock and unlock are both visible operations.
class Mutex {
 public:
  Mutex(sim::Scheduler& sched, std::string_view name) : sched_(sched), mutex_(sched, name) {}
  void Lock() { mutex_.Lock(); }  // sim::Mutex::Lock yields first
  void Unlock() {
    sched_.Yield("pthread_mutex_unlock", mutex_.object_id());
    mutex_.Unlock();
  }
  sim::Mutex& raw() { return mutex_; }

 private:
  sim::Scheduler& sched_;
  sim::Mutex mutex_;
};

// pthread_cond_t: Wait() releases the mutex and sleeps as one step, then
// takes the mutex again; Signal() wakes the longest waiter, if any (a
// signal with no waiter is lost, as in pthreads).
class CondVar {
 public:
  CondVar(sim::Scheduler& sched, std::string_view name) : sched_(sched), queue_(sched, name) {}
  // REQUIRES: the calling thread holds `mutex`.
  void Wait(Mutex& mutex);
  void Signal() {
    sched_.Yield("pthread_cond_signal", queue_.object_id());
    queue_.WakeUpOne();
  }

 private:
  sim::Scheduler& sched_;
  sim::WaitQueue queue_;
};

// The base of every SCTBench program: Main() runs as the program's main
// thread (a fiber, so that its creates and joins interleave with the
// threads it creates, as in the C original).
class SctProgram : public sim::Program {
 public:
  using ThreadId = size_t;

  explicit SctProgram(std::string name) : name_(std::move(name)) {}
  void Start(sim::Scheduler& sched) final;

 protected:
  // The main thread's body.
  virtual void Main() = 0;

  // pthread_create(): a visible operation, then a new runnable thread
  // named `name`.
  ThreadId Create(std::string_view name, std::function<void()> body);
  // pthread_join(): waits until thread `id` has returned.
  void Join(ThreadId id);
  // assert(): a failed check ends the run with an assertion finding
  // signed by the program and `what`.
  void Assert(bool condition, std::string_view what);
  // __ESBMC_atomic_begin/end: SCTBench's common.inc makes them one global
  // mutex, and so does this.
  void AtomicBegin() { atomic_->Lock(); }
  void AtomicEnd() { atomic_->Unlock(); }

  Mutex& NewMutex(std::string_view name);
  CondVar& NewCondVar(std::string_view name);
  // `name` is the variable's in race reports and the event log.
  template <typename T>
  Shared<T>& NewShared(T value, std::string_view name = "shared") {
    return shared_storage<T>().emplace_back(*sched_, value, name);
  }
  sim::Scheduler& sched() { return *sched_; }

 private:
  template <typename T>
  std::deque<Shared<T>>& shared_storage();

  std::string name_;
  sim::Scheduler* sched_ = nullptr;
  std::unique_ptr<Mutex> atomic_;
  std::deque<std::unique_ptr<sim::Completion>> done_;  // per thread: returned
  std::deque<std::unique_ptr<Mutex>> mutexes_;
  std::deque<std::unique_ptr<CondVar>> condvars_;
  std::deque<Shared<int>> shared_int_;
  std::deque<Shared<bool>> shared_bool_;
};

template <>
inline std::deque<Shared<int>>& SctProgram::shared_storage<int>() {
  return shared_int_;
}
template <>
inline std::deque<Shared<bool>>& SctProgram::shared_storage<bool>() {
  return shared_bool_;
}

}  // namespace fsim::sctbench

#endif  // FSIM_SCTBENCH_SCT_H_
