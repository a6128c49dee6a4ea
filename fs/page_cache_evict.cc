// Taking pages out of the page cache: truncation (mm/truncate.c) and
// reclaim (shrink_page_list() in mm/vmscan.c). See page_cache.h for the
// model and the locking rules.
//
// Both walk pages in batches, each page with a reference of the walker's
// own (a pagevec, an isolated LRU page), so a page they sleep on cannot
// be freed under them; after any sleep they re-check page->mapping, as a
// truncate or a reclaim on another fiber may have removed the page.
#include "fs/page_cache.h"
#include "sim/check.h"

namespace fsim::fs {

// --- Truncate ------------------------------------------------------------------

// truncate_cleanup_page(): the fs drops its per-page state first; it may
// redirty the page, so the dirty bit is cancelled after.
void AddressSpace::TruncateCleanupPage(Page& page) {
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
  WaitOnPageWriteback(*page);
  ZeroUserSegment(*page, from, to);
  if (PagePrivate(*page)) ops_->Invalidatepage(*page, from, to - from);
  UnlockPage(*page);
  PutPage(*page);
}

void AddressSpace::TruncateInodePagesRange(uint64_t lstart, uint64_t lend) {
  FSIM_CHECK(lend == kLEndMax || lstart <= lend + 1);
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

// --- Reclaim ------------------------------------------------------------------------

uint64_t PageCacheShrinker::Count() { return cache_.lru_.size(); }

uint64_t PageCacheShrinker::Scan(uint64_t nr_to_scan, sim::Gfp gfp) {
  // isolate_lru_pages(): the oldest pages come off the LRU, each with a
  // reference of reclaim's own.
  std::vector<Page*> isolated;
  while (isolated.size() < nr_to_scan && !cache_.lru_.empty()) {
    Page* page = cache_.lru_.begin()->second;
    cache_.LruDel(*page);
    GetPage(*page);
    isolated.push_back(page);
  }
  uint64_t freed = 0;
  for (Page* page : isolated) {
    bool removed = ShrinkPage(*page, gfp);
    // putback_lru_page(): a kept page becomes the newest.
    if (!removed && page->mapping_ != nullptr && page->lru_key_ == 0) {
      cache_.LruAdd(*page, /*oldest=*/false);
    }
    const uint64_t before = cache_.pages_freed_;
    PutPage(*page);
    freed += cache_.pages_freed_ - before;
  }
  return freed;
}

// One page of shrink_page_list(). Returns true if the page left the page
// cache (it is freed when reclaim's reference is put).
bool PageCacheShrinker::ShrinkPage(Page& page, sim::Gfp gfp) {
  if (!TryLockPage(page)) return false;
  AddressSpace* mapping = page.mapping_;
  auto keep_locked = [&] {
    UnlockPage(page);
    return false;
  };
  if (mapping == nullptr) return keep_locked();  // truncated meanwhile
  if (PageWriteback(page)) {
    // Not waited for: marked, so end of writeback rotates it to be
    // reclaimed next.
    page.flags_ |= kPgReclaim;
    return keep_locked();
  }
  if (PageDirty(page)) {
    using Mode = PageCacheConfig::ReclaimWritepage;
    const Mode mode = cache_.config_.reclaim_writepage;
    const bool kswapd = cache_.sched_.current_fiber().kswapd;
    const bool may_write = (gfp & sim::kGfpFs) != 0 &&
                           (mode == Mode::kAll ||
                            (mode == Mode::kKswapdOnly && kswapd && PageReclaim(page)));
    if (!may_write) {
      page.flags_ |= kPgReclaim;
      return keep_locked();
    }
    // pageout(): only a page nobody else uses (is_page_cache_freeable:
    // the cache's and reclaim's references, plus PG_private's).
    const int users = page.refcount_ - (PagePrivate(page) ? 1 : 0);
    if (users != 2) return keep_locked();
    if (ClearPageDirtyForIo(page)) {
      WritebackControl wbc;
      wbc.nr_to_write = 32;  // SWAP_CLUSTER_MAX
      wbc.for_reclaim = true;
      page.flags_ |= kPgReclaim;
      int error = mapping->ops_->Writepage(page, wbc);  // unlocks the page
      if (error < 0 && page.mapping_ == mapping) mapping->SetError(error);
      if (!PageWriteback(page)) page.flags_ &= ~kPgReclaim;
      if (PageWriteback(page) || PageDirty(page)) return false;
      // A synchronous write: relock and see if it can go now.
      if (!TryLockPage(page)) return false;
      if (PageDirty(page) || PageWriteback(page) || page.mapping_ != mapping) {
        return keep_locked();
      }
    }
  }
  // try_to_release_page(): the fs's private state goes first.
  if (PagePrivate(page) && !mapping->ops_->Releasepage(page, gfp)) return keep_locked();
  // __remove_mapping(): only with exactly the cache's and reclaim's
  // references left (page_ref_freeze(page, 2)), and still clean.
  if (page.mapping_ != mapping || PageDirty(page) || page.refcount_ != 2) {
    return keep_locked();
  }
  mapping->DeleteFromPageCache(page);
  UnlockPage(page);
  return true;
}

}  // namespace fsim::fs
