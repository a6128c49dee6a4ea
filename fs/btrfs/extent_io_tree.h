// The extent io tree (fs/btrfs/extent-io-tree.h, extent_io.c): per inode,
// byte ranges carrying state bits, among them EXTENT_LOCKED, the extent
// range lock the RFC moves ahead of the page lock.
//
// Semantics kept from btrfs (v5.13):
// - States are disjoint ranges [start, end] (inclusive) with bits;
//   set/clear split states at the range's edges; adjacent states with the
//   same bits merge, except locked ones.
// - set_extent_bit with exclusive bits stops at the first state holding
//   one, having set the bits below it, and reports where (failed_start).
// - lock_extent loops: lock what it can, wait for the first conflicting
//   locked state to clear, go on from there. It therefore holds a prefix
//   of its range while it waits, which is what makes range-lock order
//   matter. try_lock_extent rolls back the prefix and fails instead.
// - unlock_extent clears EXTENT_LOCKED and wakes the waiters.
//
// Added for fsim: the range lock is tracked by lockdep under the tree's
// class (one acquisition per lock_extent call, released when all of its
// bytes are unlocked). A range locked by one fiber and unlocked by another
// (read completion, async workers) is released on the locker's behalf;
// HandOff() makes the hand-over explicit at submission, so the locker may
// return without holding it.
//
// Locking rules: none inside (single-threaded simulation); every locking
// call is a scheduling point. Waiting may sleep: not in atomic context.
#ifndef FSIM_FS_BTRFS_EXTENT_IO_TREE_H_
#define FSIM_FS_BTRFS_EXTENT_IO_TREE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include "sim/lockdep.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace fsim::fs {

enum ExtentBits : uint32_t {
  kExtentLocked = 1u << 0,
  kExtentDirty = 1u << 1,
  kExtentUptodate = 1u << 2,
  kExtentDelalloc = 1u << 3,
  kExtentDelallocNew = 1u << 4,
  kExtentNodatasum = 1u << 5,
  kExtentDefrag = 1u << 6,
  // Control bit of clear_extent_bit, never stored: the delalloc bytes
  // cleared also give back their data space reservation
  // (EXTENT_CLEAR_DATA_RESV, part of EXTENT_DO_ACCOUNTING).
  kExtentClearDataResv = 1u << 7,
};
inline constexpr uint32_t kExtentDoAccounting = kExtentClearDataResv;

// The inode's hooks on EXTENT_DELALLOC (btrfs_set_delalloc_extent() and
// btrfs_clear_delalloc_extent(), called by the tree as bits change): the
// bytes that gained or lost the bit, and the bits of the clear.
class ExtentIoTreeHooks {
 public:
  virtual ~ExtentIoTreeHooks() = default;
  virtual void SetDelallocExtent(uint64_t bytes) = 0;
  virtual void ClearDelallocExtent(uint64_t bytes, uint32_t bits) = 0;
};

// "LOCKED|DELALLOC" for reports and tests.
std::string ExtentBitsName(uint32_t bits);

struct ExtentState {
  uint64_t start;
  uint64_t end;  // inclusive
  uint32_t bits;
  bool operator==(const ExtentState&) const = default;
};

class ExtentIoTree {
 public:
  using Where = std::source_location;

  // `key` names the lockdep class of this tree's range lock (one per kind
  // of tree, e.g. the inode io_tree).
  ExtentIoTree(sim::Scheduler& sched, std::string name, const sim::LockClassKey* key);
  ~ExtentIoTree();

  // set_extent_bit(). With `exclusive` bits: if a state in the range holds
  // one, sets `bits` below it only, stores its start in *failed_start and
  // returns false. Otherwise sets `bits` on the whole range, returns true.
  bool SetExtentBit(uint64_t start, uint64_t end, uint32_t bits, uint32_t exclusive = 0,
                    uint64_t* failed_start = nullptr);
  // clear_extent_bit(). Wakes lock waiters if EXTENT_LOCKED was cleared.
  void ClearExtentBit(uint64_t start, uint64_t end, uint32_t bits);

  // lock_extent(): REQUIRES may sleep. Returns with [start, end] locked;
  // an inverted range (start > end) is insert_state()'s WARN and locks
  // nothing, as in the kernel.
  void LockExtent(uint64_t start, uint64_t end, Where where = Where::current(),
                  int subclass = 0);
  // try_lock_extent(): true if [start, end] is now locked; on failure
  // nothing stays locked. Never sleeps.
  bool TryLockExtent(uint64_t start, uint64_t end, Where where = Where::current());
  // unlock_extent(). Unlocking a range that is not (wholly) locked is a
  // lock_misuse finding.
  void UnlockExtent(uint64_t start, uint64_t end, Where where = Where::current());
  // The lock on [start, end] now belongs to I/O completion: the current
  // fiber no longer holds it for lockdep.
  void HandOff(uint64_t start, uint64_t end, Where where = Where::current());

  // test_range_bit(): with `filled`, every byte of the range has all
  // `bits`; without, some byte has one of them.
  bool TestRangeBit(uint64_t start, uint64_t end, uint32_t bits, bool filled) const;
  // find_first_extent_bit(): the first state at or after `start` with any
  // of `bits`, merged with its contiguous successors that also have them.
  bool FindFirstExtentBit(uint64_t start, uint32_t bits, uint64_t* found_start,
                          uint64_t* found_end) const;
  // Bytes in [start, end] with any of `bits` (count_range_bits()).
  uint64_t CountRangeBits(uint64_t start, uint64_t end, uint32_t bits) const;

  std::vector<ExtentState> States() const;
  const std::string& name() const { return name_; }
  void SetHooks(ExtentIoTreeHooks* hooks) { hooks_ = hooks; }

 private:
  void WarnInvertedRange(uint64_t start, uint64_t end, Where where);
  // One lock_extent acquisition, for lockdep: released when all its bytes
  // are unlocked (or at HandOff).
  struct Acquisition {
    sim::FiberId owner;
    uint64_t start, end;
    uint64_t remaining;  // bytes still locked
    bool held;           // still on the owner's lockdep stack
    // Still in lock_extent's wait: the range is not the owner's yet, so
    // another fiber's unlock of it does not count against this one.
    bool waiting;
  };

  void SplitAt(uint64_t pos);
  void MergeAround(uint64_t start, uint64_t end);
  void Account(uint64_t start, uint64_t end, Where where);

  sim::Scheduler& sched_;
  std::string name_;
  sim::LockMap map_;
  sim::Lockdep& lockdep_;
  std::map<uint64_t, ExtentState> states_;  // by start; disjoint
  std::vector<Acquisition> acquisitions_;
  std::unique_ptr<sim::WaitQueue> waiters_;
  ExtentIoTreeHooks* hooks_ = nullptr;
};

}  // namespace fsim::fs

#endif  // FSIM_FS_BTRFS_EXTENT_IO_TREE_H_
