#include "model/chrome_trace.h"

#include <algorithm>
#include <cmath>

#include "sim/block.h"
#include "sim/finding.h"
#include "sim/memory.h"

namespace fsim::model {

using nlohmann::json;

namespace {

constexpr int kFibersPid = 1;
constexpr int kDevicesPid = 2;
// Lock threads of fiber track k are tids kLaneTidBase * (k + 1) + lane.
constexpr int kLaneTidBase = 1000;
constexpr size_t kLanesMax = kLaneTidBase - 1;

// Microseconds with nanosecond resolution: ts and dur print as 12.003,
// never as 12.003000000000002.
double Micros(double us) { return std::round(us * 1000.0) / 1000.0; }

json Meta(const char* what, int pid, int tid, json args) {
  return {{"name", what}, {"ph", "M"}, {"ts", 0}, {"pid", pid}, {"tid", tid}, {"args", args}};
}

std::string RangeText(const TracedLock& lock) {
  return "[" + std::to_string(lock.start) + "," + std::to_string(lock.end) + "]";
}

}  // namespace

bool ChromeTrace::Live() const { return sched_ != nullptr && !sched_->unwinding(); }

void ChromeTrace::Emit(json event) {
  if (events_.size() >= kEventsMax) {
    ++dropped_;
    return;
  }
  events_.push_back(std::move(event));
}

void ChromeTrace::Instant(size_t track, double ts, std::string name, json args) {
  args["t_ns"] = sched_->now_ns();
  Emit({{"name", std::move(name)}, {"cat", "sched"}, {"ph", "i"}, {"s", "t"},
        {"ts", Micros(ts)}, {"pid", kFibersPid}, {"tid", tracks_[track].tid},
        {"args", std::move(args)}});
}

size_t ChromeTrace::TrackOf(const sim::Fiber& fiber) {
  return slot_track_[fiber.id == sim::kNoFiber ? sim::kFibersMax : fiber.id];
}

size_t ChromeTrace::CurrentTrack() {
  return sched_->in_fiber() ? slot_track_[sched_->current()] : slot_track_[sim::kFibersMax];
}

void ChromeTrace::RunBegin(const sim::Scheduler& sched) {
  sched_ = &sched;
  clock_ = StepClock();
  events_.clear();
  dropped_ = 0;
  tracks_.clear();
  tracks_.push_back({sim::kNoFiber, "main", 1});
  std::fill(std::begin(slot_track_), std::end(slot_track_), 0);
  locks_.TakeAll();
  spans_.clear();
  reclaims_.clear();
  devices_.clear();
  bios_.clear();
  next_bio_ = 0;
  seq_ = 0;
  tracks_[0].run_start = Now();
}

void ChromeTrace::CloseRun(size_t track, double ts) {
  Track& t = tracks_[track];
  if (t.run_start < 0) return;
  Emit({{"name", "run"}, {"cat", "sched"}, {"ph", "X"}, {"ts", Micros(t.run_start)},
        {"dur", Micros(ts - t.run_start)}, {"pid", kFibersPid}, {"tid", t.tid}});
  t.run_start = -1;
}

void ChromeTrace::CloseLock(const TracedLock& lock, double ts, const std::string& release_site,
                            const char* open) {
  size_t track = slot_track_[lock.owner == sim::kNoFiber ? sim::kFibersMax : lock.owner];
  json args = {{"instance", lock.instance}, {"site", lock.site}};
  if (lock.has_range) args["range"] = RangeText(lock);
  if (lock.shared) args["shared"] = true;
  if (open != nullptr) args["open"] = open;
  if (!lock.acquired) {
    args["t_ns"] = lock.request_ns;
    args["t_end_ns"] = sched_->now_ns();
    spans_.push_back({track, lock.request_ts, ts, seq_++,
                      {{"name", "wait: " + lock.cls}, {"cat", "lock_wait"}, {"args", args}}});
    return;
  }
  if (lock.trylock) args["trylock"] = true;
  if (!release_site.empty()) args["release_site"] = release_site;
  if (lock.acquired_step != lock.request_step) {
    args["waited_steps"] = lock.acquired_step - lock.request_step;
  }
  args["t_ns"] = lock.acquired_ns;
  args["t_end_ns"] = sched_->now_ns();
  spans_.push_back({track, lock.acquired_ts, ts, seq_++,
                    {{"name", lock.cls}, {"cat", "lock"}, {"args", std::move(args)}}});
}

void ChromeTrace::CloseReclaims(sim::FiberId fiber, double ts, const char* open) {
  for (auto it = reclaims_.begin(); it != reclaims_.end();) {
    if (fiber != sim::kNoFiber && it->fiber != fiber) {
      ++it;
      continue;
    }
    json args = it->args;
    args["open"] = open;
    args["t_ns"] = it->t_ns;
    size_t track = slot_track_[it->fiber == sim::kNoFiber ? sim::kFibersMax : it->fiber];
    std::string name = args["kswapd"].get<bool>() ? "reclaim (kswapd)" : "direct reclaim";
    spans_.push_back({track, it->ts, ts, seq_++,
                      {{"name", name}, {"cat", "reclaim"}, {"args", std::move(args)}}});
    it = reclaims_.erase(it);
  }
}

void ChromeTrace::RunEnd() {
  if (sched_ == nullptr) return;
  double ts = Now();
  for (size_t i = 0; i < tracks_.size(); ++i) CloseRun(i, ts);
  for (const TracedLock& lock : locks_.TakeAll()) CloseLock(lock, ts, "", "at end of run");
  CloseReclaims(sim::kNoFiber, ts, "at end of run");
  for (const OpenBio& b : bios_) {
    Emit({{"name", b.name}, {"cat", "bio"}, {"ph", "e"}, {"id", b.id}, {"ts", Micros(ts)},
          {"pid", kDevicesPid}, {"tid", b.tid},
          {"args", {{"status", "in flight at end of run"}, {"t_ns", sched_->now_ns()}}}});
  }
  bios_.clear();
}

void ChromeTrace::Spawn(const sim::Fiber& fiber) {
  if (!Live()) return;
  size_t track = tracks_.size();
  for (size_t i = 0; i < tracks_.size(); ++i) {
    if (tracks_[i].id == fiber.id && tracks_[i].name == fiber.name) track = i;
  }
  if (track == tracks_.size()) {
    tracks_.push_back({fiber.id, fiber.name, static_cast<int>(tracks_.size()) + 1});
  }
  slot_track_[fiber.id] = track;
  Instant(track, Now(), "spawn",
          {{"fiber", fiber.id}, {"irq", fiber.in_irq}, {"daemon", fiber.daemon}});
}

void ChromeTrace::Exit(const sim::Fiber& fiber) {
  if (!Live()) return;
  double ts = Now();
  size_t track = TrackOf(fiber);
  Instant(track, ts, "exit");
  CloseRun(track, ts);
  for (const TracedLock& lock : locks_.TakeOwner(fiber.id)) CloseLock(lock, ts, "", "at exit");
  CloseReclaims(fiber.id, ts, "at exit");
}

void ChromeTrace::Switch(const sim::Fiber& from, const sim::Fiber& to) {
  if (!Live()) return;
  double ts = Now();
  CloseRun(TrackOf(from), ts);
  tracks_[TrackOf(to)].run_start = ts;
}

void ChromeTrace::Block(const sim::Fiber& fiber, const sim::Waitable& on, uint64_t deadline_ns) {
  if (!Live()) return;
  json args = {{"on", std::string(on.type()) + " '" + on.name() + "'"}};
  std::string holders = on.DescribeHolders();
  if (!holders.empty()) args["holders"] = holders;
  if (deadline_ns != sim::kNever) args["deadline_ns"] = deadline_ns;
  Instant(TrackOf(fiber), Now(), "block", std::move(args));
}

void ChromeTrace::Wake(const sim::Fiber& fiber) {
  if (!Live()) return;
  std::string by = sched_->in_fiber() ? sched_->fiber(sched_->current()).name : "main";
  Instant(TrackOf(fiber), Now(), "wake", {{"by", by}});
}

void ChromeTrace::Timeout(const sim::Fiber& fiber) {
  if (!Live()) return;
  Instant(TrackOf(fiber), Now(), "timeout");
}

void ChromeTrace::Timer(std::string_view name) {
  if (!Live()) return;
  Instant(CurrentTrack(), Now(), "timer", {{"name", std::string(name)}});
}

void ChromeTrace::Choice(sim::Site site, uint64_t n, uint64_t value) {
  if (!Live()) return;
  Instant(CurrentTrack(), Now(), "choose",
          {{"site", std::string(site.name())}, {"n", n}, {"value", value}});
}

void ChromeTrace::FindingReported(const sim::Finding& finding) {
  if (!Live()) return;
  std::string kind(sim::FindingKindName(finding.kind));
  Emit({{"name", "finding: " + kind}, {"cat", "finding"}, {"ph", "i"}, {"s", "g"},
        {"ts", Micros(Now())}, {"pid", kFibersPid}, {"tid", tracks_[CurrentTrack()].tid},
        {"args",
         {{"kind", kind}, {"signature", finding.signature}, {"report", finding.report},
          {"t_ns", sched_->now_ns()}}}});
}

void ChromeTrace::LockRequest(const sim::LockRequestInfo& info) {
  if (!Live()) return;
  TracedLock* lock = locks_.Request(sched_->current(), info);
  if (lock == nullptr) return;
  lock->request_ts = Now();
  lock->request_step = sched_->steps();
  lock->request_ns = sched_->now_ns();
  if (info.trylock) {
    lock->acquired = true;
    lock->acquired_ts = lock->request_ts;
    lock->acquired_step = lock->request_step;
    lock->acquired_ns = lock->request_ns;
  }
}

void ChromeTrace::LockAcquired(const sim::LockMap& map) {
  if (!Live()) return;
  TracedLock* lock = locks_.Find(sched_->current(), map, /*waiting=*/true);
  if (lock == nullptr) return;
  lock->acquired = true;
  lock->acquired_ts = Now();
  lock->acquired_step = sched_->steps();
  lock->acquired_ns = sched_->now_ns();
  if (lock->acquired_step == lock->request_step) return;  // no wait worth a span
  json args = {{"instance", lock->instance}, {"site", lock->site},
               {"t_ns", lock->request_ns}, {"t_end_ns", lock->acquired_ns}};
  if (lock->has_range) args["range"] = RangeText(*lock);
  size_t track = CurrentTrack();
  spans_.push_back({track, lock->request_ts, lock->acquired_ts, seq_++,
                    {{"name", "wait: " + lock->cls}, {"cat", "lock_wait"}, {"args", args}}});
}

void ChromeTrace::LockRange(const sim::LockMap& map, uint64_t start, uint64_t end) {
  if (!Live()) return;
  if (TracedLock* lock = locks_.Find(sched_->current(), map)) {
    lock->has_range = true;
    lock->start = start;
    lock->end = end;
  }
}

void ChromeTrace::LockInstance(const sim::LockMap& map, std::string_view instance) {
  if (!Live()) return;
  if (TracedLock* lock = locks_.Find(sched_->current(), map)) lock->instance = instance;
}

void ChromeTrace::LockRelease(sim::FiberId owner, const sim::LockMap& map,
                              std::source_location where) {
  if (!Live()) return;
  std::optional<TracedLock> lock = locks_.Take(owner, map);
  if (lock) CloseLock(*lock, Now(), SiteText(where), nullptr);
}

int ChromeTrace::DeviceTid(std::string_view device) {
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (devices_[i] == device) return static_cast<int>(i) + 1;
  }
  devices_.emplace_back(device);
  return static_cast<int>(devices_.size());
}

void ChromeTrace::BioSubmit(std::string_view device, const sim::Bio& bio) {
  if (!Live()) return;
  OpenBio open{&bio, ++next_bio_, DeviceTid(device), sim::BioOpName(bio.op)};
  json args = {{"op", open.name},
               {"sector", bio.sector},
               {"len", bio.size()},
               {"fiber", sched_->in_fiber() ? sched_->fiber(sched_->current()).name : "main"},
               {"t_ns", sched_->now_ns()}};
  if (bio.flags & sim::kBioFua) args["fua"] = true;
  if (bio.flags & sim::kBioPreflush) args["preflush"] = true;
  if (bio.flags & sim::kBioMeta) args["meta"] = true;
  Emit({{"name", open.name}, {"cat", "bio"}, {"ph", "b"}, {"id", open.id}, {"ts", Micros(Now())},
        {"pid", kDevicesPid}, {"tid", open.tid}, {"args", std::move(args)}});
  bios_.push_back(std::move(open));
}

void ChromeTrace::BioComplete(std::string_view device, const sim::Bio& bio) {
  if (!Live()) return;
  (void)device;
  auto it = std::find_if(bios_.begin(), bios_.end(), [&](const OpenBio& b) { return b.bio == &bio; });
  if (it == bios_.end()) return;
  Emit({{"name", it->name}, {"cat", "bio"}, {"ph", "e"}, {"id", it->id}, {"ts", Micros(Now())},
        {"pid", kDevicesPid}, {"tid", it->tid},
        {"args", {{"status", sim::BlkStatusName(bio.status)}, {"t_ns", sched_->now_ns()}}}});
  bios_.erase(it);
}

void ChromeTrace::ReclaimBegin(uint32_t gfp, uint64_t target_pages, bool kswapd) {
  if (!Live()) return;
  reclaims_.push_back({sched_->current(), Now(), sched_->now_ns(),
                       {{"gfp", sim::GfpName(gfp)}, {"target_pages", target_pages},
                        {"kswapd", kswapd}}});
}

void ChromeTrace::ReclaimEnd(uint64_t freed_pages) {
  if (!Live()) return;
  sim::FiberId self = sched_->current();
  for (auto it = reclaims_.rbegin(); it != reclaims_.rend(); ++it) {
    if (it->fiber != self) continue;
    json args = it->args;
    args["freed_pages"] = freed_pages;
    args["t_ns"] = it->t_ns;
    args["t_end_ns"] = sched_->now_ns();
    std::string name = args["kswapd"].get<bool>() ? "reclaim (kswapd)" : "direct reclaim";
    spans_.push_back({CurrentTrack(), it->ts, Now(), seq_++,
                      {{"name", name}, {"cat", "reclaim"}, {"args", std::move(args)}}});
    reclaims_.erase(std::next(it).base());
    return;
  }
}

json ChromeTrace::Json(json other) const {
  json events = json::array();
  events.push_back(Meta("process_name", kFibersPid, 0, {{"name", "fibers"}}));
  events.push_back(Meta("process_sort_index", kFibersPid, 0, {{"sort_index", 1}}));
  for (size_t k = 0; k < tracks_.size(); ++k) {
    const Track& t = tracks_[k];
    std::string name = t.name;
    if (t.id != sim::kNoFiber) name += " (fiber " + std::to_string(t.id) + ")";
    events.push_back(Meta("thread_name", kFibersPid, t.tid, {{"name", name}}));
    events.push_back(Meta("thread_sort_index", kFibersPid, t.tid,
                          {{"sort_index", static_cast<int>(k) * kLaneTidBase}}));
  }
  // Lock, wait and reclaim spans, per fiber track, in lanes where they
  // nest: sorted by start (enclosing first), each goes to the first lane
  // whose open spans it nests in or follows.
  std::vector<const Span*> order;
  for (const Span& s : spans_) order.push_back(&s);
  std::sort(order.begin(), order.end(), [](const Span* a, const Span* b) {
    if (a->track != b->track) return a->track < b->track;
    if (a->ts != b->ts) return a->ts < b->ts;
    if (a->end != b->end) return a->end > b->end;
    return a->seq < b->seq;
  });
  std::vector<std::vector<double>> lanes;  // per lane: ends of the open spans
  size_t lanes_track = ~size_t{0};
  for (const Span* s : order) {
    if (s->track != lanes_track) {
      lanes.clear();
      lanes_track = s->track;
    }
    size_t lane = 0;
    for (; lane < lanes.size(); ++lane) {
      std::vector<double>& open = lanes[lane];
      while (!open.empty() && open.back() <= s->ts) open.pop_back();
      if (open.empty() || s->end <= open.back()) break;
    }
    if (lane == lanes.size()) {
      if (lanes.size() < kLanesMax) {
        lanes.emplace_back();
        int tid = kLaneTidBase * (static_cast<int>(s->track) + 1) + static_cast<int>(lane);
        std::string name = tracks_[s->track].name + " locks";
        if (lane > 0) name += " (" + std::to_string(lane + 1) + ")";
        events.push_back(Meta("thread_name", kFibersPid, tid, {{"name", name}}));
        events.push_back(Meta("thread_sort_index", kFibersPid, tid,
                              {{"sort_index", static_cast<int>(s->track) * kLaneTidBase +
                                                  static_cast<int>(lane) + 1}}));
      } else {
        lane = lanes.size() - 1;  // past the limit: overlapping in the last lane
      }
    }
    lanes[lane].push_back(s->end);
    json e = s->event;
    e["ph"] = "X";
    e["ts"] = Micros(s->ts);
    e["dur"] = Micros(s->end - s->ts);
    e["pid"] = kFibersPid;
    e["tid"] = kLaneTidBase * (static_cast<int>(s->track) + 1) + static_cast<int>(lane);
    events.push_back(std::move(e));
  }
  events.push_back(Meta("process_name", kDevicesPid, 0, {{"name", "devices"}}));
  events.push_back(Meta("process_sort_index", kDevicesPid, 0, {{"sort_index", 2}}));
  for (size_t i = 0; i < devices_.size(); ++i) {
    events.push_back(Meta("thread_name", kDevicesPid, static_cast<int>(i) + 1,
                          {{"name", devices_[i]}}));
  }
  for (const json& e : events_) events.push_back(e);
  other["clock"] =
      "ts: scheduling steps, one step shown as 1 us, the n-th event of a step n ns later; "
      "virtual time in args.t_ns";
  other["events_dropped"] = dropped_;
  other["locks_dropped"] = locks_.dropped();
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ns"},
          {"otherData", std::move(other)}};
}

}  // namespace fsim::model
