// The mount (fs_info): data space allocation, pinning and reuse
// (extent-tree.c, free-space-cache.c, reduced to what crash safety
// depends on), data space reservations (space-info.c, delalloc-space.c),
// and the log commit with barrier_all_devices (disk-io.c).
#define XXH_STATIC_LINKING_ONLY
#include <xxh_x86dispatch.h>
#include <xxhash.h>

#include <algorithm>
#include <set>

#include "fs/btrfs/inode.h"
#include "sim/check.h"

namespace fsim::fs {

uint32_t BtrfsDataCsum(const uint8_t* block) {
  // btrfs's xxhash64 csum. The dispatching entry point picks the widest
  // vector unit the CPU has (AVX2, AVX-512) at run time; Debian's plain
  // XXH3_64bits is built for SSE2, about a third as fast on a 4 KiB page,
  // and the hash is the same either way.
  return static_cast<uint32_t>(XXH3_64bits_dispatch(block, kPageSize));
}

// --- BtrfsFs -----------------------------------------------------------------

BtrfsFs::BtrfsFs(sim::Scheduler& sched, sim::BlockArray& array, FsConfig config)
    : sched_(sched),
      config_(config),
      volumes_(sched, array),
      log_(sched, array.device(0), 0, config.log_len),
      transaction_lock_(sched, "fs_info->trans_lock"),
      array_(array) {
  uint64_t smallest = ~uint64_t{0};
  for (size_t i = 0; i < array.size(); ++i) {
    const sim::DeviceConfig& d = array.device(i).config();
    smallest = std::min<uint64_t>(smallest, d.capacity_sectors * d.sector_size);
  }
  FSIM_CHECK_MSG(smallest >= 4 * kLogLen, "a device too small for the filesystem");
  volumes_.set_bio_max_vecs(config_.bio_max_vecs);
  // The data stripes start after the log area, at the same offset on each
  // device, rounded to whole stripes.
  const uint64_t per_device = (smallest - kDataStart) / kStripeLen * kStripeLen;
  Chunk chunk;
  chunk.logical = kDataStart;
  chunk.profile = config.data_profile;
  switch (config.data_profile) {
    case Profile::kSingle:
      chunk.length = per_device;
      chunk.stripes = {{0, kDataStart}};
      break;
    case Profile::kDup:
      chunk.length = per_device / 2 / kStripeLen * kStripeLen;
      chunk.stripes = {{0, kDataStart}, {0, kDataStart + chunk.length}};
      break;
    case Profile::kRaid0:
      FSIM_CHECK_MSG(array.size() >= 2, "RAID0 needs two devices or more");
      chunk.length = per_device * array.size();
      for (size_t i = 0; i < array.size(); ++i) chunk.stripes.push_back({i, kDataStart});
      break;
    case Profile::kRaid1:
      FSIM_CHECK_MSG(array.size() >= 2, "RAID1 needs two devices");
      chunk.length = per_device;
      chunk.stripes = {{0, kDataStart}, {1, kDataStart}};
      break;
    case Profile::kRaid10:
      FSIM_CHECK_MSG(array.size() >= 4 && array.size() % kRaid10SubStripes == 0,
                     "RAID10 needs an even number of devices, 4 or more");
      chunk.length = per_device * (array.size() / kRaid10SubStripes);
      for (size_t i = 0; i < array.size(); ++i) chunk.stripes.push_back({i, kDataStart});
      break;
  }
  data_end_ = kDataStart + chunk.length;
  free_[kDataStart] = chunk.length;
  // The correct btrfs splits a bio at map_length; the RFC's state does not.
  volumes_.set_split_bios(!config.bug_iomap_merge_past_map_length);
  volumes_.set_bug_raid10_stripe_index(config.bug_raid10_stripe_index_without_sub_stripes);
  volumes_.set_bug_dup_tolerates_failed_copy(config.bug_dup_tolerates_failed_copy);
  volumes_.AddChunk(std::move(chunk));
  if (config.bug_truncate_partial_skips_writeback_wait || config.bug_read_cache_page_skips_wait ||
      config.bug_check_errors_keeps_as_eio) {
    // The mistakes live in mm/truncate.c and mm/filemap.c: the run's page
    // cache takes them.
    PageCache& cache = PageCache::Of(sched);
    PageCacheConfig pc = cache.config();
    pc.bug_truncate_partial_skips_writeback_wait |= config.bug_truncate_partial_skips_writeback_wait;
    pc.bug_read_cache_page_skips_wait |= config.bug_read_cache_page_skips_wait;
    pc.bug_check_errors_keeps_as_eio |= config.bug_check_errors_keeps_as_eio;
    cache.Configure(pc);
  }
}

namespace {

// Returns [start, start+len) to `free`, merged with its neighbours. Space
// already free is a mistake of the caller (btrfs_add_free_space's
// link_free_space fails with -EEXIST, and btrfs ASSERTs): a WARN finding,
// and the range is not added again.
void AddFree(sim::Scheduler& sched, std::map<uint64_t, uint64_t>& free, uint64_t start,
             uint64_t len) {
  auto overlap = [&](uint64_t other, uint64_t other_len) {
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:free_space_overlap";
    f.report = "BTRFS critical: free space [" + std::to_string(start) + ", +" +
               std::to_string(len) + ") returned while [" + std::to_string(other) + ", +" +
               std::to_string(other_len) +
               ") is already free (btrfs_add_free_space: link_free_space -EEXIST)";
    sched.Report(std::move(f));
  };
  auto next = free.lower_bound(start);
  if (next != free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second > start) return overlap(prev->first, prev->second);
    if (prev->first + prev->second == start) {
      start = prev->first;
      len += prev->second;
      free.erase(prev);
    }
  }
  if (next != free.end()) {
    if (start + len > next->first) return overlap(next->first, next->second);
    if (start + len == next->first) {
      len += next->second;
      free.erase(next);
    }
  }
  free[start] = len;
}

}  // namespace

bool BtrfsFs::CommitLog() {
  size_t failed = 0;
  const size_t others = config_.bug_commit_without_barrier_all_devices ? 0 : array_.size() - 1;
  for (size_t i = 1; i <= others; ++i) {
    sim::Bio flush;
    flush.op = sim::BioOp::kFlush;
    if (array_.device(i).SubmitBioWait(flush) != sim::BlkStatus::kOk) ++failed;
  }
  // write_all_supers() -> barrier_all_devices(): barriers that failed on
  // more devices than the data profile tolerates (btrfs_check_rw_degradable:
  // one for RAID1 and RAID10, none for SINGLE and RAID0) fail the commit
  // before any superblock is written ("errors while submitting device
  // barriers"): the data it would name may not be durable on any copy.
  // The batch stays for the next commit. Tolerated failures do not fail
  // it: check_barrier_error() returns 0 while the array is rw-degradable,
  // and the commit goes on, degraded (the data is durable on the other
  // copy).
  const Profile profile = config_.data_profile;
  const bool raid1 = profile == Profile::kRaid1 && !config_.bug_rw_degradable_misses_raid1;
  const size_t tolerated = raid1 || profile == Profile::kRaid10 ? 1 : 0;
  if (failed > tolerated && !config_.bug_commit_ignores_barrier_error) return false;
  const bool ok = failed <= tolerated;
  if (!log_.Commit()) return false;
  // The drops are durable now: pinned extents are free to reuse.
  for (auto it = extents_.begin(); it != extents_.end();) {
    if (!it->second.pinned) {
      ++it;
      continue;
    }
    AddFree(sched_, free_, it->first, it->second.len);
    it = extents_.erase(it);
  }
  return ok;
}


uint64_t BtrfsFs::AllocData(uint64_t len) {
  len = (len + kPageSize - 1) / kPageSize * kPageSize;
  for (auto it = free_.begin(); it != free_.end(); ++it) {  // lowest address first
    const auto [start, free_len] = *it;
    if (free_len < len) continue;
    free_.erase(it);
    if (free_len > len) free_[start + len] = free_len - len;
    extents_[start] = Extent{len};
    return start;
  }
  // The scenarios' disks are sized for their data with room to spare: an
  // allocation that finds no space is the filesystem leaking extents (or
  // never reusing freed ones), a finding with its trace, not a harness
  // error.
  FSIM_BUG_ON(true, "simulated filesystem out of data space: extents leaked, or never freed for "
                    "reuse (or a scenario larger than its disks)");
  return 0;
}

bool BtrfsFs::ReserveExtent(uint64_t len, uint64_t* disk) {
  if (config_.enospc_window > 0) {
    if (enospc_at_ < 0) enospc_at_ = static_cast<int64_t>(sched_.Choose(config_.enospc_window, "enospc_at"));
    if (reservations_++ == static_cast<uint64_t>(enospc_at_)) {
      sched_.Cover("btrfs_reserve_extent:enospc");
      ++enospc_failures_;
      return false;
    }
  }
  *disk = AllocData(len);
  return true;
}

void BtrfsFs::ExtentReferenced(uint64_t disk_bytenr) {
  auto it = extents_.find(disk_bytenr);
  FSIM_BUG_ON(it == extents_.end(), "a file extent item points at an extent never allocated");
  it->second.referenced = true;
  referenced_.insert(disk_bytenr);
}

void BtrfsFs::ExtentUnused(uint64_t disk_bytenr) {
  auto it = extents_.find(disk_bytenr);
  FSIM_BUG_ON(!(it != extents_.end() && !it->second.referenced),
              "freeing an extent that is not an allocated, unreferenced one");
  AddFree(sched_, free_, it->first, it->second.len);
  extents_.erase(it);
}

void BtrfsFs::ReleaseUnreferenced() {
  std::set<uint64_t> live;  // extents some file extent item points at
  for (const auto& [ino, items] : log_.state().extents) {
    for (const auto& [off, item] : items) live.insert(item.disk_bytenr);
  }
  // Only the referenced, unpinned extents can become unreferenced (the
  // pinned ones wait for the commit, however many pile up before it).
  for (auto it = referenced_.begin(); it != referenced_.end();) {
    if (live.count(*it)) {
      ++it;
      continue;
    }
    auto e = extents_.find(*it);
    FSIM_BUG_ON(!(e != extents_.end() && e->second.referenced && !e->second.pinned),
                "an extent no item points at any more is not a referenced, unpinned allocation");
    it = referenced_.erase(it);
    // __btrfs_free_extent(): the last reference went, so the extent's
    // checksums are deleted in this transaction (btrfs_del_csums).
    log_.DropCsums(e->first, e->second.len);
    if (config_.bug_free_extent_without_pinning) {
      AddFree(sched_, free_, e->first, e->second.len);
      extents_.erase(e);
      continue;
    }
    e->second.pinned = true;
  }
}

BtrfsFs::~BtrfsFs() {
  sim::Memory& memory = sim::Memory::Of(sched_);
  if (memory.HasShrinker(&super_shrinker_)) memory.UnregisterShrinker(&super_shrinker_);
}

void BtrfsFs::AddInode(BtrfsInode* inode) {
  if (inodes_.empty() && !sim::Memory::Of(sched_).HasShrinker(&super_shrinker_)) {
    sim::Memory::Of(sched_).RegisterShrinker(&super_shrinker_);  // alloc_super()
  }
  inodes_.push_back(inode);
}

void BtrfsFs::RemoveInode(BtrfsInode* inode) { std::erase(inodes_, inode); }

void BtrfsFs::SpaceWarn(const std::string& what, uint64_t len) {
  sim::Finding f;
  f.kind = sim::FindingKind::kWarn;
  f.signature = "warn:space_info:bytes_may_use_underflow";
  f.report = "WARNING: CPU: 0 PID: 0 at fs/btrfs/space-info.h btrfs_space_info_update_bytes_may_use\n"
             "  " + what + " of " + std::to_string(len) + " bytes with bytes_may_use " +
             std::to_string(bytes_may_use_) + " (underflow)";
  sched_.Report(std::move(f));
}

void BtrfsFs::ReserveData(uint64_t len) { bytes_may_use_ += len; }

void BtrfsFs::FreeReservedData(uint64_t len) {
  if (len > bytes_may_use_) {
    SpaceWarn("freeing a data reservation", len);
    bytes_may_use_ = 0;
    return;
  }
  bytes_may_use_ -= len;
}

void BtrfsFs::ConvertReserved(uint64_t len) {
  if (len > bytes_may_use_) {
    SpaceWarn("allocating delalloc", len);
    bytes_may_use_ = 0;
    return;
  }
  bytes_may_use_ -= len;
}

std::string BtrfsFs::CheckReservations(const std::vector<const BtrfsInode*>& inodes) const {
  uint64_t delalloc = 0;
  for (const BtrfsInode* inode : inodes) delalloc += inode->delalloc_bytes();
  if (delalloc == bytes_may_use_) return "";
  return "data space_info bytes_may_use " + std::to_string(bytes_may_use_) +
         " but the inodes hold " + std::to_string(delalloc) + " delalloc bytes";
}

std::string BtrfsFs::CheckUnmount() const {
  if (bytes_may_use_ == 0) return "";
  return "WARNING: CPU: 0 PID: 0 at fs/btrfs/block-group.c btrfs_free_block_groups\n"
         "BTRFS info (device sim0): space_info DATA has reservations left at unmount\n"
         "BTRFS info (device sim0): space_info total=" + std::to_string(data_end_ - kDataStart) +
         ", pinned=" + std::to_string(pinned_bytes()) + ", may_use=" + std::to_string(bytes_may_use_);
}

std::string BtrfsFs::CheckReservedAtUnmount() const {
  uint64_t reserved = 0, first = 0;
  for (const auto& [start, e] : extents_) {
    if (e.referenced || e.pinned) continue;
    if (reserved == 0) first = start;
    reserved += e.len;
  }
  if (reserved == 0) return "";
  return "WARNING: CPU: 0 PID: 0 at fs/btrfs/block-group.c btrfs_free_block_groups\n"
         "BTRFS info (device sim0): space_info DATA has bytes_reserved=" + std::to_string(reserved) +
         " at unmount: an extent allocated for a write (first at disk bytenr " + std::to_string(first) +
         ") that no file extent item took and nothing freed";
}

uint64_t BtrfsFs::pinned_bytes() const {
  uint64_t n = 0;
  for (const auto& [start, e] : extents_) n += e.pinned ? e.len : 0;
  return n;
}

std::string BtrfsFs::CheckSpace() const {
  // Every byte of the chunk is in exactly one of: an allocated extent
  // (live or pinned), the free pool.
  std::map<uint64_t, uint64_t> all(free_.begin(), free_.end());
  for (const auto& [start, e] : extents_) {
    if (!all.emplace(start, e.len).second) return "two runs start at " + std::to_string(start);
  }
  uint64_t at = kDataStart;
  for (const auto& [start, len] : all) {
    if (start != at) {
      return "space at " + std::to_string(std::min(start, at)) + " is " +
             (start < at ? "in two runs" : "in none");
    }
    at = start + len;
  }
  if (at != data_end_) return "the runs end at " + std::to_string(at);
  return "";
}

}  // namespace fsim::fs
