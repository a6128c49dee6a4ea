// The tracer: an observer of one run, told of every event the simulated
// world can show on a timeline (fiber switches, lock requests, hold spans,
// bios in flight, reclaim passes, findings). `fsim replay --chrome-trace`
// and `--log` are its sinks (model/chrome_trace.h, model/event_log.h).
//
// Rules:
// - An observer only. A callback must not call back into the world in any
//   way that changes it: no Yield, no Choose, no Report, no lock, no
//   allocation through sim::Memory. With a tracer installed a run takes
//   the same decisions, has the same digest and the same findings as
//   without one (tools/replay_trace_test.cc checks it).
// - Cheap when off: the Scheduler holds a Tracer*, null by default, and
//   every instrumentation point is one test of that pointer.
// - Callbacks run on the simulation's thread, in whatever context the
//   event happened (a fiber, the main context, interrupt context). The
//   tracer queries the Scheduler it was given in RunBegin for the step,
//   the virtual time and the current fiber. Events while the run is being
//   torn down (Scheduler::unwinding()) are not delivered by the
//   scheduler's own hooks; sinks ignore any that reach them then.
// - Lock identity: a lock instance is named by its LockMap's address,
//   used only to pair a request with its acquisition and release; sinks
//   never print it, order by it or hash it (DESIGN.md rule 2).
//
// Locking rules: none (the simulation is single-threaded).
#ifndef FSIM_SIM_TRACER_H_
#define FSIM_SIM_TRACER_H_

#include <cstdint>
#include <source_location>
#include <string_view>

#include "sim/site.h"
#include "sim/strategy.h"

namespace fsim::sim {

class Scheduler;
class Waitable;
class LockMap;
struct Fiber;
struct Finding;
struct Bio;

// How a lock is requested (mirrors lockdep's lock_acquire() arguments).
struct LockRequestInfo {
  const LockMap* map = nullptr;  // the instance (identity only)
  int subclass = 0;
  bool trylock = false;  // already acquired: a trylock succeeded
  bool shared = false;   // a reader (rwsem down_read, recursive read)
  std::source_location where;
};

class Tracer {
 public:
  virtual ~Tracer() = default;

  // --- Scheduler ------------------------------------------------------------
  // A run begins on `sched` (before `start`); it ends after the verdict
  // is in (after `finish`, before teardown).
  virtual void RunBegin(const Scheduler& sched) { (void)sched; }
  virtual void RunEnd() {}
  virtual void Spawn(const Fiber& fiber) { (void)fiber; }
  // The fiber returned from its body (or was stopped by its stack guard).
  virtual void Exit(const Fiber& fiber) { (void)fiber; }
  // Control moves from `from` to `to`; either may be the main context
  // (id kNoFiber).
  virtual void Switch(const Fiber& from, const Fiber& to) {
    (void)from;
    (void)to;
  }
  // The current fiber reached a yield point before an operation on
  // `fiber.pending` (a scheduling point even when no choice is made).
  virtual void Yield(const Fiber& fiber, Site site) {
    (void)fiber;
    (void)site;
  }
  // The current fiber blocks on `on` (until a wake-up or `deadline_ns`).
  virtual void Block(const Fiber& fiber, const Waitable& on, uint64_t deadline_ns) {
    (void)fiber;
    (void)on;
    (void)deadline_ns;
  }
  virtual void Wake(const Fiber& fiber) { (void)fiber; }
  // A timed wait ran out (the fiber is woken with a timeout).
  virtual void Timeout(const Fiber& fiber) { (void)fiber; }
  // A timer callback fires (it runs in a new interrupt-context fiber).
  virtual void Timer(std::string_view name) { (void)name; }
  // A value choice with n >= 2 options was answered with `value`.
  virtual void Choice(Site site, uint64_t n, uint64_t value) {
    (void)site;
    (void)n;
    (void)value;
  }
  // A finding was recorded (duplicates of a signature are not reported).
  virtual void FindingReported(const Finding& finding) { (void)finding; }

  // --- Locks (lockdep's acquire/release path, whether lockdep is on) --------
  // The current fiber asks for a lock; it may wait before LockAcquired.
  // A trylock is reported only when it succeeded, with info.trylock set,
  // and is held at once (no LockAcquired follows).
  virtual void LockRequest(const LockRequestInfo& info) { (void)info; }
  // The current fiber now holds the lock it last requested on `map`.
  virtual void LockAcquired(const LockMap& map) { (void)map; }
  // The lock the current fiber last requested on `map` covers the byte
  // range [start, end] (extent range locks).
  virtual void LockRange(const LockMap& map, uint64_t start, uint64_t end) {
    (void)map;
    (void)start;
    (void)end;
  }
  // The lock the current fiber last requested on `map` is the instance
  // named `instance` (a page lock: the page), where the LockMap's own name
  // is only its class.
  virtual void LockInstance(const LockMap& map, std::string_view instance) {
    (void)map;
    (void)instance;
  }
  // `owner` no longer holds `map` (released, by itself or on its behalf,
  // or handed over to I/O completion).
  virtual void LockRelease(FiberId owner, const LockMap& map, std::source_location where) {
    (void)owner;
    (void)map;
    (void)where;
  }

  // --- Devices and memory --------------------------------------------------
  // submit_bio() on `device` (before any queue wait); BioComplete right
  // before its end_io runs, with bio.status set.
  virtual void BioSubmit(std::string_view device, const Bio& bio) {
    (void)device;
    (void)bio;
  }
  virtual void BioComplete(std::string_view device, const Bio& bio) {
    (void)device;
    (void)bio;
  }
  // One reclaim pass on the current fiber (direct reclaim or kswapd).
  virtual void ReclaimBegin(uint32_t gfp, uint64_t target_pages, bool kswapd) {
    (void)gfp;
    (void)target_pages;
    (void)kswapd;
  }
  virtual void ReclaimEnd(uint64_t freed_pages) { (void)freed_pages; }

  // --- Shared variables (sim/shared.h) -------------------------------------
  // A load or store of the Shared named `name` by the current fiber, right
  // after its scheduling point; `marked`: LoadOnce/StoreOnce.
  virtual void SharedAccess(std::string_view name, bool write, bool marked,
                            std::source_location where) {
    (void)name;
    (void)write;
    (void)marked;
    (void)where;
  }
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_TRACER_H_
