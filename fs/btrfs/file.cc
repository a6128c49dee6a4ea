// fs/btrfs/file.c: the buffered write (legacy btrfs_buffered_write; the
// RFC's iomap_begin/end shape), fsync (btrfs_sync_file), punch hole and
// fallocate. See inode.h for the model and the locking rules.
#include <algorithm>
#include <cstring>

#include "fs/btrfs/inode.h"
#include "sim/check.h"

namespace fsim::fs {

namespace {

// Unlocks and releases pages locked in index order, the first (lockdep's
// nest lock for the others) last, and empties the list.
void UnlockPages(std::vector<Page*>& pages) {
  for (auto it = pages.rbegin(); it != pages.rend(); ++it) {
    UnlockPage(**it);
    PutPage(**it);
  }
  pages.clear();
}

}  // namespace

// btrfs_buffered_write()'s batch: the pages of [pos, end), at most
// kWritePagesMax of them, written as v5.13 does. (The caller faulted the
// buffer in first, with nothing locked.)
//   prepare_pages(): every page locked in index order (the first and last
//     read first if the write covers them partly), then each waited out of
//     writeback with all of them held;
//   lock_and_cleanup_extent_if_need(): the range locked; an ordered extent
//     in it means everything unlocked, the extent waited for, and again;
//   btrfs_copy_from_user(): the copy with page faults disabled, page by
//     page; it stops at a source page gone since the fault-in;
//   btrfs_dirty_pages() over what was copied (delalloc, the pages dirty,
//     i_size), the range and the pages unlocked.
// Returns the end of what was written (`pos` if nothing could be copied).
uint64_t BtrfsInode::WriteBatchLegacy(uint64_t pos, uint64_t end, uint64_t base,
                                      UserBuffer& buffer, int* error) {
  // [pos, end) is one batch: at most the page array btrfs allocated
  // (nrptrs, see WriteLockedFrom).
  const uint64_t first = pos / kPageSize;
  const uint64_t last = (end - 1) / kPageSize;
  const uint64_t start_pos = first * kPageSize, last_pos = (last + 1) * kPageSize - 1;
  std::vector<Page*> pages;
  for (;;) {
    for (uint64_t index = first; index <= last; ++index) {
      // Several page locks at once, in index order: lockdep is told so
      // (the kernel's PG_locked has no lockdep map).
      Page* page = GrabPage(index, pages.empty() ? nullptr : &pages.front()->lockdep_map());
      SetPageExtentMapped(*page);
      // prepare_uptodate_page(): a page the write covers only in part.
      const bool partial = (index == first && pos % kPageSize != 0) ||
                           (index == last && end % kPageSize != 0);
      if (partial && !PageUptodate(*page)) {
        // btrfs_readpage(): the page's range locked and its ordered
        // extents waited for before the disk is read; the page reads
        // what the last finished write of it made durable.
        LockAndFlushOrdered(page->offset(), page->offset() + kPageSize);
        const int ret = FillPage(*page);
        if (ret == 0) SetPageUptodate(*page);
        io_tree_.UnlockExtent(page->offset(), page->offset() + kPageSize - 1);
        if (ret != 0) {
          // prepare_uptodate_page(): a page that could not be read is
          // -EIO; prepare_pages() unlocks and puts every page it took,
          // and btrfs_buffered_write() stops with nothing of this batch
          // written (the bytes of a partial page the disk could not give
          // are never written back as if they were the file's).
          sched_.Cover("write:partial_page_read_error");
          pages.push_back(page);
          UnlockPages(pages);
          *error = ret;
          return pos;
        }
      }
      pages.push_back(page);
    }
    for (Page* page : pages) WaitOnPageWriteback(*page);
    io_tree_.LockExtent(start_pos, last_pos);
    OrderedExtent* oe = ordered_.LookupRange(start_pos, last_pos + 1 - start_pos);
    if (oe == nullptr) break;
    io_tree_.UnlockExtent(start_pos, last_pos);
    UnlockPages(pages);
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
  uint64_t copied_end = pos;
  for (Page* page : pages) {
    const uint64_t page_start = page->offset();
    const uint64_t from = std::max(pos, page_start) - page_start;
    const uint64_t to = std::min(end, page_start + kPageSize) - page_start;
    const uint64_t want = to - from;
    if (buffer.CopyAtomic(page_start + from - pos + base, page->data.data() + from, want) < want) {
      sched_.Cover("write:short_copy");
      break;  // a short copy ends the batch at this page
    }
    copied_end = page_start + to;
  }
  if (copied_end > pos) {
    // btrfs_dirty_pages(inode, pages, num_pages, pos, copied, ...) over
    // the pages copied; the mistake passes write_bytes, the batch asked for.
    const uint64_t dirty_end = fs_.config().bug_dirty_pages_write_bytes ? end : copied_end;
    const uint64_t dirty_last = (dirty_end - 1) / kPageSize * kPageSize + kPageSize - 1;
    DirtyDelalloc(start_pos, dirty_last);
    for (Page* page : pages) {
      if (page->offset() >= dirty_end) break;
      SetPageUptodate(*page);
      SetPageDirty(*page);
    }
    ISizeWrite(std::max(i_size_, dirty_end));
  }
  io_tree_.UnlockExtent(start_pos, last_pos);
  UnlockPages(pages);
  return copied_end;
}

uint64_t KernelBuffer::CopyAtomic(uint64_t off, uint8_t* dst, uint64_t len) {
  const uint64_t n = off >= data_.size() ? 0 : std::min<uint64_t>(len, data_.size() - off);
  std::memcpy(dst, data_.data() + off, n);
  return n;
}

bool MappedBuffer::FaultIn(uint64_t off, uint64_t len) {
  // A read fault on each page of a shared file mapping (filemap_fault):
  // the page read through ->readpage if it is not in the cache. Past EOF
  // is SIGBUS: -EFAULT for the write.
  const uint64_t from = offset_ + off, to = offset_ + off + len;
  if (to > file_.i_size()) return false;
  for (uint64_t index = from / kPageSize; index * kPageSize < to; ++index) {
    Page* page = file_.mapping().ReadCachePage(index, sim::kGfpKernel);
    if (page == nullptr) return false;
    SetPageReferencedByPte(*page);  // the fault's PTE, young
    PutPage(*page);
  }
  return true;
}

uint64_t MappedBuffer::CopyAtomic(uint64_t off, uint8_t* dst, uint64_t len) {
  // With page faults disabled only the pages the cache holds uptodate are
  // read (a mapped page: its PTE is there).
  uint64_t done = 0;
  while (done < len) {
    const uint64_t at = offset_ + off + done;
    if (at >= file_.i_size()) break;
    const Page* page = file_.mapping().Peek(at / kPageSize);
    if (page == nullptr || !PageUptodate(*page)) break;
    const uint64_t n = std::min(len - done, kPageSize - at % kPageSize);
    std::memcpy(dst + done, page->data.data() + at % kPageSize, n);
    done += n;
  }
  return done;
}

void BtrfsInode::DirtyDelalloc(uint64_t start, uint64_t end) {
  fs_.ReserveData(end - start + 1);
  io_tree_.ClearExtentBit(start, end, kExtentDelalloc | kExtentDoAccounting);
  io_tree_.SetExtentBit(start, end, kExtentDelalloc);
}

uint64_t BtrfsInode::BufferedWrite(uint64_t pos, const std::vector<uint8_t>& data) {
  if (data.empty()) return 0;
  i_rwsem_.DownWrite();
  const uint64_t written = WriteLocked(pos, data);
  i_rwsem_.UpWrite();
  return written;
}

uint64_t BtrfsInode::BufferedWriteFrom(uint64_t pos, uint64_t len, UserBuffer& buffer) {
  if (len == 0) return 0;
  i_rwsem_.DownWrite();
  const uint64_t written = WriteLockedFrom(pos, len, buffer);
  i_rwsem_.UpWrite();
  return written;
}

uint64_t BtrfsInode::WriteLocked(uint64_t pos, const std::vector<uint8_t>& data) {
  KernelBuffer buffer(data);
  return WriteLockedFrom(pos, data.size(), buffer);
}

uint64_t BtrfsInode::WriteLockedFrom(uint64_t pos, uint64_t len, UserBuffer& buffer) {
  // btrfs_write_check(): a write starting past EOF grows the file over a
  // gap first (btrfs_cont_expand).
  if (pos > i_size_) TruncateBlockForExpand(i_size_);
  const uint64_t end = pos + len;
  uint64_t at = pos;
  if (fs_.config().order == LockOrder::kLegacy) {
    // btrfs_buffered_write(): the page array's size (nrptrs), once per
    // write: the pages the write covers, at most PAGE_SIZE / sizeof(struct
    // page *), at most what the task may still dirty before it must
    // balance (nr_dirtied_pause - nr_dirtied), and at least 8. Several
    // writers therefore do not each hold 2 MiB of pages locked at once.
    const sim::Fiber& task = sched_.current_fiber();
    const int64_t may_dirty = int64_t{task.nr_dirtied_pause} - task.nr_dirtied;
    int64_t nrptrs = static_cast<int64_t>(
        std::min<uint64_t>((len + kPageSize - 1) / kPageSize, kPageSize / sizeof(void*)));
    nrptrs = std::max<int64_t>(std::min(nrptrs, may_dirty), 8);
    uint64_t batch_pages = static_cast<uint64_t>(nrptrs);
    while (at < end) {
      // "fault pages before locking them in prepare_pages to avoid
      // recursive lock": write_bytes, nrptrs pages from at's page.
      const uint64_t batch_end = std::min(end, (at / kPageSize + batch_pages) * kPageSize);
      if (!buffer.FaultIn(at - pos, batch_end - at)) break;
      int error = 0;
      at = WriteBatchLegacy(at, batch_end, at - pos, buffer, &error);
      if (error != 0) break;
      // "if we have trouble faulting in the pages, fall back to one page
      // at a time" (copied < write_bytes: nrptrs = 1, for the rest of the
      // write): a batch whose source pages reclaim takes between the
      // fault-in and the copy would otherwise fault them all in again.
      if (at < batch_end) batch_pages = 1;
      // balance_dirty_pages_ratelimited() after each batch, with nothing
      // locked but i_rwsem.
      BalanceDirtyPagesRatelimited(mapping_);
    }
    return at - pos;
  }
  // Extents before pages: iomap_apply() over the rest of the write, its
  // iomap_begin locking the whole range with ordered extents flushed; a
  // short copy ends it (iomap_end unlocks), and the next one faults the
  // buffer in again.
  const bool fault_under_lock = fs_.config().bug_fault_in_under_extent_lock;
  while (at < end) {
    if (!fault_under_lock && !buffer.FaultIn(at - pos, end - at)) break;
    const uint64_t first = at / kPageSize, last = (end - 1) / kPageSize;
    // The RFC's btrfs iomap_begin: the data space for the whole range
    // reserved (btrfs_delalloc_reserve_space), then the range locked with
    // its ordered extents flushed.
    const uint64_t reserved = (last + 1 - first) * kPageSize;
    fs_.ReserveData(reserved);
    LockAndFlushOrdered(first * kPageSize, (last + 1) * kPageSize);
    const uint64_t start = at;
    bool fault = false;
    for (uint64_t index = first; index <= last; ++index) {
      const uint64_t page_start = index * kPageSize;
      const uint64_t from = std::max(at, page_start) - page_start;
      const uint64_t to = std::min(end, page_start + kPageSize) - page_start;
      // v5.13's iomap_write_actor(): the fault-in per page, inside
      // iomap_apply, with the range locked (the mistake).
      if (fault_under_lock && !buffer.FaultIn(page_start + from - pos, to - from)) {
        fault = true;
        break;
      }
      Page* page = GrabPage(index);
      SetPageExtentMapped(*page);
      WaitOnPageWriteback(*page);
      if (!PageUptodate(*page) && (from != 0 || to != kPageSize) && FillPage(*page) != 0) {
        // __iomap_write_begin(): the read of a partial page failed, so
        // iomap_write_begin() fails and the write stops here (-EIO), the
        // page unlocked and put; iomap_end() below gives back what was
        // reserved for the rest.
        sched_.Cover("write:partial_page_read_error");
        UnlockPage(*page);
        PutPage(*page);
        fault = true;
        break;
      }
      const uint64_t copied =
          buffer.CopyAtomic(page_start + from - pos, page->data.data() + from, to - from);
      if (copied < to - from) {
        sched_.Cover("write:short_copy");
        // iomap_write_end() of a short copy: nothing of this page.
        UnlockPage(*page);
        PutPage(*page);
        break;
      }
      SetPageUptodate(*page);
      SetPageDirty(*page);
      ISizeWrite(std::max(i_size_, page_start + to));  // write_end, under the page lock
      UnlockPage(*page);
      PutPage(*page);
      at = page_start + to;
      // iomap_write_actor(): balance_dirty_pages_ratelimited() after each
      // page, inside iomap_apply: under the RFC that is with the extent
      // range still locked, so the flusher's best-effort writeback cannot
      // take these pages while the writer is throttled waiting for it.
      BalanceDirtyPagesRatelimited(mapping_);
    }
    // iomap_end(): the pages written become delalloc on the reservation
    // iomap_begin took (the old delalloc there cleared with its own), the
    // reservation of what a short copy left unwritten is given back
    // (btrfs_delalloc_release_space), and the range is unlocked.
    uint64_t used = 0;
    if (at > start) {
      const uint64_t d_start = start / kPageSize * kPageSize;
      const uint64_t d_end = (at - 1) / kPageSize * kPageSize + kPageSize - 1;
      io_tree_.ClearExtentBit(d_start, d_end, kExtentDelalloc | kExtentDoAccounting);
      io_tree_.SetExtentBit(d_start, d_end, kExtentDelalloc);
      used = d_end - d_start + 1;
    }
    if (used < reserved) {
      sched_.Cover("iomap_end:release_unused_reservation");
      fs_.FreeReservedData(reserved - used);
    }
    io_tree_.UnlockExtent(first * kPageSize, (last + 1) * kPageSize - 1);
    if (fault) break;
  }
  return at - pos;
}

int BtrfsInode::WaitOrderedRange(uint64_t start, uint64_t len) {
  // Under rfc_sync_waits_for_range, a page best-effort writeback skipped
  // is waited for and written again here too: what follows (clone,
  // dedupe, punch) reads the disk's extents, not the page cache.
  const int ret = SyncWriteAndWait(start, start + len - 1, /*fsync=*/false);
  while (OrderedExtent* oe = ordered_.LookupRange(start, len)) {
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
  // btrfs_wait_ordered_range() returns the writeback's error: a range
  // whose write failed (-EIO, or -ENOSPC at cow_file_range) is not on
  // disk, and a remap that goes on would share what the disk holds.
  return ret;
}

void BtrfsInode::PunchHole(uint64_t offset, uint64_t len) {
  // btrfs_punch_hole(): the inode (i_rwsem, i_mmap_lock) is locked, then
  // the range written and its ordered extents waited for, so nothing can
  // dirty it again before btrfs_punch_hole_lock_range(), which then only
  // races readers adding pages. This is upstream's order since "btrfs:
  // lock the inode first before flushing range when punching hole"
  // (Filipe Manana, 2022); v5.13 flushed first, and that order is
  // bug_punch_hole_flush_before_inode_lock (see inode.h).
  const bool v5_13 = fs_.config().bug_punch_hole_flush_before_inode_lock;
  if (v5_13) WaitOrderedRange(offset, len);
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  if (!v5_13 && offset < i_size_) WaitOrderedRange(offset, std::min(offset + len, i_size_) - offset);
  PunchHoleLocked(offset, len);
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
}

void BtrfsInode::PunchHoleLocked(uint64_t offset, uint64_t len, bool prealloc) {
  const uint64_t end = std::min(offset + len, i_size_);
  if (offset >= end) return;
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
      if (oe == nullptr && (!pages || fs_.config().bug_punch_hole_skips_page_retry)) break;
      sched_.Cover(oe != nullptr ? "punch_hole:retry_ordered" : "punch_hole:retry_pages");
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
    Unpromise(lock_start, lock_end);
    if (!fs_.config().bug_punch_hole_keeps_extent_map) em_tree_.Drop(lock_start, lock_end, false);
    io_tree_.ClearExtentBit(lock_start, lock_end - 1, kExtentDelalloc | kExtentDoAccounting);
    if (prealloc) PreallocRange(lock_start, lock_end, /*replace=*/true);
    io_tree_.UnlockExtent(lock_start, lock_end - 1);
  }
}

int BtrfsInode::SyncWriteAndWait(uint64_t start, uint64_t end, bool fsync) {
  if (fs_.config().order != LockOrder::kRfc || !fs_.config().rfc_sync_waits_for_range) {
    return WriteAndWaitRange(start, end);
  }
  // Bounded: a task that keeps taking the range again cannot keep fsync
  // here for ever (what is then left dirty is the oracle's to judge).
  constexpr int kRoundsMax = 16;
  for (int round = 0; round < kRoundsMax; ++round) {
    if (mapping_.nrpages() == 0) break;
    WritebackControl wbc;
    wbc.sync_mode = WbSyncMode::kAll;
    wbc.range_start = start;
    wbc.range_end = end;
    int error = mapping_.DoWritepages(wbc);
    if (error == 0 && has_async_extent_) {
      // btrfs_fdatawrite_range()'s second pass (its skips count too).
      WritebackControl again;
      again.sync_mode = WbSyncMode::kAll;
      again.range_start = start;
      again.range_end = end;
      error = mapping_.DoWritepages(again);
      wbc.pages_skipped += again.pages_skipped;
    }
    if (error == -5) {
      mapping_.CheckErrors();
      return error;
    }
    if (wbc.pages_skipped == 0 || (fsync && fs_.config().bug_fsync_sync_all_skips_redirtied)) break;
    sched_.Cover(fsync ? "fsync:rewrite_pages_skipped" : "wait_ordered_range:rewrite_pages_skipped");
    // Redirtied: their range was another task's. Wait for it with no
    // page locked, then write them again.
    io_tree_.LockExtent(start, end);
    io_tree_.UnlockExtent(start, end);
  }
  return mapping_.FilemapFdatawaitRange(start, end);
}

int BtrfsInode::Fsync() {
  // btrfs_sync_file() (v5.13): start_ordered_ops() first, out of the
  // inode lock ("we can flush the dirty pages by multi-task"), then again
  // under it for pages dirtied meanwhile, then the wait. Writes, truncate
  // and punch hole may run while the first pass's pages are under
  // writeback.
  if (mapping_.nrpages() != 0) {
    // start_ordered_ops(): any error goes straight out (-ENOSPC from
    // cow_file_range as well as -EIO).
    const int started = FdatawriteRange(0, kLEndMax);
    if (started != 0) {
      mapping_.CheckErrors();
      FileCheckAndAdvanceWbErr();  // out: reported, with this error
      return started;
    }
  }
  i_rwsem_.DownWrite();
  int ret = SyncWriteAndWait(0, kLEndMax, /*fsync=*/true);
  while (OrderedExtent* oe = ordered_.LookupRange(0, kLEndMax)) {
    ordered_.Wait(oe);
    ordered_.Put(oe);
  }
  // A failed write-and-wait (btrfs_wait_ordered_range's -EIO, the
  // mapping's AS_EIO or AS_ENOSPC) goes to out_release_extents: no
  // transaction, no log commit. (With the bug, the error is dropped and
  // the log committed.)
  const bool commit = ret == 0 || fs_.config().bug_fsync_drops_writeback_error;
  bool ok = true;
  if (commit) {
    fs_.transaction_lock().Lock();
    DiskISizeWrite(i_size_);
    ok = fs_.CommitLog();
    fs_.transaction_lock().Unlock();
  } else {
    sched_.Cover("fsync:wait_failed_no_commit");
  }
  i_rwsem_.UpWrite();
  if (fs_.config().bug_fsync_drops_writeback_error) return ok ? 0 : -5;
  // out: file_check_and_advance_wb_err(): a writeback error set since this
  // file last looked, even if another path (another task's fsync, a
  // clone's or truncate's wait) cleared AS_EIO/AS_ENOSPC meanwhile.
  const int wb_err = FileCheckAndAdvanceWbErr();
  if (ret == 0) ret = wb_err;
  return ret != 0 ? ret : (ok ? 0 : -5);
}

int BtrfsInode::FileCheckAndAdvanceWbErr() {
  // One open file per task and inode: its f_wb_err, sampled at open
  // (errseq_sample: 0 while no error was seen, so a file opened before an
  // error reports it).
  return mapping_.CheckAndAdvanceWbErr(&f_wb_err_[sched_.current()]);
}

void BtrfsInode::ZeroRange(uint64_t offset, uint64_t len, bool keep_size) {
  // One i_rwsem hold: the size test and the change are one step.
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  // btrfs_fallocate() waits for ordered I/O with the locks held, then
  // btrfs_zero_range(): within EOF, partial pages zeroed through the write
  // path, the whole pages between them one preallocated extent.
  if (offset < i_size_) WaitOrderedRange(offset, std::min(offset + len, i_size_) - offset);
  PunchHoleLocked(offset, len, /*prealloc=*/!fs_.config().bug_zero_range_punches_hole);
  // The promise (for the oracle): the whole blocks within EOF.
  Promise(offset, std::min(offset + len, i_size_));
  // Past EOF: btrfs_cont_expand(), the holes there preallocated, then the
  // size.
  if (!keep_size && offset + len > i_size_) {
    TruncateBlockForExpand(i_size_);
    const uint64_t from = (std::max(offset, i_size_) + kPageSize - 1) / kPageSize * kPageSize;
    const uint64_t to = (offset + len + kPageSize - 1) / kPageSize * kPageSize;
    if (from < to) {
      FallocateRange(from, to);
      Promise(from, to);
    }
    ISizeWrite(offset + len);
    UpdateInodeSize();
  }
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
}

// btrfs_fallocate(), mode 0 or KEEP_SIZE: the range's holes get
// preallocated extents, which read as zeroes until a write fills them in
// place (run_delalloc_nocow) and its ordered extent marks them written.
void BtrfsInode::Fallocate(uint64_t offset, uint64_t len, bool keep_size) {
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  if (!keep_size && offset + len > i_size_) TruncateBlockForExpand(i_size_);  // btrfs_cont_expand()
  const uint64_t alloc_start = offset / kPageSize * kPageSize;
  const uint64_t alloc_end = fs_.config().bug_fallocate_end_rounded_down
                                 ? (offset + len) / kPageSize * kPageSize
                                 : (offset + len + kPageSize - 1) / kPageSize * kPageSize;
  if (alloc_start < alloc_end) FallocateRange(alloc_start, alloc_end);
  // The promise (for the oracle), from the request: each block it touches
  // that holds no data (preallocated now, or left a hole by mistake).
  PromiseNoData(offset / kPageSize * kPageSize, (offset + len + kPageSize - 1) / kPageSize * kPageSize);
  if (!keep_size && offset + len > i_size_) {
    ISizeWrite(offset + len);
    UpdateInodeSize();
  }
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
}

void BtrfsInode::FallocateRange(uint64_t start, uint64_t end) {
  // Written back and settled first, then the range locked with no
  // ordered extent in it.
  WaitOrderedRange(start, end - start);
  LockAndFlushOrdered(start, end);
  PreallocRange(start, end, /*replace=*/false);
  io_tree_.UnlockExtent(start, end - 1);
}

void BtrfsInode::Promise(uint64_t start, uint64_t end) {
  for (uint64_t b = (start + kPageSize - 1) / kPageSize; (b + 1) * kPageSize <= end; ++b) promised_.insert(b);
}

void BtrfsInode::PromiseNoData(uint64_t start, uint64_t end) {
  for (const ItemSpan& span : ItemSpans(start, end)) {
    if (span.item == nullptr || span.item->type == FileExtentType::kPrealloc) Promise(span.from, span.to);
  }
}

void BtrfsInode::Unpromise(uint64_t start, uint64_t end) {
  if (start >= end) return;
  const uint64_t last = end / kPageSize + (end % kPageSize != 0 ? 1 : 0);  // no overflow at kLEndMax
  promised_.erase(promised_.lower_bound(start / kPageSize), promised_.lower_bound(last));
}

void BtrfsInode::PreallocRange(uint64_t start, uint64_t end, bool replace) {
  // The holes among the items (all of it, with `replace`).
  std::vector<std::pair<uint64_t, uint64_t>> holes;
  if (replace) {
    holes.emplace_back(start, end);
  } else {
    for (const ItemSpan& span : ItemSpans(start, end)) {
      if (span.item == nullptr) holes.emplace_back(span.from, span.to);
    }
  }
  if (holes.empty()) return;
  has_prealloc_ = true;
  sched_.Cover("btrfs_prealloc_file_range");
  fs_.transaction_lock().Lock();
  for (const auto& [from, to] : holes) {
    // btrfs_reserve_extent() and insert_reserved_file_extent(PREALLOC).
    FileExtentItem item;
    item.ino = ino_;
    item.file_offset = from;
    item.num_bytes = to - from;
    item.disk_bytenr = fs_.AllocData(to - from);
    item.disk_num_bytes = to - from;
    item.type = FileExtentType::kPrealloc;
    fs_.log().InsertExtent(item);
    fs_.ExtentReferenced(item.disk_bytenr);
  }
  fs_.ReleaseUnreferenced();
  fs_.transaction_lock().Unlock();
  // The cached maps of the range go (btrfs_drop_extent_cache()); the next
  // lookup builds preallocated maps from the items.
  for (const auto& [from, to] : holes) em_tree_.Drop(from, to, false);
}

uint64_t BtrfsInode::CopyFileRange(uint64_t src, uint64_t len, uint64_t dst, int* error) {
  if (error != nullptr) *error = 0;
  if (len == 0) return 0;
  // vfs_copy_file_range(): remap_file_range(REMAP_FILE_CAN_SHORTEN)
  // first, so the copy shares the source's extents; do_splice_direct()
  // through the page cache when it cannot.
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  uint64_t cloned = 0;
  if (src < i_size_) {
    const uint64_t n = std::min(len, i_size_ - src);
    if (CanRemap(*this, src, n, dst)) {
      WaitOrderedRange(src, n);
      WaitOrderedRange(dst, n);
      CloneExtents(*this, src, n, dst);
      cloned = n;
    }
  }
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
  if (cloned > 0) return cloned;
  // do_splice_direct(): what it moved before an error, or the error when
  // it moved nothing. A read that failed (-EIO) stops the copy there; so
  // does a write that fails.
  int read_error = 0;
  const std::vector<uint8_t> data = Read(src, len, &read_error);
  const uint64_t written = data.empty() ? 0 : BufferedWrite(dst, data);
  if (error != nullptr && (read_error != 0 || written < data.size())) *error = -kEio;
  return written;
}

bool BtrfsInode::CanRemap(const BtrfsInode& src, uint64_t src_off, uint64_t len, uint64_t dst_off) const {
  if (len == 0 || src_off % kPageSize != 0 || dst_off % kPageSize != 0) return false;
  if (src_off + len > src.i_size_) return false;
  // An unaligned length only for the source's last block, landing at or
  // past the destination's EOF.
  if (len % kPageSize != 0 && (src_off + len != src.i_size_ || dst_off + len < i_size_)) return false;
  if (&src == this && src_off < dst_off + len && dst_off < src_off + len) return false;
  return true;
}

void BtrfsInode::CloneExtents(BtrfsInode& src, uint64_t src_off, uint64_t len, uint64_t dst_off) {
  const uint64_t alen = (len + kPageSize - 1) / kPageSize * kPageSize;
  src.Unpromise(src_off, src_off + alen);  // shared now: COWed when written
  Unpromise(dst_off, dst_off + alen);
  // btrfs_double_extent_lock(): the lower inode (or offset) first.
  const bool src_first = src.ino_ < ino_ || (&src == this && src_off < dst_off);
  ExtentIoTree& t1 = src_first ? src.io_tree_ : io_tree_;
  ExtentIoTree& t2 = src_first ? io_tree_ : src.io_tree_;
  const uint64_t o1 = src_first ? src_off : dst_off, o2 = src_first ? dst_off : src_off;
  t1.LockExtent(o1, o1 + alen - 1);
  t2.LockExtent(o2, o2 + alen - 1, sim::Where::current(), /*subclass=*/1);
  sched_.Cover("btrfs_clone:shared_extents");
  // The source's items over the range, moved to the destination's
  // offsets, pointing at the same disk extents (a new reference each).
  std::vector<FileExtentItem> cloned;
  const auto& all = fs_.log().state().extents;
  if (auto file = all.find(src.ino_); file != all.end()) {
    auto it = file->second.upper_bound(src_off);
    if (it != file->second.begin()) --it;
    for (; it != file->second.end() && it->first < src_off + alen; ++it) {
      const FileExtentItem& item = it->second;
      const uint64_t from = std::max(item.file_offset, src_off);
      const uint64_t to = std::min(item.file_offset + item.num_bytes,
                                   src_off + (fs_.config().bug_clone_eof_item_unaligned ? len : alen));
      if (from >= to) continue;
      FileExtentItem copy = item;
      copy.ino = ino_;
      copy.file_offset = dst_off + (from - src_off);
      copy.num_bytes = to - from;
      copy.offset = item.offset + (from - item.file_offset);
      cloned.push_back(copy);
      if (item.type == FileExtentType::kPrealloc) has_prealloc_ = true;
    }
  }
  fs_.transaction_lock().Lock();
  fs_.log().DropExtents(ino_, dst_off, dst_off + alen);
  for (const FileExtentItem& item : cloned) fs_.log().InsertExtent(item);
  fs_.ReleaseUnreferenced();
  // clone_finish_inode_update(): the size covers the range.
  if (dst_off + len > i_size_) ISizeWrite(dst_off + len);
  DiskISizeWrite(i_size_);
  fs_.transaction_lock().Unlock();
  em_tree_.Drop(dst_off, dst_off + alen, false);
  t2.UnlockExtent(o2, o2 + alen - 1);
  t1.UnlockExtent(o1, o1 + alen - 1);
  // The destination's cached pages of the range are stale now.
  mapping_.TruncateInodePagesRange(dst_off, dst_off + alen - 1);
}

bool BtrfsInode::CompareForDedupe(BtrfsInode& src, uint64_t src_off, uint64_t dst_off, uint64_t len,
                                  int* error) {
  int src_error = 0, dst_error = 0;
  const std::vector<uint8_t> a = src.Read(src_off, len, &src_error);
  const std::vector<uint8_t> b = Read(dst_off, len, &dst_error);
  const int failed =
      src_error != 0 || fs_.config().bug_dedupe_compare_drops_dst_error ? src_error : dst_error;
  if (error != nullptr) *error = failed;
  return failed == 0 && a == b;
}

bool BtrfsInode::DedupeRange(uint64_t src, uint64_t len, uint64_t dst, int* error) {
  if (error != nullptr) *error = 0;
  if (len == 0) return true;
  // btrfs_remap_file_range_prep(): the inode and mmap locks, then both
  // ranges written and their ordered extents waited for.
  i_rwsem_.DownWrite();
  i_mmap_lock_.DownWrite();
  const uint64_t lo = std::min(src, dst), hi = std::max(src, dst) + len;
  const int wait_error =
      WaitOrderedRange(lo, fs_.config().bug_dedupe_same_file_waits_lower_range ? len : hi - lo);
  if (wait_error != 0 && error != nullptr) *error = wait_error;
  // vfs_dedupe_file_range_compare(): the bytes, page by page; equal
  // ranges then share the source's extents. A page that cannot be read
  // ends the compare with its error, and nothing is shared.
  const bool same = wait_error == 0 && CompareForDedupe(*this, src, dst, len, error);
  if (same && src < i_size_) {
    const uint64_t n = std::min(len, i_size_ - src);
    if (CanRemap(*this, src, n, dst) && dst + n <= i_size_) {
      sched_.Cover("btrfs_dedupe:share");
      CloneExtents(*this, src, n, dst);
    }
  }
  i_mmap_lock_.UpWrite();
  i_rwsem_.UpWrite();
  return same;
}

std::pair<BtrfsInode*, BtrfsInode*> BtrfsInode::LockRemapInodes(BtrfsInode& src, bool by_argument) {
  BtrfsInode* first = &src;
  BtrfsInode* second = this;
  if (!by_argument && second->ino_ < first->ino_) std::swap(first, second);
  const bool two = first != second;
  // lock_two_nondirectories(), btrfs_double_mmap_lock().
  first->i_rwsem_.DownWrite();
  if (two) second->i_rwsem_.DownWriteNested(1);
  first->i_mmap_lock_.DownWrite();
  if (two) second->i_mmap_lock_.DownWriteNested(1);
  return {first, second};
}

void BtrfsInode::UnlockRemapInodes(BtrfsInode& first, BtrfsInode& second) {
  const bool two = &first != &second;
  if (two) second.i_mmap_lock_.UpWrite();
  first.i_mmap_lock_.UpWrite();
  if (two) second.i_rwsem_.UpWrite();
  first.i_rwsem_.UpWrite();
}

bool BtrfsInode::DedupeRangeFrom(BtrfsInode& src, uint64_t src_off, uint64_t len, uint64_t dst_off,
                                 int* error) {
  if (error != nullptr) *error = 0;
  const auto [first, second] = LockRemapInodes(src, /*by_argument=*/false);
  bool same = true;
  if (src_off < src.i_size_ && dst_off < i_size_) {
    len = std::min({len, src.i_size_ - src_off, i_size_ - dst_off});
    int wait_error =
        (fs_.config().bug_remap_prep_waits_dst_for_src ? *this : src).WaitOrderedRange(src_off, len);
    if (wait_error == 0) wait_error = WaitOrderedRange(dst_off, len);
    if (wait_error != 0 && error != nullptr) *error = wait_error;
    // vfs_dedupe_file_range_compare(), under both inodes' locks.
    same = wait_error == 0 && CompareForDedupe(src, src_off, dst_off, len, error);
    if (same && CanRemap(src, src_off, len, dst_off)) {
      sched_.Cover("btrfs_dedupe:share");
      CloneExtents(src, src_off, len, dst_off);
    }
  }
  UnlockRemapInodes(*first, *second);
  return same;
}

std::vector<uint8_t> BtrfsInode::CloneRangeFrom(BtrfsInode& src, uint64_t src_off, uint64_t len,
                                                uint64_t dst_off, int* error) {
  if (error != nullptr) *error = 0;
  const auto [first, second] = LockRemapInodes(src, fs_.config().bug_clone_lock_order_by_argument);
  std::vector<uint8_t> data;
  if (src_off < src.i_size_) {
    len = std::min(len, src.i_size_ - src_off);
    // btrfs_remap_file_range_prep(): both ranges written and settled; a
    // write that failed there fails the clone.
    int read_error = src.WaitOrderedRange(src_off, len);
    if (read_error == 0) read_error = WaitOrderedRange(dst_off, len);
    if (read_error == 0) data = src.Read(src_off, len, &read_error);
    if (read_error != 0) {
      if (error != nullptr) *error = read_error;
      data.clear();
    } else if (CanRemap(src, src_off, len, dst_off)) {
      // The bytes the clone shares, as the source holds them now (for the
      // caller's record; nothing else reads them).
      CloneExtents(src, src_off, len, dst_off);
    } else if (!data.empty()) {
      // Unaligned: the kernel refuses (-EINVAL); fsim copies the bytes
      // through the write path instead, so that such scenarios still run.
      WriteLocked(dst_off, data);
    }
  }
  UnlockRemapInodes(*first, *second);
  return data;
}

}  // namespace fsim::fs
