// `fsim replay TRACE --log`: the run's events as text, one line each, in
// the order they happen:
//
//   step 12  t=1500ns  writer  lock &BTRFS_I(inode)->io_tree [0,4095]  fs/btrfs/inode.cc:85
//
// that is the scheduling step, the virtual time, the fiber the event
// happens on ("main" outside fibers), what happened, and where in the
// source when the event has a site. Events: spawn, exit, switch, block,
// wake, timeout, timer, choose (value choices), request (a lock asked for;
// the lines between it and `lock` are what the fiber waited through),
// lock, trylock, unlock, submit and complete (bios), reclaim, FINDING,
// and at the end the locks still held.
//
// An observer (sim/tracer.h): prints, changes nothing.
#ifndef FSIM_MODEL_EVENT_LOG_H_
#define FSIM_MODEL_EVENT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "model/tracing.h"
#include "sim/scheduler.h"
#include "sim/tracer.h"

namespace fsim::model {

class EventLog final : public sim::Tracer {
 public:
  // REQUIRES: `out` stays open while runs are traced.
  explicit EventLog(std::FILE* out) : out_(out) {}

  uint64_t lines() const { return lines_; }

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
  // False while the run is torn down (events then are not the run's).
  bool Live() const;
  std::string CurrentName() const;
  // Prints the request line held back for its range or instance.
  void FlushRequest();
  void Line(uint64_t step, uint64_t t_ns, std::string_view fiber, const std::string& what,
            std::string_view site = {});
  void Line(const std::string& what, std::string_view site = {});

  std::FILE* out_;
  const sim::Scheduler* sched_ = nullptr;
  LockTable locks_;
  // A request whose line waits for LockRange/LockInstance (the owner).
  sim::FiberId pending_owner_ = sim::kNoFiber;
  const sim::LockMap* pending_map_ = nullptr;
  uint64_t lines_ = 0;
};

// "CLASS 'instance' [start,end]" of a traced lock (the instance only when
// it is not the class name).
std::string LockText(const TracedLock& lock);

}  // namespace fsim::model

#endif  // FSIM_MODEL_EVENT_LOG_H_
