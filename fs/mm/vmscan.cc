// Reclaim of page cache pages: shrink_page_list() and pageout() as
// mm/vmscan.c has them (v5.13), run as a sim::Shrinker. See page_cache.h
// for the model and the locking rules.
//
// Pages are isolated from the LRU with a reference of reclaim's own, so a
// page it sleeps on cannot be freed under it; after any sleep it re-checks
// page->mapping, as a truncate on another fiber may have removed the page.
#include "fs/mm/page_cache.h"
#include "sim/check.h"

namespace fsim::fs {

// --- Reclaim ------------------------------------------------------------------------

uint64_t PageCacheShrinker::Count() { return cache_.nr_lru_; }

uint64_t PageCacheShrinker::Scan(uint64_t nr_to_scan, uint64_t nr_to_reclaim, sim::Gfp gfp) {
  // shrink_lruvec(): batches of SWAP_CLUSTER_MAX pages, until nr_to_scan
  // pages were scanned or the pass freed what it wanted.
  uint64_t scanned = 0, freed = 0;
  while (scanned < nr_to_scan && freed < nr_to_reclaim && cache_.lru_oldest_ != nullptr &&
         !cache_.sched_.unwinding()) {
    const uint64_t batch = std::min(nr_to_scan - scanned, kSwapClusterMax);
    scanned += batch;
    freed += ShrinkInactiveList(batch, gfp);
  }
  return freed;
}

// shrink_inactive_list(): one batch. Returns the pages freed.
uint64_t PageCacheShrinker::ShrinkInactiveList(uint64_t nr_to_scan, sim::Gfp gfp) {
  // isolate_lru_pages(): the oldest pages come off the LRU, each with a
  // reference of reclaim's own.
  std::vector<Page*> isolated;
  while (isolated.size() < nr_to_scan && cache_.lru_oldest_ != nullptr) {
    Page* page = cache_.lru_oldest_;
    cache_.LruDel(*page);
    GetPage(*page);
    page->isolated_ = true;
    ++cache_.nr_isolated_;
    isolated.push_back(page);
  }
  uint64_t freed = 0, unqueued_dirty = 0;
  for (Page* page : isolated) {
    bool removed = ShrinkPage(*page, gfp, &unqueued_dirty);
    // putback_lru_page(): a kept page becomes the newest.
    if (!removed && page->mapping_ != nullptr && page->lru_key_ == 0) {
      cache_.LruAdd(*page, /*oldest=*/false);
    }
    page->isolated_ = false;
    --cache_.nr_isolated_;
    // __remove_mapping() removed it only through page_ref_freeze(page, 2):
    // the page then goes straight to the free list (free_unref_page_list),
    // whatever other reference there was. The freeze is what rules one out;
    // a reclaim that removed a page someone still held leaves that holder
    // with freed memory, as the kernel would.
    if (removed) page->refcount_ = 1;
    const uint64_t before = cache_.pages_freed_;
    PutPage(*page);
    freed += cache_.pages_freed_ - before;
  }
  // Another allocation that found these pages isolated may look again.
  if (!isolated.empty()) sim::Memory::Of(cache_.sched_).PutbackDone();
  // Every page taken was dirty and not queued for I/O, so the flushers
  // are not keeping up (or asleep): wakeup_flusher_threads(WB_REASON_VMSCAN).
  if (!isolated.empty() && unqueued_dirty == isolated.size()) {
    cache_.sched_.Cover("vmscan:wakeup_flusher");
    cache_.WakeFlusher();
  }
  return freed;
}

uint64_t PageCacheShrinker::InFlight() {
  return cache_.nr_writeback_ + cache_.nr_io_locked_ + cache_.nr_isolated_;
}

uint64_t PageCacheShrinker::WritePending() { return cache_.nr_dirty_; }

uint64_t PageCacheShrinker::Isolated() { return cache_.nr_isolated_; }

// One page of shrink_page_list(). Returns true if the page left the page
// cache (it is freed when reclaim's reference is put).
bool PageCacheShrinker::ShrinkPage(Page& page, sim::Gfp gfp, uint64_t* unqueued_dirty) {
  if (!TryLockPage(page)) return false;
  if (PageDirty(page) && !PageWriteback(page)) ++*unqueued_dirty;
  AddressSpace* mapping = page.mapping_;
  auto keep_locked = [&] {
    UnlockPage(page);
    return false;
  };
  if (mapping == nullptr) return keep_locked();  // truncated meanwhile
  // page_check_references(): a page whose PTE is young (a user mapping
  // touched it since the last scan) is kept this time, the bit cleared
  // (PAGEREF_KEEP; page_referenced() clears the young bits).
  if ((page.flags_ & kPgReferenced) != 0) {
    page.flags_ &= ~kPgReferenced;
    cache_.sched_.Cover("vmscan:referenced_kept");
    return keep_locked();
  }
  if (PageWriteback(page)) {
    // Not waited for: marked, so end of writeback rotates it to be
    // reclaimed next.
    page.flags_ |= kPgReclaim;
    return keep_locked();
  }
  // try_to_unmap(): a mapped page is unmapped before it is written or
  // freed (a PTE that was dirty leaves the page dirty: it is already).
  if (PageMkclean(page)) cache_.sched_.Cover("vmscan:try_to_unmap");
  if (PageDirty(page)) {
    using Mode = PageCacheConfig::ReclaimWritepage;
    const Mode mode = cache_.config_.reclaim_writepage;
    const bool kswapd = cache_.sched_.current_fiber().kswapd;
    const bool may_write = (gfp & sim::kGfpFs) != 0 &&
                           (mode == Mode::kAll ||
                            (mode == Mode::kKswapdOnly && kswapd && PageReclaim(page)));
    if (!may_write) {
      cache_.sched_.Cover("vmscan:dirty_page_kept");
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
      cache_.sched_.Cover(kswapd ? "vmscan:pageout_kswapd" : "vmscan:pageout_direct");
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
  cache_.sched_.Cover("vmscan:page_reclaimed");
  return true;
}

}  // namespace fsim::fs
