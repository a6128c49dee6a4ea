// Ordered extents (fs/btrfs/ordered-data.c): a range of a file being
// written back to a newly allocated extent. Created at writeback (COW
// allocation), counted down by bio completions, finished (the file extent
// item becomes visible) by a worker once all its I/O is done; truncate,
// invalidatepage and fsync wait for them.
//
// Semantics kept from btrfs (v5.13):
// - The tree (btrfs_ordered_inode_tree) is protected by a spinlock taken
//   with interrupts disabled, since completions update it from end_io.
// - DecTestPending() (btrfs_dec_test_ordered_pending) subtracts completed
//   bytes; the call that takes bytes_left to zero sets IO_DONE and returns
//   the extent with a reference, for the caller to queue its finishing.
//   A failed completion sets IOERR. Completing more bytes than are left is
//   a WARN finding (the accounting bug class the RFC's ioend handling
//   risks).
// - Remove() (btrfs_remove_ordered_extent) takes it out of the tree and
//   sets COMPLETE, waking waiters; Wait() (btrfs_start_ordered_extent with
//   wait) sleeps until COMPLETE.
// - Extents are reference counted and freed through sim::Heap, so a use
//   after the last Put() is reported where it happens.
//
// Locking rules: the tree lock is internal. Wait() sleeps: process context
// only. DecTestPending() may run in interrupt context.
#ifndef FSIM_FS_BTRFS_ORDERED_DATA_H_
#define FSIM_FS_BTRFS_ORDERED_DATA_H_

#include <cstdint>
#include <map>
#include <source_location>
#include <string>
#include <vector>

#include "sim/scheduler.h"
#include "sim/sync.h"

namespace fsim::fs {

enum OrderedFlags : uint32_t {
  kOrderedIoDone = 1u << 0,
  kOrderedComplete = 1u << 1,
  kOrderedIoErr = 1u << 2,
  kOrderedNocow = 1u << 3,
  kOrderedPrealloc = 1u << 4,
  kOrderedCompressed = 1u << 5,
  kOrderedTruncated = 1u << 6,
};

struct OrderedExtent {
  OrderedExtent(sim::Scheduler& sched, uint64_t file_offset, uint64_t num_bytes,
                uint64_t disk_bytenr, uint64_t disk_num_bytes, uint32_t flags);

  uint64_t file_offset;
  uint64_t num_bytes;
  uint64_t disk_bytenr;
  uint64_t disk_num_bytes;
  uint64_t bytes_left;
  uint64_t truncated_len;  // bytes still to be made visible after truncate
  uint32_t flags;
  int refs = 1;  // the tree's
  sim::WaitQueue wait;

  uint64_t end() const { return file_offset + num_bytes; }  // exclusive
};

class OrderedTree {
 public:
  using Where = std::source_location;

  OrderedTree(sim::Scheduler& sched, std::string name);
  ~OrderedTree();

  // btrfs_add_ordered_extent(). An overlap with another ordered extent is
  // the filesystem's bug (btrfs panics, "inconsistency in ordered tree"):
  // a warn finding that ends the run.
  OrderedExtent* Add(uint64_t file_offset, uint64_t num_bytes, uint64_t disk_bytenr,
                     uint64_t disk_num_bytes, uint32_t flags);
  // See the file comment. Returns the extent, referenced, if this call
  // finished its I/O; else null.
  OrderedExtent* DecTestPending(uint64_t file_offset, uint64_t io_size, bool uptodate,
                                Where where = Where::current());
  // The extent containing `file_offset`, referenced; null if none.
  OrderedExtent* Lookup(uint64_t file_offset);
  // The first extent overlapping [start, start+len), referenced.
  OrderedExtent* LookupRange(uint64_t start, uint64_t len);
  // Sleeps until `oe` is COMPLETE.
  void Wait(OrderedExtent* oe);
  // Takes `oe` out of the tree, sets COMPLETE, wakes waiters, drops the
  // tree's reference.
  void Remove(OrderedExtent* oe);
  // btrfs_put_ordered_extent(): drops a reference; frees at zero.
  void Put(OrderedExtent* oe, Where where = Where::current());

  // Extents still in the tree (the unmount invariant: none).
  std::vector<const OrderedExtent*> Pending() const;

 private:
  sim::Scheduler& sched_;
  std::string name_;
  sim::SpinLock lock_;
  std::map<uint64_t, OrderedExtent*> tree_;  // by file_offset
};

}  // namespace fsim::fs

#endif  // FSIM_FS_BTRFS_ORDERED_DATA_H_
