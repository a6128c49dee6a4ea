// fs/btrfs/inode.c (and extent_io.c's writepage side): the inode's
// address-space operations, read, readahead, truncate, page_mkwrite,
// the RFC's map_blocks over writepage_delalloc(), bio submission and
// btrfs_finish_ordered_io(). The write path, fsync and fallocate are in
// file.cc; the mount's space and log commit in disk_io.cc.
#include "fs/btrfs/inode.h"

#include <algorithm>
#include <bit>
#include <memory>
#include <optional>
#include <cstring>
#include <set>
#include <span>

#include "fs/btrfs/compression.h"
#include "sim/check.h"
#include "sim/heap.h"
#include "sim/memory.h"
#include "sim/race.h"

namespace fsim::fs {
namespace {

const sim::LockClassKey kIoTreeKey{"&BTRFS_I(inode)->io_tree"};
const sim::LockClassKey kIRwsemKey{"&sb->s_type->i_mutex_key"};
const sim::LockClassKey kIMmapKey{"&BTRFS_I(inode)->i_mmap_lock"};

uint32_t Csum(const uint8_t* data) { return BtrfsDataCsum(data); }

// Reads or writes one page of disk through the volume layer and waits;
// `mirror_num` as Volumes::MapBio's.
sim::BlkStatus PageIo(sim::Scheduler& s, Volumes& v, sim::BioOp op, uint64_t disk, uint8_t* data,
                      int mirror_num = 0) {
  sim::Completion done(s, "page_io");
  sim::Bio bio;
  bio.op = op;
  bio.sector = disk / 512;
  bio.vecs = {{data, static_cast<uint32_t>(kPageSize)}};
  bio.container = kBtrfsIoBioContainer;
  bio.end_io = [&done](sim::Bio&) { done.Complete(); };
  v.MapBio(&bio, mirror_num);
  done.Wait();
  return bio.status;
}

char kExtentPagePrivate;

}  // namespace

void SetPageExtentMapped(Page& page) {
  if (!PagePrivate(page)) AttachPagePrivate(page, &kExtentPagePrivate);
}

// --- BtrfsInode --------------------------------------------------------------

// find_or_create_page(GFP_NOFS) on a path that cannot back out. An order-0
// allocation is "too small to fail" in Linux: the allocator keeps
// reclaiming, waiting for writeback (sim::Memory does that, boundedly), and
// finally OOM-kills. fsim ends the run with the allocator's warning
// instead, so a scenario whose memory budget cannot hold what it keeps
// dirty or locked is a finding with a trace, never an abort.
Page* BtrfsInode::GrabPage(uint64_t index, const sim::LockMap* nest) {
  Page* page = mapping_.FindOrCreatePage(index, sim::kGfpNoFs, true, sim::Where::current(), nest);
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
  fs_.AddInode(this);
}

BtrfsInode::~BtrfsInode() { fs_.RemoveInode(this); }

void BtrfsInode::Igrab() {
  if (freeing_) freeing_wait_->WaitEvent([this] { return !freeing_; });
  evicted_ = false;  // iget() reads it back
  ++i_count_;
}

void BtrfsInode::Iput() {
  FSIM_BUG_ON(!(i_count_ > 0), nullptr);
  --i_count_;
}

void BtrfsInode::UpdateInodeSize() {
  fs_.transaction_lock().Lock();
  DiskISizeWrite(i_size_);
  fs_.transaction_lock().Unlock();
}

bool BtrfsInode::Evictable() const {
  if (i_count_ != 0 || freeing_ || evicted_) return false;
  if (mapping_.nr_dirty() != 0 || mapping_.nr_writeback() != 0 || mapping_.i_sync()) return false;
  if (!ordered_.Pending().empty()) return false;
  return !io_tree_.TestRangeBit(0, kLEndMax, kExtentLocked, false);
}

void BtrfsInode::Evict() {
  FSIM_BUG_ON(!(Evictable()), nullptr);
  sched_.Cover("super_shrinker:evict_inode");
  freeing_ = true;
  mapping_.set_i_freeing(true);
  if (freeing_wait_ == nullptr) freeing_wait_ = std::make_unique<sim::WaitQueue>(sched_, "inode_freeing");
  EvictInodeTruncatePages(/*lock_ranges=*/true);
  if (sched_.unwinding()) return;
  mapping_.set_i_freeing(false);
  em_tree_.Drop(0, kLEndMax, false);
  // The next iget() reads the inode item: the size the tree holds.
  auto it = fs_.log().state().inodes.find(ino_);
  i_size_ = it == fs_.log().state().inodes.end() ? 0 : it->second.size;
  ++evictions_;
  evicted_ = true;
  freeing_ = false;
  freeing_wait_->WakeUp();
}

uint64_t SuperShrinker::Count() {
  uint64_t n = 0;
  for (const BtrfsInode* inode : fs_.inodes()) n += inode->Evictable() ? 1 : 0;
  return n;
}

uint64_t SuperShrinker::Scan(uint64_t nr_to_scan, uint64_t, sim::Gfp gfp) {
  // super_cache_scan(): nothing without __GFP_FS (SHRINK_STOP).
  if ((gfp & sim::kGfpFs) == 0) return 0;
  PageCache& cache = PageCache::Of(fs_.sched());
  const uint64_t before = cache.pages_freed();
  uint64_t scanned = 0;
  // A copy: eviction sleeps, and inodes may come and go meanwhile.
  const std::vector<BtrfsInode*> list = fs_.inodes();
  for (BtrfsInode* inode : list) {
    if (scanned >= nr_to_scan || fs_.sched().unwinding()) break;
    const auto& now = fs_.inodes();
    if (std::find(now.begin(), now.end(), inode) == now.end() || !inode->Evictable()) continue;
    ++scanned;
    inode->Evict();
  }
  return cache.pages_freed() - before;
}

void BtrfsInode::LockAndFlushOrdered(uint64_t start, uint64_t end) {
  for (;;) {
    io_tree_.LockExtent(start, end - 1);
    OrderedExtent* oe = ordered_.LookupRange(start, end - start);
    if (oe == nullptr) return;
    io_tree_.UnlockExtent(start, end - 1);
    ordered_.Wait(oe);
    if (!fs_.config().bug_lock_and_flush_ordered_leaks_ref) ordered_.Put(oe);
  }
}

uint64_t BtrfsInode::DataBlockOrFill(Page& page, int* ret, DecodedExtent* decoded) {
  const uint64_t off = page.offset();
  *ret = 0;
  if (off < i_size_) {
    const ExtentMap em = GetExtent(off);
    if (em.block_start != kHole && !(em.flags & kEmPrealloc)) {
      if (!(em.flags & kEmCompressed)) return em.block_start + (off - em.start);
      page.data.fill(0);
      *ret = ReadCompressedBlock(em, off, page.data.data(), decoded);
      return kHole;
    }
  }
  page.data.fill(0);
  return kHole;
}

int BtrfsInode::FillPage(Page& page) {
  int ret = 0;
  const uint64_t disk = DataBlockOrFill(page, &ret);
  if (disk == kHole) return ret;
  page.data.fill(0);
  return ReadDataBlock(disk, page.offset(), page.data.data());
}

int BtrfsInode::ReadCompressedBlock(const ExtentMap& em, uint64_t off, uint8_t* data,
                                    DecodedExtent* cache) {
  if (fs_.config().bug_compressed_partial_io) {
    // Mapped as a plain extent: the block at the file offset's place.
    return ReadDataBlock(em.block_start + (off - em.start), off, data);
  }
  const EncodedMapping m = MapEncoded(em.start, em.len, em.orig_start, em.block_start, em.block_len, off);
  auto copy_out = [&](const std::vector<uint8_t>& bytes) {
    // Past the decoded end (the file's end when it was written) reads as
    // zeroes (zlib_decompress_bio()'s zero_fill_bio()).
    std::memset(data, 0, kPageSize);
    if (m.decoded_pos < bytes.size()) {
      std::memcpy(data, bytes.data() + m.decoded_pos,
                  std::min<uint64_t>(kPageSize, bytes.size() - m.decoded_pos));
    }
    return 0;
  };
  if (cache != nullptr && cache->addr == m.addr && cache->io_size == m.io_size) {
    sched_.Cover("btrfs_submit_compressed_read:shared_by_pages");
    return copy_out(cache->bytes);
  }
  std::vector<uint8_t> encoded(m.io_size);
  for (uint64_t k = 0; k < m.io_size; k += kPageSize) {
    if (int ret = ReadDataBlock(m.addr + k, off, encoded.data() + k); ret != 0) return ret;
  }
  sched_.Cover("btrfs_submit_compressed_read");
  std::optional<std::vector<uint8_t>> decoded = ZlibDecompress(encoded, kMaxUncompressed);
  if (!decoded) {
    // Every block passed its checksum, yet the stream does not decode:
    // what was written (and checksummed) was not a stream.
    sim::Finding f;
    f.kind = sim::FindingKind::kChecksum;
    f.signature = "checksum:decompress";
    f.report = "BTRFS error: zlib decompress failed, root 5 ino " + std::to_string(ino_) +
               " off " + std::to_string(off) + " (compressed extent at " + std::to_string(m.addr) +
               ", " + std::to_string(m.io_size) + " bytes, checksums good)";
    sched_.Report(std::move(f));
    return -5;
  }
  copy_out(*decoded);
  if (cache != nullptr) {
    cache->addr = m.addr;
    cache->io_size = m.io_size;
    cache->bytes = std::move(*decoded);
  }
  return 0;
}

// btrfs_get_extent() for the block at `start`, called with its range
// locked: the cached map if there is one (a map of an extent still being
// written is there, pinned, from cow_file_range), else one built from the
// file extent items, the item covering `start` or the hole between items,
// trimmed to the gap between cached maps (btrfs_add_extent_mapping's
// merge_extent_mapping on -EEXIST) and added to the cache.
ExtentMap BtrfsInode::GetExtent(uint64_t start) {
  if (std::optional<ExtentMap> em = em_tree_.Lookup(start, 1)) {
    sched_.Cover("btrfs_get_extent:cached");
    return *em;
  }
  ExtentMap em;
  em.start = 0;
  uint64_t end = kLEndMax;
  const auto& all = fs_.log().state().extents;
  if (auto file = all.find(ino_); file != all.end()) {
    // Items are disjoint, by file offset: the one before `start`'s
    // successor covers it, or ends the hole that does.
    const auto next = file->second.upper_bound(start);
    if (next != file->second.end()) end = next->first;
    if (next != file->second.begin()) {
      const auto& [at, item] = *std::prev(next);
      if (at + item.num_bytes <= start) {
        em.start = at + item.num_bytes;
      } else {
        em.start = at;
        end = at + item.num_bytes;
        em.orig_start = at - (fs_.config().bug_get_extent_orig_start_without_offset ? 0 : item.offset);
        if (item.compression != 0) {
          // btrfs_extent_item_to_extent_map(): a compressed map is the
          // whole encoded extent.
          em.block_start = item.disk_bytenr;
          em.block_len = item.disk_num_bytes;
          em.flags |= kEmCompressed;
          if (item.num_bytes < item.disk_num_bytes) sched_.Cover("btrfs_get_extent:item_shorter_than_encoded");
        } else {
          em.block_start = item.disk_bytenr + item.offset;
          em.block_len = item.num_bytes;
        }
        em.ram_bytes = item.disk_num_bytes;
        if (item.type == FileExtentType::kPrealloc) em.flags |= kEmPrealloc;
      }
    }
  }
  // Trimmed to the gap around `start` that no cached map covers.
  for (std::optional<ExtentMap> left = em_tree_.Lookup(em.start, start - em.start); left;
       left = em_tree_.Lookup(em.start, start - em.start)) {
    const uint64_t cut = left->end() - em.start;
    sched_.Cover((em.flags & kEmCompressed) ? "btrfs_get_extent:trimmed_compressed" : "btrfs_get_extent:trimmed");
    if (em.block_start != kHole && !(em.flags & kEmCompressed)) {
      if (!fs_.config().bug_get_extent_trim_keeps_block_start) em.block_start += cut;
      em.block_len -= cut;
    }
    em.start = left->end();
  }
  if (std::optional<ExtentMap> right = em_tree_.Lookup(start, end - start)) end = right->start;
  em.len = end - em.start;
  if (em.block_start == kHole) em.block_len = 0;
  sched_.Cover("btrfs_get_extent:from_items");
  const bool added = em_tree_.Add(em);
  FSIM_BUG_ON(!(added), nullptr);
  return em;
}

// One block of file data from disk, checked against its checksum, as
// end_bio_extent_readpage() and btrfs_submit_read_repair() do it: a copy
// that fails to read or fails its checksum is read from the next mirror;
// the first good copy is written back over every bad one
// (repair_io_failure(), synchronous, one copy); only when no copy is good
// is the read an error (-EIO). A checksum failure no copy can repair is a
// finding: this model injects no silent corruption, so a stored block
// that does not match its committed checksum means the filesystem wrote
// or committed the wrong thing (the repaired case is left to the
// end-of-run check, which reads every copy).
int BtrfsInode::ReadDataBlock(uint64_t disk, uint64_t off, uint8_t* data) {
  const int copies = std::max(fs_.volumes().NumCopies(disk), 1);
  const int first = copies > 1 ? static_cast<int>(sched_.Choose(copies, "read_mirror")) : 0;
  return ReadMirrors(disk, off, data, first, 0, 0);
}

int BtrfsInode::ReadMirrors(uint64_t disk, uint64_t off, uint8_t* data, int first, int tried,
                            int csum_failed_mirror) {
  Volumes& v = fs_.volumes();
  const int copies = std::max(v.NumCopies(disk), 1);
  std::vector<int> bad;
  for (int k = 0; k < tried; ++k) bad.push_back((first + k) % copies);
  // The copies that read but failed the checksum, the first first.
  std::vector<int> csum_bad;
  if (csum_failed_mirror != 0) csum_bad.push_back(csum_failed_mirror - 1);
  for (int k = tried; k < copies; ++k) {
    const int mirror = (first + k) % copies;
    if (k > 0) sched_.Cover("read_repair:next_mirror");
    bool good = PageIo(sched_, v, sim::BioOp::kRead, disk, data, mirror + 1) == sim::BlkStatus::kOk;
    if (good) {
      auto csum = fs_.log().state().csums.find(disk);
      if (csum != fs_.log().state().csums.end() && csum->second != Csum(data)) {
        good = false;
        csum_bad.push_back(mirror);
      }
    }
    if (good) {
      if (!bad.empty()) {
        sched_.Cover("read_repair:repaired");
        for (int m : bad) {
          // repair_io_failure(..., failrec->failed_mirror)
          const int failed = fs_.config().bug_read_repair_rewrites_good_mirror ? mirror : m;
          PageIo(sched_, v, sim::BioOp::kWrite, disk, data, failed + 1);
        }
      }
      return 0;
    }
    bad.push_back(mirror);
  }
  // A copy the device failed to overwrite holds older data. As many
  // copies as the profile tolerates losing per write (RAID1 and RAID10
  // one, DUP and single none) may be stale that way behind a committed
  // item; if the other copies could not be read either, the read is -EIO,
  // as in the kernel, and the injected faults explain it. A bad copy no
  // failed write explains, or more stale copies than a write may lose
  // (a failed write committed as if written), is the filesystem's doing.
  bool explained = csum_bad.size() <= static_cast<size_t>(v.ToleratedFailures(disk));
  for (int m : csum_bad) explained = explained && v.CopyStaleAfterFailedWrite(disk, kPageSize, m);
  if (!csum_bad.empty() && !explained) {
    sim::Finding f;
    f.kind = sim::FindingKind::kChecksum;
    f.signature = "checksum:data";
    f.report = "BTRFS warning: csum failed root 5 ino " + std::to_string(ino_) + " off " +
               std::to_string(off) + " csum mismatch (disk " + std::to_string(disk) + ") mirror " +
               std::to_string(csum_bad.front() + 1) + ", and no copy of " + std::to_string(copies) +
               " repairs it";
    sched_.Report(std::move(f));
  }
  return -5;
}

void BtrfsInode::DiskISizeWrite(uint64_t size, std::source_location where) {
  sim::RaceDetector::AccessIfOn(sched_, sim::RaceDetector::Field(i_rwsem_.object_id(), 1),
                                "BTRFS_I(inode)->disk_i_size", /*write=*/true, /*marked=*/false,
                                where);
  fs_.log().UpdateInode({ino_, size, 0});
}

void BtrfsInode::DiskISizeRaise(uint64_t end, std::source_location where) {
  sim::RaceDetector::AccessIfOn(sched_, sim::RaceDetector::Field(i_rwsem_.object_id(), 1),
                                "BTRFS_I(inode)->disk_i_size", /*write=*/false, /*marked=*/false,
                                where);
  const uint64_t size = std::min(i_size_, end);
  auto it = fs_.log().state().inodes.find(ino_);
  if (it == fs_.log().state().inodes.end() || it->second.size < size) DiskISizeWrite(size, where);
}

void BtrfsInode::ISizeWrite(uint64_t size, std::source_location where) {
  sim::RaceDetector::AccessIfOn(sched_, i_rwsem_.object_id(), "inode->i_size", /*write=*/true,
                                /*marked=*/false, where);
  i_size_ = size;
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

// btrfs_set_delalloc_extent().
void BtrfsInode::SetDelallocExtent(uint64_t bytes) { delalloc_bytes_ += bytes; }

// btrfs_clear_delalloc_extent().
void BtrfsInode::ClearDelallocExtent(uint64_t bytes, uint32_t bits) {
  FSIM_BUG_ON(!(bytes <= delalloc_bytes_), nullptr);
  delalloc_bytes_ -= bytes;
  if (bits & kExtentClearDataResv) fs_.FreeReservedData(bytes);
}

std::vector<std::string> BtrfsInode::CheckQuiescent() const {
  std::vector<std::string> out;
  const std::string ino = "ino " + std::to_string(ino_) + ": ";
  const uint64_t delalloc = io_tree_.CountRangeBits(0, kLEndMax, kExtentDelalloc);
  if (delalloc != 0) {
    uint64_t at = 0, end = 0;
    io_tree_.FindFirstExtentBit(0, kExtentDelalloc, &at, &end);
    out.push_back(ino + std::to_string(delalloc) + " bytes still EXTENT_DELALLOC after fsync, first [" +
                  std::to_string(at) + ", " + std::to_string(end) + "]");
  }
  if (delalloc != delalloc_bytes_) {
    out.push_back(ino + "delalloc_bytes " + std::to_string(delalloc_bytes_) + " but the io_tree has " +
                  std::to_string(delalloc));
  }
  for (uint64_t index = 0; index <= (i_size_ + kPageSize) / kPageSize; ++index) {
    const Page* page = mapping_.Peek(index);
    if (page == nullptr) continue;
    if (PageDirty(*page)) out.push_back(ino + "page " + std::to_string(index) + " dirty after fsync");
    if (PagePrivate2(*page)) {
      out.push_back(ino + "page " + std::to_string(index) +
                    " still PG_private_2 (in an ordered extent) after fsync");
    }
  }
  if (!ordered_.Pending().empty()) out.push_back(ino + "ordered extents pending after fsync");
  for (const ExtentMap& em : em_tree_.All()) {
    if (em.flags & kEmPinned) {
      out.push_back(ino + "extent map [" + std::to_string(em.start) + ", +" + std::to_string(em.len) +
                    ") still pinned after its ordered extent finished");
    }
  }
  return out;
}

void BtrfsInode::EvictInodeTruncatePages(bool lock_ranges) {
  mapping_.TruncateInodePagesRange(0, kLEndMax);  // truncate_inode_pages_final()
  if (!lock_ranges) {
    io_tree_.ClearExtentBit(0, kLEndMax, kExtentDelalloc | kExtentDoAccounting | kExtentDefrag);
    return;
  }
  for (std::vector<ExtentState> states = io_tree_.States(); !states.empty() && !sched_.unwinding();
       states = io_tree_.States()) {
    const ExtentState& first = states.front();
    io_tree_.LockExtent(first.start, first.end);
    // clear_extent_bit(EXTENT_LOCKED | ...): the bits, then the lock
    // (through unlock_extent, so that lockdep sees it released: the
    // shrinker's fiber goes on reclaiming).
    io_tree_.ClearExtentBit(first.start, first.end,
                            kExtentDelalloc | kExtentDoAccounting | kExtentDefrag | kExtentUptodate |
                                kExtentDirty | kExtentDelallocNew);
    io_tree_.UnlockExtent(first.start, first.end);
  }
}

void BtrfsInode::EvictAtUnmount() {
  // Not locking: a range a mistake left locked would hang unmount, and
  // settle has reported it (warn:extent_left_locked).
  EvictInodeTruncatePages(/*lock_ranges=*/false);
  if (delalloc_bytes_ != 0) {
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:btrfs_destroy_inode:delalloc_bytes";
    f.report = "WARNING: CPU: 0 PID: 0 at fs/btrfs/inode.c btrfs_destroy_inode\n  ino " +
               std::to_string(ino_) + " delalloc_bytes " + std::to_string(delalloc_bytes_);
    sched_.Report(std::move(f));
  }
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

uint64_t BtrfsInode::MmapWrite(uint64_t pos, const std::vector<uint8_t>& data, bool past_eof) {
  FSIM_BUG_ON(data.empty() || pos / kPageSize != (pos + data.size() - 1) / kPageSize,
              "a store through mmap must stay within one page");
  const uint64_t index = pos / kPageSize;
  const uint64_t start = index * kPageSize;
  for (int faults = 0;; ++faults) {
    // The store itself: through a PTE that maps the page writable, with
    // no fault and no lock. What lands past EOF is not file data
    // (writeback zeroes it, growing the file zeroes it first). A growth
    // racing the store may reveal it, in Linux too: only a program that
    // stores past EOF (`past_eof`) can see that, so the others store up
    // to EOF.
    if (Page* page = mapping_.WritablePte(index); page != nullptr) {
      const uint64_t size = i_size_;
      const uint64_t written = pos < size ? std::min<uint64_t>(data.size(), size - pos) : 0;
      std::memcpy(page->data.data() + (pos - start), data.data(), past_eof ? data.size() : written);
      sched_.Cover(faults == 0 ? "mmap:store_without_fault" : "mmap:store_after_fault");
      return written;
    }
    // Write-protected again (cleaned for writeback) between the fault
    // and the store: the store faults again.
    if (faults > 0) sched_.Cover("mmap:refault");
    if (!PageMkwriteFault(index)) return 0;  // SIGBUS
  }
}

bool BtrfsInode::PageMkwriteFault(uint64_t index) {
  i_mmap_lock_.DownRead();
  const uint64_t start = index * kPageSize, end = start + kPageSize - 1;
  // The RFC left page_mkwrite page-before-extent; extents-before-pages
  // needs it to take the range first.
  const bool rfc = fs_.config().order == LockOrder::kRfc &&
                   !fs_.config().bug_rfc_page_mkwrite_page_before_extent;
  // The fault and page_mkwrite's locking.
  Page* page = LockPageAndRange(index, rfc);
  // page_mkwrite: a page wholly past EOF (truncated meanwhile) is SIGBUS.
  const bool mapped = start < i_size_;
  if (mapped) {
    if (!PageUptodate(*page)) {
      FillPage(*page);
      SetPageUptodate(*page);
    }
    DirtyDelalloc(start, end);
    SetPageDirty(*page);
    // finish_fault(): the PTE maps the page writable (VM_FAULT_LOCKED:
    // the page still locked).
    mapping_.InstallWritePte(*page);
  } else {
    sched_.Cover("page_mkwrite:sigbus");
  }
  io_tree_.UnlockExtent(start, end);
  UnlockPage(*page);
  PutPage(*page);
  i_mmap_lock_.UpRead();
  // fault_dirty_shared_page(): a page_mkwrite that dirtied the page
  // throttles the store to writeback speed, as write(2) is
  // (balance_dirty_pages_ratelimited, with the page lock dropped).
  if (mapped) BalanceDirtyPagesRatelimited(mapping_);
  return mapped;
}

// --- Reads --------------------------------------------------------------------

namespace {

// get_init_ra_size(): the first window for a read of `size` pages.
uint64_t InitRaSize(uint64_t size, uint64_t max) {
  uint64_t newsize = std::bit_ceil(std::max<uint64_t>(size, 1));
  if (newsize <= max / 32) return newsize * 4;
  if (newsize <= max / 4) return newsize * 2;
  return max;
}

// get_next_ra_size(): the window after one of `cur` pages.
uint64_t NextRaSize(uint64_t cur, uint64_t max) {
  if (cur < max / 16) return 4 * cur;
  if (cur <= max / 2) return 2 * cur;
  return max;
}

}  // namespace

void BtrfsInode::SyncReadahead(uint64_t index, uint64_t req_pages) {
  if (fs_.config().ra_pages == 0) return;
  OndemandReadahead(index, req_pages, /*hit_marker=*/false);
}

void BtrfsInode::AsyncReadahead(Page& page, uint64_t index, uint64_t req_pages) {
  if (fs_.config().ra_pages == 0) return;
  if (PageWriteback(page)) return;
  TestClearPageReadahead(page);
  sched_.Cover("readahead:async_marker");
  OndemandReadahead(index, req_pages, /*hit_marker=*/true);
}

// v5.13's ondemand_readahead(), unsigned arithmetic and all.
void BtrfsInode::OndemandReadahead(uint64_t index, uint64_t req_pages, bool hit_marker) {
  const uint64_t max = fs_.config().ra_pages;
  RaState& ra = ra_;
  bool initial = index == 0;
  if (!initial) {
    if (index == ra.start + ra.size - ra.async_size || index == ra.start + ra.size) {
      // A sequential read reached the mark or the window's end: the next
      // window, larger.
      sched_.Cover("readahead:sequential");
      ra.start += ra.size;
      ra.size = NextRaSize(ra.size, max);
      ra.async_size = ra.size;
    } else if (hit_marker) {
      // Another stream's mark (or an interleaved one): the window from
      // the first page not cached after this one.
      uint64_t start = index + 1;
      for (uint64_t scanned = 1; scanned < max && mapping_.Peek(start) != nullptr; ++scanned) ++start;
      if (start == 0 || start - index > max) return;
      ra.start = start;
      ra.size = start - index + req_pages;  // the old async_size, and this read
      ra.size = NextRaSize(ra.size, max);
      ra.async_size = ra.size;
    } else if (req_pages > max) {
      initial = true;
    } else if (index - (ra.prev_pos >> kPageShift) <= 1) {
      initial = true;  // a sequential cache miss
    } else {
      // try_context_readahead(): the pages cached just before this one
      // are the history of a stream.
      uint64_t prev_miss = index - 1;
      for (uint64_t scanned = 0; scanned + 1 < max && mapping_.Peek(prev_miss) != nullptr; ++scanned) {
        if (prev_miss == 0) {
          prev_miss = ~uint64_t{0};
          break;
        }
        --prev_miss;
      }
      uint64_t history = index - prev_miss - 1;
      if (history >= index) history *= 2;  // the stream began at the file's start
      if (history == 0) {
        // A small random read: as asked, and the state left alone.
        sched_.Cover("readahead:random");
        DoPageCacheRa(index, req_pages, 0);
        return;
      }
      sched_.Cover("readahead:context");
      ra.start = index;
      ra.size = std::min(history + req_pages, max);
      ra.async_size = 1;
    }
  }
  if (initial) {
    sched_.Cover("readahead:initial");
    ra.start = index;
    ra.size = InitRaSize(req_pages, max);
    ra.async_size = ra.size > req_pages ? ra.size - req_pages : ra.size;
  }
  // readit: a window read all ahead gets its lookahead now.
  if (index == ra.start && ra.size == ra.async_size) {
    const uint64_t add = NextRaSize(ra.size, max);
    if (ra.size + add <= max) {
      ra.async_size = add;
      ra.size += add;
    } else {
      ra.size = max;
      ra.async_size = max >> 1;
    }
  }
  DoPageCacheRa(ra.start, ra.size, ra.async_size);
}

// do_page_cache_ra() and page_cache_ra_unbounded(): the window stops at
// EOF; a cached page ends a batch and is skipped; an allocation that
// fails (readahead's __GFP_NORETRY) ends the window.
void BtrfsInode::DoPageCacheRa(uint64_t index, uint64_t nr, uint64_t lookahead) {
  if (i_size_ == 0) return;
  const uint64_t end_index = (i_size_ - 1) / kPageSize;
  if (index > end_index) return;
  if (nr > end_index - index) nr = end_index - index + 1;
  std::vector<Page*> batch;
  auto read_batch = [&] {
    if (!batch.empty()) Readahead(std::move(batch));
    batch.clear();
  };
  for (uint64_t i = 0; i < nr; ++i) {
    const uint64_t at = index + i;
    if (mapping_.Peek(at) != nullptr) {
      read_batch();
      continue;
    }
    Page* page = mapping_.FindOrCreatePage(at, sim::kGfpNoFs | sim::kGfpNoRetry, /*lock=*/false);
    if (page == nullptr) {
      sched_.Cover("readahead:allocation_failed");
      break;
    }
    // Allocating may sleep: a page someone added meanwhile, or one busy,
    // uptodate or truncated, is left to them.
    if (!TryLockPage(*page)) {
      PutPage(*page);
      read_batch();
      continue;
    }
    if (PageUptodate(*page) || page->mapping() != &mapping_) {
      UnlockPage(*page);
      PutPage(*page);
      read_batch();
      continue;
    }
    if (i == nr - lookahead) SetPageReadahead(*page);
    SetPageExtentMapped(*page);
    batch.push_back(page);
  }
  read_batch();
}

void BtrfsInode::Readahead(std::vector<Page*> pages) {
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
    SubmitReads(pages);
    return;
  }
  sched_.Cover("readahead:range_busy");
  for (Page* page : pages) {
    TestClearPageReadahead(*page);
    UnlockPage(*page);
    PutPage(*page);
  }
}

// One read bio: the pages of disk-contiguous blocks, in order.
struct BtrfsInode::ReadBio {
  uint64_t disk = 0;
  int mirror = 0;  // 0-based: the copy read
  std::vector<Page*> pages;
  std::vector<std::optional<uint32_t>> csums;  // btrfs_lookup_bio_sums()
};

void BtrfsInode::SubmitReads(const std::vector<Page*>& pages) {
  Volumes& v = fs_.volumes();
  const bool rfc = fs_.config().order == LockOrder::kRfc;
  // The range, taken now: a page finished here may be freed before the end.
  const uint64_t range_start = pages.front()->offset();
  const uint64_t range_end = pages.back()->offset() + kPageSize - 1;
  std::vector<std::shared_ptr<ReadBio>> bios;
  DecodedExtent decoded;  // one compressed read per extent in this pass
  for (Page* page : pages) {
    const uint64_t off = page->offset();
    int ret = 0;
    const uint64_t disk = DataBlockOrFill(*page, &ret, &decoded);
    if (disk == kHole) {
      // Past EOF, a hole, a preallocated or a compressed extent: done here.
      if (ret == 0) {
        SetPageUptodate(*page);
      } else {
        sched_.Cover("read:page_error");
        SetPageError(*page);
      }
      io_tree_.UnlockExtent(off, off + kPageSize - 1);
      UnlockPage(*page);
      PutPage(*page);
      continue;
    }
    // submit_extent_page(): the page joins the bio if its block follows
    // the bio's last and the bio has room; btrfs asks
    // btrfs_bio_fits_in_stripe() too, iomap only contiguity (the bio is
    // split at map_length in btrfs_map_bio()).
    ReadBio* cur = bios.empty() ? nullptr : bios.back().get();
    const bool joins = cur != nullptr && cur->disk + cur->pages.size() * kPageSize == disk &&
                       cur->pages.size() < fs_.config().bio_max_vecs + (fs_.config().bug_read_bio_past_max_vecs ? 1 : 0) &&
                       v.NumCopies(disk) == v.NumCopies(cur->disk) &&
                       (rfc || v.BioFitsInStripe(sim::BioOp::kRead, cur->disk,
                                                 (cur->pages.size() + 1) * kPageSize));
    if (!joins) {
      bios.push_back(std::make_shared<ReadBio>());
      cur = bios.back().get();
      cur->disk = disk;
    }
    cur->pages.push_back(page);
    const auto& csums = fs_.log().state().csums;
    auto csum = csums.find(disk);
    cur->csums.push_back(csum == csums.end() ? std::nullopt : std::optional<uint32_t>(csum->second));
  }
  if (bios.empty()) return;
  // The pages and their ranges now belong to the I/O: completion unlocks
  // them, in another context.
  for (const auto& io : bios) {
    for (Page* page : io->pages) HandOffPageLock(*page);
  }
  io_tree_.HandOff(range_start, range_end);
  for (const auto& io : bios) {
    const int copies = std::max(v.NumCopies(io->disk), 1);
    io->mirror = copies > 1 ? static_cast<int>(sched_.Choose(copies, "read_mirror")) : 0;
    sim::Bio* bio = sim::Heap::Of(sched_).New<sim::Bio>();
    bio->op = sim::BioOp::kRead;
    bio->sector = io->disk / 512;
    bio->container = kBtrfsIoBioContainer;
    for (Page* page : io->pages) {
      bio->vecs.push_back(sim::BioVec::In(page->data.data(), page->data.size(), 0, kPageSize));
    }
    bio->end_io = [this, io](sim::Bio& done) {
      // Interrupt context: the bio goes, the pages' checks go to the
      // endio worker (btrfs_bio_wq_end_io()).
      BtrfsInode* self = this;
      std::shared_ptr<ReadBio> r = io;
      const sim::BlkStatus status = done.status;
      sim::Heap::Of(self->sched_).Delete(&done);
      self->sched_.Spawn("btrfs-endio", [self, r, status] { self->EndBioExtentReadpage(*r, status); });
    };
    sched_.Cover(io->pages.size() > 1 ? "read:multipage_bio" : "read:single_page_bio");
    v.MapBio(bio, io->mirror + 1);
  }
}

void BtrfsInode::EndBioExtentReadpage(const ReadBio& io, sim::BlkStatus status) {
  for (size_t i = 0; i < io.pages.size(); ++i) {
    Page& page = *io.pages[i];
    const uint64_t off = page.offset(), disk = io.disk + i * kPageSize;
    bool good = status == sim::BlkStatus::kOk;
    int csum_failed_mirror = 0;
    if (good && io.csums[i] && *io.csums[i] != Csum(page.data.data())) {
      good = false;
      csum_failed_mirror = io.mirror + 1;
    }
    if (!good && !fs_.config().bug_read_endio_skips_repair) {
      // btrfs_submit_read_repair(): the other copies.
      good = ReadMirrors(disk, off, page.data.data(), io.mirror, 1, csum_failed_mirror) == 0;
    }
    if (good) {
      SetPageUptodate(page);
    } else {
      sched_.Cover("read:page_error");
      ClearPageUptodate(page);
      SetPageError(page);
      page.data.fill(0);
    }
    UnlockPage(page);
    io_tree_.UnlockExtent(off, off + kPageSize - 1);
    PutPage(page);
  }
}

// filemap_read(): the filesystem is called only for pages that are not
// cached and uptodate. A cached uptodate page is copied with no page lock
// and no extent lock (copy_page_to_iter); one that is not is locked
// (filemap_update_page) and read by ->readpage, which takes the range as
// its order says. i_size is read once the page is in hand, just before the
// copy.
std::vector<uint8_t> BtrfsInode::Read(uint64_t pos, uint64_t len, int* error) {
  if (error != nullptr) *error = 0;
  if (pos >= i_size_ || len == 0) return {};
  const uint64_t first = pos / kPageSize;
  const uint64_t last = (std::min(pos + len, i_size_) - 1) / kPageSize;
  // The readahead request: the pages the read asks for (last_index -
  // index), not clamped to EOF.
  const uint64_t req_end = (pos + len - 1) / kPageSize + 1;
  std::vector<uint8_t> out;
  out.reserve(std::min(len, i_size_ - pos));
  for (uint64_t index = first; index <= last;) {
    Page* page = mapping_.FindGetPage(index);
    if (page == nullptr) {
      // filemap_get_pages(): a missing page starts synchronous readahead
      // before anything of the fs is locked; the page is looked up again.
      SyncReadahead(index, req_end - index);
      page = mapping_.FindGetPage(index);
    }
    if (page != nullptr && PageReadahead(*page)) AsyncReadahead(*page, index, req_end - index);
    if (page == nullptr) {
      // filemap_create_page(): a new page, locked, read by ->readpage.
      // Allocating may sleep: a page someone added meanwhile is found
      // instead (add_to_page_cache_lru's -EEXIST, then the lookup again),
      // and it is read only if it is not uptodate.
      page = GrabPage(index);
      if (PageUptodate(*page) && !fs_.config().bug_read_created_page_without_uptodate_check) {
        UnlockPage(*page);
      } else if (Readpage(*page) == kAopTruncatedPage) {  // else unlocked by the read's completion
        PutPage(*page);
        continue;
      } else {
        WaitOnPageLocked(*page);
      }
    } else if (!PageUptodate(*page)) {
      // filemap_update_page(): the page lock, then a look again: it may
      // have been read, or truncated, meanwhile.
      LockPage(*page);
      if (page->mapping() != &mapping_) {
        sched_.Cover("filemap_read:page_truncated_retry");
        UnlockPage(*page);
        PutPage(*page);
        continue;
      }
      if (PageUptodate(*page)) {
        UnlockPage(*page);
      } else if (Readpage(*page) == kAopTruncatedPage) {  // else unlocked by the read's completion
        PutPage(*page);
        continue;
      } else {
        WaitOnPageLocked(*page);
      }
    } else {
      sched_.Cover("filemap_read:cached_uptodate");
    }
    // filemap_read_page(): a page truncated while ->readpage had it is
    // looked up again (AOP_TRUNCATED_PAGE). One left !uptodate by an I/O
    // error is -EIO: filemap_read() returns what it copied before it, or
    // the error.
    if (!PageUptodate(*page)) {
      const bool truncated = page->mapping() != &mapping_;
      PutPage(*page);
      if (truncated) continue;
      sched_.Cover("filemap_read:eio");
      if (error != nullptr) *error = -kEio;
      break;
    }
    const uint64_t end = std::min(pos + len, i_size_);
    const uint64_t page_start = index * kPageSize;
    // A truncate may have moved EOF below this page, or below `pos`.
    bool stop = end <= std::max(pos, page_start);
    if (!stop) {
      uint64_t from = std::max(pos, page_start) - page_start;
      uint64_t to = std::min(end, page_start + kPageSize) - page_start;
      out.insert(out.end(), page->data.begin() + static_cast<long>(from),
                 page->data.begin() + static_cast<long>(to));
      stop = to < kPageSize;
    }
    PutPage(*page);
    if (stop) break;
    ++index;
  }
  if (!out.empty()) ra_.prev_pos = pos + out.size();
  return out;
}

void BtrfsInode::Truncate(uint64_t newsize) {
  // The mistake: the growing path without inode_lock, decided on a size
  // read without it.
  if (fs_.config().bug_setsize_grow_without_inode_lock && newsize >= i_size_) {
    if (newsize > i_size_) TruncateBlockForExpand(i_size_);
    ISizeWrite(newsize);
    UpdateInodeSize();
    return;
  }
  i_rwsem_.DownWrite();
  const uint64_t oldsize = i_size_;
  if (newsize >= oldsize) {
    // btrfs_setsize() growing: btrfs_cont_expand(), then the size; the
    // page cache past the old size then reads as zeroes.
    if (newsize > oldsize) TruncateBlockForExpand(oldsize);
    ISizeWrite(newsize);
    UpdateInodeSize();
    i_rwsem_.UpWrite();
    return;
  }
  const uint64_t lock_start = newsize / kPageSize * kPageSize;
  const uint64_t lock_end = (oldsize + kPageSize - 1) / kPageSize * kPageSize - 1;
  const bool rfc = fs_.config().order == LockOrder::kRfc;
  // RFC patch 06 as posted locks [round_down(oldsize), round_up(newsize)
  // - 1] with a plain lock_extent_bits: inverted once the file shrinks
  // past a block boundary (insert_state's WARN).
  const bool inverted = rfc && fs_.config().bug_rfc_setsize_inverted_range;
  const uint64_t range_start = inverted ? oldsize / kPageSize * kPageSize : lock_start;
  const uint64_t range_end =
      inverted ? (newsize + kPageSize - 1) / kPageSize * kPageSize - 1 : lock_end;
  if (inverted) {
    io_tree_.LockExtent(range_start, range_end);
  } else if (rfc) {
    LockAndFlushOrdered(lock_start, lock_end + 1);
  }
  // truncate_setsize(): i_size first, then the page cache past it (each
  // page locked, its writeback waited for, invalidated).
  mapping_.TruncateSetsize(i_size_, newsize);
  if (rfc) io_tree_.UnlockExtent(range_start, range_end);
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
  DiskISizeWrite(newsize);
  fs_.transaction_lock().Unlock();
  Unpromise(keep_end, kLEndMax);
  em_tree_.Drop(keep_end, kLEndMax, false);
  // btrfs_truncate_block(): the partial page's tail must be zeroes on
  // disk too, so the page is zeroed (truncate did) and written again. Like
  // any dirtying, it waits out the page's ordered extent first, or
  // writeback would stack a second one on the same range.
  if (newsize % kPageSize != 0) TruncateBlock(newsize);
  i_rwsem_.UpWrite();
}

void BtrfsInode::FadviseDontneed(uint64_t offset, uint64_t len) {
  const uint64_t endbyte = len == 0 || len > kLEndMax - offset ? kLEndMax : offset + len - 1;
  mapping_.FilemapFdatawriteRange(offset, endbyte, WbSyncMode::kNone);
  // First and last whole pages of the range.
  const uint64_t start_index = (offset + kPageSize - 1) / kPageSize;
  uint64_t end_index = endbyte / kPageSize;
  if (endbyte % kPageSize != kPageSize - 1) {
    if (end_index == 0) return;
    --end_index;
  }
  if (end_index < start_index) return;
  sched_.Cover("fadvise:dontneed");
  mapping_.InvalidateMappingPages(start_index * kPageSize, end_index * kPageSize);
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
    sched_.Cover("btrfs_writepage:memalloc_redirty");
    RedirtyPageForWritepage(wbc, page);
    UnlockPage(page);
    return 0;
  }
  IomapWritepageCtx wpc(sched_, *this);
  wpc.write_past_eof = fs_.config().bug_writeback_past_eof_after_truncate;
  wpc.skip_eof_zeroing = fs_.config().bug_writepage_skips_eof_zeroing;
  wpc.skip_mapping_set_error = fs_.config().bug_writepage_error_not_in_mapping;
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
  wpc.skip_eof_zeroing = fs_.config().bug_writepage_skips_eof_zeroing;
  wpc.skip_mapping_set_error = fs_.config().bug_writepage_error_not_in_mapping;
  wpc.whole_pass = true;
  const std::function<void()> submit = [&wpc] { wpc.SubmitPending(); };
  const std::function<void()>* saved = wbc.submit_pending;
  if (!fs_.config().bug_writepages_ioend_open_across_lock_page) wbc.submit_pending = &submit;
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
  if (fs_.config().order == LockOrder::kRfc && !fs_.config().bug_rfc_readahead_blocking_extent_lock) {
    // Extents before pages, handed a locked page (filemap_fault,
    // read_cache_page): the range only if it is free with no ordered
    // extent; else the page goes back, the range is taken (ordered
    // extents flushed) with no page held, and then the page again. (The
    // RFC's read iomap_begin locks the range blocking here: the
    // rfc_readahead_blocking_extent_lock mistake.) The caller's reference
    // keeps the page; truncated meanwhile, it is left unread and the
    // caller looks again.
    bool have = io_tree_.TryLockExtent(start, start + kPageSize - 1);
    if (have) {
      if (OrderedExtent* oe = ordered_.LookupRange(start, kPageSize)) {
        ordered_.Put(oe);
        io_tree_.UnlockExtent(start, start + kPageSize - 1);
        have = false;
      }
    }
    if (!have) {
      sched_.Cover("readpage:page_dropped_for_range");
      UnlockPage(page);
      LockAndFlushOrdered(start, start + kPageSize);
      LockPage(page);
      if (page.mapping() != &mapping_ || PageUptodate(page)) {
        // Truncated, or read by another task, while the page was given
        // back: unread, and the caller must look again (the page may be
        // written back and even lose PG_uptodate before it does).
        io_tree_.UnlockExtent(start, start + kPageSize - 1);
        UnlockPage(page);
        return kAopTruncatedPage;
      }
    }
  } else {
    LockAndFlushOrdered(start, start + kPageSize);
  }
  // btrfs_do_readpage() (RFC: iomap_readpage()): the read is submitted;
  // its completion unlocks the page and the range. The caller keeps its
  // reference; the read takes one of its own.
  GetPage(page);
  SubmitReads({&page});
  return 0;
}

bool BtrfsInode::Releasepage(Page& page, sim::Gfp gfp) {
  // __btrfs_releasepage() -> try_release_extent_mapping(), then
  // try_release_extent_state(): not while the page's range is locked
  // (someone is between the extent lock and this page). Legacy tests the
  // LOCKED bit; the RFC takes a best-effort try_lock_extent, as reclaim
  // holds the page lock.
  if (PageDirty(page) || PageWriteback(page)) return false;
  const uint64_t start = page.offset(), end = start + kPageSize - 1;
  // try_release_extent_mapping(): for a large file (i_size > 16 MiB,
  // FsConfig::em_release_min_isize) and
  // an allocation that may block, the cached maps from this page on are
  // dropped one by one while each starts where the last ended, is not
  // pinned (being written) and its range is not locked; the first that is
  // stops the walk, a locked one is only stepped over.
  if ((gfp & sim::kGfpDirectReclaim) && i_size_ > fs_.config().em_release_min_isize) {
    for (uint64_t at = start; at <= end;) {
      std::optional<ExtentMap> em = em_tree_.Lookup(at, end - at + 1);
      if (!em || em->start != at) break;
      if ((em->flags & kEmPinned) && !fs_.config().bug_release_extent_mapping_drops_pinned) break;
      if (!io_tree_.TestRangeBit(em->start, em->end() - 1, kExtentLocked, false)) {
        em_tree_.Drop(em->start, em->end(), false);
        sched_.Cover("try_release_extent_mapping:dropped");
      }
      at = em->end();
    }
  }
  // try_release_extent_state(): with the range known unlocked, every bit
  // but LOCKED, NODATASUM and DELALLOC_NEW is cleared from the page's
  // range, with the accounting a DELALLOC bit still set there carries
  // (its reservation is released, as clear_extent_bit's hook does).
  constexpr uint32_t kReleaseBits = kExtentDirty | kExtentUptodate | kExtentDelalloc |
                                    kExtentDefrag | kExtentDoAccounting;
  const bool rfc = fs_.config().order == LockOrder::kRfc;
  if (rfc ? !io_tree_.TryLockExtent(start, end)
          : io_tree_.TestRangeBit(start, end, kExtentLocked, false)) {
    return false;
  }
  io_tree_.ClearExtentBit(start, end, kReleaseBits);
  if (rfc) {
    io_tree_.UnlockExtent(start, end + (fs_.config().bug_releasepage_unlocks_past_range ? 1 : 0));
  }
  DetachPagePrivate(page);
  sched_.Cover("releasepage:released");
  return true;
}

void BtrfsInode::Invalidatepage(Page& page, uint64_t offset, uint64_t length) {
  // btrfs_invalidatepage(): part of a page only releases what it can.
  if (offset != 0 || length != kPageSize) {
    Releasepage(page, sim::kGfpNoFs);
    return;
  }
  // No bio may still be writing this page's blocks.
  if (PageWriteback(page)) sched_.Cover("invalidatepage:page_under_writeback");
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
      sched_.Cover("invalidatepage:unsubmitted_ordered_accounted");
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
        (sync && !PageToWrite(*p))) {
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

// lock_delalloc_pages(): locks the run's pages after the one writeback
// holds (`start`'s), in index order, each checked still dirty and still in
// the mapping. A page that is not makes the whole attempt fail: every page
// taken so far is unlocked (__unlock_for_delalloc()) and the caller
// shortens the run. A page held by another task is waited for only after
// the writeback pass's open ioend is submitted, as extent_write_cache_pages
// flushes its bio before a lock_page that would sleep: the holder may be
// waiting for an ordered extent whose pages sit in that ioend.
bool BtrfsInode::LockDelallocPages(IomapWritepageCtx& wpc, uint64_t start, uint64_t end) {
  for (uint64_t at = start + kPageSize; at < end; at += kPageSize) {
    Page* page = mapping_.FindGetPage(at / kPageSize);
    bool ok = page != nullptr;
    // PG_locked has no lockdep map in the kernel; fsim's has one, and the
    // run's pages are taken in index order after the page held, the order
    // that makes several page locks safe: said to lockdep as nest_lock of
    // the held page.
    const sim::LockMap* nest = &mapping_.Peek(start / kPageSize)->lockdep_map();
    if (ok && !TryLockPage(*page, sim::Where::current(), nest)) {
      if (!fs_.config().bug_writepages_ioend_open_across_lock_page && wpc.wbc != nullptr &&
          wpc.wbc->submit_pending != nullptr) {
        (*wpc.wbc->submit_pending)();
      }
      LockPage(*page, sim::Where::current(), nest);
    }
    if (ok && (!PageDirty(*page) || page->mapping() != &mapping_)) {
      UnlockPage(*page);
      ok = false;
    }
    if (page != nullptr) PutPage(*page);
    if (!ok) {
      sched_.Cover("lock_delalloc_pages:page_gone");
      UnlockDelallocPages(start, at);
      return false;
    }
  }
  return true;
}

// __unlock_for_delalloc() / extent_clear_unlock_delalloc(PAGE_UNLOCK): the
// pages of [start, end) after `start`'s, which LockDelallocPages locked.
void BtrfsInode::UnlockDelallocPages(uint64_t start, uint64_t end) {
  for (uint64_t at = start + kPageSize; at < end; at += kPageSize) {
    Page* page = mapping_.Peek(at / kPageSize);
    FSIM_BUG_ON(!(page != nullptr && PageLocked(*page)), nullptr);
    UnlockPage(*page);
  }
}

uint64_t BtrfsInode::NocowRunEnd(uint64_t start, uint64_t end,
                                  std::optional<FileExtentItem>* prealloc) const {
  const auto& all = fs_.log().state().extents;
  auto file = all.find(ino_);
  if (file == all.end()) return end;
  auto next = file->second.upper_bound(start);
  if (next != file->second.begin()) {
    const FileExtentItem& item = std::prev(next)->second;
    if (item.file_offset + item.num_bytes > start) {
      if (item.type == FileExtentType::kPrealloc &&
          (fs_.config().bug_nocow_skips_cross_ref_check || !CrossRefExists(item))) {
        *prealloc = item;
        return std::min(end, item.file_offset + item.num_bytes);
      }
      // A regular extent is COWed (it has checksums) up to the next item
      // that is preallocated.
    }
  }
  for (; next != file->second.end() && next->first < end; ++next) {
    if (next->second.type == FileExtentType::kPrealloc &&
        (fs_.config().bug_nocow_skips_cross_ref_check || !CrossRefExists(next->second))) {
      return next->first;
    }
  }
  return end;
}

std::vector<BtrfsInode::ItemSpan> BtrfsInode::ItemSpans(uint64_t start, uint64_t end) const {
  std::vector<ItemSpan> spans;
  uint64_t at = start;
  const auto& all = fs_.log().state().extents;
  if (auto file = all.find(ino_); file != all.end()) {
    auto it = file->second.upper_bound(start);
    if (it != file->second.begin()) --it;
    for (; it != file->second.end() && it->first < end; ++it) {
      const uint64_t item_end = it->first + it->second.num_bytes;
      if (item_end <= at) continue;
      if (it->first > at) spans.push_back({at, it->first, nullptr});
      spans.push_back({std::max(at, it->first), std::min(item_end, end), &it->second});
      at = std::max(at, item_end);
    }
  }
  if (at < end) spans.push_back({at, end, nullptr});
  return spans;
}

bool BtrfsInode::CrossRefExists(const FileExtentItem& item) const {
  // Items split from one another keep file_offset - offset; any other
  // item on the extent is another reference (a clone): writing in place
  // would change its data too.
  const uint64_t base = item.file_offset - item.offset;
  for (const auto& [ino, items] : fs_.log().state().extents) {
    for (const auto& [off, other] : items) {
      if (other.disk_bytenr == item.disk_bytenr && (ino != ino_ || other.file_offset - other.offset != base)) {
        sched_.Cover("run_delalloc_nocow:shared_cow");
        return true;
      }
    }
  }
  return false;
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
  // find_lock_delalloc_range(): the dirty run from this page, its other
  // pages locked and its range locked. If a page of the run went away
  // (truncated, or written by another pass) the run is shortened to this
  // page, which cannot fail.
  const bool rfc = fs_.config().order == LockOrder::kRfc;
  const bool sync_all = wpc.wbc != nullptr && wpc.wbc->sync_mode == WbSyncMode::kAll;
  const bool best_effort = rfc && !fs_.config().bug_rfc_writepage_blocking_extent_lock &&
                           !(sync_all && fs_.config().rfc_sync_all_blocks_on_range);
  uint64_t end = DelallocRunEnd(wpc, start);
  for (;;) {
    if (!rfc) {
      // v5.13, pages before extents: lock_delalloc_pages(), then
      // lock_extent_bits().
      if (!LockDelallocPages(wpc, start, end)) {
        end = start + kPageSize;
        continue;
      }
      io_tree_.LockExtent(start, end - 1);
      break;
    }
    // Extents before pages. Handed a locked page, the range can only be
    // tried: the run, else at least through the end of the locked page
    // (RFC patch 05); the run's other pages are then locked under it.
    if (!best_effort) {
      io_tree_.LockExtent(start, end - 1);
    } else if (!io_tree_.TryLockExtent(start, end - 1)) {
      end = start + kPageSize;
      sched_.Cover("map_blocks:range_busy_run_narrowed");
      if (!io_tree_.TryLockExtent(start, end - 1)) {
        sched_.Cover("map_blocks:range_busy_redirty");
        return kIomapRedirty;
      }
    }
    if (LockDelallocPages(wpc, start, end)) break;
    // The fail path: the range goes back before the run is shortened.
    if (!fs_.config().bug_delalloc_lock_pages_fail_keeps_range_locked) {
      io_tree_.UnlockExtent(start, end - 1);
    }
    end = start + kPageSize;
  }
  // Under the range lock (find_lock_delalloc_range()'s re-check): another
  // pass may have allocated this page meanwhile (with an earlier page of
  // its run); it then maps to that ordered extent.
  if (!io_tree_.TestRangeBit(start, start + kPageSize - 1, kExtentDelalloc, true)) {
    if (OrderedExtent* oe = OrderedOfPage(start)) {
      io_tree_.UnlockExtent(start, end - 1);
      UnlockDelallocPages(start, end);
      map_to(*oe);
      ordered_.Put(oe);
      return 0;
    }
  }
  // The run is measured again with its pages and range held: it can only
  // have shrunk (a page written meanwhile by a pass that mapped it to an
  // earlier extent); no other pass can allocate in it now, and no page of
  // it can be truncated until the pages are unlocked.
  const uint64_t locked_end = end;
  end = std::min(end, DelallocRunEnd(wpc, start));
  // btrfs_run_delalloc_range(): an inode with preallocated extents goes
  // through run_delalloc_nocow(), which writes into them in place and
  // COWs the rest, one part at a time.
  std::optional<FileExtentItem> prealloc;
  if (has_prealloc_) end = NocowRunEnd(start, end, &prealloc);
  if (end < locked_end) {
    io_tree_.UnlockExtent(end, locked_end - 1);
    for (uint64_t at = end; at < locked_end; at += kPageSize) {
      if (at != start) UnlockPage(*mapping_.Peek(at / kPageSize));
    }
  }
  // btrfs_run_delalloc_range(): with compress and the inode not marked
  // NOCOMPRESS (inode_need_compress()), the run goes to the async workers.
  if (!prealloc && fs_.config().compress && !nocompress_) return CowFileRangeAsync(start, end);
  // One ordered extent for the run, every page of it marked PG_private_2,
  // its map pinned until the ordered extent finishes. Either
  // run_delalloc_nocow() writes into the preallocated extent in place
  // (BTRFS_ORDERED_PREALLOC), or cow_file_range() COWs: every write goes
  // to new space.
  const uint64_t len = end - start;
  uint64_t disk;
  ExtentMap em{.start = start, .len = len, .block_len = len, .flags = kEmPinned};
  if (prealloc) {
    sched_.Cover("run_delalloc_nocow:prealloc");
    disk = prealloc->disk_bytenr + prealloc->offset + (start - prealloc->file_offset);
    em.orig_start = prealloc->file_offset - prealloc->offset;
    em.ram_bytes = prealloc->disk_num_bytes;
  } else {
    if (len > kPageSize) sched_.Cover("cow_file_range:multi_page_extent");
    if (!fs_.ReserveExtent(len, &disk)) return CowFileRangeFailed(start, end);
    em.orig_start = start;
    em.ram_bytes = len;
  }
  em.block_start = disk;
  ordered_.Add(start, len, disk, len, prealloc ? uint32_t{kOrderedPrealloc} : 0u);
  for (uint64_t at = start; at < end; at += kPageSize) {
    if (Page* page = mapping_.Peek(at / kPageSize)) SetPagePrivate2(*page);
  }
  CreateIoEm(em);
  // extent_clear_unlock_delalloc(): a COW allocation takes over the
  // delalloc bytes' reservation (the bit is cleared without giving it
  // back); in place, the bytes need no allocation and their reservation
  // goes back (EXTENT_CLEAR_DATA_RESV). Then the range is unlocked, and
  // the run's other pages (PAGE_UNLOCK).
  if (prealloc) {
    io_tree_.ClearExtentBit(start, end - 1, kExtentDelalloc | kExtentClearDataResv);
  } else {
    fs_.ConvertReserved(io_tree_.CountRangeBits(start, end - 1, kExtentDelalloc));
    io_tree_.ClearExtentBit(start, end - 1, kExtentDelalloc);
  }
  io_tree_.UnlockExtent(start, end - 1);
  UnlockDelallocPages(start, end);
  MapOrdered(wpc, start, disk, end);
  return 0;
}

// cow_file_range()'s out_unlock, v5.13: btrfs_reserve_extent() failed
// before any extent of the run was reserved. extent_clear_unlock_delalloc()
// clears LOCKED, DELALLOC and the reservation (EXTENT_CLEAR_DATA_RESV) of
// the whole run, and for every page of it but the one writepage holds,
// PAGE_START_WRITEBACK | PAGE_END_WRITEBACK | PAGE_UNLOCK: cleaned, through
// writeback at once, unlocked, never written (their bytes stay in the cache
// until reclaim drops them). The error goes back to writepage, which
// clears the held page's PG_uptodate and sets it in the mapping.
int BtrfsInode::CowFileRangeFailed(uint64_t start, uint64_t end) {
  // fallocate(2)'s promise broken: a block fallocate or zero range
  // preallocated, not written since, went to cow_file_range (it should
  // have been written in place) and lost its write for lack of space.
  // A block of a preallocated extent another item shares now (a clone
  // of any part of it: btrfs_cross_ref_exist() looks at the whole extent)
  // is COWed, btrfs's own limit: no promise is broken there.
  auto broken = promised_.lower_bound(start / kPageSize);
  for (; broken != promised_.end() && *broken * kPageSize < end; ++broken) {
    const FileExtentItem* item = ItemSpans(*broken * kPageSize, *broken * kPageSize + 1).front().item;
    if (item == nullptr || item->type != FileExtentType::kPrealloc || !CrossRefExists(*item)) break;
  }
  if (auto b = broken; b != promised_.end() && *b * kPageSize < end) {
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:fallocate_promise:enospc";
    f.report = "WARNING: writeback of ino " + std::to_string(ino_) + " [" + std::to_string(start) +
               ", " + std::to_string(end) + ") failed with -ENOSPC, but block " + std::to_string(*b) +
               " lies in a range fallocate or a zero range allocated (no data then) and was not "
               "written since: a write into preallocated space is written in place (run_delalloc_nocow) and needs no "
               "allocation (fallocate(2): such writes do not fail for lack of space)";
    sched_.Report(std::move(f));
  }
  const uint32_t resv = fs_.config().bug_cow_fail_keeps_data_resv ? 0u : uint32_t{kExtentClearDataResv};
  io_tree_.ClearExtentBit(start, end - 1, kExtentDelalloc | resv);
  io_tree_.UnlockExtent(start, end - 1);
  for (uint64_t at = start + kPageSize; at < end; at += kPageSize) {
    Page& page = *mapping_.Peek(at / kPageSize);
    ClearPageDirtyForIo(page);
    SetPageWriteback(page);
    EndPageWriteback(page);
    UnlockPage(page);
  }
  return -kEnospc;
}

namespace {

// cow_file_range_async()'s chunk: one work item per 512 KiB.
constexpr uint64_t kAsyncChunk = 512 * 1024;

uint64_t RoundUpBlock(uint64_t n) { return (n + kPageSize - 1) / kPageSize * kPageSize; }

}  // namespace

void BtrfsInode::CreateIoEm(const ExtentMap& em) {
  em_tree_.Drop(em.start, em.end(), false);
  em_tree_.Add(em);
}

int BtrfsInode::CowFileRangeAsync(uint64_t start, uint64_t end) {
  has_async_extent_ = true;
  const bool range_held =
      fs_.config().order == LockOrder::kRfc && !fs_.config().bug_rfc_compress_worker_relocks_range;
  if (range_held) {
    io_tree_.HandOff(start, end - 1);
  } else {
    io_tree_.UnlockExtent(start, end - 1);
  }
  for (uint64_t at = start; at < end; at += kPageSize) HandOffPageLock(*mapping_.Peek(at / kPageSize));
  sched_.Cover("cow_file_range_async");
  for (uint64_t chunk = start; chunk < end; chunk += kAsyncChunk) {
    const uint64_t chunk_end = std::min(end, chunk + kAsyncChunk);
    ++i_count_;  // ihold(): the work item holds the inode
    sched_.Spawn("btrfs-delalloc", [this, chunk, chunk_end, range_held] {
      CompressFileRange(chunk, chunk_end, range_held);
      Iput();
    });
  }
  return kIomapPageStarted;
}

void BtrfsInode::CompressFileRange(uint64_t start, uint64_t end, bool range_held) {
  // extent_range_clear_dirty_for_io(): the pages are being written, and
  // a store through mmap must fault (and wait) rather than change a page
  // the compressor has read.
  if (!fs_.config().bug_compress_skips_clear_dirty_for_io) {
    for (uint64_t at = start; at < end; at += kPageSize) ClearPageDirtyForIo(*mapping_.Peek(at / kPageSize));
  }
  struct AsyncExtent {
    uint64_t start, end;
    std::optional<std::vector<uint8_t>> encoded;
  };
  std::vector<AsyncExtent> extents;
  for (uint64_t at = start; at < end;) {
    const uint64_t piece_end = std::min(end, at + kMaxUncompressed);
    // Only what lies within i_size is data (compress_file_range()'s
    // actual_end); a block or less is never compressed (it cannot save
    // space), and that says nothing about the file's data.
    const uint64_t actual_end = std::min(i_size_, piece_end);
    std::optional<std::vector<uint8_t>> encoded;
    const bool attempt = !nocompress_ && actual_end > at && actual_end - at > kPageSize;
    if (attempt) {
      std::vector<uint8_t> data(actual_end - at);
      for (uint64_t k = 0; k < data.size(); k += kPageSize) {
        const Page* page = mapping_.Peek((at + k) / kPageSize);
        std::memcpy(data.data() + k, page->data.data(), std::min<uint64_t>(kPageSize, data.size() - k));
      }
      encoded = ZlibCompress(data);
      // It must save at least a block (total_compressed + blocksize <=
      // total_in, both rounded up).
      if (encoded && RoundUpBlock(encoded->size()) + kPageSize > RoundUpBlock(data.size())) {
        encoded.reset();
      }
      if (!encoded) {
        // Flag the file so that it is not compressed in the future.
        sched_.Cover("compress_file_range:incompressible");
        nocompress_ = true;
      }
    }
    if (!encoded) {
      // cleanup_and_bail_uncompressed: the rest of the chunk, as it is,
      // its pages dirtied again for the uncompressed path.
      if (!attempt) sched_.Cover("compress_file_range:bail_uncompressed");
      const uint64_t bail_end = fs_.config().bug_compress_bail_stops_at_piece ? piece_end : end;
      if (!fs_.config().bug_compress_bail_skips_redirty) RedirtyRangeForIo(at, bail_end);
      extents.push_back({at, bail_end, std::nullopt});
      break;
    }
    sched_.Cover("compress_file_range:compressed");
    extents.push_back({at, piece_end, std::move(encoded)});
    at = piece_end;
    sched_.Yield("compress_file_range");  // cond_resched()
  }
  for (const AsyncExtent& e : extents) {
    SubmitAsyncExtent(e.start, e.end, e.encoded ? &*e.encoded : nullptr, range_held);
  }
}

void BtrfsInode::SubmitAsyncExtent(uint64_t start, uint64_t end, const std::vector<uint8_t>* encoded,
                                   bool range_held) {
  // v5.13 takes the range here, with the pages locked (pages before
  // extents); extents before pages kept it from writeback.
  if (!range_held) io_tree_.LockExtent(start, end - 1);
  const uint64_t ram = end - start;
  uint64_t disk = 0, disk_len = ram;
  if (encoded != nullptr) {
    disk_len = fs_.config().bug_compressed_disk_len_unaligned ? encoded->size() : RoundUpBlock(encoded->size());
    if (!fs_.ReserveExtent(disk_len, &disk)) {
      // -ENOSPC for the compressed size: the range goes out uncompressed
      // (the retry of submit_compressed_extents()). Its pages were cleaned
      // for I/O when compression began, and the uncompressed path writes
      // only the pages it finds dirty: they are dirtied again first
      // (extent_range_redirty_for_io()).
      sched_.Cover("submit_compressed_extents:enospc_fallback");
      if (!range_held) io_tree_.UnlockExtent(start, end - 1);
      if (!fs_.config().bug_compress_enospc_fallback_skips_redirty) RedirtyRangeForIo(start, end);
      SubmitAsyncExtent(start, end, nullptr, range_held);
      return;
    }
  } else {
    // fsim: the uncompressed route allocates without the ENOSPC fault
    // (v5.13's cow_file_range there loses a failure's error; the fault
    // fails one reservation per run, and this is the retry of one).
    disk = fs_.AllocData(disk_len);
  }
  if (encoded != nullptr && disk_len > kPageSize) sched_.Cover("compress_file_range:multi_block_extent");
  ordered_.Add(start, ram, disk, disk_len, encoded != nullptr ? uint32_t{kOrderedCompressed} : 0u);
  CreateIoEm({.start = start,
              .len = ram,
              .block_start = disk,
              .block_len = disk_len,
              .orig_start = start,
              .ram_bytes = ram,
              .flags = kEmPinned | (encoded != nullptr ? kEmCompressed : 0u)});
  // What goes to disk: the stream padded to whole blocks, or the pages as
  // they are (zeroes past i_size).
  struct AsyncWrite {
    std::vector<uint8_t> data;
    std::vector<Page*> pages;
    int pending = 0;
    bool error = false;
  };
  auto io = std::make_shared<AsyncWrite>();
  io->data.assign(disk_len, 0);
  // Uncompressed, extent_write_locked_range() writes a page only if
  // clear_page_dirty_for_io() finds it dirty; a clean one is finished as
  // written without I/O (its block keeps what the disk held, and has no
  // checksum).
  std::vector<bool> unwritten(encoded == nullptr ? ram / kPageSize : 0, false);
  for (uint64_t at = start; at < end; at += kPageSize) {
    Page* page = mapping_.Peek(at / kPageSize);
    FSIM_BUG_ON(!(page != nullptr && PageLocked(*page)), nullptr);
    // __process_pages_contig(PAGE_START_WRITEBACK) / extent_write_locked_range().
    const bool dirty = ClearPageDirtyForIo(*page);
    if (encoded == nullptr && !dirty) {
      sched_.Cover("submit_uncompressed_range:clean_page_not_written");
      unwritten[(at - start) / kPageSize] = true;
    } else if (encoded == nullptr && at < i_size_) {
      std::memcpy(io->data.data() + (at - start), page->data.data(), std::min<uint64_t>(kPageSize, i_size_ - at));
    }
    io->pages.push_back(page);
  }
  if (encoded != nullptr) std::memcpy(io->data.data(), encoded->data(), encoded->size());
  // extent_clear_unlock_delalloc(EXTENT_LOCKED | EXTENT_DELALLOC,
  // PAGE_UNLOCK | PAGE_START_WRITEBACK): the allocation takes over the
  // delalloc reservation, the range and the pages are unlocked with
  // writeback started.
  fs_.ConvertReserved(io_tree_.CountRangeBits(start, end - 1, kExtentDelalloc));
  io_tree_.ClearExtentBit(start, end - 1, kExtentDelalloc);
  for (Page* page : io->pages) {
    GetPage(*page);
    SetPageWriteback(*page);
  }
  io_tree_.UnlockExtent(start, end - 1);
  for (Page* page : io->pages) UnlockPage(*page);
  // btrfs_submit_compressed_write(): checksums of the blocks as written,
  // bios cut where btrfs_bio_fits_in_stripe() says.
  auto written = [&](uint64_t off) { return unwritten.empty() || !unwritten[off / kPageSize]; };
  for (uint64_t k = 0; k < disk_len; k += kPageSize) {
    if (written(k)) submitted_csums_[disk + k] = Csum(io->data.data() + k);
  }
  std::vector<std::pair<uint64_t, uint64_t>> bios;  // offset in io->data, length
  for (uint64_t off = 0; off < disk_len;) {
    if (!written(off)) {
      off += kPageSize;
      continue;
    }
    uint64_t len = kPageSize;
    while (off + len < disk_len && written(off + len) && len / kPageSize < fs_.config().bio_max_vecs &&
           fs_.volumes().BioFitsInStripe(sim::BioOp::kWrite, disk + off, len + kPageSize)) {
      len += kPageSize;
    }
    bios.emplace_back(off, len);
    off += len;
  }
  io->pending = static_cast<int>(bios.size());
  if (bios.empty()) EndAsyncExtentWrite(start, ram, io->pages, false);  // nothing to write
  for (const auto& [off, len] : bios) {
    sim::Bio* bio = sim::Heap::Of(sched_).New<sim::Bio>();
    bio->op = sim::BioOp::kWrite;
    bio->sector = (disk + off) / 512;
    bio->container = kBtrfsIoBioContainer;
    for (uint64_t k = 0; k < len; k += kPageSize) {
      bio->vecs.push_back(sim::BioVec::In(io->data.data(), io->data.size(), off + k, kPageSize));
    }
    bio->end_io = [this, io, start, ram](sim::Bio& done) {
      // end_compressed_bio_write(), interrupt context. The closure goes
      // with the bio: what is needed after is taken first.
      BtrfsInode* self = this;
      std::shared_ptr<AsyncWrite> w = io;
      const uint64_t file_start = start, file_len = ram;
      if (done.status != sim::BlkStatus::kOk) w->error = true;
      sim::Heap::Of(self->sched_).Delete(&done);
      if (--w->pending > 0) return;
      self->EndAsyncExtentWrite(file_start, file_len, w->pages, w->error);
    };
    fs_.volumes().MapBio(bio);
  }
}

void BtrfsInode::EndAsyncExtentWrite(uint64_t start, uint64_t len, const std::vector<Page*>& pages, bool error) {
  if (OrderedExtent* oe = ordered_.DecTestPending(start, len, !error)) {
    sched_.Spawn("btrfs-endio-write", [this, oe] { FinishOrderedIo(oe); });
  }
  // end_compressed_writeback().
  for (Page* page : pages) {
    if (error) {
      write_failed_pages_.insert(page->index());
      SetPageError(*page);
      mapping_.SetError(-5);
    }
    EndPageWriteback(*page);
    PutPage(*page);
  }
}

void BtrfsInode::RedirtyRangeForIo(uint64_t start, uint64_t end) {
  for (uint64_t at = start; at < end; at += kPageSize) SetPageDirty(*mapping_.Peek(at / kPageSize));
}

int BtrfsInode::FdatawriteRange(uint64_t start, uint64_t end) {
  int ret = mapping_.FilemapFdatawriteRange(start, end, WbSyncMode::kAll);
  if (ret == 0 && has_async_extent_) {
    sched_.Cover("btrfs_fdatawrite_range:second_pass");
    ret = mapping_.FilemapFdatawriteRange(start, end, WbSyncMode::kAll);
  }
  return ret;
}

int BtrfsInode::WriteAndWaitRange(uint64_t start, uint64_t end) {
  if (mapping_.nrpages() == 0) return mapping_.CheckErrors();
  int error = FdatawriteRange(start, end);
  if (error == -5) {
    mapping_.CheckErrors();
    return error;
  }
  int error2 = mapping_.FilemapFdatawaitRange(start, end);
  return error != 0 ? error : error2;
}

void BtrfsInode::SubmitBio(Ioend&, sim::Bio* bio) {
  // btrfs_csum_one_bio(): checksums of the pages as submitted; a page
  // changed after this (no stable pages) fails its checksum on read.
  uint64_t disk = bio->sector * 512;
  for (const sim::BioVec& v : bio->vecs) {
    submitted_csums_[disk] = Csum(v.data);
    disk += v.len;
  }
  if (fs_.config().bug_end_io_wrong_container) {
    // btrfs_bio_wq_end_io()-style: btrfs's own completion first, which
    // reads the btrfs_io_bio around the bio, then iomap's.
    bio->end_io = [this, iomap_end_io = std::move(bio->end_io)](sim::Bio& done) {
      if (done.container != kBtrfsIoBioContainer) {
        sim::Finding f;
        f.kind = sim::FindingKind::kUseAfterFree;
        f.signature = "use_after_free:container_of_wrong_type";
        f.report =
            "BUG: KASAN: slab-out-of-bounds in end_bio_extent_writepage: btrfs_io_bio(bio) "
            "(container_of(bio, struct btrfs_io_bio, bio)) of a bio iomap allocated from "
            "iomap_ioend_bioset, ino " + std::to_string(ino_);
        sched_.Fail(std::move(f));
        return;
      }
      iomap_end_io(done);
    };
  }
  fs_.volumes().MapBio(bio);
}

void BtrfsInode::EndIoend(Ioend& ioend) {
  for (Page* page : ioend.pages) {
    if (ioend.error) write_failed_pages_.insert(page->index());
    // btrfs_writepage_endio_finish_ordered().
    TestClearPagePrivate2(*page);
    OrderedExtent* oe = ordered_.DecTestPending(
        page->offset(), kPageSize, !ioend.error || fs_.config().bug_write_endio_ignores_error);
    if (oe == nullptr) continue;
    // btrfs_finish_ordered_io() runs in a worker (process context).
    sched_.Spawn("btrfs-endio-write", [this, oe] { FinishOrderedIo(oe); });
  }
}

void BtrfsInode::FinishOrderedIo(OrderedExtent* oe) {
  const uint64_t start = oe->file_offset, end = oe->end() - 1;
  io_tree_.LockExtent(start, end);
  const bool prealloc = oe->flags & kOrderedPrealloc;
  if (prealloc && !(oe->flags & kOrderedIoErr)) {
    // btrfs_mark_extent_written(): the written part of the preallocated
    // item becomes a regular one over the same disk extent.
    fs_.transaction_lock().Lock();
    const uint64_t visible =
        (oe->flags & kOrderedTruncated) ? std::min(oe->truncated_len, oe->num_bytes) : oe->num_bytes;
    std::optional<FileExtentItem> pitem;
    if (auto file = fs_.log().state().extents.find(ino_); file != fs_.log().state().extents.end()) {
      auto it = file->second.upper_bound(oe->file_offset);
      if (it != file->second.begin()) {
        const FileExtentItem& item = std::prev(it)->second;
        if (item.type == FileExtentType::kPrealloc &&
            item.file_offset + item.num_bytes >= oe->file_offset + visible &&
            item.disk_bytenr + item.offset + (oe->file_offset - item.file_offset) == oe->disk_bytenr) {
          pitem = item;
        }
      }
    }
    if (visible > 0 && !pitem) {
      sim::Finding f;
      f.kind = sim::FindingKind::kWarn;
      f.signature = "warn:btrfs_mark_extent_written:no_prealloc_extent";
      f.report = "BTRFS critical: btrfs_mark_extent_written: ino " + std::to_string(ino_) + " [" +
                 std::to_string(oe->file_offset) + ", +" + std::to_string(visible) +
                 ") written in place has no preallocated extent under it any more";
      sched_.Report(std::move(f));
    } else if (visible > 0) {
      Unpromise(oe->file_offset, oe->file_offset + visible);  // written in place: kept
      FileExtentItem item = *pitem;
      item.file_offset = oe->file_offset;
      item.num_bytes = visible;
      item.offset = pitem->offset + (oe->file_offset - pitem->file_offset);
      item.type = FileExtentType::kRegular;
      fs_.log().InsertExtent(item);
      for (uint64_t k = 0; k < visible; k += kPageSize) {
        auto csum = submitted_csums_.find(oe->disk_bytenr + k);
        if (csum != submitted_csums_.end()) fs_.log().SetCsum(oe->disk_bytenr + k, csum->second);
      }
      DiskISizeRaise(oe->file_offset + visible);
    }
    for (uint64_t k = 0; k < oe->num_bytes; k += kPageSize) submitted_csums_.erase(oe->disk_bytenr + k);
    fs_.transaction_lock().Unlock();
  } else if (prealloc) {
    // The write failed: the extent stays preallocated (reads as zeroes).
    for (uint64_t k = 0; k < oe->num_bytes; k += kPageSize) submitted_csums_.erase(oe->disk_bytenr + k);
  } else if (!(oe->flags & kOrderedIoErr)) {
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
    const bool compressed = oe->flags & kOrderedCompressed;
    if (compressed) item.compression = 1;  // BTRFS_COMPRESS_ZLIB
    if (visible > 0) {
      fs_.log().InsertExtent(item);  // drops what it replaces (COW)
      fs_.ExtentReferenced(oe->disk_bytenr);
      fs_.ReleaseUnreferenced();
    } else {
      fs_.ExtentUnused(oe->disk_bytenr);
    }
    // btrfs_csum_file_blocks(): one checksum per block written.
    // A compressed extent's checksums cover its encoded blocks, all of
    // them as long as any of the extent is visible.
    for (uint64_t k = 0; k < oe->disk_num_bytes; k += kPageSize) {
      auto csum = submitted_csums_.find(oe->disk_bytenr + k);
      if (csum == submitted_csums_.end()) continue;
      if (compressed ? visible > 0 : k < visible) fs_.log().SetCsum(oe->disk_bytenr + k, csum->second);
      submitted_csums_.erase(csum);
    }
    DiskISizeRaise(oe->file_offset + visible);
    fs_.transaction_lock().Unlock();
  } else {
    // The write failed: no item will point at the extent.
    fs_.transaction_lock().Lock();
    fs_.ExtentUnused(oe->disk_bytenr);
    fs_.transaction_lock().Unlock();
  }
  if (!em_tree_.Unpin(start, 0)) {
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:unpin_extent_cache:no_map";
    f.report = "WARNING: at fs/btrfs/extent_map.c unpin_extent_cache: ino " + std::to_string(ino_) +
               " has no extent map starting at " + std::to_string(start) +
               " when its ordered extent finishes (the pinned map was dropped or split under the I/O)";
    sched_.Report(std::move(f));
  }
  // btrfs_finish_ordered_io()'s out: label: the part of the extent no item
  // will point at (all of it on an error, past truncated_len for a
  // truncated one) leaves the extent map cache, or a later read would
  // follow the map to space that is free, or another file's.
  const uint64_t written = (oe->flags & kOrderedIoErr) ? 0
                           : (oe->flags & kOrderedTruncated)
                               ? std::min(oe->truncated_len, oe->num_bytes)
                               : oe->num_bytes;
  if (written < oe->num_bytes) {
    em_tree_.Drop(start + written, end + 1, false);
  }
  io_tree_.UnlockExtent(start, end);
  ordered_.Remove(oe);
  ordered_.Put(oe);
}

}  // namespace fsim::fs

