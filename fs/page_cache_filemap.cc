// The address space: lookup and creation of pages (mm/filemap.c),
// write_cache_pages and the fdatawrite/fdatawait pair
// (mm/page-writeback.c, mm/filemap.c), dirty throttling, and the
// invariant checks. See page_cache.h for the model and the locking rules.
//
// Every loop that sleeps (lock_page, ->writepage, waiting for writeback)
// holds a reference on the pages of its batch, as a pagevec does, and
// re-finds its place by index afterwards: the map may have changed.
#include <algorithm>

#include "fs/page_cache.h"
#include "sim/check.h"
#include "sim/heap.h"

namespace fsim::fs {
namespace {

// Rounds of balance_dirty_pages() before the writer goes on regardless,
// and the longest it sleeps in one (MAX_PAUSE, HZ/5).
constexpr int kBalanceRoundsMax = 16;
constexpr uint64_t kDirtyPauseNs = 200'000'000;

// The last page index of byte range end `end` (inclusive).
uint64_t LastIndex(uint64_t end) { return end >> kPageShift; }

}  // namespace

AddressSpace::AddressSpace(sim::Scheduler& sched, std::string name, AddressSpaceOps* ops)
    : sched_(sched),
      name_(std::move(name)),
      ops_(ops),
      cache_(PageCache::Of(sched)),
      run_(cache_.run_) {
  FSIM_CHECK(ops_ != nullptr);
}

AddressSpace::~AddressSpace() { cache_.Forget(this, run_); }

// --- Lookup --------------------------------------------------------------------

Page* AddressSpace::FindGetPage(uint64_t index) {
  auto it = pages_.find(index);
  if (it == pages_.end()) return nullptr;
  GetPage(*it->second);
  return it->second;
}

Page* AddressSpace::FindLockPage(uint64_t index, Where where) {
  for (;;) {
    Page* page = FindGetPage(index);
    if (page == nullptr) return nullptr;
    LockPage(*page, where);
    if (page->mapping_ == this) return page;
    // Truncated while we waited for the lock.
    UnlockPage(*page, where);
    PutPage(*page, where);
  }
}

Page* AddressSpace::FindOrCreatePage(uint64_t index, sim::Gfp gfp, bool lock, Where where) {
  for (;;) {
    Page* page = FindGetPage(index);
    if (page != nullptr) {
      if (lock) {
        LockPage(*page, where);
        if (page->mapping_ != this) {
          UnlockPage(*page, where);
          PutPage(*page, where);
          continue;
        }
      }
      // mark_page_accessed(): the page becomes the newest on the LRU.
      if (page->lru_key_ != 0) {
        cache_.LruDel(*page);
        cache_.LruAdd(*page, /*oldest=*/false);
      }
      return page;
    }
    bool raced = false;
    page = AddNewPage(index, gfp, lock, &raced, where);
    if (page != nullptr || !raced) return page;
  }
}

Page* AddressSpace::AddNewPage(uint64_t index, sim::Gfp gfp, bool lock, bool* raced, Where where) {
  // The allocation may sleep and reclaim (this mapping's pages included).
  if (!sim::Memory::Of(sched_).AllocPages(1, gfp, where)) return nullptr;
  if (pages_.count(index) != 0) {
    // add_to_page_cache_lru() lost to another fiber: -EEXIST, look again.
    sim::Memory::Of(sched_).FreePages(1);
    *raced = true;
    return nullptr;
  }
  Page* page =
      sim::Heap::Of(sched_).New<Page>(sched_, this, index, name_ + ":" + std::to_string(index));
  if (lock) {
    // __SetPageLocked() on a page nobody else can see yet: it never
    // waits, so lockdep sees a trylock (later locks still depend on it).
    page->flags_ |= kPgLocked;
    page->lock_owner_ = sched_.current();
    sim::Lockdep::Of(sched_).Acquire(page->map_, 0, true, sim::LockRead::kExclusive, where);
    page->lock_in_lockdep_ = true;
  }
  ++page->refcount_;  // the page cache's reference
  pages_.emplace(index, page);
  cache_.LruAdd(*page, /*oldest=*/false);
  return page;
}

Page* AddressSpace::ReadCachePage(uint64_t index, sim::Gfp gfp) {
  for (;;) {
    Page* page = FindOrCreatePage(index, gfp, /*lock=*/true);
    if (page == nullptr) return nullptr;
    if (PageUptodate(*page)) {
      UnlockPage(*page);
      return page;
    }
    ClearPageError(*page);
    int error = ops_->Readpage(*page);
    if (error == 0) {
      WaitOnPageLocked(*page);
      if (PageUptodate(*page)) return page;
      if (page->mapping_ == nullptr) {  // truncated under the read: again
        PutPage(*page);
        continue;
      }
    }
    PutPage(*page);
    return nullptr;
  }
}

void AddressSpace::DeleteFromPageCache(Page& page, Where where) {
  if (!PageLocked(page)) {
    cache_.Warn("warn:delete_from_page_cache_unlocked",
                "kernel BUG at mm/filemap.c: page_cache_delete of an unlocked page index " +
                    std::to_string(page.index_) + " of '" + name_ + "' at " +
                    sim::WhereText(where));
  }
  if (page.mapping_ != this) {  // truncated already, or another file's
    cache_.Warn("warn:delete_from_page_cache_not_cached",
                "kernel BUG at mm/filemap.c: delete_from_page_cache of page index " +
                    std::to_string(page.index_) + " not in '" + name_ + "' at " +
                    sim::WhereText(where));
    return;
  }
  // unaccount_page_cache_page(): a dirty page here is lost data.
  if (PageDirty(page)) {
    cache_.Warn("warn:delete_dirty_page",
                "WARNING: at mm/filemap.c unaccount_page_cache_page: dirty page index " +
                    std::to_string(page.index_) + " of '" + name_ +
                    "' removed from the page cache at " + sim::WhereText(where));
    cache_.AccountDirty(*this, -1);
  }
  if (PageWriteback(page)) {
    cache_.Warn("warn:delete_writeback_page",
                "WARNING: page index " + std::to_string(page.index_) + " of '" + name_ +
                    "' removed from the page cache under writeback at " + sim::WhereText(where));
    cache_.AccountWriteback(*this, -1);
  }
  pages_.erase(page.index_);
  cache_.LruDel(page);
  page.mapping_ = nullptr;
  PutPage(page, where);  // the page cache's reference
}

std::vector<Page*> AddressSpace::FindGetPages(uint64_t start, uint64_t end, uint32_t flag,
                                              size_t max) {
  std::vector<Page*> batch;
  for (auto it = pages_.lower_bound(start);
       it != pages_.end() && it->first <= end && batch.size() < max; ++it) {
    if (flag != 0 && (it->second->flags_ & flag) == 0) continue;
    GetPage(*it->second);
    batch.push_back(it->second);
  }
  return batch;
}

// --- Writeback -----------------------------------------------------------------

int AddressSpace::WriteCachePages(WritebackControl& wbc, const WritepageFn& writepage) {
  uint64_t index = wbc.range_start >> kPageShift;
  const uint64_t end = LastIndex(wbc.range_end);
  const bool sync = wbc.sync_mode == WbSyncMode::kAll;
  // tag_pages_for_writeback(): a data-integrity pass writes the pages
  // dirty now, so that pages dirtied meanwhile cannot livelock it.
  std::vector<uint64_t> towrite;
  if (sync) {
    for (Page* page : FindGetPages(index, end, kPgTagDirty, SIZE_MAX)) {
      towrite.push_back(page->index_);
      SetPageToWrite(*page);
      PutPage(*page);
    }
  }
  size_t next_towrite = 0;
  int ret = 0;
  bool done = false;
  while (!done && index <= end) {
    std::vector<Page*> batch;
    if (sync) {
      for (; next_towrite < towrite.size() && batch.size() < kPagevecSize; ++next_towrite) {
        if (Page* page = FindGetPage(towrite[next_towrite])) batch.push_back(page);
      }
    } else {
      batch = FindGetPages(index, end, kPgTagDirty, kPagevecSize);
    }
    if (batch.empty()) break;
    for (size_t at = 0; at < batch.size(); ++at) {
      Page* page = batch[at];
      if (done) {
        PutPage(*page);
        continue;
      }
      wbc.batch_rest = batch.data() + at + 1;
      wbc.batch_rest_len = batch.size() - at - 1;
      index = page->index_ + 1;
      if (!TryLockPage(*page)) {
        if (wbc.submit_pending != nullptr) (*wbc.submit_pending)();
        LockPage(*page);
      }
      // Truncated, or someone wrote it for us.
      bool skip = page->mapping_ != this || !PageDirty(*page);
      if (!skip && PageWriteback(*page)) {
        if (sync) {
          if (wbc.submit_pending != nullptr) (*wbc.submit_pending)();
          WaitOnPageWriteback(*page);
        } else {
          skip = true;
        }
      }
      if (skip || !ClearPageDirtyForIo(*page)) {
        UnlockPage(*page);
        PutPage(*page);
        continue;
      }
      int error = writepage(*page, wbc);
      if (error < 0) {
        if (ret == 0) ret = error;
        done = !sync;
      }
      if (--wbc.nr_to_write <= 0 && !sync) done = true;
      PutPage(*page);
    }
    if (index == 0) break;  // wrapped past the last index
  }
  wbc.batch_rest = nullptr;
  wbc.batch_rest_len = 0;
  // Tags of pages this pass did not start writeback on (skipped, or left
  // when it stopped) end with it.
  for (uint64_t i : towrite) {
    if (Page* page = Peek(i)) ClearPageToWrite(*page);
  }
  return ret;
}

int AddressSpace::GenericWritepages(WritebackControl& wbc) {
  return WriteCachePages(
      wbc, [this](Page& page, WritebackControl& w) { return ops_->Writepage(page, w); });
}

int AddressSpace::DoWritepages(WritebackControl& wbc) {
  if (wbc.nr_to_write <= 0) return 0;
  return ops_->Writepages(*this, wbc);
}

int AddressSpace::FilemapFdatawriteRange(uint64_t start, uint64_t end, WbSyncMode mode) {
  if (pages_.empty()) return 0;  // mapping_needs_writeback()
  WritebackControl wbc;
  wbc.sync_mode = mode;
  wbc.range_start = start;
  wbc.range_end = end;
  return DoWritepages(wbc);
}

int AddressSpace::FilemapFdatawaitRange(uint64_t start, uint64_t end) {
  uint64_t index = start >> kPageShift;
  const uint64_t last = LastIndex(end);
  while (index <= last) {
    std::vector<Page*> batch = FindGetPages(index, last, kPgWriteback, kPagevecSize);
    if (batch.empty()) break;
    for (Page* page : batch) {
      index = page->index_ + 1;
      WaitOnPageWriteback(*page);
      ClearPageError(*page);
      PutPage(*page);
    }
    if (index == 0) break;
  }
  return CheckErrors();
}

int AddressSpace::FilemapWriteAndWaitRange(uint64_t start, uint64_t end) {
  if (pages_.empty()) return CheckErrors();
  int error = FilemapFdatawriteRange(start, end, WbSyncMode::kAll);
  // A write that failed with -EIO leaves nothing to wait for.
  if (error == -kEio) {
    CheckErrors();
    return error;
  }
  int error2 = FilemapFdatawaitRange(start, end);
  return error != 0 ? error : error2;
}

void AddressSpace::SetError(int error) {
  if (error == 0) return;
  error_ = error == -28 ? -28 : -kEio;  // AS_ENOSPC, else AS_EIO
}

int AddressSpace::CheckErrors() {
  int error = error_;
  error_ = 0;
  return error;
}

// --- Dirty throttling -------------------------------------------------------------

void BalanceDirtyPages(AddressSpace& mapping) {
  sim::Scheduler& s = mapping.sched();
  PageCache& cache = PageCache::Of(s);
  s.MightSleep("balance_dirty_pages");
  for (int round = 0; round < kBalanceRoundsMax && !s.unwinding(); ++round) {
    if (cache.nr_dirty_ <= cache.BackgroundThresh()) return;
    cache.WakeFlusher();
    if (cache.nr_dirty_ <= cache.DirtyThresh()) return;  // the freerun zone
    // Throttled: sleep until writeback completes pages, or the pause ends.
    const uint64_t ends = cache.writeback_ends_, starts = cache.writeback_starts_;
    cache.throttle_wait().WaitEventTimeout([&] { return cache.writeback_ends_ != ends; },
                                           kDirtyPauseNs);
    // A whole pause in which no page started or ended writeback: the
    // dirty pages are ones nobody can write now (under extents-before-
    // pages, this writer's own, whose range it holds). The kernel's task
    // would go on pausing for as long as that lasts; fsim lets it go on,
    // so that every run ends.
    if (cache.writeback_ends_ == ends && cache.writeback_starts_ == starts &&
        cache.nr_writeback_ == 0) {
      return;
    }
  }
}

// --- Checks ----------------------------------------------------------------------

Page* AddressSpace::Peek(uint64_t index) const {
  auto it = pages_.find(index);
  return it == pages_.end() ? nullptr : it->second;
}

std::vector<uint64_t> AddressSpace::Indices() const {
  std::vector<uint64_t> out;
  for (const auto& [index, page] : pages_) out.push_back(index);
  return out;
}

std::vector<AddressSpace::Violation> AddressSpace::Violations(uint64_t i_size) const {
  std::vector<Violation> out;
  uint64_t dirty = 0, writeback = 0;
  const uint64_t eof_index = (i_size + kPageSize - 1) >> kPageShift;  // first wholly beyond
  for (const auto& [index, page] : pages_) {
    FSIM_CHECK_MSG(page->alive() && page->mapping_ == this && page->index_ == index,
                   "page cache: a cached page is not of its mapping");
    const std::string what = "page index " + std::to_string(index) + " of '" + name_ + "'";
    dirty += PageDirty(*page);
    writeback += PageWriteback(*page);
    if (PageLocked(*page)) {
      out.push_back({"warn:page_left_locked:" + name_,
                     "WARNING: " + what + " left locked (" + page->DescribeHolders() + ")"});
    }
    const int expected = 1 + (PagePrivate(*page) ? 1 : 0);
    if (page->refcount_ != expected) {
      out.push_back({"warn:page_refcount:" + name_,
                     "WARNING: " + what + " has refcount " + std::to_string(page->refcount_) +
                         ", expected " + std::to_string(expected) +
                         " (page cache + private): a reference leaked or was dropped"});
    }
    if (index >= eof_index && (PageDirty(*page) || PageWriteback(*page))) {
      out.push_back({"warn:dirty_beyond_eof:" + name_,
                     "WARNING: " + what + " is " + PageFlagsName(page->flags_) +
                         " wholly beyond i_size " + std::to_string(i_size)});
    }
  }
  FSIM_CHECK_MSG(dirty == nr_dirty_, "page cache: mapping dirty count drifted");
  FSIM_CHECK_MSG(writeback == nr_writeback_, "page cache: mapping writeback count drifted");
  return out;
}

std::vector<std::string> AddressSpace::CheckInvariants(uint64_t i_size) const {
  std::vector<std::string> out;
  for (Violation& v : Violations(i_size)) out.push_back(std::move(v.message));
  return out;
}

size_t AddressSpace::ReportInvariants(uint64_t i_size) const {
  std::vector<Violation> violations = Violations(i_size);
  for (Violation& v : violations) cache_.Warn(std::move(v.signature), std::move(v.message));
  return violations.size();
}

}  // namespace fsim::fs

