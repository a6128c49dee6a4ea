// Taking pages out of the page cache by truncation (mm/truncate.c);
// reclaim is in vmscan.cc. See page_cache.h for the model and the locking
// rules.
//
// Truncation and reclaim both walk pages in batches, each page with a reference of the walker's
// own (a pagevec, an isolated LRU page), so a page they sleep on cannot
// be freed under them; after any sleep they re-check page->mapping, as a
// truncate or a reclaim on another fiber may have removed the page.
#include "fs/mm/page_cache.h"
#include "sim/check.h"

namespace fsim::fs {

// --- Truncate ------------------------------------------------------------------

// truncate_cleanup_page(): unmapped first (unmap_mapping_page: a store
// after this faults and finds the page gone); the fs drops its per-page
// state; it may redirty the page, so the dirty bit is cancelled after.
void AddressSpace::TruncateCleanupPage(Page& page) {
  PageMkclean(page);
  if (PagePrivate(page)) ops_->Invalidatepage(page, 0, kPageSize);
  CancelDirtyPage(page);
}

// truncate_inode_page(). REQUIRES: page locked, not under writeback.
void AddressSpace::TruncateInodePage(Page& page) {
  if (page.mapping_ != this) return;  // already gone
  TruncateCleanupPage(page);
  if (page.mapping_ == this) DeleteFromPageCache(page);
}

// The partial page at `index`: zero bytes [from, to), tell the fs.
void AddressSpace::TruncatePartial(uint64_t index, uint64_t from, uint64_t to) {
  Page* page = FindLockPage(index);
  if (page == nullptr) return;
  if (PageWriteback(*page)) page->sched().Cover("truncate:partial_page_under_writeback");
  if (!cache_.config().bug_truncate_partial_skips_writeback_wait) WaitOnPageWriteback(*page);
  ZeroUserSegment(*page, from, to);
  if (PagePrivate(*page)) ops_->Invalidatepage(*page, from, to - from);
  UnlockPage(*page);
  PutPage(*page);
}

void AddressSpace::TruncateInodePagesRange(uint64_t lstart, uint64_t lend) {
  FSIM_BUG_ON(!(lend == kLEndMax || lstart <= lend + 1), nullptr);
  uint64_t partial_start = lstart & (kPageSize - 1);
  uint64_t partial_end = lend == kLEndMax ? 0 : (lend + 1) & (kPageSize - 1);
  // Whole pages to remove: [start, end).
  const uint64_t start = (lstart + kPageSize - 1) >> kPageShift;
  const uint64_t end = lend == kLEndMax ? ~uint64_t{0} : (lend + 1) >> kPageShift;

  // First pass: the pages that can be taken without waiting (trylock, not
  // under writeback), as find_lock_entries() does.
  uint64_t index = start;
  while (index < end) {
    std::vector<Page*> batch = FindGetPages(index, end - 1, 0, kPagevecSize);
    if (batch.empty()) break;
    index = batch.back()->index_ + 1;
    std::vector<Page*> locked;
    for (Page* page : batch) {
      if (!TryLockPage(*page)) {
        PutPage(*page);
        continue;
      }
      if (page->mapping_ != this || PageWriteback(*page)) {
        UnlockPage(*page);
        PutPage(*page);
        continue;
      }
      locked.push_back(page);
    }
    for (Page* page : locked) TruncateCleanupPage(*page);
    for (Page* page : locked) {  // delete_from_page_cache_batch()
      if (page->mapping_ == this) DeleteFromPageCache(*page);
    }
    for (Page* page : locked) {
      UnlockPage(*page);
      PutPage(*page);
    }
    sched_.Yield("truncate_cond_resched");
    if (index == 0) break;
  }

  if (partial_start != 0) {
    uint64_t top = kPageSize;
    if (start > end) {  // the range lies within one page
      top = partial_end;
      partial_end = 0;
    }
    TruncatePartial(start - 1, partial_start, top);
  }
  if (partial_end != 0) TruncatePartial(end, 0, partial_end);
  if (start >= end) return;

  // Second pass: every page left, waiting for its lock and its writeback,
  // until a lookup from `start` finds nothing.
  index = start;
  for (;;) {
    sched_.Yield("truncate_cond_resched");
    std::vector<Page*> batch = FindGetPages(index, end - 1, 0, kPagevecSize);
    if (batch.empty()) {
      if (index == start) break;  // all gone from start onwards
      index = start;              // otherwise restart to make sure all gone
      continue;
    }
    for (Page* page : batch) {
      index = page->index_;
      LockPage(*page);
      WaitOnPageWriteback(*page);
      TruncateInodePage(*page);
      UnlockPage(*page);
      PutPage(*page);
    }
    ++index;
  }
}

void AddressSpace::TruncatePagecache(uint64_t newsize) {
  // unmap_mapping_range() has nothing to do: there is no mmap.
  TruncateInodePagesRange(newsize, kLEndMax);
}

void AddressSpace::TruncateSetsize(uint64_t& i_size, uint64_t newsize) {
  i_size = newsize;
  // pagecache_isize_extended() matters only for blocks smaller than a
  // page: here block size == page size.
  TruncatePagecache(newsize);
}

// invalidate_mapping_pages() (mm/truncate.c): drops the pages of the range
// that nobody uses: unlocked, clean, not under writeback, and whose
// private state the filesystem gives up (invalidate_inode_page()). Never
// waits; returns how many pages left the page cache.
uint64_t AddressSpace::InvalidateMappingPages(uint64_t start, uint64_t end) {
  uint64_t index = start >> kPageShift;
  const uint64_t last = end >> kPageShift;
  uint64_t dropped = 0;
  while (index <= last) {
    std::vector<Page*> batch = FindGetPages(index, last, 0, kPagevecSize);
    if (batch.empty()) break;
    for (Page* page : batch) {
      index = page->index_ + 1;
      if (TryLockPage(*page)) {
        if (page->mapping_ == this && !PageDirty(*page) && !PageWriteback(*page) &&
            (!PagePrivate(*page) || ops_->Releasepage(*page, sim::kGfpKernel)) &&
            page->refcount_ == 2 && !PageDirty(*page)) {
          // The page cache's reference and this batch's: no other user.
          DeleteFromPageCache(*page);
          ++dropped;
        }
        UnlockPage(*page);
      }
      PutPage(*page);
    }
    if (index == 0) break;
  }
  return dropped;
}

}  // namespace fsim::fs
