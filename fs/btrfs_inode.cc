#include "fs/btrfs_inode.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <span>

#include "sim/check.h"
#include "sim/memory.h"

namespace fsim::fs {
namespace {

const sim::LockClassKey kIoTreeKey{"&BTRFS_I(inode)->io_tree"};
const sim::LockClassKey kIRwsemKey{"&sb->s_type->i_mutex_key"};
const sim::LockClassKey kIMmapKey{"&BTRFS_I(inode)->i_mmap_lock"};
constexpr int kEagain = 11;

uint32_t Csum(const uint8_t* data) { return BtrfsDataCsum(data); }

// Reads or writes one page of disk through the volume layer and waits.
sim::BlkStatus PageIo(sim::Scheduler& s, Volumes& v, sim::BioOp op, uint64_t disk, uint8_t* data) {
  sim::Completion done(s, "page_io");
  sim::Bio bio;
  bio.op = op;
  bio.sector = disk / 512;
  bio.vecs = {{data, static_cast<uint32_t>(kPageSize)}};
  bio.end_io = [&done](sim::Bio&) { done.Complete(); };
  v.MapBio(&bio);
  done.Wait();
  return bio.status;
}

// set_page_extent_mapped(): every btrfs data page in use carries
// EXTENT_PAGE_PRIVATE, so truncate and reclaim ask the fs about it.
char kExtentPagePrivate;
void SetPageExtentMapped(Page& page) {
  if (!PagePrivate(page)) AttachPagePrivate(page, &kExtentPagePrivate);
}

}  // namespace

uint32_t BtrfsDataCsum(const uint8_t* block) {
  return static_cast<uint32_t>(XXH3_64bits(block, kPageSize));  // btrfs's xxhash64 csum
}

// --- BtrfsFs -----------------------------------------------------------------

BtrfsFs::BtrfsFs(sim::Scheduler& sched, sim::BlockArray& array, FsConfig config)
    : sched_(sched),
      config_(config),
      volumes_(sched, array),
      log_(sched, array.device(0), 0, kLogLen),
      transaction_lock_(sched, "fs_info->trans_lock"),
      array_(array) {
  uint64_t smallest = ~uint64_t{0};
  for (size_t i = 0; i < array.size(); ++i) {
    const sim::DeviceConfig& d = array.device(i).config();
    smallest = std::min<uint64_t>(smallest, d.capacity_sectors * d.sector_size);
  }
  FSIM_CHECK_MSG(smallest >= 4 * kLogLen, "a device too small for the filesystem");
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
  volumes_.AddChunk(std::move(chunk));
}

namespace {

// Returns [start, start+len) to `free`, merged with its neighbours.
void AddFree(std::map<uint64_t, uint64_t>& free, uint64_t start, uint64_t len) {
  auto next = free.lower_bound(start);
  if (next != free.begin()) {
    auto prev = std::prev(next);
    FSIM_CHECK(prev->first + prev->second <= start);
    if (prev->first + prev->second == start) {
      start = prev->first;
      len += prev->second;
      free.erase(prev);
    }
  }
  if (next != free.end()) {
    FSIM_CHECK(start + len <= next->first);
    if (start + len == next->first) {
      len += next->second;
      free.erase(next);
    }
  }
  free[start] = len;
}

}  // namespace

bool BtrfsFs::CommitLog() {
  bool ok = true;
  const size_t others = config_.bug_commit_without_barrier_all_devices ? 0 : array_.size() - 1;
  for (size_t i = 1; i <= others; ++i) {
    sim::Bio flush;
    flush.op = sim::BioOp::kFlush;
    ok = array_.device(i).SubmitBioWait(flush) == sim::BlkStatus::kOk && ok;
  }
  if (!log_.Commit()) return false;
  // The drops are durable now: pinned extents are free to reuse.
  for (auto it = extents_.begin(); it != extents_.end();) {
    if (!it->second.pinned) {
      ++it;
      continue;
    }
    AddFree(free_, it->first, it->second.len);
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
  FSIM_CHECK_MSG(false, "simulated filesystem out of data space");
  return 0;
}


void BtrfsFs::ExtentReferenced(uint64_t disk_bytenr) {
  auto it = extents_.find(disk_bytenr);
  FSIM_CHECK_MSG(it != extents_.end(), "a file extent item points at an extent never allocated");
  it->second.referenced = true;
}

void BtrfsFs::TrimExtent(uint64_t disk_bytenr, uint64_t len) {
  auto it = extents_.find(disk_bytenr);
  len = (len + kPageSize - 1) / kPageSize * kPageSize;
  FSIM_CHECK(it != extents_.end() && !it->second.referenced && len > 0 && len <= it->second.len);
  if (len == it->second.len) return;
  AddFree(free_, disk_bytenr + len, it->second.len - len);
  it->second.len = len;
}

void BtrfsFs::ExtentUnused(uint64_t disk_bytenr) {
  auto it = extents_.find(disk_bytenr);
  FSIM_CHECK(it != extents_.end() && !it->second.referenced);
  AddFree(free_, it->first, it->second.len);
  extents_.erase(it);
}

void BtrfsFs::ReleaseUnreferenced() {
  std::set<uint64_t> live;  // extents some file extent item points at
  for (const auto& [ino, items] : log_.state().extents) {
    for (const auto& [off, item] : items) live.insert(item.disk_bytenr);
  }
  for (auto it = extents_.begin(); it != extents_.end();) {
    Extent& e = it->second;
    if (!e.referenced || e.pinned || live.count(it->first)) {
      ++it;
      continue;
    }
    if (config_.bug_free_extent_without_pinning) {
      AddFree(free_, it->first, e.len);
      it = extents_.erase(it);
      continue;
    }
    e.pinned = true;
    ++it;
  }
}

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

std::string BtrfsFs::CheckUnmount() const {
  if (bytes_may_use_ == 0) return "";
  return "WARNING: CPU: 0 PID: 0 at fs/btrfs/block-group.c btrfs_free_block_groups\n"
         "BTRFS info (device sim0): space_info DATA has reservations left at unmount\n"
         "BTRFS info (device sim0): space_info total=" + std::to_string(data_end_ - kDataStart) +
         ", pinned=" + std::to_string(pinned_bytes()) + ", may_use=" + std::to_string(bytes_may_use_);
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

// --- BtrfsInode --------------------------------------------------------------

// find_or_create_page(GFP_NOFS) on a path that cannot back out. An order-0
// allocation is "too small to fail" in Linux: the allocator keeps
// reclaiming and finally OOM-kills. fsim ends the run with the allocator's
// warning instead, so a scenario whose memory budget cannot hold what it
// keeps dirty, locked or under writeback is a finding with a trace, never
// an abort.
Page* BtrfsInode::GrabPage(uint64_t index) {
  Page* page = mapping_.FindOrCreatePage(index, sim::kGfpNoFs);
  if (page != nullptr) return page;
  sim::Finding f;
  f.kind = sim::FindingKind::kWarn;
  f.signature = "warn:page_allocation_failure";
  f.report = "fsim: page allocation failure: order:0, mode:GFP_NOFS, ino " + std::to_string(ino_) +
             " index " + std::to_string(index) +
             ": the memory budget cannot hold what the run keeps dirty, locked or under "
             "writeback (the kernel would retry and OOM-kill); raise memory.budget_pages";
  sched_.Fail(std::move(f));  // from a fiber: does not return
  return nullptr;
}

BtrfsInode::BtrfsInode(BtrfsFs& fs, uint64_t ino)
    : fs_(fs),
      sched_(fs.sched()),
      ino_(ino),
      mapping_(sched_, "ino" + std::to_string(ino), this),
      io_tree_(sched_, "io_tree", &kIoTreeKey),
      em_tree_(sched_, "em_tree"),
      ordered_(sched_, "ordered_tree"),
      i_rwsem_(sched_, "i_rwsem", &kIRwsemKey),
      i_mmap_lock_(sched_, "i_mmap_lock", &kIMmapKey) {
  io_tree_.SetHooks(this);
}

BtrfsInode::~BtrfsInode() = default;

void BtrfsInode::LockAndFlushOrdered(uint64_t start, uint64_t end) {
  for (;;) {
    io_tree_.LockExtent(start, end - 1);
    OrderedExtent* oe = ordered_.LookupRange(start, end - start);
    if (oe == nullptr) return;
    io_tree_.UnlockExtent(start, end - 1);
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
}

int BtrfsInode::FillPage(Page& page) {
  const uint64_t off = page.offset();
  page.data.fill(0);
  if (off >= i_size_) return 0;
  const auto& all = fs_.log().state().extents;
  auto file = all.find(ino_);
  if (file == all.end()) return 0;
  for (const auto& [start, item] : file->second) {
    if (start > off || start + item.num_bytes <= off) continue;
    uint64_t disk = item.disk_bytenr + item.offset + (off - start);
    if (PageIo(sched_, fs_.volumes(), sim::BioOp::kRead, disk, page.data.data()) !=
        sim::BlkStatus::kOk) {
      return -5;
    }
    auto csum = fs_.log().state().csums.find(disk);
    if (csum != fs_.log().state().csums.end() && csum->second != Csum(page.data.data())) {
      sim::Finding f;
      f.kind = sim::FindingKind::kChecksum;
      f.signature = "checksum:data";
      f.report = "BTRFS warning: csum failed root 5 ino " + std::to_string(ino_) + " off " +
                 std::to_string(off) + " csum mismatch (disk " + std::to_string(disk) + ")";
      sched_.Report(std::move(f));
      return -5;
    }
    return 0;
  }
  return 0;  // a hole
}

Page* BtrfsInode::LockPageAndRange(uint64_t index, bool extents_first) {
  const uint64_t start = index * kPageSize, end = start + kPageSize - 1;
  for (;;) {
    if (extents_first) LockAndFlushOrdered(start, end + 1);
    Page* page = GrabPage(index);
    SetPageExtentMapped(*page);
    WaitOnPageWriteback(*page);  // stable pages: csums are taken at submit
    if (extents_first) return page;
    io_tree_.LockExtent(start, end);
    OrderedExtent* oe = ordered_.LookupRange(start, kPageSize);
    if (oe == nullptr) return page;
    // lock_and_cleanup_extent_if_need(): unlock all, wait, retry.
    io_tree_.UnlockExtent(start, end);
    UnlockPage(*page);
    PutPage(*page);
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
}

void BtrfsInode::WritePageLegacy(uint64_t index, const uint8_t* src, uint64_t from, uint64_t len) {
  Page* page = LockPageAndRange(index, false);
  const uint64_t start = page->offset(), end = start + kPageSize - 1;
  if (!PageUptodate(*page) && (from != 0 || len != kPageSize)) FillPage(*page);
  std::memcpy(page->data.data() + from, src, len);
  SetPageUptodate(*page);
  SetPageDirty(*page);
  // write_end(): i_size grows page by page, under the page lock.
  i_size_ = std::max(i_size_, start + from + len);
  DirtyDelalloc(start, end);
  io_tree_.UnlockExtent(start, end);
  UnlockPage(*page);
  PutPage(*page);
}

void BtrfsInode::DirtyDelalloc(uint64_t start, uint64_t end) {
  fs_.ReserveData(end - start + 1);
  io_tree_.ClearExtentBit(start, end, kExtentDelalloc | kExtentDoAccounting);
  io_tree_.SetExtentBit(start, end, kExtentDelalloc);
}

// btrfs_set_delalloc_extent().
void BtrfsInode::SetDelallocExtent(uint64_t bytes) { delalloc_bytes_ += bytes; }

// btrfs_clear_delalloc_extent().
void BtrfsInode::ClearDelallocExtent(uint64_t bytes, uint32_t bits) {
  FSIM_CHECK(bytes <= delalloc_bytes_);
  delalloc_bytes_ -= bytes;
  if (bits & kExtentClearDataResv) fs_.FreeReservedData(bytes);
}

void BtrfsInode::EvictAtUnmount() {
  // truncate_inode_pages_final(), then the io_tree's leftovers.
  mapping_.TruncateInodePagesRange(0, kLEndMax);
  io_tree_.ClearExtentBit(0, kLEndMax, kExtentDelalloc | kExtentDoAccounting | kExtentDefrag);
  if (delalloc_bytes_ != 0) {
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:btrfs_destroy_inode:delalloc_bytes";
    f.report = "WARNING: CPU: 0 PID: 0 at fs/btrfs/inode.c btrfs_destroy_inode\n  ino " +
               std::to_string(ino_) + " delalloc_bytes " + std::to_string(delalloc_bytes_);
    sched_.Report(std::move(f));
  }
}

void BtrfsInode::BufferedWrite(uint64_t pos, const std::vector<uint8_t>& data) {
  if (data.empty()) return;
  i_rwsem_.DownWrite();
  WriteLocked(pos, data);
  i_rwsem_.UpWrite();
}

void BtrfsInode::TruncateBlockForExpand(uint64_t oldsize) {
  if (fs_.config().bug_cont_expand_without_truncate_block) return;
  if (oldsize % kPageSize == 0) return;
  const uint64_t index = oldsize / kPageSize;
  // Not cached: on disk the tail is zeroes already (writeback zeroes the
  // tail of the page straddling EOF before it submits it).
  if (mapping_.Peek(index) == nullptr) return;
  TruncateBlock(oldsize);
}

void BtrfsInode::TruncateBlock(uint64_t from) {
  Page* page = LockPageAndRange(from / kPageSize, fs_.config().order == LockOrder::kRfc);
  const uint64_t start = page->offset(), end = start + kPageSize - 1;
  if (!PageUptodate(*page)) FillPage(*page);
  ZeroUserSegment(*page, from % kPageSize, kPageSize);
  SetPageUptodate(*page);
  SetPageDirty(*page);
  DirtyDelalloc(start, end);
  io_tree_.UnlockExtent(start, end);
  UnlockPage(*page);
  PutPage(*page);
}

void BtrfsInode::WriteLocked(uint64_t pos, const std::vector<uint8_t>& data) {
  // btrfs_write_check(): a write starting past EOF grows the file over a
  // gap first (btrfs_cont_expand).
  if (pos > i_size_) TruncateBlockForExpand(i_size_);
  const uint64_t end = pos + data.size();
  const uint64_t first = pos / kPageSize, last = (end - 1) / kPageSize;
  if (fs_.config().order == LockOrder::kRfc) {
    // Extents before pages: the whole range, ordered extents flushed.
    LockAndFlushOrdered(first * kPageSize, (last + 1) * kPageSize);
  }
  for (uint64_t index = first; index <= last; ++index) {
    uint64_t page_start = index * kPageSize;
    uint64_t from = std::max(pos, page_start) - page_start;
    uint64_t to = std::min(end, page_start + kPageSize) - page_start;
    const uint8_t* src = data.data() + (page_start + from - pos);
    if (fs_.config().order == LockOrder::kLegacy) {
      WritePageLegacy(index, src, from, to - from);
      // btrfs_buffered_write(): balance_dirty_pages_ratelimited() after
      // each batch, with nothing locked but i_rwsem.
      BalanceDirtyPages(mapping_);
      continue;
    }
    Page* page = GrabPage(index);
    SetPageExtentMapped(*page);
    WaitOnPageWriteback(*page);
    if (!PageUptodate(*page) && (from != 0 || to != kPageSize)) FillPage(*page);
    std::memcpy(page->data.data() + from, src, to - from);
    SetPageUptodate(*page);
    SetPageDirty(*page);
    i_size_ = std::max(i_size_, page_start + to);  // write_end, under the page lock
    UnlockPage(*page);
    PutPage(*page);
    // iomap_write_actor(): balance_dirty_pages_ratelimited() after each
    // page, inside iomap_apply: under the RFC that is with the extent
    // range still locked, so the flusher's best-effort writeback cannot
    // take these pages while the writer is throttled waiting for it.
    BalanceDirtyPages(mapping_);
  }
  if (fs_.config().order == LockOrder::kRfc) {
    DirtyDelalloc(first * kPageSize, (last + 1) * kPageSize - 1);
    io_tree_.UnlockExtent(first * kPageSize, (last + 1) * kPageSize - 1);
  }
}

void BtrfsInode::PunchHole(uint64_t offset, uint64_t len) {
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  PunchHoleLocked(offset, len);
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
}

uint64_t BtrfsInode::MmapWrite(uint64_t pos, const std::vector<uint8_t>& data, bool past_eof) {
  FSIM_CHECK(!data.empty() && pos / kPageSize == (pos + data.size() - 1) / kPageSize);
  i_mmap_lock_.DownRead();
  const uint64_t index = pos / kPageSize;
  const uint64_t start = index * kPageSize, end = start + kPageSize - 1;
  // The RFC left page_mkwrite page-before-extent; extents-before-pages
  // needs it to take the range first.
  const bool rfc = fs_.config().order == LockOrder::kRfc &&
                   !fs_.config().bug_rfc_page_mkwrite_page_before_extent;
  uint64_t written = 0;
  // The fault and page_mkwrite's locking.
  Page* page = LockPageAndRange(index, rfc);
  // page_mkwrite: a page wholly past EOF (truncated meanwhile) is SIGBUS.
  const uint64_t size = i_size_;
  if (start < size) {
    if (!PageUptodate(*page)) {
      FillPage(*page);
      SetPageUptodate(*page);
    }
    DirtyDelalloc(start, end);
    SetPageDirty(*page);
    // The store; what lands past EOF is not file data (writeback zeroes
    // it, growing the file zeroes it first). A growth racing the store
    // may reveal it, in Linux too: only a program that stores past EOF
    // (`past_eof`) can see that, so the others store up to EOF.
    written = pos < size ? std::min<uint64_t>(data.size(), size - pos) : 0;
    std::memcpy(page->data.data() + (pos - start), data.data(), past_eof ? data.size() : written);
  }
  io_tree_.UnlockExtent(start, end);
  UnlockPage(*page);
  PutPage(*page);
  i_mmap_lock_.UpRead();
  return written;
}

void BtrfsInode::PunchHoleLocked(uint64_t offset, uint64_t len) {
  const uint64_t end = std::min(offset + len, i_size_);
  if (offset >= end) return;
  // btrfs_wait_ordered_range(): written and settled before punching.
  mapping_.FilemapWriteAndWaitRange(offset, end - 1);
  while (OrderedExtent* oe = ordered_.LookupRange(offset, end - offset)) {
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
  const uint64_t lock_start = (offset + kPageSize - 1) / kPageSize * kPageSize;
  const uint64_t lock_end = end / kPageSize * kPageSize;  // exclusive
  // Partial pages: zeroes written through the write path
  // (btrfs_truncate_block).
  if (lock_start >= lock_end) {
    WriteLocked(offset, std::vector<uint8_t>(end - offset, 0));
  } else {
    if (offset < lock_start) WriteLocked(offset, std::vector<uint8_t>(lock_start - offset, 0));
    if (lock_end < end) WriteLocked(lock_end, std::vector<uint8_t>(end - lock_end, 0));
    // btrfs_punch_hole_lock_range(): the page cache goes first, then the
    // range is locked; pages or ordered extents that came back mean retry.
    for (;;) {
      mapping_.TruncateInodePagesRange(lock_start, lock_end - 1);
      io_tree_.LockExtent(lock_start, lock_end - 1);
      OrderedExtent* oe = ordered_.LookupRange(lock_start, lock_end - lock_start);
      bool pages = false;
      for (uint64_t i = lock_start / kPageSize; i < lock_end / kPageSize && !pages; ++i) {
        pages = mapping_.Peek(i) != nullptr;
      }
      if (oe == nullptr && !pages) break;
      io_tree_.UnlockExtent(lock_start, lock_end - 1);
      if (oe != nullptr) {
        ordered_.Wait(oe);
        ordered_.Put(oe);
      }
    }
    fs_.transaction_lock().Lock();
    fs_.log().DropExtents(ino_, lock_start, lock_end);
    fs_.ReleaseUnreferenced();
    fs_.transaction_lock().Unlock();
    em_tree_.Drop(lock_start, lock_end, false);
    io_tree_.ClearExtentBit(lock_start, lock_end - 1, kExtentDelalloc | kExtentDoAccounting);
    io_tree_.UnlockExtent(lock_start, lock_end - 1);
  }
}

void BtrfsInode::Readahead(uint64_t first, uint64_t last) {
  // The mm allocates the pages and hands them to ->readahead locked; it
  // stops at a cached page and gives up, not waits, on a busy one.
  std::vector<Page*> pages;
  for (uint64_t i = first; i <= last && i < first + kReadaheadPages; ++i) {
    if (mapping_.Peek(i) != nullptr) break;
    Page* page = mapping_.FindOrCreatePage(i, sim::kGfpNoFs, /*lock=*/false);
    if (page == nullptr) break;
    if (!TryLockPage(*page)) {
      PutPage(*page);
      break;
    }
    if (PageUptodate(*page) || page->mapping() != &mapping_) {
      UnlockPage(*page);
      PutPage(*page);
      break;
    }
    SetPageExtentMapped(*page);
    pages.push_back(page);
  }
  if (pages.empty()) return;
  const uint64_t start = pages.front()->offset();
  const uint64_t end = pages.back()->offset() + kPageSize - 1;
  // extent_readahead(): the range locked and its ordered extents flushed,
  // with the pages already locked. Pages before extents is the legacy
  // order; under extents-before-pages it can only be best effort (the RFC
  // left it blocking): failing, the pages stay !uptodate and the read
  // fills them under its own locks.
  bool locked = true;
  if (fs_.config().order == LockOrder::kRfc &&
      !fs_.config().bug_rfc_readahead_blocking_extent_lock) {
    locked = io_tree_.TryLockExtent(start, end);
    if (locked) {
      if (OrderedExtent* oe = ordered_.LookupRange(start, end + 1 - start)) {
        ordered_.Put(oe);
        io_tree_.UnlockExtent(start, end);
        locked = false;
      }
    }
  } else {
    LockAndFlushOrdered(start, end + 1);
  }
  if (locked) {
    for (Page* page : pages) {
      if (FillPage(*page) == 0) SetPageUptodate(*page);
    }
    io_tree_.UnlockExtent(start, end);
  }
  for (Page* page : pages) {
    UnlockPage(*page);
    PutPage(*page);
  }
}

std::vector<uint8_t> BtrfsInode::Read(uint64_t pos, uint64_t len) {
  if (pos >= i_size_ || len == 0) return {};
  const uint64_t first = pos / kPageSize;
  const uint64_t last = (std::min(pos + len, i_size_) - 1) / kPageSize;
  const bool rfc = fs_.config().order == LockOrder::kRfc;
  // filemap_get_pages(): a missing page starts synchronous readahead
  // before anything of the fs is locked.
  for (uint64_t index = first; index <= last; ++index) {
    if (mapping_.Peek(index) == nullptr) {
      Readahead(index, (i_size_ - 1) / kPageSize);  // the window may pass the read
      break;
    }
  }
  if (rfc) LockAndFlushOrdered(first * kPageSize, (last + 1) * kPageSize);
  std::vector<uint8_t> out;
  for (uint64_t index = first; index <= last; ++index) {
    Page* page = GrabPage(index);
    SetPageExtentMapped(*page);
    if (!PageUptodate(*page)) {
      uint64_t start = page->offset();
      if (!rfc) LockAndFlushOrdered(start, start + kPageSize);  // page, then range
      if (FillPage(*page) == 0) SetPageUptodate(*page);
      if (!rfc) io_tree_.UnlockExtent(start, start + kPageSize - 1);
    }
    // filemap_read(): i_size is read again once the page is in hand; with
    // the page locked, a writer's write_end for this page is all or none.
    const uint64_t end = std::min(pos + len, i_size_);
    uint64_t page_start = index * kPageSize;
    // A truncate may have moved EOF below this page, or below `pos`.
    bool stop = end <= std::max(pos, page_start);
    if (!stop) {
      uint64_t from = std::max(pos, page_start) - page_start;
      uint64_t to = std::min(end, page_start + kPageSize) - page_start;
      out.insert(out.end(), page->data.begin() + static_cast<long>(from),
                 page->data.begin() + static_cast<long>(to));
      stop = to < kPageSize;
    }
    UnlockPage(*page);
    PutPage(*page);
    if (stop) break;
  }
  if (rfc) io_tree_.UnlockExtent(first * kPageSize, (last + 1) * kPageSize - 1);
  return out;
}

int BtrfsInode::SyncWriteAndWait() {
  if (fs_.config().order != LockOrder::kRfc || !fs_.config().rfc_sync_waits_for_range) {
    return mapping_.FilemapWriteAndWaitRange(0, kLEndMax);
  }
  // Bounded: a task that keeps taking the range again cannot keep fsync
  // here for ever (what is then left dirty is the oracle's to judge).
  constexpr int kRoundsMax = 16;
  for (int round = 0; round < kRoundsMax; ++round) {
    if (mapping_.nrpages() == 0) break;
    WritebackControl wbc;
    wbc.sync_mode = WbSyncMode::kAll;
    int error = mapping_.DoWritepages(wbc);
    if (error == -5) {
      mapping_.CheckErrors();
      return error;
    }
    if (wbc.pages_skipped == 0) break;
    // Redirtied: their range was another task's. Wait for it with no
    // page locked, then write them again.
    io_tree_.LockExtent(0, kLEndMax);
    io_tree_.UnlockExtent(0, kLEndMax);
  }
  return mapping_.FilemapFdatawaitRange(0, kLEndMax);
}

int BtrfsInode::Fsync() {
  i_rwsem_.DownWrite();
  int ret = SyncWriteAndWait();
  while (OrderedExtent* oe = ordered_.LookupRange(0, kLEndMax)) {
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
  fs_.transaction_lock().Lock();
  fs_.log().UpdateInode({ino_, i_size_, 0});
  bool ok = fs_.CommitLog();
  fs_.transaction_lock().Unlock();
  i_rwsem_.UpWrite();
  return ret != 0 ? ret : (ok ? 0 : -5);
}

void BtrfsInode::Truncate(uint64_t newsize) {
  i_rwsem_.DownWrite();
  const uint64_t oldsize = i_size_;
  if (newsize >= oldsize) {
    // btrfs_setsize() growing: btrfs_cont_expand(), then the size; the
    // page cache past the old size then reads as zeroes.
    if (newsize > oldsize) TruncateBlockForExpand(oldsize);
    i_size_ = newsize;
    i_rwsem_.UpWrite();
    return;
  }
  const uint64_t lock_start = newsize / kPageSize * kPageSize;
  const uint64_t lock_end = (oldsize + kPageSize - 1) / kPageSize * kPageSize - 1;
  const bool rfc = fs_.config().order == LockOrder::kRfc;
  if (rfc) LockAndFlushOrdered(lock_start, lock_end + 1);
  // truncate_setsize(): i_size first, then the page cache past it (each
  // page locked, its writeback waited for, invalidated).
  mapping_.TruncateSetsize(i_size_, newsize);
  if (rfc) io_tree_.UnlockExtent(lock_start, lock_end);
  // btrfs_truncate(): ordered extents past the new size finish first
  // (their items land), then the items past it are dropped.
  while (OrderedExtent* oe = ordered_.LookupRange(lock_start, kLEndMax)) {
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
  const uint64_t keep_end = (newsize + kPageSize - 1) / kPageSize * kPageSize;
  fs_.transaction_lock().Lock();
  fs_.log().DropExtents(ino_, keep_end, kLEndMax);
  fs_.ReleaseUnreferenced();
  fs_.log().UpdateInode({ino_, newsize, 0});
  fs_.transaction_lock().Unlock();
  em_tree_.Drop(keep_end, kLEndMax, false);
  // btrfs_truncate_block(): the partial page's tail must be zeroes on
  // disk too, so the page is zeroed (truncate did) and written again. Like
  // any dirtying, it waits out the page's ordered extent first, or
  // writeback would stack a second one on the same range.
  if (newsize % kPageSize != 0) TruncateBlock(newsize);
  i_rwsem_.UpWrite();
}

void BtrfsInode::ZeroRange(uint64_t offset, uint64_t len, bool keep_size) {
  // One i_rwsem hold: the size test and the change are one step.
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  PunchHoleLocked(offset, len);  // the part within EOF
  // Past EOF: btrfs_cont_expand(), then the size.
  if (!keep_size && offset + len > i_size_) {
    TruncateBlockForExpand(i_size_);
    i_size_ = offset + len;
  }
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
}

void BtrfsInode::Fallocate(uint64_t offset, uint64_t len, bool keep_size) {
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  if (!keep_size && offset + len > i_size_) {
    TruncateBlockForExpand(i_size_);
    i_size_ = offset + len;
  }
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
}

void BtrfsInode::WritebackAll() {
  WritebackControl wbc;
  wbc.sync_mode = WbSyncMode::kNone;
  mapping_.DoWritepages(wbc);
}

int BtrfsInode::Writepage(Page& page, WritebackControl& wbc) {
  // v5.13's btrfs_writepage(): under PF_MEMALLOC (direct reclaim and
  // kswapd alike) the page is redirtied, never written: reclaim of btrfs
  // data pages waits for the flusher. The RFC routes ->writepage through
  // iomap_writepage(), whose rule is iomap's (kswapd writes; direct
  // reclaim WARNs), and so exposes map_blocks to kswapd's locked page.
  if (fs_.config().order == LockOrder::kLegacy && sched_.current_fiber().memalloc) {
    RedirtyPageForWritepage(wbc, page);
    UnlockPage(page);
    return 0;
  }
  IomapWritepageCtx wpc(sched_, *this);
  wpc.write_past_eof = fs_.config().bug_writeback_past_eof_after_truncate;
  int ret = wpc.DoWritepage(page, wbc, i_size_);
  wpc.SubmitPending();
  pages_written_past_eof_ += wpc.past_eof_pages();
  return ret;
}

int BtrfsInode::Writepages(AddressSpace& mapping, WritebackControl& wbc) {
  // iomap_writepages(): one writepage context for the whole pass, its
  // ioend open across pages and merged while contiguous. Before the pass
  // sleeps on a page lock (or a page's writeback) the open ioend is
  // submitted: the page's holder may be a reader waiting for an ordered
  // extent whose pages sit in that ioend (btrfs's extent_write_cache_pages
  // flushes its bio before lock_page for this reason).
  IomapWritepageCtx wpc(sched_, *this);
  wpc.write_past_eof = fs_.config().bug_writeback_past_eof_after_truncate;
  wpc.whole_pass = true;
  const std::function<void()> submit = [&wpc] { wpc.SubmitPending(); };
  const std::function<void()>* saved = wbc.submit_pending;
  wbc.submit_pending = &submit;
  int ret = mapping.WriteCachePages(
      wbc, [&](Page& page, WritebackControl& w) { return wpc.DoWritepage(page, w, i_size_); });
  wbc.submit_pending = saved;
  wpc.SubmitPending();
  pages_written_past_eof_ += wpc.past_eof_pages();
  return ret;
}

int BtrfsInode::Readpage(Page& page) {
  uint64_t start = page.offset();
  SetPageExtentMapped(page);
  LockAndFlushOrdered(start, start + kPageSize);
  int ret = FillPage(page);
  if (ret == 0) SetPageUptodate(page);
  io_tree_.UnlockExtent(start, start + kPageSize - 1);
  UnlockPage(page);
  return ret;
}

bool BtrfsInode::Releasepage(Page& page, sim::Gfp) {
  // __btrfs_releasepage() -> try_release_extent_state(): not while the
  // page's range is locked (someone is between the extent lock and this
  // page). Legacy tests the LOCKED bit; the RFC takes a best-effort
  // try_lock_extent, as reclaim holds the page lock.
  if (PageDirty(page) || PageWriteback(page)) return false;
  const uint64_t start = page.offset(), end = start + kPageSize - 1;
  if (fs_.config().order == LockOrder::kRfc) {
    if (!io_tree_.TryLockExtent(start, end)) return false;
    io_tree_.UnlockExtent(start, end);
  } else if (io_tree_.TestRangeBit(start, end, kExtentLocked, false)) {
    return false;
  }
  DetachPagePrivate(page);
  return true;
}

void BtrfsInode::Invalidatepage(Page& page, uint64_t offset, uint64_t length) {
  // btrfs_invalidatepage(): part of a page only releases what it can.
  if (offset != 0 || length != kPageSize) {
    Releasepage(page, sim::kGfpNoFs);
    return;
  }
  // No bio may still be writing this page's blocks.
  WaitOnPageWriteback(page);
  const uint64_t start = page.offset(), end = start + kPageSize - 1;
  // Legacy locks the range under the page lock (pages before extents);
  // the RFC does not (truncate holds the range already; punch hole does
  // not, so there it runs with no extent lock at all).
  const bool lock = fs_.config().order == LockOrder::kLegacy;
  if (lock) io_tree_.LockExtent(start, end);
  // An ordered extent allocated over this page whose write was never
  // submitted: the page will never be written, so invalidatepage accounts
  // for it (PG_private_2), and the extent becomes visible only up to this
  // page (truncated_len).
  if (!fs_.config().bug_invalidatepage_no_ordered_accounting && TestClearPagePrivate2(page)) {
    if (OrderedExtent* oe = ordered_.Lookup(start)) {
      oe->flags |= kOrderedTruncated;
      oe->truncated_len = std::min(oe->truncated_len, start - oe->file_offset);
      ordered_.Put(oe);
      if (OrderedExtent* done = ordered_.DecTestPending(start, kPageSize, true)) {
        sched_.Spawn("btrfs-endio-write", [this, done] { FinishOrderedIo(done); });
      }
    }
  }
  // The page's delalloc will never be written: its reservation goes back
  // (EXTENT_DO_ACCOUNTING).
  io_tree_.ClearExtentBit(start, end,
                          kExtentDelalloc | (fs_.config().bug_invalidatepage_keeps_data_reservation
                                                 ? 0
                                                 : kExtentDoAccounting));
  if (lock) io_tree_.UnlockExtent(start, end);
  DetachPagePrivate(page);
}

namespace {

// BTRFS_MAX_EXTENT_SIZE (128 MiB), in pages.
constexpr uint64_t kMaxExtentPages = (uint64_t{128} << 20) / kPageSize;

void MapOrdered(IomapWritepageCtx& wpc, uint64_t start, uint64_t disk, uint64_t end) {
  wpc.iomap.addr = disk;
  wpc.iomap.offset = start;
  wpc.iomap.length = end - start;
  wpc.iomap.type = IomapType::kMapped;
  wpc.iomap.flags = kIomapFBoundary;  // btrfs's data bios must not cross extents
}

}  // namespace

// The end (exclusive) of the dirty delalloc run that starts with the page
// at `start`, as far as this writeback pass will write it: pages present,
// dirty, not under writeback or in an ordered extent, with EXTENT_DELALLOC,
// within the pass's range and page budget (and, for a data-integrity
// pass, tagged for it). Every page of an ordered extent created over this
// run is then either written by this pass or invalidated (and accounted
// by invalidatepage), so no ordered extent waits on a page nobody writes.
uint64_t BtrfsInode::DelallocRunEnd(const IomapWritepageCtx& wpc, uint64_t start) {
  uint64_t end = start + kPageSize;
  if (!wpc.whole_pass || wpc.wbc == nullptr) return end;
  const WritebackControl& wbc = *wpc.wbc;
  uint64_t limit = start + std::min<uint64_t>(kMaxExtentPages, std::max<int64_t>(wbc.nr_to_write, 1)) *
                               kPageSize;
  if (wbc.range_end != kLEndMax) limit = std::min(limit, wbc.range_end + 1);
  const bool sync = wbc.sync_mode == WbSyncMode::kAll;
  // The pass visits the rest of its current batch as it stands, then
  // looks pages up afresh past the batch's last index.
  const std::span<const Page* const> rest(wbc.batch_rest, wbc.batch_rest_len);
  const uint64_t batch_last = rest.empty() ? start / kPageSize : rest.back()->index();
  for (; end < limit; end += kPageSize) {
    const Page* p = mapping_.Peek(end / kPageSize);
    if (p == nullptr || !PageDirty(*p) || PageWriteback(*p) || PagePrivate2(*p) ||
        PageLocked(*p) || (sync && !PageToWrite(*p))) {
      break;
    }
    if (p->index() <= batch_last && std::find(rest.begin(), rest.end(), p) == rest.end()) break;
    if (!io_tree_.TestRangeBit(end, end + kPageSize - 1, kExtentDelalloc, true)) break;
  }
  return end;
}

// The RFC's btrfs map_blocks over v5.13's writepage_delalloc():
// find_lock_delalloc_range() and cow_file_range() allocate one contiguous
// extent for the dirty run starting at this page, with one ordered extent
// and an extent map; its pages carry PG_private_2 until their write
// completes or invalidatepage accounts for them. A page already in an
// ordered extent maps to that extent.
OrderedExtent* BtrfsInode::OrderedOfPage(uint64_t start) {
  const Page* page = mapping_.Peek(start / kPageSize);
  return page != nullptr && PagePrivate2(*page) ? ordered_.Lookup(start) : nullptr;
}

int BtrfsInode::MapBlocks(IomapWritepageCtx& wpc, uint64_t offset) {
  const uint64_t start = offset / kPageSize * kPageSize;
  // The blocks of a page already in an ordered extent are that extent's.
  auto map_to = [&](const OrderedExtent& oe) {
    MapOrdered(wpc, start, oe.disk_bytenr + (start - oe.file_offset), oe.end());
  };
  if (OrderedExtent* oe = OrderedOfPage(start)) {
    map_to(*oe);
    ordered_.Put(oe);
    return 0;
  }
  uint64_t end = DelallocRunEnd(wpc, start);
  const bool best_effort =
      fs_.config().order == LockOrder::kRfc && !fs_.config().bug_rfc_writepage_blocking_extent_lock;
  if (best_effort) {
    // Handed a locked page, extents-before-pages can only try: the run,
    // else at least through the end of the locked page (RFC patch 05).
    if (!io_tree_.TryLockExtent(start, end - 1)) {
      end = start + kPageSize;
      if (!io_tree_.TryLockExtent(start, end - 1)) return kIomapRedirty;
    }
  } else {
    io_tree_.LockExtent(start, end - 1);
  }
  // Under the range lock (find_lock_delalloc_range()'s re-check): another
  // pass may have allocated this page meanwhile (with an earlier page of
  // its run); it then maps to that ordered extent.
  if (!io_tree_.TestRangeBit(start, start + kPageSize - 1, kExtentDelalloc, true)) {
    if (OrderedExtent* oe = OrderedOfPage(start)) {
      io_tree_.UnlockExtent(start, end - 1);
      map_to(*oe);
      ordered_.Put(oe);
      return 0;
    }
  }
  // Taking the range may have slept or yielded: the run is measured again
  // under the lock (pages written, truncated or created anew meanwhile end
  // it). No other pass can allocate in the range now.
  const uint64_t locked_end = end;
  end = std::min(end, DelallocRunEnd(wpc, start));
  // cow_file_range(): COW, every write goes to new space.
  uint64_t len = end - start;
  const uint64_t disk = fs_.AllocData(len);
  OrderedExtent* oe = ordered_.Add(start, len, disk, len, 0);
  // Adding it may have yielded (the tree's spinlock), and the run's pages
  // are not locked (lock_delalloc_pages() is not modelled): a page
  // truncated meanwhile ends the run, which is measured a last time and
  // marked at once, so that every page of the extent carries PG_private_2
  // and invalidatepage accounts for any it drops from now on.
  if (const uint64_t last = std::min(end, DelallocRunEnd(wpc, start)); last < end) {
    ordered_.Shrink(oe, last - start);
    fs_.TrimExtent(disk, last - start);
    end = last;
    len = end - start;
  }
  for (uint64_t at = start; at < end; at += kPageSize) {
    if (Page* page = mapping_.Peek(at / kPageSize)) SetPagePrivate2(*page);
  }
  if (end < locked_end) io_tree_.UnlockExtent(end, locked_end - 1);
  em_tree_.Drop(start, end, false);
  ExtentMap em;
  em.start = start;
  em.len = len;
  em.block_start = disk;
  em.block_len = len;
  em.orig_start = start;
  em.ram_bytes = len;
  em.flags = kEmPinned;
  em_tree_.Add(em);
  // The allocation takes over the delalloc bytes' reservation; the bit is
  // cleared without giving it back (extent_clear_unlock_delalloc()).
  fs_.ConvertReserved(io_tree_.CountRangeBits(start, end - 1, kExtentDelalloc));
  io_tree_.ClearExtentBit(start, end - 1, kExtentDelalloc);
  io_tree_.UnlockExtent(start, end - 1);
  MapOrdered(wpc, start, disk, end);
  return 0;
}

void BtrfsInode::SubmitBio(Ioend&, sim::Bio* bio) {
  // btrfs_csum_one_bio(): checksums of the pages as submitted; a page
  // changed after this (no stable pages) fails its checksum on read.
  uint64_t disk = bio->sector * 512;
  for (const sim::BioVec& v : bio->vecs) {
    submitted_csums_[disk] = Csum(v.data);
    disk += v.len;
  }
  fs_.volumes().MapBio(bio);
}

void BtrfsInode::EndIoend(Ioend& ioend) {
  for (Page* page : ioend.pages) {
    // btrfs_writepage_endio_finish_ordered().
    TestClearPagePrivate2(*page);
    OrderedExtent* oe = ordered_.DecTestPending(page->offset(), kPageSize, !ioend.error);
    if (oe == nullptr) continue;
    // btrfs_finish_ordered_io() runs in a worker (process context).
    sched_.Spawn("btrfs-endio-write", [this, oe] { FinishOrderedIo(oe); });
  }
}

void BtrfsInode::FinishOrderedIo(OrderedExtent* oe) {
  const uint64_t start = oe->file_offset, end = oe->end() - 1;
  io_tree_.LockExtent(start, end);
  if (!(oe->flags & kOrderedIoErr)) {
    fs_.transaction_lock().Lock();
    // A truncated extent (pages invalidated before their write) becomes
    // visible only up to truncated_len.
    const uint64_t visible =
        (oe->flags & kOrderedTruncated) ? std::min(oe->truncated_len, oe->num_bytes) : oe->num_bytes;
    FileExtentItem item;
    item.ino = ino_;
    item.file_offset = oe->file_offset;
    item.num_bytes = visible;
    item.disk_bytenr = oe->disk_bytenr;
    item.disk_num_bytes = oe->disk_num_bytes;
    if (visible > 0) {
      fs_.log().InsertExtent(item);  // drops what it replaces (COW)
      fs_.ExtentReferenced(oe->disk_bytenr);
      fs_.ReleaseUnreferenced();
    } else {
      fs_.ExtentUnused(oe->disk_bytenr);
    }
    // btrfs_csum_file_blocks(): one checksum per block written.
    for (uint64_t k = 0; k < oe->num_bytes; k += kPageSize) {
      auto csum = submitted_csums_.find(oe->disk_bytenr + k);
      if (csum == submitted_csums_.end()) continue;
      if (k < visible) fs_.log().SetCsum(oe->disk_bytenr + k, csum->second);
      submitted_csums_.erase(csum);
    }
    uint64_t disk_i_size = std::min(i_size_, oe->file_offset + visible);
    auto it = fs_.log().state().inodes.find(ino_);
    if (it == fs_.log().state().inodes.end() || it->second.size < disk_i_size) {
      fs_.log().UpdateInode({ino_, disk_i_size, 0});
    }
    fs_.transaction_lock().Unlock();
  } else {
    // The write failed: no item will point at the extent.
    fs_.transaction_lock().Lock();
    fs_.ExtentUnused(oe->disk_bytenr);
    fs_.transaction_lock().Unlock();
  }
  em_tree_.Unpin(start, 0);
  io_tree_.UnlockExtent(start, end);
  ordered_.Remove(oe);
  ordered_.Put(oe);
}

}  // namespace fsim::fs


