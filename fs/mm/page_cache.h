// The page cache, the mm side of buffered I/O (mm/filemap.c,
// mm/page-writeback.c, mm/truncate.c, mm/vmscan.c, v5.13): pages with the
// kernel's flag bits, the page lock, the writeback bit, dirty accounting,
// lookup and creation, write_cache_pages, truncation, dirty throttling,
// and reclaim as a shrinker. The filesystem plugs in through
// AddressSpaceOps (its a_ops).
//
// Model:
// - A page holds a reference for the page cache while it is cached, one
//   for PG_private (attach_page_private), and one per user (lookups
//   return a referenced page). It is freed (its memory page returned to
//   sim::Memory, the object to sim::Heap, so a later use is reported as
//   use_after_free) when its last reference is put.
// - PG_locked is a sleeping bit lock tracked by lockdep under one class,
//   "PG_locked"; locking two pages at once needs a nest lock. It may be
//   unlocked by another fiber (I/O completion): on the locker's behalf.
// - Dirty and writeback pages are counted per mapping and per run; the
//   counts follow the bits while the page is in the cache.
// - Reclaim walks one LRU of all cached pages of the run, oldest first.
//
// Invariants (checked by AddressSpace::CheckInvariants): a cached page
// has mapping() == its mapping and refcount >= 1 + PG_private; the
// mapping's counts equal the pages' bits; the run's counts equal the sum
// over mappings; the LRU holds exactly the cached pages not isolated.
//
// Locking rules: the simulation is single-threaded and the i_pages lock
// is implicit: code between two scheduling points (Yield, Block, a call
// into a_ops or an allocation) is atomic. Every path re-checks what it
// read before such a point (page->mapping after lock_page, as the kernel
// does). Sleeping functions say so; EndPageWriteback, SetPageDirty,
// TryLockPage, UnlockPage and PutPage never sleep and may run in
// interrupt context.
#ifndef FSIM_FS_MM_PAGE_CACHE_H_
#define FSIM_FS_MM_PAGE_CACHE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/lockdep.h"
#include "sim/memory.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace fsim::fs {

inline constexpr uint64_t kPageSize = 4096;
// errno values the model returns (negated, as the kernel does).
inline constexpr int kEio = 5;
inline constexpr int kEnospc = 28;
// AOP_TRUNCATED_PAGE: ->readpage gave the page back unread (unlocked);
// the caller looks it up again.
inline constexpr int kAopTruncatedPage = 0x80001;
inline constexpr int kEnomem = 12;
inline constexpr unsigned kPageShift = 12;
// A byte range's end meaning "to the end of the file" (the kernel's
// lend == -1).
inline constexpr uint64_t kLEndMax = ~uint64_t{0};
// Pages one lookup batch takes references on (PAGEVEC_SIZE).
inline constexpr size_t kPagevecSize = 15;

enum PageFlag : uint32_t {
  kPgLocked = 1u << 0,
  kPgError = 1u << 1,
  kPgUptodate = 1u << 2,
  kPgDirty = 1u << 3,
  kPgWriteback = 1u << 4,
  kPgPrivate = 1u << 5,
  kPgReclaim = 1u << 6,  // written back by reclaim: rotate at end of writeback
  // PG_private_2 as btrfs uses it (PageOrdered in later kernels): the page
  // belongs to an ordered extent whose I/O for it has not completed. Set
  // when the extent is allocated; cleared exactly once, by its write's
  // completion or by invalidatepage, whichever accounts for it.
  kPgPrivate2 = 1u << 7,
  // PAGECACHE_TAG_TOWRITE: dirty when a data-integrity pass began, so
  // that pass must write it. Cleared when the page starts writeback.
  kPgToWrite = 1u << 8,
  // PAGECACHE_TAG_DIRTY: set with PG_dirty, but outlives
  // clear_page_dirty_for_io(): cleared only when the page starts
  // writeback clean, or leaves the cache. Writeback looks pages up by it,
  // so a page a writepage holds (cleaned, locked) is still found, waited
  // for and skipped only if it is then clean.
  kPgTagDirty = 1u << 9,
  // PG_readahead: the lookahead mark readahead sets on the page at which
  // the next window should be read (asynchronously) when a read reaches
  // it. (The kernel aliases it with PG_reclaim; fsim keeps it apart.)
  kPgReadahead = 1u << 10,
  // A user mapping's PTE of the page is young: a fault (or access)
  // through a mapping since reclaim last looked. page_check_references()
  // keeps such a page once (PAGEREF_KEEP) and clears the bit, so a page a
  // task has just faulted in for its atomic copy (a write from a mapped
  // buffer) is not evicted by the very next scan.
  kPgReferenced = 1u << 11,
};

// "locked|dirty" for reports.
std::string PageFlagsName(uint32_t flags);

class AddressSpace;
class PageCache;

// struct page of the page cache. Created only by AddressSpace (through
// sim::Heap); the page's waiters (lock_page, wait_on_page_writeback) wait
// on the page itself.
class Page final : public sim::Waitable {
 public:
  Page(sim::Scheduler& sched, AddressSpace* mapping, uint64_t index, std::string name);

  uint64_t index() const { return index_; }
  // page->mapping: null once the page was removed from the page cache.
  AddressSpace* mapping() const { return mapping_; }
  uint32_t flags() const { return flags_; }
  int refcount() const { return refcount_; }
  // page_offset(): the file offset of the page's first byte.
  uint64_t offset() const { return index_ << kPageShift; }
  sim::LockMap& lockdep_map() { return map_; }
  // The fiber that locked the page, or kNoFiber.
  sim::FiberId lock_owner() const { return lock_owner_; }
  std::string DescribeHolders() const override;
  // The page lock's owner (a waiter for writeback waits on I/O, not on it,
  // but I/O holds no page lock then).
  uint64_t Holders(sim::FiberId) const override;
  // The mapping, not the index: the same deadlock on another page is the
  // same deadlock.
  std::string SignatureName() const override;

  std::array<uint8_t, kPageSize> data{};
  // page->private (iomap_page, btrfs's extent buffer/subpage state).
  // Meaningful while PG_private; set with AttachPagePrivate.
  void* private_data = nullptr;

 private:
  friend class AddressSpace;
  friend class PageCache;
  friend class PageCacheShrinker;
  friend struct PageOps;

  void Wake() { WakeAll(); }

  uint64_t index_;
  AddressSpace* mapping_;
  uint32_t flags_ = 0;
  int refcount_ = 1;  // the allocation's reference, handed to the creator
  sim::FiberId lock_owner_ = sim::kNoFiber;
  bool lock_in_lockdep_ = false;  // on lock_owner_'s lockdep held stack
  bool io_locked_ = false;        // the lock handed to I/O (HandOffPageLock)
  sim::LockMap map_;
  uint64_t lru_key_ = 0;  // 0: not on the LRU (isolated or not cached), else 1
  // Isolated by reclaim (isolate_lru_pages()), which holds a reference
  // and may hold the lock while it looks at the page.
  bool isolated_ = false;
  // Mapped writable (and dirty) in the application's page tables, by
  // this mapping's PTE at index_ (see AddressSpace::WritablePte); the PTE
  // holds a reference. Null: not mapped writable.
  AddressSpace* pte_ = nullptr;
  // The LRU is an intrusive list (as the kernel's page->lru): O(1) moves.
  Page* lru_prev_ = nullptr;  // older
  Page* lru_next_ = nullptr;  // newer
};

// --- Page flags -------------------------------------------------------------
inline bool PageLocked(const Page& p) { return (p.flags() & kPgLocked) != 0; }
inline bool PageError(const Page& p) { return (p.flags() & kPgError) != 0; }
inline bool PageUptodate(const Page& p) { return (p.flags() & kPgUptodate) != 0; }
inline bool PageDirty(const Page& p) { return (p.flags() & kPgDirty) != 0; }
inline bool PageWriteback(const Page& p) { return (p.flags() & kPgWriteback) != 0; }
inline bool PagePrivate(const Page& p) { return (p.flags() & kPgPrivate) != 0; }
inline bool PageReclaim(const Page& p) { return (p.flags() & kPgReclaim) != 0; }
inline bool PagePrivate2(const Page& p) { return (p.flags() & kPgPrivate2) != 0; }
inline bool PageToWrite(const Page& p) { return (p.flags() & kPgToWrite) != 0; }
inline bool PageReadahead(const Page& p) { return (p.flags() & kPgReadahead) != 0; }
// SetPageReadahead() / TestClearPageReadahead(): see kPgReadahead.
void SetPageReadahead(Page& page);
// A user mapping touched the page (its PTE young): see kPgReferenced.
void SetPageReferencedByPte(Page& page);
bool TestClearPageReadahead(Page& page);
// SetPagePrivate2() / TestClearPagePrivate2(): see kPgPrivate2.
void SetPagePrivate2(Page& page);
bool TestClearPagePrivate2(Page& page);
// tag_pages_for_writeback() and its end.
void SetPageToWrite(Page& page);
void ClearPageToWrite(Page& page);
void SetPageUptodate(Page& page);
void ClearPageUptodate(Page& page);
void SetPageError(Page& page);
void ClearPageError(Page& page);

// attach_page_private(): sets page->private and PG_private, takes a page
// reference. REQUIRES: not PG_private (a warn finding otherwise).
void AttachPagePrivate(Page& page, void* data);
// detach_page_private(): returns page->private (null if not PG_private),
// clears it and drops the reference. May free the page.
void* DetachPagePrivate(Page& page);

// --- The page lock ----------------------------------------------------------
// lock_page(): sleeps until PG_locked is clear, then sets it. `nest` (may
// be null) is a held lock that serialises locking several pages (lockdep's
// nest_lock). REQUIRES: may sleep; a reference on the page. A freed page
// is reported as use_after_free and not locked.
void LockPage(Page& page, sim::Where where = sim::Where::current(),
              const sim::LockMap* nest = nullptr);
// trylock_page(): true if the page was unlocked and is now locked. Never
// sleeps.
bool TryLockPage(Page& page, sim::Where where = sim::Where::current(),
                 const sim::LockMap* nest = nullptr);
// unlock_page(): clears PG_locked and wakes waiters. Any fiber may unlock
// (I/O completion does). Unlocking an unlocked page is lock_misuse.
void UnlockPage(Page& page, sim::Where where = sim::Where::current());
// The locked page now belongs to I/O (a read in flight): the current
// fiber no longer holds it for lockdep; completion unlocks it.
void HandOffPageLock(Page& page, sim::Where where = sim::Where::current());
// wait_on_page_locked(): sleeps until PG_locked is clear. REQUIRES: may
// sleep; a reference on the page.
void WaitOnPageLocked(Page& page);

// --- Writeback --------------------------------------------------------------
// set_page_writeback(). REQUIRES: page locked (a warn finding otherwise),
// not already under writeback (a warn finding).
void SetPageWriteback(Page& page);
// end_page_writeback(): clears PG_writeback and wakes its waiters; a page
// written by reclaim goes to the oldest end of the LRU. Never sleeps
// (interrupt context). Ending writeback of a page not under writeback is
// a warn finding.
void EndPageWriteback(Page& page);
// wait_on_page_writeback(): sleeps while PG_writeback. REQUIRES: may
// sleep; a reference on the page.
void WaitOnPageWriteback(Page& page);

// --- References -------------------------------------------------------------
void GetPage(Page& page);
// put_page(): drops a reference; the last one frees the page. Never
// sleeps. A put on a freed page is use_after_free; freeing a page with
// flags still set is the kernel's "Bad page state".
void PutPage(Page& page, sim::Where where = sim::Where::current());

// --- Dirty ------------------------------------------------------------------
// __set_page_dirty_nobuffers(): returns true if the page was not dirty.
// Accounted only while the page is in the cache. Never sleeps.
bool SetPageDirty(Page& page);
// clear_page_dirty_for_io(): returns true if the page was dirty.
// REQUIRES: page locked (a warn finding otherwise).
bool ClearPageDirtyForIo(Page& page);
// cancel_dirty_page(): drops the dirty bit and its accounting (truncate).
void CancelDirtyPage(Page& page);
// page_mkclean() / unmap_mapping_page() / try_to_unmap() as fsim needs
// them: takes away the PTE that maps the page writable (the next store
// to it faults again, through ->page_mkwrite) and drops the PTE's
// reference. Returns true if there was one.
bool PageMkclean(Page& page);
// zero_user_segment(): zeroes bytes [start, end) of the page.
void ZeroUserSegment(Page& page, uint64_t start, uint64_t end);

enum class WbSyncMode : uint8_t { kNone, kAll };

// struct writeback_control.
struct WritebackControl {
  WbSyncMode sync_mode = WbSyncMode::kNone;
  int64_t nr_to_write = INT64_MAX;  // pages left to write; decremented
  int64_t pages_skipped = 0;        // pages redirtied by ->writepage
  uint64_t range_start = 0;         // bytes, inclusive
  uint64_t range_end = kLEndMax;    // bytes, inclusive
  bool for_reclaim = false;         // from pageout() in reclaim
  bool for_background = false;      // the flusher's background writeback
  // What the writer holds open and not yet submitted (an ioend, a bio),
  // submitted by write_cache_pages before it sleeps on a page lock or on a
  // page's writeback: the holder of that page may be waiting for the very
  // I/O kept open (btrfs's extent_write_cache_pages flushes its bio before
  // lock_page for this reason). Null: nothing to submit.
  const std::function<void()>* submit_pending = nullptr;
  // fsim: the pages of write_cache_pages' current batch still to come
  // after the page being written (a page truncated and created again at
  // the same index is a new page that this pass will not visit).
  const Page* const* batch_rest = nullptr;
  size_t batch_rest_len = 0;
};

// redirty_page_for_writepage(): ->writepage declines (e.g. under
// PF_MEMALLOC): counts a skip and marks the page dirty again.
void RedirtyPageForWritepage(WritebackControl& wbc, Page& page);

// The filesystem's address_space_operations.
class AddressSpaceOps {
 public:
  virtual ~AddressSpaceOps() = default;
  // ->writepage(). REQUIRES: page locked, its dirty bit already cleared
  // for io. Must unlock the page, having either started writeback
  // (SetPageWriteback; EndPageWriteback at completion) or redirtied it.
  // Returns 0, or a negative errno (the page unlocked all the same).
  virtual int Writepage(Page& page, WritebackControl& wbc) = 0;
  // ->writepages(). The default is generic_writepages(): write_cache_pages
  // calling Writepage for each dirty page in the range.
  virtual int Writepages(AddressSpace& mapping, WritebackControl& wbc);
  // ->readpage(). REQUIRES: page locked, not uptodate. Sets it uptodate
  // (or PG_error) and unlocks it when the read completes. Returns 0 or a
  // negative errno. The default fails with -EIO, unlocking the page.
  virtual int Readpage(Page& page);
  // ->releasepage(). REQUIRES: page locked, PG_private, not writeback.
  // Returns true if page->private was released (DetachPagePrivate), false
  // to keep the page. Must not sleep unless `gfp` allows reclaim.
  virtual bool Releasepage(Page& page, sim::Gfp gfp) = 0;
  // ->invalidatepage(). REQUIRES: page locked, PG_private. Bytes
  // [offset, offset+length) of the page are going away; for the whole
  // page, the fs must release page->private.
  virtual void Invalidatepage(Page& page, uint64_t offset, uint64_t length) = 0;
};

// struct address_space: one per inode.
class AddressSpace {
 public:
  using Where = sim::Where;

  // REQUIRES: `ops` outlives this; the scheduler outlives this. A mapping
  // destroyed during a run must have no pages left (truncate first).
  AddressSpace(sim::Scheduler& sched, std::string name, AddressSpaceOps* ops);
  ~AddressSpace();
  AddressSpace(const AddressSpace&) = delete;
  AddressSpace& operator=(const AddressSpace&) = delete;

  // --- Lookup (mm/filemap.c) ---------------------------------------------
  // find_get_page(): the cached page at `index` with a reference, or null.
  Page* FindGetPage(uint64_t index);
  // find_lock_page(): as FindGetPage, locked; retries if the page was
  // truncated while it waited. REQUIRES: may sleep.
  Page* FindLockPage(uint64_t index, Where where = Where::current());
  // pagecache_get_page(FGP_LOCK|FGP_ACCESSED|FGP_CREAT): the page at
  // `index`, created if absent, with a reference, locked if `lock`. The
  // allocation uses `gfp` and may enter reclaim. Returns null if memory
  // could not be had (-ENOMEM). REQUIRES: may sleep (unless atomic gfp and
  // !lock).
  // `nest`: as LockPage's, for a caller holding other pages.
  Page* FindOrCreatePage(uint64_t index, sim::Gfp gfp, bool lock = true,
                         Where where = Where::current(), const sim::LockMap* nest = nullptr);
  // read_cache_page(): the uptodate page at `index` (created and read
  // through ->readpage if needed), referenced and unlocked; null on error.
  Page* ReadCachePage(uint64_t index, sim::Gfp gfp);
  // delete_from_page_cache(): removes the page and drops the cache's
  // reference. REQUIRES: page locked, in this mapping; a dirty page or
  // one under writeback is a warn finding (data loss), removed anyway.
  void DeleteFromPageCache(Page& page, Where where = Where::current());

  // --- Writeback (mm/page-writeback.c, mm/filemap.c) ----------------------
  // write_cache_pages(): for each dirty page in wbc's range (for
  // kWbSyncAll: those dirty at the start), lock it, skip it if truncated
  // or clean, wait for (kAll) or skip (kNone) writeback, clear dirty for
  // io and call `writepage`. Returns the first error. REQUIRES: may sleep.
  using WritepageFn = std::function<int(Page&, WritebackControl&)>;
  int WriteCachePages(WritebackControl& wbc, const WritepageFn& writepage);
  // generic_writepages(): WriteCachePages with ops->Writepage.
  int GenericWritepages(WritebackControl& wbc);
  // do_writepages(): ops->Writepages.
  int DoWritepages(WritebackControl& wbc);
  // __filemap_fdatawrite_range() for bytes [start, end].
  int FilemapFdatawriteRange(uint64_t start, uint64_t end, WbSyncMode mode);
  // filemap_fdatawait_range(): waits for writeback of every page in
  // [start, end]; returns and clears the mapping's error.
  int FilemapFdatawaitRange(uint64_t start, uint64_t end);
  // filemap_write_and_wait_range(): writes every dirty page in [start,
  // end] and waits for all writeback there. Returns 0 or a negative errno.
  int FilemapWriteAndWaitRange(uint64_t start, uint64_t end);
  // mapping_set_error() / filemap_check_errors().
  void SetError(int error);
  int CheckErrors();
  // errseq_check_and_advance() against a file's sample `*seen` (0 at
  // open): the error set since, once, or 0.
  int CheckAndAdvanceWbErr(uint64_t* seen) const {
    if (*seen == wb_err_seq_) return 0;
    *seen = wb_err_seq_;
    return wb_err_;
  }

  // --- Shared writable mappings (mm/memory.c, mm/rmap.c) ------------------
  // The application's page tables for this file; its fibers are threads
  // of one process, so there is one set. A write fault that
  // ->page_mkwrite let through maps the page writable and dirty
  // (finish_fault, the page locked; the PTE holds a reference). Later
  // stores to that page go straight to it, with no fault and no lock,
  // until the PTE is write-protected (page_mkclean, from
  // clear_page_dirty_for_io) or removed (unmap_mapping_page from
  // truncation, try_to_unmap from reclaim). So a page that a path
  // cleans without clear_page_dirty_for_io can be changed after it was
  // cleaned, and a page removed while still mapped keeps taking stores.
  // The page the PTE at `index` maps writable, or null.
  Page* WritablePte(uint64_t index) const {
    auto it = ptes_.find(index);
    return it == ptes_.end() ? nullptr : it->second;
  }
  // finish_fault() of a write fault. REQUIRES: page locked, in this
  // mapping.
  void InstallWritePte(Page& page);

  // --- Truncate (mm/truncate.c) ------------------------------------------
  // truncate_inode_pages_range(): removes every page wholly inside bytes
  // [lstart, lend] (lend inclusive, kLEndMax: to the end), zeroes the
  // parts of partial pages in the range and tells ->invalidatepage about
  // them. Waits for writeback. REQUIRES: may sleep; the caller keeps the
  // range from being repopulated (i_rwsem, invalidate_lock).
  void TruncateInodePagesRange(uint64_t lstart, uint64_t lend);
  // truncate_pagecache(): drops the page cache from `newsize` on.
  void TruncatePagecache(uint64_t newsize);
  // invalidate_mapping_pages(): drops the unused clean pages of [start,
  // end] (bytes), without waiting; returns how many left the cache.
  uint64_t InvalidateMappingPages(uint64_t start, uint64_t end);
  // truncate_setsize(): i_size = newsize, then TruncatePagecache.
  void TruncateSetsize(uint64_t& i_size, uint64_t newsize);

  // --- Queries and checks ---------------------------------------------------
  const std::string& name() const { return name_; }
  AddressSpaceOps* ops() const { return ops_; }
  sim::Scheduler& sched() const { return sched_; }
  uint64_t nrpages() const { return pages_.size(); }
  uint64_t nr_dirty() const { return nr_dirty_; }
  uint64_t nr_writeback() const { return nr_writeback_; }
  // The inode's I_SYNC: the flusher is writing it back
  // (writeback_sb_inodes); inode eviction neither isolates nor frees it
  // meanwhile (inode_lru_isolate, inode_wait_for_writeback).
  bool i_sync() const { return i_sync_; }
  // The inode's I_FREEING: it is being evicted; the flusher leaves it to
  // the freer (writeback_sb_inodes skips it).
  bool i_freeing() const { return i_freeing_; }
  void set_i_freeing(bool freeing) { i_freeing_ = freeing; }
  // The cached page at `index` without taking a reference (oracles).
  Page* Peek(uint64_t index) const;
  std::vector<uint64_t> Indices() const;
  // Violations of the page cache's rules for the fs, as "WARNING: ..."
  // lines: a page left locked, a cached page's refcount other than the
  // cache's and PG_private's references (call when users are done), a
  // dirty or writeback page wholly beyond `i_size`. Harness invariants
  // (the counts) are checked too, aborting if broken.
  std::vector<std::string> CheckInvariants(uint64_t i_size) const;
  // Reports each violation as a warn finding; returns how many.
  size_t ReportInvariants(uint64_t i_size) const;

 private:
  friend class PageCache;
  friend class PageCacheShrinker;
  friend struct PageOps;

  std::map<uint64_t, Page*> ptes_;  // index -> page mapped writable

  struct Violation {
    std::string signature;
    std::string message;
  };
  std::vector<Violation> Violations(uint64_t i_size) const;
  // Allocates and caches a page at `index` (locked if `lock`); null with
  // *raced if another fiber cached one meanwhile, null alone on -ENOMEM.
  Page* AddNewPage(uint64_t index, sim::Gfp gfp, bool lock, bool* raced, Where where,
                   const sim::LockMap* nest = nullptr);
  void TruncateInodePage(Page& page);
  // Up to `max` cached pages with indices in [start, end] (and `flag`
  // set, if not 0), each with a reference: find_get_pages_range(_tag).
  std::vector<Page*> FindGetPages(uint64_t start, uint64_t end, uint32_t flag, size_t max);
  void TruncatePartial(uint64_t index, uint64_t from, uint64_t to);
  void TruncateCleanupPage(Page& page);

  sim::Scheduler& sched_;
  std::string name_;
  AddressSpaceOps* ops_;
  PageCache& cache_;
  uint64_t run_;                     // the PageCache run this mapping belongs to
  std::map<uint64_t, Page*> pages_;  // i_pages, by index
  uint64_t nr_dirty_ = 0;
  uint64_t nr_writeback_ = 0;
  bool i_sync_ = false;
  bool i_freeing_ = false;
  int error_ = 0;  // AS_EIO / AS_ENOSPC, as a negative errno
  // mapping->wb_err (errseq_t): the last error set and how many were set.
  // filemap_check_errors() does not clear it; each open file reports what
  // was set since it last looked (file_check_and_advance_wb_err).
  int wb_err_ = 0;
  uint64_t wb_err_seq_ = 0;
};

// balance_dirty_pages() (mm/page-writeback.c): above the background
// threshold (half the dirty threshold, as dirty_background_ratio is half
// dirty_ratio) the flusher is woken (wb_start_background_writeback());
// above the dirty threshold the writer is throttled: it sleeps until
// writeback completes pages (io_schedule_timeout()), never writing pages
// itself, for a bounded number of pauses. REQUIRES: may sleep; no page
// locks held.
void BalanceDirtyPages(AddressSpace& mapping);

// balance_dirty_pages_ratelimited(): what a writer calls after it dirties
// pages. It runs balance_dirty_pages() only once the task has dirtied
// nr_dirtied_pause pages since it last did (8 while the dirty limit is
// exceeded): a writer is not throttled page by page, and the flusher is
// not woken page by page.
void BalanceDirtyPagesRatelimited(AddressSpace& mapping);

struct PageCacheConfig {
  // vm.dirty_bytes as pages; 0: 20% of the memory budget (dirty_ratio).
  uint64_t dirty_thresh_pages = 0;
  // vm.dirty_background_bytes as pages; 0: half the dirty threshold
  // (dirty_background_ratio 10 beside dirty_ratio 20). Above it the
  // flusher is woken. A value at or above the threshold is taken as half
  // of it, as domain_dirty_limits() does.
  uint64_t dirty_background_thresh_pages = 0;
  // Which reclaimers write dirty pages through ->writepage (always under
  // __GFP_FS, with the page locked). kKswapdOnly is v5.13's
  // shrink_page_list(): only kswapd writes, and only a page it already
  // marked PG_reclaim on an earlier pass; direct reclaim marks and keeps.
  // kAll is older kernels' direct-reclaim pageout (the path btrfs's
  // PF_MEMALLOC check in writepage defends against).
  enum class ReclaimWritepage { kNever, kKswapdOnly, kAll };
  ReclaimWritepage reclaim_writepage = ReclaimWritepage::kKswapdOnly;
  // An injectable mistake (FsConfig::bug_truncate_partial_skips_writeback_wait):
  // truncate_inode_pages_range() zeroes the partial page's tail without
  // wait_on_page_writeback(), while the device may still be reading it.
  bool bug_truncate_partial_skips_writeback_wait = false;
  // (FsConfig::bug_read_cache_page_skips_wait): do_read_cache_page()
  // tests PageUptodate right after ->readpage, without
  // wait_on_page_locked(): a read still in flight is taken for a failed
  // one.
  bool bug_read_cache_page_skips_wait = false;
  // (FsConfig::bug_check_errors_keeps_as_eio): filemap_check_errors()
  // tests AS_EIO without clearing it (test_bit for test_and_clear_bit).
  bool bug_check_errors_keeps_as_eio = false;
};

// shrink_page_list() over the run's LRU, as a sim::Shrinker.
class PageCacheShrinker final : public sim::Shrinker {
 public:
  explicit PageCacheShrinker(PageCache& cache) : cache_(cache) {}
  std::string_view name() const override { return "page_cache"; }
  uint64_t Count() override;
  // Scans up to `nr_to_scan` pages, oldest first: a page in use,
  // locked or under writeback is kept; a dirty one is written through
  // ->writepage (only under __GFP_FS); a clean one's private data is
  // released (->releasepage) and the page freed. Returns pages freed.
  // Pages are isolated in batches of SWAP_CLUSTER_MAX; no batch starts
  // once `nr_to_reclaim` pages were freed.
  uint64_t Scan(uint64_t nr_to_scan, uint64_t nr_to_reclaim, sim::Gfp gfp) override;
  // Pages under writeback, pages locked for a read in flight (their locks
  // handed to I/O), and pages another reclaim pass has isolated (kswapd
  // may sleep with them; too_many_isolated() throttles direct reclaim
  // meanwhile): freeable, or back on the LRU, once that ends.
  uint64_t InFlight() override;
  // Dirty pages: the flusher may clean them.
  uint64_t WritePending() override;
  uint64_t Isolated() override;

 private:
  // Also counts in *unqueued_dirty a page it locked that was dirty and
  // not under writeback (page_check_dirty_writeback()).
  bool ShrinkPage(Page& page, sim::Gfp gfp, uint64_t* unqueued_dirty);
  uint64_t ShrinkInactiveList(uint64_t nr_to_scan, sim::Gfp gfp);
  // SWAP_CLUSTER_MAX: pages isolated from the LRU at a time.
  static constexpr uint64_t kSwapClusterMax = 32;
  PageCache& cache_;
};

// The run's page cache state: the dirty and writeback counts, the LRU,
// the shrinker (registered with sim::Memory when the first page of a run
// is cached) and the dirty-throttle wait queue.
class PageCache final : public sim::RunService {
 public:
  explicit PageCache(sim::Scheduler& sched);
  ~PageCache() override;
  static PageCache& Of(sim::Scheduler& sched) { return sched.Service<PageCache>(); }

  // REQUIRES: before the run's first page.
  void Configure(const PageCacheConfig& config);
  const PageCacheConfig& config() const { return config_; }
  uint64_t DirtyThresh() const;
  uint64_t BackgroundThresh() const;
  // writeback_set_ratelimit(): ratelimit_pages, the dirty threshold over
  // 32 per CPU. The kernel's floor is 16 pages against thresholds of
  // hundreds of thousands; fsim's memory is a few hundred pages, so its
  // floor is 1 (small scenarios look on every page, as they would if
  // their limits were to scale).
  uint64_t RatelimitPages() const { return std::max<uint64_t>(1, DirtyThresh() / 32); }
  // wb_wakeup(): the run's flusher (a daemon "flush-btrfs" fiber, started
  // on first use) writes back in the background until the dirty count is
  // at or below the background threshold.
  void WakeFlusher();
  uint64_t flusher_passes() const { return flusher_passes_; }
  uint64_t nr_dirty() const { return nr_dirty_; }
  uint64_t nr_writeback() const { return nr_writeback_; }
  uint64_t nr_lru() const { return nr_lru_; }
  uint64_t pages_freed() const { return pages_freed_; }
  PageCacheShrinker& shrinker() { return shrinker_; }
  // The LRU's pages, oldest first (tests, oracles).
  std::vector<const Page*> LruPages() const;

  void OnRunBegin() override;
  void OnRunEnd() override;

 private:
  friend class AddressSpace;
  friend class PageCacheShrinker;
  friend struct PageOps;
  friend void BalanceDirtyPages(AddressSpace& mapping);
  friend void BalanceDirtyPagesRatelimited(AddressSpace& mapping);

  void LruAdd(Page& page, bool oldest);
  void LruDel(Page& page);
  void Forget(AddressSpace* mapping, uint64_t run);
  void AccountDirty(AddressSpace& mapping, int delta);
  void AccountWriteback(AddressSpace& mapping, int delta);
  sim::WaitQueue& throttle_wait();
  // wb_workfn() -> wb_writeback(): for_background WB_SYNC_NONE passes over
  // the dirty mappings, oldest dirtied first.
  void FlusherMain();
  // A WARN_ON/BUG of the mm side: a warn finding; the run goes on.
  void Warn(std::string signature, std::string report);

  sim::Scheduler& sched_;
  PageCacheConfig config_;
  PageCacheShrinker shrinker_;
  uint64_t run_ = 0;
  bool in_run_ = false;      // between OnRunBegin and OnRunEnd
  bool registered_ = false;  // shrinker registered for this run
  uint64_t nr_dirty_ = 0;
  uint64_t nr_writeback_ = 0;
  uint64_t writeback_ends_ = 0;    // completions seen, for throttled writers
  uint64_t writeback_starts_ = 0;  // pages set under writeback
  uint64_t nr_io_locked_ = 0;      // pages whose lock I/O completion will drop
  uint64_t nr_isolated_ = 0;       // pages a reclaim pass has off the LRU
  uint64_t pages_freed_ = 0;
  // The LRU by age, oldest first: an intrusive list through the pages
  // (rotation puts a page at the oldest end).
  Page* lru_oldest_ = nullptr;
  Page* lru_newest_ = nullptr;
  uint64_t nr_lru_ = 0;
  std::unique_ptr<sim::WaitQueue> throttle_wait_;
  // wb->dirty_exceeded: the last balance_dirty_pages() found the dirty
  // count over the limit and throttled.
  bool dirty_exceeded_ = false;
  // The per-CPU bdp_ratelimits: pages dirtied since a task last ran
  // balance_dirty_pages() (account_page_dirtied()).
  int64_t bdp_ratelimits_ = 0;
  // The mappings with dirty pages, in the order they were first dirtied
  // (the bdi's b_dirty list); a mapping stays listed until it is written
  // clean by the flusher or destroyed.
  std::vector<AddressSpace*> dirty_mappings_;
  std::unique_ptr<sim::WaitQueue> flusher_wait_;
  bool flusher_started_ = false;
  bool flusher_wanted_ = false;
  uint64_t flusher_passes_ = 0;
};

}  // namespace fsim::fs

#endif  // FSIM_FS_MM_PAGE_CACHE_H_
