#include "fs/btrfs/ordered_data.h"

#include "sim/check.h"
#include "sim/heap.h"
#include "sim/lockdep.h"

namespace fsim::fs {

OrderedExtent::OrderedExtent(sim::Scheduler& sched, uint64_t file_offset, uint64_t num_bytes,
                             uint64_t disk_bytenr, uint64_t disk_num_bytes, uint32_t flags)
    : file_offset(file_offset),
      num_bytes(num_bytes),
      disk_bytenr(disk_bytenr),
      disk_num_bytes(disk_num_bytes),
      bytes_left(num_bytes),
      truncated_len(num_bytes),
      flags(flags),
      wait(sched, "ordered_extent_wait") {}

OrderedTree::OrderedTree(sim::Scheduler& sched, std::string name)
    : sched_(sched), name_(std::move(name)), lock_(sched, name_ + "->lock") {}

OrderedTree::~OrderedTree() = default;

OrderedExtent* OrderedTree::Add(uint64_t file_offset, uint64_t num_bytes, uint64_t disk_bytenr,
                                uint64_t disk_num_bytes, uint32_t flags) {
  auto* oe = sim::Heap::Of(sched_).New<OrderedExtent>(sched_, file_offset, num_bytes,
                                                       disk_bytenr, disk_num_bytes, flags);
  lock_.LockIrqSave();
  auto next = tree_.lower_bound(file_offset);
  bool overlap = (next != tree_.end() && next->second->file_offset < oe->end()) ||
                 (next != tree_.begin() && std::prev(next)->second->end() > file_offset);
  if (!overlap) tree_.emplace(file_offset, oe);
  lock_.UnlockIrqRestore();
  if (overlap) {
    // btrfs_panic() in the kernel: a bug of the filesystem, not of fsim.
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:ordered_tree:overlap";
    f.report = "BTRFS critical: panic in tree_insert: inconsistency in ordered tree at offset " +
               std::to_string(file_offset) + " (" + name_ + ")";
    sched_.Fail(std::move(f));
  }
  return oe;
}

OrderedExtent* OrderedTree::DecTestPending(uint64_t file_offset, uint64_t io_size, bool uptodate,
                                           Where where) {
  lock_.LockIrqSave();
  OrderedExtent* found = nullptr;
  auto it = tree_.upper_bound(file_offset);
  if (it != tree_.begin() && std::prev(it)->second->end() > file_offset) found = std::prev(it)->second;
  OrderedExtent* done = nullptr;
  if (found != nullptr) {
    if (!uptodate) found->flags |= kOrderedIoErr;
    if (io_size > found->bytes_left) {
      sim::Finding f;
      f.kind = sim::FindingKind::kWarn;
      f.signature = "warn:ordered_extent:bad_accounting";
      f.report = "WARNING: btrfs_dec_test_ordered_pending: bad ordered accounting: left " +
                 std::to_string(found->bytes_left) + " size " + std::to_string(io_size) +
                 "\n  ordered extent [" + std::to_string(found->file_offset) + ", " +
                 std::to_string(found->end()) + ") of " + name_ + ", completion at " +
                 sim::WhereText(where);
      sched_.Report(std::move(f));
      found->bytes_left = 0;
    } else {
      found->bytes_left -= io_size;
    }
    if (found->bytes_left == 0 && !(found->flags & kOrderedIoDone)) {
      found->flags |= kOrderedIoDone;
      ++found->refs;
      done = found;
    }
  }
  lock_.UnlockIrqRestore();
  return done;
}

OrderedExtent* OrderedTree::Lookup(uint64_t file_offset) { return LookupRange(file_offset, 1); }

OrderedExtent* OrderedTree::LookupRange(uint64_t start, uint64_t len) {
  // (u64)-1 lengths mean "to the end": no wrap-around.
  const uint64_t end = len > UINT64_MAX - start ? UINT64_MAX : start + len;
  lock_.LockIrqSave();
  OrderedExtent* found = nullptr;
  auto it = tree_.upper_bound(start);
  if (it != tree_.begin() && std::prev(it)->second->end() > start) {
    found = std::prev(it)->second;
  } else if (it != tree_.end() && it->second->file_offset < end) {
    found = it->second;
  }
  if (found != nullptr) ++found->refs;
  lock_.UnlockIrqRestore();
  return found;
}

void OrderedTree::Wait(OrderedExtent* oe) {
  oe->wait.WaitEvent([oe] { return (oe->flags & kOrderedComplete) != 0; });
}

void OrderedTree::Remove(OrderedExtent* oe) {
  lock_.LockIrqSave();
  auto it = tree_.find(oe->file_offset);
  bool present = it != tree_.end() && it->second == oe;
  if (present) tree_.erase(it);
  oe->flags |= kOrderedComplete;
  lock_.UnlockIrqRestore();
  FSIM_BUG_ON(!(present), "removing an ordered extent that is not in its tree");
  oe->wait.WakeUp();
  Put(oe);
}

void OrderedTree::Put(OrderedExtent* oe, Where where) {
  if (!sim::Waitable::AliveAt(&oe->wait)) {
    sim::Heap::CheckAlive(oe->wait, "btrfs_put_ordered_extent", where);
    return;
  }
  if (--oe->refs == 0) sim::Heap::Of(sched_).Delete(oe, where);
}

std::vector<const OrderedExtent*> OrderedTree::Pending() const {
  std::vector<const OrderedExtent*> out;
  for (const auto& [offset, oe] : tree_) out.push_back(oe);
  return out;
}

}  // namespace fsim::fs
