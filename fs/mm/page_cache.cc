// Page-level operations (the page lock, writeback, references, dirty
// accounting: mm/filemap.c, mm/page-writeback.c, mm/swap.c) and the run's
// page cache state. See page_cache.h for the model and the locking rules.
//
// Invariants kept here: a page's dirty and writeback bits are counted in
// its mapping and in the run while page->mapping is set, and nowhere once
// it is cleared (DeleteFromPageCache takes them out); a page is freed
// exactly when its last reference is put, and only once it left the cache.
#include "fs/mm/page_cache.h"

#include <algorithm>
#include <cstring>

#include "sim/check.h"
#include "sim/heap.h"
#include "sim/race.h"

namespace fsim::fs {

namespace {

// The one lockdep class of every page lock.
const sim::LockClassKey kPageLockKey{"PG_locked"};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string CurrentName(const sim::Scheduler& s) {
  return s.in_fiber() ? std::string(s.fiber(s.current()).name) : std::string("main");
}

std::string PageText(const Page& page) {
  return "page index " + std::to_string(page.index()) + " (" + page.name() + ", flags " +
         PageFlagsName(page.flags()) + ", refcount " + std::to_string(page.refcount()) + ")";
}

}  // namespace

std::string PageFlagsName(uint32_t flags) {
  static constexpr std::pair<uint32_t, const char*> kNames[] = {
      {kPgLocked, "locked"},   {kPgError, "error"},         {kPgUptodate, "uptodate"},
      {kPgDirty, "dirty"},     {kPgWriteback, "writeback"}, {kPgPrivate, "private"},
      {kPgReclaim, "reclaim"}, {kPgPrivate2, "private_2"},     {kPgToWrite, "towrite"},
      {kPgTagDirty, "tag_dirty"}, {kPgReadahead, "readahead"}, {kPgReferenced, "referenced"},
  };
  std::string s;
  for (const auto& [bit, name] : kNames) {
    if ((flags & bit) == 0) continue;
    if (!s.empty()) s += '|';
    s += name;
  }
  return s.empty() ? "0" : s;
}

Page::Page(sim::Scheduler& sched, AddressSpace* mapping, uint64_t index, std::string name)
    : Waitable(sched, "page", std::move(name)),
      index_(index),
      mapping_(mapping),
      map_("PG_locked", &kPageLockKey) {}

uint64_t Page::Holders(sim::FiberId) const {
  return PageLocked(*this) && lock_owner_ != sim::kNoFiber ? uint64_t{1} << lock_owner_ : 0;
}

std::string Page::SignatureName() const {
  return mapping_ != nullptr ? mapping_->name() : std::string("(truncated)");
}

std::string Page::DescribeHolders() const {
  std::string s;
  if (PageLocked(*this)) {
    s = lock_owner_ == sim::kNoFiber ? "locked (by I/O)"
                                     : "locked by " + Quote(sched().fiber(lock_owner_).name);
  }
  if (PageWriteback(*this)) s += std::string(s.empty() ? "" : ", ") + "under writeback";
  return s.empty() ? "(not locked)" : s;
}

// The page-level operations, with access to Page's and PageCache's
// internals.
struct PageOps {
  static PageCache& Cache(Page& page) { return PageCache::Of(page.sched()); }

  static bool Alive(Page& page, std::string_view what, sim::Where where) {
    return sim::Heap::CheckAlive(page, what, where);
  }

  static void SetLocked(Page& page, bool trylock, sim::Where where, const sim::LockMap* nest) {
    sim::Scheduler& s = page.sched();
    page.flags_ |= kPgLocked;
    page.lock_owner_ = s.in_fiber() ? s.current() : sim::kNoFiber;
    if (!s.in_fiber()) return;
    page.HbAcquire();  // what the last unlock_page released happened before
    sim::Lockdep::Of(s).Acquire(page.map_, 0, trylock, sim::LockRead::kExclusive, where, nest);
    if (sim::Tracer* t = s.tracer(); t != nullptr) [[unlikely]] t->LockInstance(page.map_, page.name());
    page.lock_in_lockdep_ = true;
  }

  static void Free(Page& page, sim::Where where) {
    sim::Scheduler& s = page.sched();
    PageCache& cache = Cache(page);
    FSIM_BUG_ON(!(page.mapping_ == nullptr && page.lru_key_ == 0), nullptr);
    // free_pages_check(): flags that must be clear on a page being freed.
    if ((page.flags_ & (kPgLocked | kPgWriteback | kPgPrivate)) != 0) {
      cache.Warn("warn:bad_page_state:" +
                     PageFlagsName(page.flags_ & (kPgLocked | kPgWriteback | kPgPrivate)),
                 "BUG: Bad page state in process " + CurrentName(s) + "\n  " + PageText(page) +
                     " freed at " + sim::WhereText(where) +
                     "\n  page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag(s) set");
    }
    ++cache.pages_freed_;
    sim::Memory::Of(s).FreePages(1);
    sim::Heap::Of(s).Delete(&page, where);
  }

  // --- Flags and private --------------------------------------------------------

  static void SetPageUptodate(Page& page) { page.flags_ |= kPgUptodate; }
  static void ClearPageUptodate(Page& page) { page.flags_ &= ~kPgUptodate; }
  static void SetPageError(Page& page) { page.flags_ |= kPgError; }
  static void ClearPageError(Page& page) { page.flags_ &= ~kPgError; }

  // attach/detach_page_private() change page->private with the page
  // locked, which is what orders them: with races=on, two changes nothing
  // orders are a data_race.
  static void WritePrivate(Page& page, sim::Where where = sim::Where::current()) {
    sim::Scheduler& s = page.sched();
    if (!s.in_fiber()) return;
    sim::RaceDetector::AccessIfOn(s, sim::RaceDetector::Field(page.object_id(), 1), "page->private",
                                  /*write=*/true, /*marked=*/false, where);
  }

  static void AttachPagePrivate(Page& page, void* data) {
    if (PagePrivate(page)) {
      PageOps::Cache(page).Warn(
          "warn:attach_page_private_twice",
          "WARNING: attach_page_private on a page with private data: " + PageText(page));
      return;
    }
    WritePrivate(page);
    GetPage(page);
    page.private_data = data;
    page.flags_ |= kPgPrivate;
  }

  static void* DetachPagePrivate(Page& page) {
    if (!PagePrivate(page)) return nullptr;
    WritePrivate(page);
    void* data = page.private_data;
    page.flags_ &= ~kPgPrivate;
    page.private_data = nullptr;
    PutPage(page, sim::Where::current());
    return data;
  }

  // --- The page lock --------------------------------------------------------------

  static void LockPage(Page& page, sim::Where where, const sim::LockMap* nest) {
    if (!PageOps::Alive(page, "lock_page", where)) return;
    sim::Scheduler& s = page.sched();
    s.MightSleep("lock_page");
    s.YieldHint("lock_page", page.object_id());
    if (s.unwinding() || !PageOps::Alive(page, "lock_page", where)) return;
    // lockdep first, as the kernel's acquire precedes the wait: an inversion
    // is reported even if the wait never ends.
    sim::Lockdep::Of(s).Acquire(page.map_, 0, false, sim::LockRead::kExclusive, where, nest);
    if (sim::Tracer* t = s.tracer(); t != nullptr) [[unlikely]] t->LockInstance(page.map_, page.name());
    while (PageLocked(page) && !s.unwinding()) s.Block(page);
    if (s.unwinding()) return;
    page.flags_ |= kPgLocked;
    page.lock_owner_ = s.current();
    page.lock_in_lockdep_ = true;
    page.HbAcquire();
    sim::Lockdep::Of(s).Acquired(page.map_);
  }

  static bool TryLockPage(Page& page, sim::Where where, const sim::LockMap* nest) {
    if (!PageOps::Alive(page, "trylock_page", where)) return false;
    sim::Scheduler& s = page.sched();
    s.YieldHint("trylock_page", page.object_id());
    if (s.unwinding() || !PageOps::Alive(page, "trylock_page", where)) return false;
    if (PageLocked(page)) return false;
    PageOps::SetLocked(page, /*trylock=*/true, where, nest);
    return true;
  }

  static void UnlockPage(Page& page, sim::Where where) {
    if (!PageOps::Alive(page, "unlock_page", where)) return;
    sim::Scheduler& s = page.sched();
    if (s.unwinding()) return;
    if (!PageLocked(page)) {
      sim::Finding f;
      f.kind = sim::FindingKind::kLockMisuse;
      f.signature = "lock_misuse:unlock_unheld:PG_locked";
      f.report = "WARNING: bad unlock balance detected!\n  fiber " + Quote(CurrentName(s)) +
                 " calls unlock_page at " + sim::WhereText(where) + " on " + PageText(page) +
                 ", which is not locked (VM_BUG_ON_PAGE(!PageLocked(page)))";
      s.Report(std::move(f));
      return;
    }
    if (page.lock_in_lockdep_) {
      // The locker's lockdep stack was dropped when it exited (and reported
      // as held at exit): nothing to release on its behalf then.
      sim::FiberState state = s.fiber(page.lock_owner_).state;
      if (state == sim::FiberState::kRunnable || state == sim::FiberState::kBlocked) {
        sim::Lockdep::Of(s).ReleaseFor(page.lock_owner_, page.map_, where);
      }
    }
    page.flags_ &= ~kPgLocked;
    page.lock_owner_ = sim::kNoFiber;
    page.lock_in_lockdep_ = false;
    if (page.io_locked_) {
      page.io_locked_ = false;
      --Cache(page).nr_io_locked_;
      sim::Memory::Of(s).IoCompleted();
    }
    page.Wake();
  }

  static void HandOffPageLock(Page& page, sim::Where where) {
    if (!PageOps::Alive(page, "unlock_page", where)) return;
    sim::Scheduler& s = page.sched();
    if (s.unwinding() || !page.lock_in_lockdep_ || page.lock_owner_ != s.current()) return;
    sim::Lockdep::Of(s).Release(page.map_, where);
    page.lock_in_lockdep_ = false;
    page.lock_owner_ = sim::kNoFiber;
    if (!page.io_locked_) {
      page.io_locked_ = true;
      ++Cache(page).nr_io_locked_;
    }
  }

  static void WaitOnPageLocked(Page& page) {
    if (!PageOps::Alive(page, "wait_on_page_locked", sim::Where::current())) return;
    sim::Scheduler& s = page.sched();
    s.MightSleep("wait_on_page_locked");
    s.YieldHint("wait_on_page_locked", page.object_id());
    while (PageLocked(page) && !s.unwinding()) s.Block(page);
  }

  // --- Writeback -------------------------------------------------------------------

  static void SetPageWriteback(Page& page) {
    PageCache& cache = PageOps::Cache(page);
    if (!PageLocked(page)) {
      cache.Warn("warn:set_page_writeback_unlocked",
                 "WARNING: set_page_writeback on an unlocked " + PageText(page));
    }
    if (PageWriteback(page)) {
      cache.Warn("warn:set_page_writeback_twice",
                 "BUG: set_page_writeback on a page already under writeback: " + PageText(page));
      return;
    }
    page.flags_ |= kPgWriteback;
    page.flags_ &= ~kPgToWrite;  // the integrity pass has it now
    if (!PageDirty(page)) page.flags_ &= ~kPgTagDirty;
    ++cache.writeback_starts_;
    if (page.mapping_ != nullptr) cache.AccountWriteback(*page.mapping_, +1);
  }

  static void EndPageWriteback(Page& page) {
    if (!PageOps::Alive(page, "end_page_writeback", sim::Where::current())) return;
    PageCache& cache = PageOps::Cache(page);
    if (PageReclaim(page)) {
      // rotate_reclaimable_page(): reclaim wanted it; it is clean now.
      page.flags_ &= ~kPgReclaim;
      if (page.lru_key_ != 0) {
        cache.LruDel(page);
        cache.LruAdd(page, /*oldest=*/true);
      }
    }
    // The page must not be freed before the wake-up (the kernel's
    // get_page/put_page around it).
    GetPage(page);
    if (!PageWriteback(page)) {
      cache.Warn("warn:end_page_writeback_not_writeback",
                 "kernel BUG at mm/filemap.c: end_page_writeback of a page not under "
                 "writeback: " +
                     PageText(page));
    } else {
      page.flags_ &= ~kPgWriteback;
      if (page.mapping_ != nullptr) cache.AccountWriteback(*page.mapping_, -1);
      ++cache.writeback_ends_;
      if (cache.throttle_wait_ != nullptr) cache.throttle_wait_->WakeUp();
      sim::Memory::Of(cache.sched_).IoCompleted();
    }
    page.Wake();
    PutPage(page, sim::Where::current());
  }

  static void WaitOnPageWriteback(Page& page) {
    if (!PageOps::Alive(page, "wait_on_page_writeback", sim::Where::current())) return;
    sim::Scheduler& s = page.sched();
    s.MightSleep("wait_on_page_writeback");
    s.YieldHint("wait_on_page_writeback", page.object_id());
    while (PageWriteback(page) && !s.unwinding()) s.Block(page);
  }

  // --- References ------------------------------------------------------------------

  static void GetPage(Page& page) {
    FSIM_BUG_ON(!(page.refcount_ > 0), "get_page on a page with no reference");
    ++page.refcount_;
  }

  static void PutPage(Page& page, sim::Where where) {
    if (!PageOps::Alive(page, "put_page", where)) return;
    if (page.sched().unwinding()) return;
    if (page.refcount_ == 1 && page.mapping_ != nullptr) {
      // The cache's own reference is being dropped by a user: a put too
      // many. Freeing the page would leave the cache pointing at freed
      // memory, so the page is leaked instead, as a kernel with
      // CONFIG_DEBUG_VM would stop here.
      PageOps::Cache(page).Warn(
          "warn:page_refcount_underflow",
          "BUG: Bad page state: put_page would free a page still in the page cache at " +
              sim::WhereText(where) + "\n  " + PageText(page));
      return;
    }
    if (--page.refcount_ == 0) PageOps::Free(page, where);
  }

  // --- Dirty -------------------------------------------------------------------------

  static bool SetPageDirty(Page& page) {
    if (!PageOps::Alive(page, "set_page_dirty", sim::Where::current())) return false;
    page.flags_ |= kPgTagDirty;
    if (PageDirty(page)) return false;
    page.flags_ |= kPgDirty;
    if (page.mapping_ != nullptr) {
      PageCache& cache = PageOps::Cache(page);
      cache.AccountDirty(*page.mapping_, +1);
      // account_page_dirtied(): current->nr_dirtied++, and this CPU's
      // bdp_ratelimits.
      ++cache.sched_.current_fiber().nr_dirtied;
      ++cache.bdp_ratelimits_;
    }
    return true;
  }

  static void SetFlags(Page& page, uint32_t flags) { page.flags_ |= flags; }
  static bool TestClearFlags(Page& page, uint32_t flags) {
    const bool had = (page.flags_ & flags) != 0;
    page.flags_ &= ~flags;
    return had;
  }

  static bool Mkclean(Page& page) {
    AddressSpace* mapping = page.pte_;
    if (mapping == nullptr) return false;
    auto it = mapping->ptes_.find(page.index_);
    if (it != mapping->ptes_.end() && it->second == &page) mapping->ptes_.erase(it);
    page.pte_ = nullptr;
    fs::PutPage(page);  // the PTE's reference
    return true;
  }

  static bool ClearPageDirtyForIo(Page& page) {
    if (!PageLocked(page)) {
      PageOps::Cache(page).Warn("warn:clear_page_dirty_for_io_unlocked",
                                "kernel BUG at mm/page-writeback.c: clear_page_dirty_for_io on "
                                "an unlocked " +
                                    PageText(page));
    }
    // page_mkclean(): a store after this faults again (and waits in
    // ->page_mkwrite for the writeback this cleaning begins).
    PageMkclean(page);
    if (!PageDirty(page)) return false;
    page.flags_ &= ~kPgDirty;  // the dirty tag stays
    if (page.mapping_ != nullptr) PageOps::Cache(page).AccountDirty(*page.mapping_, -1);
    return true;
  }

  // cancel_dirty_page(): the page is leaving the cache; its tag with it.
  static void CancelDirtyPage(Page& page) {
    page.flags_ &= ~kPgTagDirty;
    if (!PageDirty(page)) return;
    page.flags_ &= ~kPgDirty;
    if (page.mapping_ != nullptr) PageOps::Cache(page).AccountDirty(*page.mapping_, -1);
  }

  static void ZeroUserSegment(Page& page, uint64_t start, uint64_t end) {
    FSIM_BUG_ON(!(start <= end && end <= kPageSize), nullptr);
    std::memset(page.data.data() + start, 0, end - start);
  }

  static void RedirtyPageForWritepage(WritebackControl& wbc, Page& page) {
    ++wbc.pages_skipped;
    // account_page_redirty(): not this task's dirtying (nr_dirtied back).
    // Nor is it counted in the writers' bdp_ratelimits: writeback runs on
    // another CPU than the writers (the flusher's kworker, kswapd), and
    // fsim keeps the writers' CPU's count only.
    if (SetPageDirty(page) && page.mapping_ != nullptr) {
      PageCache& cache = PageOps::Cache(page);
      --cache.sched_.current_fiber().nr_dirtied;
      --cache.bdp_ratelimits_;
    }
  }
};

// The kernel-named entry points.
void SetPageUptodate(Page& page) { PageOps::SetPageUptodate(page); }
void ClearPageUptodate(Page& page) { PageOps::ClearPageUptodate(page); }
void SetPageError(Page& page) { PageOps::SetPageError(page); }
void ClearPageError(Page& page) { PageOps::ClearPageError(page); }
void AttachPagePrivate(Page& page, void* data) { PageOps::AttachPagePrivate(page, data); }
void* DetachPagePrivate(Page& page) { return PageOps::DetachPagePrivate(page); }
void LockPage(Page& page, sim::Where where, const sim::LockMap* nest) {
  PageOps::LockPage(page, where, nest);
}
bool TryLockPage(Page& page, sim::Where where, const sim::LockMap* nest) {
  return PageOps::TryLockPage(page, where, nest);
}
void UnlockPage(Page& page, sim::Where where) { PageOps::UnlockPage(page, where); }
void HandOffPageLock(Page& page, sim::Where where) { PageOps::HandOffPageLock(page, where); }
void WaitOnPageLocked(Page& page) { PageOps::WaitOnPageLocked(page); }
void SetPageWriteback(Page& page) { PageOps::SetPageWriteback(page); }
void EndPageWriteback(Page& page) { PageOps::EndPageWriteback(page); }
void WaitOnPageWriteback(Page& page) { PageOps::WaitOnPageWriteback(page); }
void GetPage(Page& page) { PageOps::GetPage(page); }
void PutPage(Page& page, sim::Where where) { PageOps::PutPage(page, where); }
bool SetPageDirty(Page& page) { return PageOps::SetPageDirty(page); }
void SetPagePrivate2(Page& page) { PageOps::SetFlags(page, kPgPrivate2); }
bool TestClearPagePrivate2(Page& page) { return PageOps::TestClearFlags(page, kPgPrivate2); }
void SetPageToWrite(Page& page) { PageOps::SetFlags(page, kPgToWrite); }
void SetPageReadahead(Page& page) { PageOps::SetFlags(page, kPgReadahead); }
void SetPageReferencedByPte(Page& page) { PageOps::SetFlags(page, kPgReferenced); }
bool TestClearPageReadahead(Page& page) { return PageOps::TestClearFlags(page, kPgReadahead); }
void ClearPageToWrite(Page& page) { PageOps::TestClearFlags(page, kPgToWrite); }
bool ClearPageDirtyForIo(Page& page) { return PageOps::ClearPageDirtyForIo(page); }

bool PageMkclean(Page& page) { return PageOps::Mkclean(page); }
void CancelDirtyPage(Page& page) { PageOps::CancelDirtyPage(page); }
void ZeroUserSegment(Page& page, uint64_t start, uint64_t end) {
  PageOps::ZeroUserSegment(page, start, end);
}
void RedirtyPageForWritepage(WritebackControl& wbc, Page& page) {
  PageOps::RedirtyPageForWritepage(wbc, page);
}

int AddressSpaceOps::Writepages(AddressSpace& mapping, WritebackControl& wbc) {
  return mapping.GenericWritepages(wbc);
}

int AddressSpaceOps::Readpage(Page& page) {
  SetPageError(page);
  UnlockPage(page);
  return -5;  // -EIO
}

// --- The run's state ------------------------------------------------------------------

PageCache::PageCache(sim::Scheduler& sched) : sched_(sched), shrinker_(*this) {}

PageCache::~PageCache() = default;

void PageCache::OnRunBegin() {
  ++run_;
  in_run_ = true;
  config_ = PageCacheConfig{};
  registered_ = false;
  nr_dirty_ = nr_writeback_ = writeback_ends_ = writeback_starts_ = pages_freed_ = 0;
  nr_io_locked_ = nr_isolated_ = 0;
  lru_oldest_ = lru_newest_ = nullptr;  // the pages were the last run's heap's
  nr_lru_ = 0;
  // The previous run's queues name fiber slots of that run.
  throttle_wait_.reset();
  dirty_exceeded_ = false;
  bdp_ratelimits_ = 0;
  flusher_wait_.reset();
  flusher_started_ = flusher_wanted_ = false;
  flusher_passes_ = 0;
  dirty_mappings_.clear();
}

// The pages are the heap's, released with the run: forget them.
void PageCache::OnRunEnd() {
  in_run_ = false;
  lru_oldest_ = lru_newest_ = nullptr;
  nr_lru_ = 0;
}

void PageCache::Configure(const PageCacheConfig& config) {
  FSIM_CHECK_MSG(nr_lru_ == 0 && !registered_, "page cache: Configure() after the first page");
  config_ = config;
}

uint64_t PageCache::DirtyThresh() const {
  if (config_.dirty_thresh_pages != 0) return config_.dirty_thresh_pages;
  return std::max<uint64_t>(1, sim::Memory::Of(sched_).config().budget_pages / 5);
}

uint64_t PageCache::BackgroundThresh() const {
  const uint64_t thresh = DirtyThresh();
  const uint64_t bg = config_.dirty_background_thresh_pages;
  if (bg != 0 && bg < thresh) return bg;
  return std::max<uint64_t>(1, thresh / 2);
}

std::vector<const Page*> PageCache::LruPages() const {
  std::vector<const Page*> out;
  for (const Page* p = lru_oldest_; p != nullptr; p = p->lru_next_) out.push_back(p);
  return out;
}

void PageCache::LruAdd(Page& page, bool oldest) {
  if (!registered_) {
    sim::Memory::Of(sched_).RegisterShrinker(&shrinker_);
    registered_ = true;
  }
  // CONFIG_DEBUG_LIST's "list_add double add": a page put back on the LRU
  // twice is a mistake of the code that isolated it.
  FSIM_BUG_ON(page.lru_key_ != 0, "list_add double add: the page is already on the LRU");
  page.lru_key_ = 1;
  if (oldest) {
    page.lru_prev_ = nullptr;
    page.lru_next_ = lru_oldest_;
    (lru_oldest_ != nullptr ? lru_oldest_->lru_prev_ : lru_newest_) = &page;
    lru_oldest_ = &page;
  } else {
    page.lru_next_ = nullptr;
    page.lru_prev_ = lru_newest_;
    (lru_newest_ != nullptr ? lru_newest_->lru_next_ : lru_oldest_) = &page;
    lru_newest_ = &page;
  }
  ++nr_lru_;
}

void PageCache::LruDel(Page& page) {
  if (page.lru_key_ == 0) return;
  (page.lru_prev_ != nullptr ? page.lru_prev_->lru_next_ : lru_oldest_) = page.lru_next_;
  (page.lru_next_ != nullptr ? page.lru_next_->lru_prev_ : lru_newest_) = page.lru_prev_;
  page.lru_prev_ = page.lru_next_ = nullptr;
  page.lru_key_ = 0;
  --nr_lru_;
}

void PageCache::Forget(AddressSpace* mapping, uint64_t run) {
  if (run == run_) std::erase(dirty_mappings_, mapping);
  // After its run (or while it is torn down) the pages are the heap's.
  if (run != run_ || !in_run_ || sched_.unwinding() || mapping->pages_.empty()) return;
  Warn("warn:mapping_freed_with_pages",
       "kernel BUG at fs/inode.c: clear_inode: address space " + Quote(mapping->name_) +
           " destroyed with " + std::to_string(mapping->pages_.size()) + " pages cached");
  for (auto& [index, page] : mapping->pages_) {
    LruDel(*page);
    page->mapping_ = nullptr;  // orphaned: freed with the run
  }
  nr_dirty_ -= mapping->nr_dirty_;
  nr_writeback_ -= mapping->nr_writeback_;
}

void PageCache::AccountDirty(AddressSpace& mapping, int delta) {
  FSIM_BUG_ON(!(delta > 0 || (mapping.nr_dirty_ > 0 && nr_dirty_ > 0)), nullptr);
  if (delta > 0 && mapping.nr_dirty_ == 0 &&
      std::find(dirty_mappings_.begin(), dirty_mappings_.end(), &mapping) == dirty_mappings_.end()) {
    dirty_mappings_.push_back(&mapping);  // __mark_inode_dirty(I_DIRTY_PAGES)
  }
  mapping.nr_dirty_ += delta;
  nr_dirty_ += delta;
}

void PageCache::WakeFlusher() {
  if (sched_.unwinding()) return;
  if (flusher_wait_ == nullptr) flusher_wait_ = std::make_unique<sim::WaitQueue>(sched_, "wb_wait");
  flusher_wanted_ = true;
  if (!flusher_started_) {
    flusher_started_ = true;
    sim::SpawnOptions options;
    options.daemon = true;
    sched_.Spawn("flush-btrfs", [this] { FlusherMain(); }, options);
    return;
  }
  flusher_wait_->WakeUp();
}

void PageCache::FlusherMain() {
  // MAX_WRITEBACK_PAGES: the most one inode gets per turn.
  constexpr int64_t kChunk = 1024;
  // Passes per wake-up before it sleeps again (never spins: a daemon that
  // never blocked would keep the run from ending).
  constexpr int kPassesMax = 4;
  for (;;) {
    flusher_wait_->WaitEvent([this] { return flusher_wanted_; });
    if (sched_.unwinding()) return;
    flusher_wanted_ = false;
    for (int pass = 0; pass < kPassesMax && nr_dirty_ > BackgroundThresh(); ++pass) {
      ++flusher_passes_;
      bool progress = false;
      // A copy: mappings written clean leave the list as they go.
      const std::vector<AddressSpace*> list = dirty_mappings_;
      for (AddressSpace* mapping : list) {
        if (std::find(dirty_mappings_.begin(), dirty_mappings_.end(), mapping) ==
            dirty_mappings_.end()) {
          continue;  // destroyed meanwhile
        }
        if (nr_dirty_ <= BackgroundThresh()) break;
        // writeback_sb_inodes(): an inode being freed is the freer's to
        // write; the others are marked I_SYNC while they are written.
        if (mapping->i_freeing_) continue;
        WritebackControl wbc;
        wbc.sync_mode = WbSyncMode::kNone;
        wbc.nr_to_write = kChunk;
        wbc.for_background = true;
        mapping->i_sync_ = true;
        mapping->DoWritepages(wbc);
        if (sched_.unwinding()) return;
        mapping->i_sync_ = false;
        // writeback_sb_inodes(): wrote = write_chunk - nr_to_write -
        // pages_skipped. Pages ->writepage redirtied are not progress, so a
        // pass that only redirtied ends the work (wb_writeback's "No more
        // inodes for IO, bail") instead of running again at once.
        progress = progress || kChunk - wbc.nr_to_write - wbc.pages_skipped > 0;
        if (mapping->nr_dirty_ == 0) std::erase(dirty_mappings_, mapping);
      }
      if (!progress) break;
    }
  }
}

void PageCache::AccountWriteback(AddressSpace& mapping, int delta) {
  FSIM_BUG_ON(!(delta > 0 || (mapping.nr_writeback_ > 0 && nr_writeback_ > 0)), nullptr);
  mapping.nr_writeback_ += delta;
  nr_writeback_ += delta;
}

sim::WaitQueue& PageCache::throttle_wait() {
  if (throttle_wait_ == nullptr) {
    throttle_wait_ = std::make_unique<sim::WaitQueue>(sched_, "dirty_throttle");
  }
  return *throttle_wait_;
}

void PageCache::Warn(std::string signature, std::string report) {
  if (sched_.unwinding()) return;
  sim::Finding f;
  f.kind = sim::FindingKind::kWarn;
  f.signature = std::move(signature);
  f.report = std::move(report);
  sched_.Report(std::move(f));
}

}  // namespace fsim::fs
