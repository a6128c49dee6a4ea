#include "fs/btrfs/extent_map.h"

#include "sim/check.h"

namespace fsim::fs {
namespace {

bool Mergeable(const ExtentMap& prev, const ExtentMap& next) {
  if ((prev.flags | next.flags) & (kEmPinned | kEmCompressed)) return false;
  if (prev.end() != next.start || prev.flags != next.flags) return false;
  if (prev.block_start == kHole || prev.block_start == kInline) {
    return next.block_start == prev.block_start && prev.block_start == kHole;
  }
  return next.block_start == prev.block_start + prev.len;
}

}  // namespace

ExtentMapTree::ExtentMapTree(sim::Scheduler& sched, std::string name)
    : lock_(sched, name + "->lock") {}

bool ExtentMapTree::Add(ExtentMap em) {
  FSIM_BUG_ON(!(em.len > 0), nullptr);
  auto next = maps_.lower_bound(em.start);
  if (next != maps_.end() && next->second.start < em.end()) return false;
  if (next != maps_.begin() && std::prev(next)->second.end() > em.start) return false;
  auto it = maps_.emplace(em.start, em).first;
  TryMerge(it);
  return true;
}

void ExtentMapTree::TryMerge(std::map<uint64_t, ExtentMap>::iterator it) {
  if (it != maps_.begin()) {
    auto prev = std::prev(it);
    if (Mergeable(prev->second, it->second)) {
      prev->second.len += it->second.len;
      prev->second.block_len += it->second.block_len;
      prev->second.ram_bytes += it->second.ram_bytes;
      maps_.erase(it);
      it = prev;
    }
  }
  auto next = std::next(it);
  if (next != maps_.end() && Mergeable(it->second, next->second)) {
    it->second.len += next->second.len;
    it->second.block_len += next->second.block_len;
    it->second.ram_bytes += next->second.ram_bytes;
    maps_.erase(next);
  }
}

std::optional<ExtentMap> ExtentMapTree::Lookup(uint64_t start, uint64_t len) const {
  auto it = maps_.upper_bound(start);
  if (it != maps_.begin() && std::prev(it)->second.end() > start) return std::prev(it)->second;
  if (it != maps_.end() && it->second.start < start + len) return it->second;
  return std::nullopt;
}

void ExtentMapTree::Drop(uint64_t start, uint64_t end, bool skip_pinned) {
  FSIM_BUG_ON(!(start < end), nullptr);
  std::vector<ExtentMap> keep;
  auto it = maps_.upper_bound(start);
  if (it != maps_.begin()) --it;
  while (it != maps_.end() && it->second.start < end) {
    const ExtentMap em = it->second;
    if (em.end() <= start || (skip_pinned && (em.flags & kEmPinned))) {
      ++it;
      continue;
    }
    it = maps_.erase(it);
    // The parts outside [start, end) stay. A compressed extent keeps its
    // whole encoded extent: it can only be read whole.
    bool whole = em.flags & kEmCompressed;
    bool addressed = em.block_start != kHole && em.block_start != kInline;
    if (em.start < start) {
      ExtentMap head = em;
      head.len = start - em.start;
      if (!whole) head.block_len = addressed ? head.len : 0;
      keep.push_back(head);
    }
    if (em.end() > end) {
      ExtentMap tail = em;
      tail.start = end;
      tail.len = em.end() - end;
      if (!whole && addressed) tail.block_start = em.block_start + (end - em.start);
      if (!whole) tail.block_len = addressed ? tail.len : 0;
      keep.push_back(tail);
    }
  }
  for (const ExtentMap& em : keep) maps_.emplace(em.start, em);
}

bool ExtentMapTree::Unpin(uint64_t start, uint64_t generation) {
  auto it = maps_.find(start);
  if (it == maps_.end()) return false;
  it->second.flags &= ~kEmPinned;
  it->second.generation = generation;
  TryMerge(it);
  return true;
}

std::vector<ExtentMap> ExtentMapTree::All() const {
  std::vector<ExtentMap> out;
  for (const auto& [start, em] : maps_) out.push_back(em);
  return out;
}

}  // namespace fsim::fs
