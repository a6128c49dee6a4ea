#include "fs/btrfs/extent_io_tree.h"

#include <algorithm>

#include "sim/check.h"

namespace fsim::fs {

std::string ExtentBitsName(uint32_t bits) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {kExtentLocked, "LOCKED"},         {kExtentDirty, "DIRTY"},
      {kExtentUptodate, "UPTODATE"},     {kExtentDelalloc, "DELALLOC"},
      {kExtentDelallocNew, "DELALLOC_NEW"}, {kExtentNodatasum, "NODATASUM"},
      {kExtentDefrag, "DEFRAG"},         {kExtentClearDataResv, "CLEAR_DATA_RESV"},
  };
  std::string s;
  for (const auto& [bit, name] : kNames) {
    if (bits & bit) s += (s.empty() ? "" : "|") + std::string(name);
  }
  return s.empty() ? "0" : s;
}

ExtentIoTree::ExtentIoTree(sim::Scheduler& sched, std::string name, const sim::LockClassKey* key)
    : sched_(sched),
      name_(std::move(name)),
      map_(name_ + "->lock_range", key),
      lockdep_(sim::Lockdep::Of(sched)),
      waiters_(std::make_unique<sim::WaitQueue>(sched, name_ + "_wait")) {
  // For deadlock reports: a fiber waiting in lock_extent waits for the
  // owners of the held acquisitions overlapping its range.
  waiters_->SetHolders([this](sim::FiberId waiter) {
    uint64_t mask = 0;
    for (const Acquisition& w : acquisitions_) {
      if (!w.waiting || w.owner != waiter) continue;
      for (const Acquisition& a : acquisitions_) {
        if (!a.waiting && a.held && a.owner != waiter && a.start <= w.end && w.start <= a.end) {
          mask |= uint64_t{1} << a.owner;
        }
      }
    }
    return mask;
  });
}

ExtentIoTree::~ExtentIoTree() = default;

void ExtentIoTree::SplitAt(uint64_t pos) {
  auto it = states_.upper_bound(pos);
  if (it == states_.begin()) return;
  --it;
  ExtentState& s = it->second;
  if (s.start >= pos || s.end < pos) return;
  ExtentState tail{pos, s.end, s.bits};
  s.end = pos - 1;
  states_.emplace(pos, tail);
}

void ExtentIoTree::MergeAround(uint64_t start, uint64_t end) {
  // Merge within [start-1, end+1]: neighbours with equal bits and no lock
  // (btrfs never merges locked states).
  const uint64_t lo = start == 0 ? 0 : start - 1;
  const uint64_t hi = end == UINT64_MAX ? UINT64_MAX : end + 1;
  auto it = states_.lower_bound(lo);
  if (it != states_.begin()) --it;
  while (it != states_.end() && it->second.start <= hi) {
    auto next = std::next(it);
    if (next == states_.end()) break;
    ExtentState& a = it->second;
    const ExtentState& b = next->second;
    if (a.end + 1 == b.start && a.bits == b.bits && !(a.bits & kExtentLocked)) {
      a.end = b.end;
      states_.erase(next);
      continue;
    }
    it = next;
  }
  // States with no bits left are dropped (free_extent_state()).
  for (auto i = states_.lower_bound(lo); i != states_.end() && i->second.start <= hi;) {
    i = i->second.bits == 0 ? states_.erase(i) : std::next(i);
  }
}

bool ExtentIoTree::SetExtentBit(uint64_t start, uint64_t end, uint32_t bits, uint32_t exclusive,
                                uint64_t* failed_start) {
  FSIM_BUG_ON(!(start <= end), nullptr);
  uint64_t stop = end;  // last byte to set
  bool ok = true;
  if (exclusive) {
    auto it = states_.upper_bound(start);
    if (it != states_.begin()) --it;
    for (; it != states_.end() && it->second.start <= end; ++it) {
      const ExtentState& s = it->second;
      if (s.end < start || !(s.bits & exclusive)) continue;
      uint64_t failed = std::max(s.start, start);
      if (failed_start) *failed_start = failed;
      ok = false;
      if (failed == start) return false;  // nothing below the conflict
      stop = failed - 1;
      break;
    }
  }
  bits &= ~kExtentClearDataResv;  // a control bit of clears only
  SplitAt(start);
  if (stop != UINT64_MAX) SplitAt(stop + 1);
  uint64_t pos = start;
  uint64_t new_delalloc = 0;  // bytes gaining EXTENT_DELALLOC
  auto it = states_.lower_bound(start);
  while (pos <= stop) {
    if (it != states_.end() && it->second.start == pos) {
      if ((bits & kExtentDelalloc) && !(it->second.bits & kExtentDelalloc)) {
        new_delalloc += it->second.end - it->second.start + 1;
      }
      it->second.bits |= bits;
      pos = it->second.end + 1;
      ++it;
      if (pos == 0) break;  // wrapped at the end of the address space
    } else {
      uint64_t gap_end = (it != states_.end() && it->second.start <= stop) ? it->second.start - 1
                                                                            : stop;
      states_.emplace(pos, ExtentState{pos, gap_end, bits});
      if (bits & kExtentDelalloc) new_delalloc += gap_end - pos + 1;
      if (gap_end == UINT64_MAX) break;  // the range ends the address space
      pos = gap_end + 1;
      it = states_.lower_bound(pos);
    }
  }
  MergeAround(start, stop);
  if (new_delalloc != 0 && hooks_ != nullptr) hooks_->SetDelallocExtent(new_delalloc);
  return ok;
}

void ExtentIoTree::ClearExtentBit(uint64_t start, uint64_t end, uint32_t bits) {
  FSIM_BUG_ON(!(start <= end), nullptr);
  SplitAt(start);
  if (end != UINT64_MAX) SplitAt(end + 1);
  bool woke = false;
  uint64_t cleared_delalloc = 0;
  for (auto it = states_.lower_bound(start); it != states_.end() && it->second.start <= end; ++it) {
    if (it->second.bits & bits & kExtentLocked) woke = true;
    if (it->second.bits & bits & kExtentDelalloc) {
      cleared_delalloc += it->second.end - it->second.start + 1;
    }
    it->second.bits &= ~bits;
  }
  MergeAround(start, end);
  if (cleared_delalloc != 0 && hooks_ != nullptr) hooks_->ClearDelallocExtent(cleared_delalloc, bits);
  if (woke) waiters_->WakeUp();
}

bool ExtentIoTree::TestRangeBit(uint64_t start, uint64_t end, uint32_t bits, bool filled) const {
  uint64_t pos = start;
  auto it = states_.upper_bound(start);
  if (it != states_.begin()) --it;
  for (; it != states_.end() && it->second.start <= end; ++it) {
    const ExtentState& s = it->second;
    if (s.end < start) continue;
    if (!filled && (s.bits & bits)) return true;
    if (filled) {
      if (s.start > pos || (s.bits & bits) != bits) return false;
      pos = s.end + 1;
      if (s.end >= end) return true;
    }
  }
  return false;
}

bool ExtentIoTree::FindFirstExtentBit(uint64_t start, uint32_t bits, uint64_t* found_start,
                                      uint64_t* found_end) const {
  auto it = states_.upper_bound(start);
  if (it != states_.begin()) --it;
  for (; it != states_.end(); ++it) {
    if (it->second.end < start || !(it->second.bits & bits)) continue;
    *found_start = std::max(it->second.start, start);
    *found_end = it->second.end;
    for (auto next = std::next(it); next != states_.end() && next->second.start == *found_end + 1 &&
                                    (next->second.bits & bits);
         ++next) {
      *found_end = next->second.end;
    }
    return true;
  }
  return false;
}

uint64_t ExtentIoTree::CountRangeBits(uint64_t start, uint64_t end, uint32_t bits) const {
  uint64_t total = 0;
  auto it = states_.upper_bound(start);
  if (it != states_.begin()) --it;
  for (; it != states_.end() && it->second.start <= end; ++it) {
    const ExtentState& s = it->second;
    if (s.end < start || !(s.bits & bits)) continue;
    total += std::min(s.end, end) - std::max(s.start, start) + 1;
  }
  return total;
}

void ExtentIoTree::WarnInvertedRange(uint64_t start, uint64_t end, Where where) {
  // insert_state(): "insert state: end < start" and WARN_ON(1); the
  // kernel carries on with a state no lookup finds, so nothing is locked.
  sim::Finding f;
  f.kind = sim::FindingKind::kWarn;
  f.signature = "warn:insert_state_end_before_start:" + name_;
  f.report = "BTRFS error: insert state: end < start " + std::to_string(end) + " " +
             std::to_string(start) + "\nWARNING: at fs/btrfs/extent_io.c insert_state\n  " + name_ +
             " [" + std::to_string(start) + ", " + std::to_string(end) + "] at " +
             sim::WhereText(where);
  sched_.Report(std::move(f));
}

void ExtentIoTree::LockExtent(uint64_t start, uint64_t end, Where where, int subclass) {
  sched_.MightSleep("lock_extent");
  sched_.YieldHint("lock_extent", waiters_->object_id());
  if (sched_.unwinding()) return;
  if (start > end) [[unlikely]] {
    WarnInvertedRange(start, end, where);
    return;
  }
  // lockdep first: an inversion is reported even if the wait never ends.
  lockdep_.Acquire(map_, subclass, false, sim::LockRead::kExclusive, where);
  if (sim::Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] t->LockRange(map_, start, end);
  acquisitions_.push_back({sched_.current(), start, end, end - start + 1, true, true});
  const size_t mine = acquisitions_.size() - 1;
  uint64_t from = start;
  for (;;) {
    uint64_t failed = 0;
    if (SetExtentBit(from, end, kExtentLocked, kExtentLocked, &failed)) {
      // Others' acquisitions may have come and gone meanwhile: find ours.
      for (size_t i = std::min(mine, acquisitions_.size() - 1);; --i) {
        Acquisition& a = acquisitions_[i];
        if (a.waiting && a.owner == sched_.current() && a.start == start && a.end == end) {
          a.waiting = false;
          break;
        }
        if (i == 0) break;
      }
      lockdep_.Acquired(map_);
      return;
    }
    // Holding [start, failed), wait for the state at `failed` to unlock
    // (wait_extent_bit), then go on from there.
    from = failed;
    waiters_->WaitEvent([&] { return !TestRangeBit(from, from, kExtentLocked, false); });
    if (sched_.unwinding()) return;
  }
}

bool ExtentIoTree::TryLockExtent(uint64_t start, uint64_t end, Where where) {
  sched_.YieldHint("try_lock_extent", waiters_->object_id());
  if (sched_.unwinding()) return false;
  if (start > end) [[unlikely]] {
    WarnInvertedRange(start, end, where);
    return true;  // set_extent_bit inserted the state: "locked"
  }
  uint64_t failed = 0;
  if (!SetExtentBit(start, end, kExtentLocked, kExtentLocked, &failed)) {
    if (failed > start) ClearExtentBit(start, failed - 1, kExtentLocked);
    return false;
  }
  lockdep_.Acquire(map_, 0, true, sim::LockRead::kExclusive, where);
  if (sim::Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] t->LockRange(map_, start, end);
  acquisitions_.push_back({sched_.current(), start, end, end - start + 1, true, false});
  return true;
}

void ExtentIoTree::Account(uint64_t start, uint64_t end, Where where) {
  // Bytes unlocked come off the acquisitions that locked them; an
  // acquisition fully unlocked leaves its owner's lockdep stack.
  for (auto it = acquisitions_.begin(); it != acquisitions_.end();) {
    uint64_t lo = std::max(start, it->start), hi = std::min(end, it->end);
    if (lo <= hi && !it->waiting) {
      it->remaining -= std::min(it->remaining, hi - lo + 1);
      if (it->remaining == 0) {
        if (it->held) lockdep_.ReleaseFor(it->owner, map_, where);
        it = acquisitions_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

void ExtentIoTree::UnlockExtent(uint64_t start, uint64_t end, Where where) {
  if (sched_.unwinding()) return;
  // clear_extent_bit() of an inverted range finds no state to clear (the
  // lock of it already WARNed and locked nothing).
  if (start > end) [[unlikely]] return;
  if (!TestRangeBit(start, end, kExtentLocked, true)) {
    sim::Finding f;
    f.kind = sim::FindingKind::kLockMisuse;
    f.signature = "lock_misuse:unlock_extent_unlocked:" + name_;
    f.report = "WARNING: unlock_extent of a range that is not locked\n  " + name_ + " [" +
               std::to_string(start) + ", " + std::to_string(end) + "] at " +
               sim::WhereText(where);
    sched_.Report(std::move(f));
  }
  ClearExtentBit(start, end, kExtentLocked);
  Account(start, end, where);
}

void ExtentIoTree::HandOff(uint64_t start, uint64_t end, Where where) {
  for (Acquisition& a : acquisitions_) {
    if (a.held && a.owner == sched_.current() && a.start <= end && start <= a.end) {
      lockdep_.Release(map_, where);
      a.held = false;
    }
  }
}

std::vector<ExtentState> ExtentIoTree::States() const {
  std::vector<ExtentState> out;
  for (const auto& [start, s] : states_) out.push_back(s);
  return out;
}

}  // namespace fsim::fs
