// A variable that fibers access without a common lock (the kernel's plain
// fields read under no lock, i_size and friends): each access is a
// scheduling point taken just before it, named by the variable (so DFS's
// partial-order reduction sees which accesses conflict), and, with the
// race detector on (RunOptions::race_detector, config races=on), checked
// by happens-before (sim/race.h).
//
// Load/Store are plain accesses; LoadOnce/StoreOnce are marked ones
// (READ_ONCE/WRITE_ONCE): two marked accesses racing is intended, and not
// reported. Peek reads without a scheduling point or a check (end-of-run
// judgement, single-fiber phases).
#ifndef FSIM_SIM_SHARED_H_
#define FSIM_SIM_SHARED_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>

#include "sim/race.h"
#include "sim/scheduler.h"
#include "sim/site.h"
#include "sim/tracer.h"

namespace fsim::sim {

template <typename T>
class Shared {
 public:
  using Where = std::source_location;

  // `load` and `store` name the scheduling points (traces, digests).
  Shared(Scheduler& sched, T value, std::string_view name = "shared", Site load = "shared_load",
         Site store = "shared_store")
      : sched_(&sched),
        object_(sched.NewObjectId()),
        name_(name),
        load_(load),
        store_(store),
        value_(value) {}

  T Load(Where where = Where::current()) { return Read(false, where); }
  void Store(T value, Where where = Where::current()) { Write(value, false, where); }
  T LoadOnce(Where where = Where::current()) { return Read(true, where); }
  void StoreOnce(T value, Where where = Where::current()) { Write(value, true, where); }
  T Peek() const { return value_; }
  const std::string& name() const { return name_; }

 private:
  T Read(bool marked, Where where) {
    sched_->Yield(load_, object_, /*read=*/true);
    Observe(false, marked, where);
    return value_;
  }
  void Write(T value, bool marked, Where where) {
    sched_->Yield(store_, object_);
    Observe(true, marked, where);
    value_ = value;
  }

  // The tracer's event and the race detector's check.
  void Observe(bool write, bool marked, Where where) {
    if (Tracer* t = sched_->tracer(); t != nullptr) [[unlikely]] {
      t->SharedAccess(name_, write, marked, where);
    }
    RaceDetector::AccessIfOn(*sched_, object_, name_, write, marked, where);
  }

  Scheduler* sched_;
  uint64_t object_;  // the variable's id for strategies (PendingOp)
  std::string name_;
  Site load_, store_;
  T value_;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_SHARED_H_
