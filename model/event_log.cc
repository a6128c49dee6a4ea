#include "model/event_log.h"

#include <cinttypes>

#include "sim/block.h"
#include "sim/finding.h"
#include "sim/memory.h"

namespace fsim::model {

std::string LockText(const TracedLock& lock) {
  std::string s = lock.cls;
  if (lock.instance != lock.cls) s += " '" + lock.instance + "'";
  if (lock.has_range) {
    s += " [" + std::to_string(lock.start) + "," + std::to_string(lock.end) + "]";
  }
  if (lock.shared) s += " (read)";
  return s;
}

namespace {

std::string BioText(std::string_view device, const sim::Bio& bio) {
  std::string s = std::string(device) + " " + sim::BioOpName(bio.op) + " sector " +
                  std::to_string(bio.sector) + " len " + std::to_string(bio.size());
  if (bio.flags & sim::kBioFua) s += " FUA";
  if (bio.flags & sim::kBioPreflush) s += " PREFLUSH";
  if (bio.flags & sim::kBioMeta) s += " META";
  return s;
}

}  // namespace

bool EventLog::Live() const { return sched_ != nullptr && !sched_->unwinding(); }

std::string EventLog::CurrentName() const {
  return sched_->in_fiber() ? std::string(sched_->fiber(sched_->current()).name) : "main";
}

void EventLog::Line(uint64_t step, uint64_t t_ns, std::string_view fiber, const std::string& what,
                    std::string_view site) {
  std::fprintf(out_, "step %" PRIu64 "  t=%" PRIu64 "ns  %.*s  %s", step, t_ns,
               static_cast<int>(fiber.size()), fiber.data(), what.c_str());
  if (!site.empty()) std::fprintf(out_, "  %.*s", static_cast<int>(site.size()), site.data());
  std::fputc('\n', out_);
  ++lines_;
}

void EventLog::Line(const std::string& what, std::string_view site) {
  FlushRequest();
  Line(sched_->steps(), sched_->now_ns(), CurrentName(), what, site);
}

void EventLog::FlushRequest() {
  if (pending_map_ == nullptr) return;
  const sim::LockMap* map = pending_map_;
  pending_map_ = nullptr;
  const TracedLock* lock = locks_.Find(pending_owner_, *map);
  if (lock == nullptr) return;
  Line(lock->request_step, lock->request_ns, sched_->fiber(lock->owner).name,
       (lock->trylock ? "trylock " : "request ") + LockText(*lock), lock->site);
}

void EventLog::RunBegin(const sim::Scheduler& sched) {
  sched_ = &sched;
  locks_.TakeAll();
  pending_map_ = nullptr;
  Line("run begins (seed " + std::to_string(sched.options().seed) + ")");
}

void EventLog::RunEnd() {
  FlushRequest();
  for (const TracedLock& lock : locks_.TakeAll()) {
    Line(std::string(lock.acquired || lock.trylock ? "still holds " : "still waits for ") +
             LockText(lock) + " (fiber '" + sched_->fiber(lock.owner).name + "')",
         lock.site);
  }
  Line("run ends after " + std::to_string(sched_->steps()) + " steps");
}

void EventLog::Spawn(const sim::Fiber& fiber) {
  if (!Live()) return;
  std::string what = std::string("spawn ") + fiber.name + " (id " + std::to_string(fiber.id) +
                     (fiber.in_irq ? ", irq" : "") + (fiber.daemon ? ", daemon" : "") + ")";
  Line(what);
}

void EventLog::Exit(const sim::Fiber& fiber) {
  if (!Live()) return;
  Line("exit");
  for (const TracedLock& lock : locks_.TakeOwner(fiber.id)) {
    Line("exits holding " + LockText(lock), lock.site);
  }
}

void EventLog::Switch(const sim::Fiber& from, const sim::Fiber& to) {
  if (!Live()) return;
  (void)from;
  Line(std::string("switch -> ") + (to.id == sim::kNoFiber ? "main" : to.name));
}

void EventLog::Block(const sim::Fiber& fiber, const sim::Waitable& on, uint64_t deadline_ns) {
  if (!Live()) return;
  (void)fiber;
  std::string what = "block on " + std::string(on.type()) + " '" + on.name() + "'";
  std::string holders = on.DescribeHolders();
  if (!holders.empty()) what += " " + holders;
  if (deadline_ns != sim::kNever) what += " until t=" + std::to_string(deadline_ns) + "ns";
  Line(what);
}

void EventLog::Wake(const sim::Fiber& fiber) {
  if (!Live()) return;
  Line(std::string("wake ") + fiber.name);
}

void EventLog::Timeout(const sim::Fiber& fiber) {
  if (!Live()) return;
  Line(std::string("timeout ") + fiber.name);
}

void EventLog::Timer(std::string_view name) {
  if (!Live()) return;
  Line("timer " + std::string(name));
}

void EventLog::Choice(sim::Site site, uint64_t n, uint64_t value) {
  if (!Live()) return;
  Line("choose " + std::string(site.name()) + " " + std::to_string(value) + "/" +
       std::to_string(n));
}

void EventLog::FindingReported(const sim::Finding& finding) {
  if (!Live()) return;
  Line("FINDING " + std::string(sim::FindingKindName(finding.kind)) + " " + finding.signature +
       ": " + std::string(finding.message()));
}

void EventLog::LockRequest(const sim::LockRequestInfo& info) {
  if (!Live()) return;
  FlushRequest();
  TracedLock* lock = locks_.Request(sched_->current(), info);
  if (lock == nullptr) return;
  lock->request_step = sched_->steps();
  lock->request_ns = sched_->now_ns();
  if (info.trylock) {
    lock->acquired = true;
    lock->acquired_step = lock->request_step;
    lock->acquired_ns = lock->request_ns;
  }
  pending_owner_ = sched_->current();
  pending_map_ = info.map;
}

void EventLog::LockRange(const sim::LockMap& map, uint64_t start, uint64_t end) {
  if (!Live()) return;
  if (TracedLock* lock = locks_.Find(sched_->current(), map)) {
    lock->has_range = true;
    lock->start = start;
    lock->end = end;
  }
}

void EventLog::LockInstance(const sim::LockMap& map, std::string_view instance) {
  if (!Live()) return;
  if (TracedLock* lock = locks_.Find(sched_->current(), map)) lock->instance = instance;
}

void EventLog::LockAcquired(const sim::LockMap& map) {
  if (!Live()) return;
  FlushRequest();
  TracedLock* lock = locks_.Find(sched_->current(), map, /*waiting=*/true);
  if (lock == nullptr) return;
  lock->acquired = true;
  lock->acquired_step = sched_->steps();
  lock->acquired_ns = sched_->now_ns();
  std::string what = "lock " + LockText(*lock);
  if (lock->acquired_step != lock->request_step) {
    what += " (waited " + std::to_string(lock->acquired_step - lock->request_step) + " steps)";
  }
  Line(what, lock->site);
}

void EventLog::LockRelease(sim::FiberId owner, const sim::LockMap& map,
                           std::source_location where) {
  if (!Live()) return;
  FlushRequest();
  std::optional<TracedLock> lock = locks_.Take(owner, map);
  if (!lock) return;  // requested before the table filled up, or untraced
  std::string what = "unlock " + LockText(*lock);
  if (!sched_->in_fiber() || owner != sched_->current()) {
    what += std::string(" (held by '") + sched_->fiber(owner).name + "')";
  }
  Line(what, SiteText(where));
}

void EventLog::BioSubmit(std::string_view device, const sim::Bio& bio) {
  if (!Live()) return;
  Line("submit " + BioText(device, bio));
}

void EventLog::BioComplete(std::string_view device, const sim::Bio& bio) {
  if (!Live()) return;
  Line("complete " + BioText(device, bio) + " " + sim::BlkStatusName(bio.status));
}

void EventLog::ReclaimBegin(uint32_t gfp, uint64_t target_pages, bool kswapd) {
  if (!Live()) return;
  Line(std::string("reclaim begins (") + (kswapd ? "kswapd" : "direct") + ", " +
       sim::GfpName(gfp) + ", target " + std::to_string(target_pages) + " pages)");
}

void EventLog::ReclaimEnd(uint64_t freed_pages) {
  if (!Live()) return;
  Line("reclaim ends (freed " + std::to_string(freed_pages) + " pages)");
}

void EventLog::SharedAccess(std::string_view name, bool write, bool marked,
                            std::source_location where) {
  if (!Live()) return;
  Line(std::string(write ? (marked ? "store_once" : "store") : (marked ? "load_once" : "load")) +
       " '" + std::string(name) + "'  " + where.file_name() + ":" + std::to_string(where.line()));
}

}  // namespace fsim::model
