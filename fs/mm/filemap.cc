// The address space as mm/filemap.c has it: lookup and creation of
// pages, and the invariant checks. Writeback and dirty throttling are in
// page_writeback.cc. See page_cache.h for the model and the locking rules.
//
// Every loop that sleeps (lock_page, ->writepage, waiting for writeback)
// holds a reference on the pages of its batch, as a pagevec does, and
// re-finds its place by index afterwards: the map may have changed.
#include <algorithm>

#include "fs/mm/page_cache.h"
#include "sim/check.h"
#include "sim/heap.h"

namespace fsim::fs {
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

Page* AddressSpace::FindOrCreatePage(uint64_t index, sim::Gfp gfp, bool lock, Where where,
                                    const sim::LockMap* nest) {
  for (;;) {
    Page* page = FindGetPage(index);
    if (page != nullptr) {
      if (lock) {
        LockPage(*page, where, nest);
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
    page = AddNewPage(index, gfp, lock, &raced, where, nest);
    if (page != nullptr || !raced) return page;
  }
}

Page* AddressSpace::AddNewPage(uint64_t index, sim::Gfp gfp, bool lock, bool* raced, Where where,
                                const sim::LockMap* nest) {
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
    sim::Lockdep::Of(sched_).Acquire(page->map_, 0, true, sim::LockRead::kExclusive, where, nest);
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
    if (error == kAopTruncatedPage) {  // given back unread: look again
      PutPage(*page);
      continue;
    }
    if (error == 0) {
      if (!cache_.config().bug_read_cache_page_skips_wait) WaitOnPageLocked(*page);
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
  // unaccount_page_cache_page(): a page still mapped is "Bad page cache"
  // (its PTE keeps it, and stores to it are lost with it).
  if (page.pte_ != nullptr) {
    cache_.Warn("warn:delete_mapped_page",
                "BUG: Bad page cache: page index " + std::to_string(page.index_) + " of '" + name_ +
                    "' still mapped when deleted, at " + sim::WhereText(where));
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

// --- Shared writable mappings ----------------------------------------------------

void AddressSpace::InstallWritePte(Page& page) {
  FSIM_BUG_ON(!(PageLocked(page) && page.mapping_ == this), "finish_fault: page not locked in this mapping");
  if (page.pte_ == this) return;  // mapped already
  FSIM_BUG_ON(page.pte_ != nullptr, "finish_fault: page mapped by another file");
  // A page the PTE mapped before was unmapped when it left the cache
  // (unless a mistake left it mapped: then this PTE replaces it).
  auto [it, fresh] = ptes_.try_emplace(page.index_, &page);
  if (!fresh) {
    Page* old = it->second;
    it->second = &page;
    old->pte_ = nullptr;
    PutPage(*old);
  }
  GetPage(page);  // the PTE's reference
  page.pte_ = this;
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
    FSIM_BUG_ON(!(page->alive() && page->mapping_ == this && page->index_ == index),
                "page cache: a cached page is not of its mapping");
    const std::string what = "page index " + std::to_string(index) + " of '" + name_ + "'";
    dirty += PageDirty(*page);
    writeback += PageWriteback(*page);
    // A page reclaim (kswapd, still running when the workers are done)
    // has isolated holds reclaim's reference, and for a moment its lock.
    if (PageLocked(*page) && !page->isolated_) {
      out.push_back({"warn:page_left_locked:" + name_,
                     "WARNING: " + what + " left locked (" + page->DescribeHolders() + ")"});
    }
    const int expected =
        1 + (PagePrivate(*page) ? 1 : 0) + (page->isolated_ ? 1 : 0) + (page->pte_ != nullptr ? 1 : 0);
    if (page->refcount_ != expected) {
      out.push_back({"warn:page_refcount:" + name_,
                     "WARNING: " + what + " has refcount " + std::to_string(page->refcount_) +
                         ", expected " + std::to_string(expected) +
                         " (page cache + private + reclaim's + a PTE's): a reference leaked or was dropped"});
    }
    if (index >= eof_index && (PageDirty(*page) || PageWriteback(*page))) {
      out.push_back({"warn:dirty_beyond_eof:" + name_,
                     "WARNING: " + what + " is " + PageFlagsName(page->flags_) +
                         " wholly beyond i_size " + std::to_string(i_size)});
    }
  }
  FSIM_BUG_ON(!(dirty == nr_dirty_), "page cache: mapping dirty count drifted");
  FSIM_BUG_ON(!(writeback == nr_writeback_), "page cache: mapping writeback count drifted");
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

