#include "model/tracing.h"

#include <algorithm>

#include "model/replay.h"

namespace fsim::model {

std::string LockClassName(const sim::LockMap& map, int subclass) {
  std::string name = map.key() != nullptr ? std::string(map.key()->name) : map.name();
  if (subclass > 0) name += "/" + std::to_string(subclass);
  return name;
}

std::string SiteText(const std::source_location& where) {
  return std::string(where.file_name()) + ":" + std::to_string(where.line());
}

// --- LockTable -----------------------------------------------------------------

TracedLock* LockTable::Request(sim::FiberId owner, const sim::LockRequestInfo& info) {
  if (entries_.size() >= kEntriesMax) {
    ++dropped_;
    return nullptr;
  }
  TracedLock& lock = entries_.emplace_back();
  lock.map = info.map;
  lock.owner = owner;
  lock.cls = LockClassName(*info.map, info.subclass);
  lock.instance = info.map->name();
  lock.trylock = info.trylock;
  lock.shared = info.shared;
  lock.site = SiteText(info.where);
  return &lock;
}

TracedLock* LockTable::Find(sim::FiberId owner, const sim::LockMap& map, bool waiting) {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->owner == owner && it->map == &map && (!waiting || !it->acquired)) return &*it;
  }
  return nullptr;
}

std::optional<TracedLock> LockTable::Take(sim::FiberId owner, const sim::LockMap& map) {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->owner != owner || it->map != &map) continue;
    TracedLock lock = std::move(*it);
    entries_.erase(std::next(it).base());
    return lock;
  }
  return std::nullopt;
}

std::vector<TracedLock> LockTable::TakeOwner(sim::FiberId owner) {
  std::vector<TracedLock> out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->owner == owner) {
      out.push_back(std::move(*it));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<TracedLock> LockTable::TakeAll() {
  std::vector<TracedLock> out = std::move(entries_);
  entries_.clear();
  return out;
}

// --- StepClock -----------------------------------------------------------------

double StepClock::Now(const sim::Scheduler& sched) {
  uint64_t step = sched.steps();
  if (step != step_) {
    step_ = step;
    index_ = 0;
  } else if (index_ < 999) {
    ++index_;
  }
  return static_cast<double>(step) + index_ / 1000.0;
}

// --- TeeTracer -----------------------------------------------------------------

#define FSIM_TEE(call) \
  for (sim::Tracer * sink : sinks_) sink->call

void TeeTracer::RunBegin(const sim::Scheduler& sched) { FSIM_TEE(RunBegin(sched)); }
void TeeTracer::RunEnd() { FSIM_TEE(RunEnd()); }
void TeeTracer::Spawn(const sim::Fiber& fiber) { FSIM_TEE(Spawn(fiber)); }
void TeeTracer::Exit(const sim::Fiber& fiber) { FSIM_TEE(Exit(fiber)); }
void TeeTracer::Switch(const sim::Fiber& from, const sim::Fiber& to) { FSIM_TEE(Switch(from, to)); }
void TeeTracer::Block(const sim::Fiber& fiber, const sim::Waitable& on, uint64_t deadline_ns) {
  FSIM_TEE(Block(fiber, on, deadline_ns));
}
void TeeTracer::Wake(const sim::Fiber& fiber) { FSIM_TEE(Wake(fiber)); }
void TeeTracer::Timeout(const sim::Fiber& fiber) { FSIM_TEE(Timeout(fiber)); }
void TeeTracer::Timer(std::string_view name) { FSIM_TEE(Timer(name)); }
void TeeTracer::Choice(sim::Site site, uint64_t n, uint64_t value) {
  FSIM_TEE(Choice(site, n, value));
}
void TeeTracer::FindingReported(const sim::Finding& finding) { FSIM_TEE(FindingReported(finding)); }
void TeeTracer::LockRequest(const sim::LockRequestInfo& info) { FSIM_TEE(LockRequest(info)); }
void TeeTracer::LockAcquired(const sim::LockMap& map) { FSIM_TEE(LockAcquired(map)); }
void TeeTracer::LockRange(const sim::LockMap& map, uint64_t start, uint64_t end) {
  FSIM_TEE(LockRange(map, start, end));
}
void TeeTracer::LockInstance(const sim::LockMap& map, std::string_view instance) {
  FSIM_TEE(LockInstance(map, instance));
}
void TeeTracer::LockRelease(sim::FiberId owner, const sim::LockMap& map,
                            std::source_location where) {
  FSIM_TEE(LockRelease(owner, map, where));
}
void TeeTracer::BioSubmit(std::string_view device, const sim::Bio& bio) {
  FSIM_TEE(BioSubmit(device, bio));
}
void TeeTracer::BioComplete(std::string_view device, const sim::Bio& bio) {
  FSIM_TEE(BioComplete(device, bio));
}
void TeeTracer::ReclaimBegin(uint32_t gfp, uint64_t target_pages, bool kswapd) {
  FSIM_TEE(ReclaimBegin(gfp, target_pages, kswapd));
}
void TeeTracer::ReclaimEnd(uint64_t freed_pages) { FSIM_TEE(ReclaimEnd(freed_pages)); }
void TeeTracer::SharedAccess(std::string_view name, bool write, bool marked,
                             std::source_location where) {
  FSIM_TEE(SharedAccess(name, write, marked, where));
}

#undef FSIM_TEE

}  // namespace fsim::model
