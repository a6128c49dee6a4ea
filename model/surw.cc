#include "model/surw.h"

#include <algorithm>
#include <cstdint>

#include "model/random_walk.h"
#include "sim/check.h"

namespace fsim::model {

Surw::Surw(ObjectProfileData profile) : profile_(std::move(profile)) {
  FSIM_CHECK(profile_.runs >= 1);
  // OnSpawn sums these every spawn: flat arrays, not the profile's maps
  // (an fs run spawns a fiber per ioend completion, a thousand a run).
  spawn_events_.reserve(profile_.by_spawn.size());
  for (const auto& counts : profile_.by_spawn) spawn_events_.emplace_back(counts.begin(), counts.end());
}

void Surw::BeginRun(uint64_t seed) {
  random_.Seed(sim::Mix64(seed ^ 0x5355'5257'5345'4cull));  // "SURWSEL"
  spawned_ = 0;
  // Whether hinted events (Scheduler::YieldHint) can be selected this run:
  // a draw of its own, so that programs without hints (sctbench's, the
  // runtime's) make the same draws as before hints existed.
  hints_ = (sim::Mix64(seed ^ 0x5355'5257'4849'4e54ull) & 1) == 0;  // "SURWHINT"
  const uint8_t mark = hints_ ? kSelected | kSelectedHinted : kSelected;
  selected_.assign(profile_.objects.empty() ? 0 : profile_.objects.back() + 1, 0);
  bool any = false;
  for (uint64_t object : profile_.objects) {
    if (random_.Below(2) == 0) {
      selected_[object] = mark;
      any = true;
    }
  }
  if (!any && !profile_.objects.empty()) {
    selected_[profile_.objects[random_.Below(profile_.objects.size())]] = mark;
  }
}

std::vector<uint64_t> Surw::SelectedObjects() const {
  std::vector<uint64_t> out;
  for (uint64_t object = 0; object < selected_.size(); ++object) {
    if (Selected(object)) out.push_back(object);
  }
  return out;
}

void Surw::OnSpawn(sim::FiberId id) {
  Slot& slot = slots_[id];
  uint64_t events = 0;
  if (spawned_ < spawn_events_.size()) {
    for (const auto& [object, count] : spawn_events_[spawned_]) {
      if (Selected(object)) events += count;
    }
  }
  // Mean over the profile runs, rounded up; at least 1.
  const uint64_t expected = (events + profile_.runs - 1) / profile_.runs;
  slot.remaining = static_cast<uint32_t>(std::clamp<uint64_t>(expected, 1, UINT32_MAX));
  slot.free_moves = 0;
  ++spawned_;
}

sim::FiberId Surw::PickFiber(const sim::SchedulePoint& point) {
  const uint32_t n = static_cast<uint32_t>(point.runnable.size());
  const sim::FiberId* runnable = point.runnable.data();
  const sim::PendingOp* pending = point.pending.data();
  Slot* slots = slots_.data();
  uint64_t* weights = weights_.data();
  sim::FiberId* free_ids = free_.data();
  // One pass: the fibers at an unselected event with free moves left
  // (in runnable order), and every fiber's weight for a weighted pick (1
  // unless at a selected event with events still expected).
  uint32_t free = 0;
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const sim::FiberId id = runnable[i];
    const Slot slot = slots[id];
    uint64_t w = 1;
    if (Selected(pending[id])) {
      w = slot.remaining > 0 ? slot.remaining : 1;
    } else if (slot.free_moves < kFreeMovesMax) {
      free_ids[free++] = id;
    }
    weights[i] = w;
    total += w;
  }
  // A free move: an unselected event runs first, uniformly among them.
  if (free > 0) {
    const sim::FiberId id = free_ids[random_.Below(free)];
    ++slots[id].free_moves;
    return id;
  }
  // A weighted pick (every fiber at a selected event or out of free
  // moves): a point in the sum of weights, walked in ascending id order
  // so that the same draw picks the same fiber in every process.
  // The chosen index is how many prefix sums (of all but the last
  // weight) the draw reaches: counted without a branch, as a draw's
  // outcome is unpredictable by design.
  const uint64_t x = random_.Below(total);
  uint32_t chosen = 0;
  if (total == n) {
    chosen = static_cast<uint32_t>(x);  // every weight 1: the sums are 1, 2, ...
  } else {
    uint64_t prefix = 0;
    for (uint32_t i = 0; i + 1 < n; ++i) {
      prefix += weights[i];
      chosen += x >= prefix ? 1 : 0;
    }
  }
  const sim::FiberId id = runnable[chosen];
  if (Selected(pending[id])) {
    Slot& slot = slots[id];
    if (slot.remaining > 0) --slot.remaining;
    slot.free_moves = 0;
  }
  return id;
}

void ObjectProfile::RunBegin(const sim::Scheduler&) { spawned_ = 0; }

void ObjectProfile::Spawn(const sim::Fiber& fiber) {
  if (fiber.id >= spawn_index_.size()) spawn_index_.resize(fiber.id + 1);
  spawn_index_[fiber.id] = spawned_;
  if (spawned_ >= data_.by_spawn.size()) data_.by_spawn.resize(spawned_ + 1);
  ++spawned_;
}

void ObjectProfile::Count(const sim::Fiber& fiber) {
  if (fiber.pending.object == 0 || fiber.id >= spawn_index_.size()) return;
  ++data_.by_spawn[spawn_index_[fiber.id]][fiber.pending.object];
}

void ObjectProfile::Yield(const sim::Fiber& fiber, sim::Site) { Count(fiber); }

void ObjectProfile::FindingReported(const sim::Finding& finding) {
  if (finding.signature.starts_with("livelock:soft_lockup:")) soft_lockup_ = true;
}

void ObjectProfile::Block(const sim::Fiber& fiber, const sim::Waitable&, uint64_t) {
  Count(fiber);
}

ObjectProfileData ProfileObjects(sim::Scheduler& sched, uint64_t runs,
                                 const std::function<void(sim::Strategy&, uint64_t)>& run) {
  ObjectProfile profile;
  RandomWalk walk;
  sim::Tracer* saved = sched.tracer();
  sched.set_tracer(&profile);
  for (uint64_t seed = 0; seed < runs && !profile.soft_lockup(); ++seed) run(walk, seed);
  sched.set_tracer(saved);
  return profile.Data();
}

ObjectProfileData ObjectProfile::Data() const {
  ObjectProfileData out = data_;
  // Objects only one fiber touches order nothing against another fiber:
  // selecting them would only dilute the selection. Candidates are the
  // objects two or more spawn indices touch (all, if there are none).
  std::map<uint64_t, uint32_t> fibers_by_object;
  for (const auto& counts : out.by_spawn) {
    for (const auto& [object, count] : counts) ++fibers_by_object[object];
  }
  for (const auto& [object, fibers] : fibers_by_object) {
    if (fibers >= 2) out.objects.push_back(object);
  }
  if (out.objects.empty()) {
    for (const auto& [object, fibers] : fibers_by_object) out.objects.push_back(object);
  }
  if (out.runs == 0) out.runs = 1;
  return out;
}

}  // namespace fsim::model
