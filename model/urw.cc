#include "model/urw.h"

#include "sim/check.h"

namespace fsim::model {

Urw::Urw(std::vector<uint64_t> events_by_spawn) : events_by_spawn_(std::move(events_by_spawn)) {}

void Urw::BeginRun(uint64_t seed) {
  random_.Seed(sim::Mix64(seed ^ 0x5355'5257ull));  // "SURW"
  spawned_ = 0;
}

void Urw::OnSpawn(sim::FiberId id) {
  if (id >= slots_.size()) slots_.resize(id + 1);
  Slot& slot = slots_[id];
  slot.expected = spawned_ < events_by_spawn_.size() ? events_by_spawn_[spawned_] : 1;
  if (slot.expected == 0) slot.expected = 1;
  slot.picked = 0;
  ++spawned_;
}

sim::FiberId Urw::PickFiber(const sim::SchedulePoint& point) {
  // Weight = events still to come (at least 1): draw a point in the sum
  // of weights and walk to the fiber it falls in. Ascending ids: the same
  // draw picks the same fiber in every process.
  uint64_t total = 0;
  for (sim::FiberId id : point.runnable) {
    FSIM_CHECK(id < slots_.size());
    const Slot& s = slots_[id];
    total += s.expected > s.picked ? s.expected - s.picked : 1;
  }
  uint64_t x = random_.Below(total);
  sim::FiberId chosen = point.runnable.back();
  for (sim::FiberId id : point.runnable) {
    const Slot& s = slots_[id];
    uint64_t w = s.expected > s.picked ? s.expected - s.picked : 1;
    if (x < w) {
      chosen = id;
      break;
    }
    x -= w;
  }
  ++slots_[chosen].picked;
  return chosen;
}

void SpawnProfile::BeginRun(uint64_t seed) {
  random_.Seed(sim::Mix64(seed));
  spawned_ = 0;
}

void SpawnProfile::OnSpawn(sim::FiberId id) {
  if (id >= spawn_index_.size()) spawn_index_.resize(id + 1);
  spawn_index_[id] = spawned_;
  if (spawned_ >= totals_.size()) totals_.resize(spawned_ + 1);
  ++spawned_;
}

sim::FiberId SpawnProfile::PickFiber(const sim::SchedulePoint& point) {
  sim::FiberId chosen = point.runnable[random_.Below(point.runnable.size())];
  ++totals_[spawn_index_[chosen]];
  return chosen;
}

}  // namespace fsim::model
