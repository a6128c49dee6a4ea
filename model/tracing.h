// What the tracer's sinks (model/chrome_trace.h, model/event_log.h) share:
// the table of lock requests and holds that pairs a request with its
// acquisition and release, the names they print, a tracer that fans
// events out to several sinks, and replay of a trace with a tracer on.
//
// Invariants: a LockTable entry exists from a lock's request until its
// release (or until its owner exits, or the run ends); entries of one
// owner are kept in request order, and a release or an acquisition
// applies to the owner's most recent entry on that LockMap, as lockdep's
// held stack is searched from the top.
//
// Locking rules: none (the simulation is single-threaded).
#ifndef FSIM_MODEL_TRACING_H_
#define FSIM_MODEL_TRACING_H_

#include <cstdint>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "model/explorer.h"
#include "model/target.h"
#include "model/trace.h"
#include "sim/lockdep.h"
#include "sim/scheduler.h"
#include "sim/tracer.h"

namespace fsim::model {

// The class name a lock is traced under: its LockClassKey's name, else its
// own name (as lockdep names classes), with "/N" for a subclass N > 0.
std::string LockClassName(const sim::LockMap& map, int subclass);
// "file:line" of a source location.
std::string SiteText(const std::source_location& where);

// One lock request, from LockRequest until its release.
struct TracedLock {
  const sim::LockMap* map = nullptr;  // identity only: never printed
  sim::FiberId owner = sim::kNoFiber;
  std::string cls;
  std::string instance;  // the lock's own name, or the page's
  bool has_range = false;
  uint64_t start = 0, end = 0;
  bool trylock = false;
  bool shared = false;
  std::string site;  // where it was requested
  uint64_t request_step = 0, request_ns = 0;
  double request_ts = 0;
  bool acquired = false;
  uint64_t acquired_step = 0, acquired_ns = 0;
  double acquired_ts = 0;
};

// The lock requests of a run, by owner. Bounded: past kEntriesMax open
// entries further requests are not traced (counted in dropped()).
class LockTable {
 public:
  static constexpr size_t kEntriesMax = 4096;

  // A new request by `owner`; null if the table is full.
  TracedLock* Request(sim::FiberId owner, const sim::LockRequestInfo& info);
  // The owner's most recent entry on `map`; `waiting` only: not yet
  // acquired. Null if none.
  TracedLock* Find(sim::FiberId owner, const sim::LockMap& map, bool waiting = false);
  // Removes and returns the owner's most recent entry on `map`.
  std::optional<TracedLock> Take(sim::FiberId owner, const sim::LockMap& map);
  // Remove and return every entry of `owner` (of everyone), in request
  // order.
  std::vector<TracedLock> TakeOwner(sim::FiberId owner);
  std::vector<TracedLock> TakeAll();
  uint64_t dropped() const { return dropped_; }

 private:
  std::vector<TracedLock> entries_;  // request order
  uint64_t dropped_ = 0;
};

// Timestamps for sinks: the scheduler's step, refined by the event's
// index within the step, so that events of one step stay ordered.
class StepClock {
 public:
  // Microseconds: step + n / 1000 for the n-th event of the step (n
  // capped at 999).
  double Now(const sim::Scheduler& sched);

 private:
  uint64_t step_ = ~uint64_t{0};
  uint32_t index_ = 0;
};

// Forwards every event to each of its sinks, in order.
class TeeTracer final : public sim::Tracer {
 public:
  void Add(sim::Tracer* sink) { sinks_.push_back(sink); }

  void RunBegin(const sim::Scheduler& sched) override;
  void RunEnd() override;
  void Spawn(const sim::Fiber& fiber) override;
  void Exit(const sim::Fiber& fiber) override;
  void Switch(const sim::Fiber& from, const sim::Fiber& to) override;
  void Block(const sim::Fiber& fiber, const sim::Waitable& on, uint64_t deadline_ns) override;
  void Wake(const sim::Fiber& fiber) override;
  void Timeout(const sim::Fiber& fiber) override;
  void Timer(std::string_view name) override;
  void Choice(sim::Site site, uint64_t n, uint64_t value) override;
  void FindingReported(const sim::Finding& finding) override;
  void LockRequest(const sim::LockRequestInfo& info) override;
  void LockAcquired(const sim::LockMap& map) override;
  void LockRange(const sim::LockMap& map, uint64_t start, uint64_t end) override;
  void LockInstance(const sim::LockMap& map, std::string_view instance) override;
  void LockRelease(sim::FiberId owner, const sim::LockMap& map,
                   std::source_location where) override;
  void BioSubmit(std::string_view device, const sim::Bio& bio) override;
  void BioComplete(std::string_view device, const sim::Bio& bio) override;
  void ReclaimBegin(uint32_t gfp, uint64_t target_pages, bool kswapd) override;
  void ReclaimEnd(uint64_t freed_pages) override;
  void SharedAccess(std::string_view name, bool write, bool marked,
                    std::source_location where) override;

 private:
  std::vector<sim::Tracer*> sinks_;
};


}  // namespace fsim::model

#endif  // FSIM_MODEL_TRACING_H_
