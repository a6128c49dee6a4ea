#include "sim/race.h"

#include <algorithm>
#include <utility>

#include "sim/where.h"

namespace fsim::sim {

RaceDetector::RaceDetector(Scheduler& sched) : sched_(sched) {}

void RaceDetector::OnRunBegin() {
  fibers_.clear();
  objects_.clear();
  variables_.clear();
  races_ = 0;
}

FiberId RaceDetector::CurrentSlot() const {
  // The main context (a program's Start) gets the slot after every fiber.
  return sched_.in_fiber() ? sched_.current() : kFibersMax;
}

RaceDetector::Clock& RaceDetector::ClockOf(FiberId fiber) {
  if (fibers_.size() <= fiber) fibers_.resize(fiber + 1);
  Clock& c = fibers_[fiber];
  // A fiber's own component starts at 1, so that its first access is not
  // "before" a clock that never heard of it.
  if (c.size() <= fiber) c.resize(fiber + 1, 0);
  if (c[fiber] == 0) c[fiber] = 1;
  return c;
}

RaceDetector::Clock& RaceDetector::Current() { return ClockOf(CurrentSlot()); }

void RaceDetector::Join(Clock& into, const Clock& from) {
  if (into.size() < from.size()) into.resize(from.size(), 0);
  for (size_t i = 0; i < from.size(); ++i) into[i] = std::max(into[i], from[i]);
}

void RaceDetector::Spawned(FiberId child) {
  const FiberId parent = CurrentSlot();
  Clock snapshot = ClockOf(parent);
  // A slot reused by a later fiber keeps its component rising: the new
  // fiber's accesses are never taken for the old one's.
  Clock& c = ClockOf(child);
  Join(c, snapshot);
  ++c[child];
  ++ClockOf(parent)[parent];
}

void RaceDetector::Release(uint64_t object) {
  Clock& mine = Current();
  Join(objects_[object], mine);
  ++mine[CurrentSlot()];
}

void RaceDetector::Acquire(uint64_t object) {
  auto it = objects_.find(object);
  if (it == objects_.end()) return;
  Join(Current(), it->second);
}

void RaceDetector::Access(uint64_t variable, std::string_view name, bool write, bool marked,
                          Where where) {
  const FiberId self = CurrentSlot();
  const Clock& now = Current();
  Epoch e;
  e.fiber = self;
  e.time = now[self];
  e.marked = marked;
  e.who = sched_.in_fiber() ? sched_.current_fiber().name : "main";
  e.where = where;
  Variable& v = variables_[variable];
  // A race: another fiber's access that does not happen before this one,
  // one of the two a write, not both marked.
  auto races = [&](const Epoch& other) {
    return other.fiber != kNoFiber && other.fiber != self && !(other.marked && marked) &&
           !HappensBefore(other, now);
  };
  if (races(v.write)) Report(name, v.write, true, e, write);
  if (write) {
    for (const Epoch& r : v.reads) {
      if (races(r)) Report(name, r, false, e, true);
    }
    v.reads.clear();
    v.write = std::move(e);
    return;
  }
  auto mine = std::find_if(v.reads.begin(), v.reads.end(),
                           [&](const Epoch& r) { return r.fiber == self; });
  if (mine != v.reads.end()) {
    *mine = std::move(e);
  } else {
    v.reads.push_back(std::move(e));
  }
}

void RaceDetector::Report(std::string_view name, const Epoch& earlier, bool earlier_write,
                          const Epoch& now, bool now_write) {
  ++races_;
  auto access = [](bool write, bool marked) {
    return std::string(marked ? "marked " : "") + (write ? "write" : "read");
  };
  const std::string a = WhereText(earlier.where), b = WhereText(now.where);
  Finding f;
  f.kind = FindingKind::kDataRace;
  // The two sites in a fixed order: the same pair is one finding whichever
  // came first in a run.
  const std::string sa = std::string(earlier.where.file_name()) + ":" +
                         std::to_string(earlier.where.line()),
                    sb = std::string(now.where.file_name()) + ":" + std::to_string(now.where.line());
  f.signature = "data_race:" + std::string(name) + ":" + std::min(sa, sb) + "/" + std::max(sa, sb);
  f.report = "BUG: data-race on '" + std::string(name) + "'\n\n" +
             access(now_write, now.marked) + " by fiber '" + now.who + "' at " + b + "\n" +
             access(earlier_write, earlier.marked) + " by fiber '" + earlier.who + "' at " + a +
             "\n\nno lock, wake-up or spawn orders the two accesses (happens-before), and at "
             "least one of them is plain (mark an intended racy access LoadOnce/StoreOnce, "
             "as READ_ONCE/WRITE_ONCE or data_race() in the kernel)";
  sched_.Report(std::move(f));
}

}  // namespace fsim::sim
