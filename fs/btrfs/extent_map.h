// Extent maps (fs/btrfs/extent_map.c): the in-memory cache of an inode's
// file extents, file offset -> disk logical address, that reads and
// writeback look up before building bios.
//
// Semantics kept from btrfs (v5.13):
// - Maps are disjoint [start, start + len). block_start is the logical
//   disk address, or kHole / kInline; a compressed map records its whole
//   encoded extent (block_start, block_len) and the file range it covers.
// - add_extent_mapping() refuses an overlap (-EEXIST) and merges with
//   neighbours that continue it on disk, unless pinned or compressed.
// - btrfs_drop_extent_cache() removes the maps over a range, keeping the
//   parts outside it (split), as truncate, punch hole and COW do.
// - The tree is protected by an rwlock (em_tree->lock): modelled as a
//   lockdep-tracked spinlock; callers take it with Lock()/Unlock() around
//   lookups that must stay consistent, as btrfs does with read_lock().
//
// Locking rules: callers hold lock() for any sequence of calls that must
// be atomic; the functions themselves do not yield.
#ifndef FSIM_FS_BTRFS_EXTENT_MAP_H_
#define FSIM_FS_BTRFS_EXTENT_MAP_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/scheduler.h"
#include "sim/sync.h"

namespace fsim::fs {

inline constexpr uint64_t kHole = ~uint64_t{0} - 2;    // EXTENT_MAP_HOLE
inline constexpr uint64_t kInline = ~uint64_t{0} - 1;  // EXTENT_MAP_INLINE

enum ExtentMapFlags : uint32_t {
  kEmPinned = 1u << 0,      // writeback in progress: not merged, not dropped
  kEmCompressed = 1u << 1,  // block_start/block_len is the encoded extent
  kEmPrealloc = 1u << 2,    // fallocated, reads as zeros
};

struct ExtentMap {
  uint64_t start = 0;        // file offset
  uint64_t len = 0;
  uint64_t block_start = kHole;  // disk logical address of `start`
  uint64_t block_len = 0;        // bytes on disk (encoded length if compressed)
  uint64_t orig_start = 0;       // file offset of the extent's first byte
  uint64_t ram_bytes = 0;        // decoded length of the whole extent
  uint32_t flags = 0;
  uint64_t generation = 0;

  uint64_t end() const { return start + len; }  // exclusive
  bool operator==(const ExtentMap&) const = default;
};

class ExtentMapTree {
 public:
  ExtentMapTree(sim::Scheduler& sched, std::string name);

  // add_extent_mapping(): false if `em` overlaps an existing map.
  bool Add(ExtentMap em);
  // lookup_extent_mapping(): the map overlapping [start, start+len), the
  // first by offset; nullopt if none.
  std::optional<ExtentMap> Lookup(uint64_t start, uint64_t len) const;
  // btrfs_drop_extent_cache(): removes [start, end) from the maps, keeping
  // the outside parts of maps that straddle its edges. Pinned maps are
  // dropped too only if `skip_pinned` is false.
  void Drop(uint64_t start, uint64_t end, bool skip_pinned);
  // unpin_extent_cache(): writeback of the map at `start` finished.
  // False if no map starts at `start` (v5.13's WARN_ON(!em || em->start
  // != start): the pinned map was dropped or split under the I/O).
  bool Unpin(uint64_t start, uint64_t generation);

  std::vector<ExtentMap> All() const;
  sim::SpinLock& lock() { return lock_; }

 private:
  void TryMerge(std::map<uint64_t, ExtentMap>::iterator it);

  std::map<uint64_t, ExtentMap> maps_;  // by start; disjoint
  sim::SpinLock lock_;
};

}  // namespace fsim::fs

#endif  // FSIM_FS_BTRFS_EXTENT_MAP_H_
