// Data races on plain shared variables, found by happens-before as KCSAN
// and ThreadSanitizer find them: not only when a schedule happens to put
// two accesses next to each other, but whenever a run executes two
// conflicting accesses (two fibers, one of them a write, at least one of
// them a plain access) that no synchronisation orders.
//
// Happens-before is tracked with vector clocks (one per fiber) over what
// orders fibers in fsim's world:
//   - a fiber's spawn (the child starts after its parent's past);
//   - every Waitable: a wake-up (WakeAll/WakeOne: an unlock, a
//     completion, a wait queue's wake_up) releases the waker's clock into
//     the object, and the fiber that then takes the lock, returns from a
//     wait on it (Block), or finds a completion done acquires it.
// Every extra edge can only hide a race, never invent one: where the model
// of a primitive is coarse (a whole queue's clock, a fiber slot reused by
// a later fiber), fsim errs towards silence.
//
// Variables are Shared<T> (sim/shared.h): Load/Store are plain accesses,
// LoadOnce/StoreOnce marked ones (READ_ONCE/WRITE_ONCE, or data_race()):
// a race between two marked accesses is intended and not reported, as in
// KCSAN. A race is a finding of kind data_race, reported once per pair of
// sites, and the run goes on.
//
// On when RunOptions::race_detector is (config races=on); otherwise every
// hook is a branch on that flag. Deterministic: state is keyed by fiber
// slot and object id, never iterated in address or hash order.
#ifndef FSIM_SIM_RACE_H_
#define FSIM_SIM_RACE_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/scheduler.h"

namespace fsim::sim {

class RaceDetector final : public RunService {
 public:
  using Where = std::source_location;

  explicit RaceDetector(Scheduler& sched);
  static RaceDetector& Of(Scheduler& sched) { return sched.Service<RaceDetector>(); }
  static bool On(const Scheduler& sched) { return sched.options().race_detector; }

  // `child` was spawned by the current context (a fiber, or the main
  // context while a program starts).
  void Spawned(FiberId child);
  // The current fiber woke waiters of (or completed, or unlocked) object
  // `object`: its clock flows into the object's.
  void Release(uint64_t object);
  // The current fiber took, or returned from waiting on, `object`.
  void Acquire(uint64_t object);
  // An access by the current fiber to variable `variable` (named `name`
  // in reports): a write or a read, marked (READ_ONCE/WRITE_ONCE) or
  // plain.
  void Access(uint64_t variable, std::string_view name, bool write, bool marked, Where where);
  // Access() on `sched`'s detector if it is on; nothing otherwise (one
  // branch on the run's flag).
  static void AccessIfOn(Scheduler& sched, uint64_t variable, std::string_view name, bool write,
                         bool marked, Where where) {
    if (On(sched)) [[unlikely]] Of(sched).Access(variable, name, write, marked, where);
  }
  // The variable id of field `field` (1-255) of the object with id
  // `object`: a plain field of a simulated object (an inode's
  // disk_i_size, a page's private) checked without a Shared<T> of its own,
  // and so without an object id (and a scheduling point) of its own.
  static constexpr uint64_t Field(uint64_t object, unsigned field) {
    return (uint64_t{field} << 56) | object;
  }

  void OnRunBegin() override;

  // Races reported in this run (tests).
  uint64_t races() const { return races_; }

 private:
  using Clock = std::vector<uint32_t>;
  struct Epoch {
    FiberId fiber = kNoFiber;
    uint32_t time = 0;
    bool marked = false;
    std::string who;  // the fiber's name at the access
    Where where;
  };
  struct Variable {
    Epoch write;                 // the last write (fiber kNoFiber: none yet)
    std::vector<Epoch> reads;    // since the last write, one per fiber
  };

  Clock& ClockOf(FiberId fiber);
  Clock& Current();
  FiberId CurrentSlot() const;
  static void Join(Clock& into, const Clock& from);
  static uint32_t At(const Clock& c, FiberId fiber) { return fiber < c.size() ? c[fiber] : 0; }
  // The access `a` happened before the current fiber's present.
  bool HappensBefore(const Epoch& a, const Clock& now) const { return a.time <= At(now, a.fiber); }
  void Report(std::string_view name, const Epoch& earlier, bool earlier_write, const Epoch& now,
              bool now_write);

  Scheduler& sched_;
  std::vector<Clock> fibers_;  // by fiber slot; the main context last
  std::unordered_map<uint64_t, Clock> objects_;       // looked up, never iterated
  std::unordered_map<uint64_t, Variable> variables_;  // looked up, never iterated
  uint64_t races_ = 0;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_RACE_H_
