// Writeback as mm/page-writeback.c (and mm/filemap.c's fdatawrite and
// fdatawait) has it: write_cache_pages over the dirty tag, the
// data-integrity pass's TOWRITE tagging, and balance_dirty_pages(). See
// page_cache.h for the model and the locking rules.
//
// Every loop that sleeps (lock_page, ->writepage, waiting for writeback)
// holds a reference on the pages of its batch, as a pagevec does, and
// re-finds its place by index afterwards: the map may have changed.
#include <algorithm>
#include <bit>

#include "fs/mm/page_cache.h"
#include "sim/check.h"
#include "sim/heap.h"

namespace fsim::fs {
namespace {

// Rounds of balance_dirty_pages() before the writer goes on regardless,
// and the longest it sleeps in one (MAX_PAUSE, HZ/5).
constexpr int kBalanceRoundsMax = 16;
constexpr uint64_t kDirtyPauseNs = 200'000'000;
// DIRTY_POLL_THRESH (128 KiB) and the ratelimit while wb->dirty_exceeded
// (32 KiB), in 4 KiB pages.
constexpr int kDirtyPollThresh = 128 >> (kPageShift - 10);
constexpr int kDirtyExceededRatelimit = 32 >> (kPageShift - 10);

// dirty_poll_interval(): 2^(ilog2(thresh - dirty) / 2) pages, 1 at or
// over the threshold.
int DirtyPollInterval(uint64_t dirty, uint64_t thresh) {
  if (thresh <= dirty) return 1;
  return 1 << (std::bit_width(thresh - dirty) - 1) / 2;
}

// The last page index of byte range end `end` (inclusive).
uint64_t LastIndex(uint64_t end) { return end >> kPageShift; }

}  // namespace

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
  wb_err_ = error_;  // errseq_set(&mapping->wb_err)
  ++wb_err_seq_;
}

int AddressSpace::CheckErrors() {
  // filemap_check_errors(): test_and_clear_bit(AS_EIO): an error is
  // reported once.
  int error = error_;
  if (!cache_.config().bug_check_errors_keeps_as_eio) error_ = 0;
  return error;
}

// --- Dirty throttling -------------------------------------------------------------

void BalanceDirtyPages(AddressSpace& mapping) {
  sim::Scheduler& s = mapping.sched();
  PageCache& cache = PageCache::Of(s);
  sim::Fiber& task = s.current_fiber();
  s.MightSleep("balance_dirty_pages");
  // Below the limit (the freerun zone): the task may dirty about the
  // square root of the distance to the limit before it looks again
  // (dirty_poll_interval()).
  auto freerun = [&] {
    cache.dirty_exceeded_ = false;
    task.nr_dirtied = 0;
    task.nr_dirtied_pause = DirtyPollInterval(cache.nr_dirty_, cache.DirtyThresh());
  };
  for (int round = 0; round < kBalanceRoundsMax && !s.unwinding(); ++round) {
    if (cache.nr_dirty_ <= cache.BackgroundThresh()) return freerun();
    s.Cover("balance_dirty_pages:wake_flusher");
    cache.WakeFlusher();
    if (cache.nr_dirty_ <= cache.DirtyThresh()) return freerun();
    // Throttled: sleep until writeback completes pages, or the pause ends.
    s.Cover("balance_dirty_pages:throttled");
    cache.dirty_exceeded_ = true;
    const uint64_t ends = cache.writeback_ends_, starts = cache.writeback_starts_;
    cache.throttle_wait().WaitEventTimeout([&] { return cache.writeback_ends_ != ends; },
                                           kDirtyPauseNs);
    // After a pause the task may dirty DIRTY_POLL_THRESH pages (the
    // ratelimit caps that at 8 while the limit is exceeded).
    task.nr_dirtied = 0;
    task.nr_dirtied_pause = kDirtyPollThresh;
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

void BalanceDirtyPagesRatelimited(AddressSpace& mapping) {
  sim::Scheduler& s = mapping.sched();
  PageCache& cache = PageCache::Of(s);
  const sim::Fiber& task = s.current_fiber();
  int ratelimit = task.nr_dirtied_pause;
  if (cache.dirty_exceeded_) ratelimit = std::min(ratelimit, kDirtyExceededRatelimit);
  // bdp_ratelimits: the pages dirtied on this CPU (fsim has one) since a
  // task last looked, so that many tasks each under its own pause cannot
  // together run past the limit.
  if (task.nr_dirtied >= ratelimit) {
    cache.bdp_ratelimits_ = 0;
  } else if (cache.bdp_ratelimits_ >= static_cast<int64_t>(cache.RatelimitPages())) {
    cache.bdp_ratelimits_ = 0;
    ratelimit = 0;
  }
  if (task.nr_dirtied >= ratelimit) BalanceDirtyPages(mapping);
}

}  // namespace fsim::fs
