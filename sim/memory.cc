// Simulated memory pressure (see memory.h for the model).
//
// Every decision the model makes about reclaim (enter direct reclaim early
// or not, how many objects a shrinker scans) is a Chooser value, so a
// strategy explores reclaim at every point where it could happen and a
// trace replays it. The choices are kept to a few options each: the
// decision tree of a scenario stays small enough for DFS to exhaust.
//
// Invariants, checked where the state changes: used_ <= budget (an
// allocation that cannot get under it fails, and nothing else raises
// used_); FreePages never frees more than is in use; a fiber's
// PF_MEMALLOC flag is restored when its reclaim pass ends.
//
// Locking rules: none (the simulation is single-threaded); but a shrinker
// sleeps, so between two statements that straddle a call into a shrinker
// or a Yield other fibers may have allocated or freed pages: every
// decision re-reads used_.
#include "sim/memory.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "sim/check.h"
#include "sim/lockdep.h"
#include "sim/sync.h"

namespace fsim::sim {
namespace {

// Direct reclaim passes one allocation makes before it gives up (the
// kernel's MAX_RECLAIM_RETRIES is 16), and kswapd's passes per wake-up. A
// pass that frees nothing ends the retries earlier.
constexpr int kReclaimPassesMax = 16;
// congestion_wait(BLK_RW_ASYNC, HZ/50): the longest an allocation waits
// for writeback to end before it reclaims again.
constexpr uint64_t kCongestionWaitNs = 20'000'000;
// One jiffy at HZ=250.
constexpr uint64_t kJiffyNs = 4'000'000;
// Shrinkers registered at once: registering more is a harness error.
constexpr size_t kShrinkersMax = 16;
// Options for a shrinker's nr_to_scan: 1, half of its objects, all of
// them. Three are enough to reach "a little", "some" and "everything"
// while keeping the decision tree small.
constexpr size_t kScanChoicesMax = 3;
// SWAP_CLUSTER_MAX: a reclaim pass aims to free at least this many pages
// (scan_control.nr_to_reclaim: max(SWAP_CLUSTER_MAX, 1 << order) for
// direct reclaim, at least it for kswapd), and the LRU isolates pages in
// batches of it (shrink_lruvec()). An early pass (see AllocPages) scans at
// most one batch.
constexpr uint64_t kSwapClusterMax = 32;

// Sets PF_MEMALLOC and, for __GFP_FS, holds fs_reclaim for the duration of
// one reclaim pass; undoes both on the way out, including when the fiber
// is unwound at the end of a run.
class ReclaimScope {
 public:
  ReclaimScope(Scheduler& sched, Gfp gfp, Lockdep::Where where)
      : fiber_(sched.current_fiber()),
        was_memalloc_(fiber_.memalloc),
        fs_reclaim_((gfp & kGfpFs) != 0 ? &FsReclaim::Of(sched) : nullptr) {
    fiber_.memalloc = true;
    if (fs_reclaim_ != nullptr) fs_reclaim_->Enter(where);
  }
  ~ReclaimScope() {
    if (fs_reclaim_ != nullptr) fs_reclaim_->Exit();
    fiber_.memalloc = was_memalloc_;
  }
  ReclaimScope(const ReclaimScope&) = delete;
  ReclaimScope& operator=(const ReclaimScope&) = delete;

 private:
  Fiber& fiber_;
  bool was_memalloc_;
  FsReclaim* fs_reclaim_;
};

// The distinct nr_to_scan options for a shrinker holding `count` objects,
// none above `cap`, ascending; returns how many there are (1 to
// kScanChoicesMax).
size_t ScanOptions(uint64_t count, uint64_t cap, std::array<uint64_t, kScanChoicesMax>& out) {
  size_t n = 0;
  out[n++] = 1;
  uint64_t half = std::min(count / 2, cap);
  if (half > out[n - 1]) out[n++] = half;
  uint64_t all = std::min(count, cap);
  if (all > out[n - 1]) out[n++] = all;
  return n;
}

}  // namespace

std::string GfpName(Gfp gfp) {
  switch (gfp) {
    case kGfpKernel: return "GFP_KERNEL";
    case kGfpNoFs: return "GFP_NOFS";
    case kGfpNoIo: return "GFP_NOIO";
    case kGfpAtomic: return "GFP_ATOMIC";
    default: break;
  }
  // Not one of the usual masks: its bits, as the kernel's %pGg prints them.
  std::string name;
  auto add = [&](Gfp bit, const char* bit_name) {
    if ((gfp & bit) == 0) return;
    if (!name.empty()) name += '|';
    name += bit_name;
  };
  add(kGfpDirectReclaim, "__GFP_DIRECT_RECLAIM");
  add(kGfpIo, "__GFP_IO");
  add(kGfpFs, "__GFP_FS");
  add(kGfpNoRetry, "__GFP_NORETRY");
  Gfp unknown = gfp & ~(kGfpDirectReclaim | kGfpIo | kGfpFs | kGfpNoRetry);
  if (unknown != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%#x", unknown);
    if (!name.empty()) name += '|';
    name += hex;
  }
  return name;
}

Memory::Memory(Scheduler& sched) : sched_(sched) {}

Memory::~Memory() = default;

void Memory::OnRunBegin() {
  config_ = MemoryConfig{};
  stats_ = MemoryStats{};
  used_ = 0;
  shrinkers_.clear();
  // The previous run's kswapd is gone (unwound with the run), and its wait
  // queue still names fiber slots of that run: both are made afresh, on
  // first use in this run.
  kswapd_wait_.reset();
  reclaim_wait_.reset();
  io_completions_ = 0;
  putbacks_ = 0;
  kswapd_started_ = false;
  kswapd_wanted_ = false;
}

void Memory::Configure(const MemoryConfig& config) {
  FSIM_CHECK_MSG(config.high_pages <= config.low_pages, "memory: high > low watermark");
  FSIM_CHECK_MSG(config.low_pages <= config.budget_pages, "memory: low watermark > budget");
  FSIM_CHECK_MSG(stats_.allocations == 0 && used_ == 0,
                 "memory: Configure() after the run's first allocation");
  config_ = config;
}

bool Memory::AllocPages(uint64_t n, Gfp gfp, Where where) {
  FSIM_CHECK_MSG(sched_.in_fiber(), "alloc_pages outside a fiber");
  // A fiber already in reclaim (PF_MEMALLOC) does not reclaim again, as
  // __need_reclaim() and __alloc_pages_slowpath() skip it: no recursion
  // into shrinkers, and no fs_reclaim dependency.
  const bool memalloc = sched_.current_fiber().memalloc;
  const bool may_reclaim = (gfp & kGfpDirectReclaim) != 0 && !memalloc;
  if ((gfp & kGfpDirectReclaim) != 0) sched_.MightSleep("alloc_pages");
  if ((gfp & kGfpFs) != 0 && !memalloc) FsReclaim::Of(sched_).MightEnterReclaim(where);
  sched_.YieldHint("alloc_pages", ReclaimWait().object_id());
  ++stats_.allocations;
  if (n > config_.budget_pages) {
    // No amount of reclaim makes this fit.
    ++stats_.failed_allocations;
    return false;
  }
  if (used_ + n > config_.low_pages) {
    WakeKswapd();
    if (may_reclaim && sched_.Choose(2, "direct_reclaim_early") == 1) {
      // The allocation itself may still fit. v5.13's slow path reclaims
      // only below the min watermark (here: past the budget); fsim also
      // lets an allocation above the low watermark reclaim, so that
      // reclaim is explored at every allocation point and not only when
      // memory is full. Such a pass scans at most one SWAP_CLUSTER_MAX
      // batch, as a pass at low pressure (DEF_PRIORITY) scans little.
      // (Nothing yielded since the check: used_ is unchanged.)
      Reclaim(used_ + n - config_.low_pages, gfp, /*kswapd=*/false, kSwapClusterMax);
    }
  }
  const int passes = (gfp & kGfpNoRetry) != 0 ? 1 : kReclaimPassesMax;
  int putback_wakes = 0;
  for (int pass = 0; may_reclaim && used_ + n > config_.budget_pages && pass < passes; ++pass) {
    if (Reclaim(used_ + n - config_.budget_pages, gfp, /*kswapd=*/false) > 0) continue;
    if ((gfp & kGfpNoRetry) != 0) break;
    // Nothing freed. Pages under writeback become freeable when it ends,
    // and dirty pages once the flusher (which reclaim woke on finding
    // them, see PageCacheShrinker::Scan) has written them: the allocator
    // waits for an I/O to end and tries again, as v5.13's slow path does
    // (should_reclaim_retry()'s congestion_wait() while dirty and
    // writeback pages are pending, at most MAX_RECLAIM_RETRIES passes),
    // an order-0 allocation being too small to fail. With nothing in
    // flight and nothing to write, another pass cannot free more.
    if (InFlight() == 0 && WritePending() == 0) {
      // Nothing to wait for. should_reclaim_retry() still retries while
      // the shrinkers hold objects a pass may free (a pass that scanned
      // one page saw only that page; a fiber evicting an inode is about
      // to free its pages): up to MAX_RECLAIM_RETRIES passes without
      // progress, then the allocation fails.
      if (Reclaimable() == 0) break;
      sched_.Cover("alloc_pages:retry_reclaimable");
      // The objects left are busy with other tasks (pages locked by a
      // writer, an fsync's writeback or an ordered extent's completion).
      // On a real machine those tasks run on other CPUs while this one
      // retries; on fsim's one CPU a retry at the same instant could use
      // up all 16 passes before any of them ran. So the retry sleeps a
      // jiffy first (schedule_timeout_uninterruptible(1), what v5.13's
      // should_reclaim_retry() does for a workqueue worker), or until an
      // I/O ends.
      const uint64_t seen = io_completions_;
      ReclaimWait().WaitEventTimeout([&] { return io_completions_ != seen; }, kJiffyNs);
      continue;
    }
    sched_.Cover("alloc_pages:wait_for_writeback");
    // The wait ends when an I/O ends, or, if another reclaim pass holds
    // pages isolated that this one could not look at, when it puts them
    // back: then the pass does not count against MAX_RECLAIM_RETRIES (no
    // I/O ended and no time passed: it was no congestion_wait(); counted,
    // two reclaimers used up each other's retries at one instant with
    // writeback in flight). Bounded, so that they cannot wake each other
    // for ever.
    const uint64_t seen = io_completions_, seen_putbacks = putbacks_;
    const bool on_putback = putback_wakes < kReclaimPassesMax && SumOverShrinkers(&Shrinker::Isolated) > 0;
    ReclaimWait().WaitEventTimeout(
        [&] { return io_completions_ != seen || (on_putback && putbacks_ != seen_putbacks); },
        kCongestionWaitNs);
    if (on_putback && io_completions_ == seen && putbacks_ != seen_putbacks) {
      ++putback_wakes;
      --pass;
    }
  }
  // No scheduling point since the last check of used_: the check and the
  // taking are one step.
  if (used_ + n > config_.budget_pages) {
    ++stats_.failed_allocations;
    return false;
  }
  used_ += n;
  stats_.max_used = std::max(stats_.max_used, used_);
  FSIM_CHECK(used_ <= config_.budget_pages);
  return true;
}

void Memory::FreePages(uint64_t n) {
  FSIM_CHECK_MSG(n <= used_, "memory: FreePages() of more pages than are in use");
  used_ -= n;
}

void Memory::RegisterShrinker(Shrinker* shrinker) {
  FSIM_CHECK(shrinker != nullptr);
  FSIM_CHECK_MSG(std::find(shrinkers_.begin(), shrinkers_.end(), shrinker) == shrinkers_.end(),
                 "memory: shrinker registered twice");
  FSIM_CHECK_MSG(shrinkers_.size() < kShrinkersMax, "memory: too many shrinkers");
  shrinkers_.push_back(shrinker);
}

void Memory::UnregisterShrinker(Shrinker* shrinker) {
  auto it = std::find(shrinkers_.begin(), shrinkers_.end(), shrinker);
  FSIM_CHECK_MSG(it != shrinkers_.end(), "memory: unregistering an unknown shrinker");
  shrinkers_.erase(it);
}

bool Memory::HasShrinker(const Shrinker* shrinker) const {
  return std::find(shrinkers_.begin(), shrinkers_.end(), shrinker) != shrinkers_.end();
}

uint64_t Memory::Reclaim(uint64_t target, Gfp gfp, bool kswapd) {
  return Reclaim(target, gfp, kswapd, UINT64_MAX);
}

uint64_t Memory::Reclaim(uint64_t target, Gfp gfp, bool kswapd, uint64_t scan_max) {
  FSIM_CHECK(target > 0);
  Tracer* tracer = sched_.tracer();
  if (tracer != nullptr) [[unlikely]] tracer->ReclaimBegin(gfp, target, kswapd);
  ReclaimScope scope(sched_, gfp, Where::current());
  sched_.Cover(kswapd ? "reclaim:kswapd" : "reclaim:direct");
  if (kswapd) {
    ++stats_.kswapd_reclaims;
  } else {
    ++stats_.direct_reclaims;
  }
  // A copy: a shrinker may sleep, and another fiber may (un)register one
  // meanwhile. One unregistered during the pass is not called again.
  std::array<Shrinker*, kShrinkersMax> pass{};
  size_t count = shrinkers_.size();
  std::copy(shrinkers_.begin(), shrinkers_.end(), pass.begin());
  uint64_t freed = 0;
  const uint64_t nr_to_reclaim = std::max(target, kSwapClusterMax);
  for (size_t i = 0; i < count; ++i) {
    Shrinker* shrinker = pass[i];
    if (freed >= target && !shrinker->every_pass()) continue;
    if (std::find(shrinkers_.begin(), shrinkers_.end(), shrinker) == shrinkers_.end()) {
      continue;
    }
    uint64_t objects = shrinker->Count();
    if (objects == 0) continue;
    std::array<uint64_t, kScanChoicesMax> options;
    size_t n = ScanOptions(objects, scan_max, options);
    uint64_t nr_to_scan = options[sched_.Choose(n, "shrink_nr")];
    freed += shrinker->Scan(nr_to_scan, nr_to_reclaim - std::min(freed, nr_to_reclaim), gfp);
  }
  stats_.pages_reclaimed += freed;
  if (tracer != nullptr) [[unlikely]] tracer->ReclaimEnd(freed);
  return freed;
}

uint64_t Memory::SumOverShrinkers(uint64_t (Shrinker::*count)()) {
  uint64_t n = 0;
  for (Shrinker* shrinker : shrinkers_) n += (shrinker->*count)();
  return n;
}

WaitQueue& Memory::ReclaimWait() {
  if (reclaim_wait_ == nullptr) reclaim_wait_ = std::make_unique<WaitQueue>(sched_, "reclaim_wait");
  return *reclaim_wait_;
}

void Memory::IoCompleted() {
  ++io_completions_;
  if (reclaim_wait_ != nullptr) reclaim_wait_->WakeUp();
}

void Memory::PutbackDone() {
  ++putbacks_;
  if (reclaim_wait_ != nullptr) reclaim_wait_->WakeUp();
}

void Memory::WakeKswapd() {
  if (!config_.kswapd || sched_.unwinding()) return;
  if (kswapd_wait_ == nullptr) kswapd_wait_ = std::make_unique<WaitQueue>(sched_, "kswapd_wait");
  kswapd_wanted_ = true;
  if (!kswapd_started_) {
    kswapd_started_ = true;
    SpawnOptions options;
    options.daemon = true;
    sched_.Spawn("kswapd0", [this] { KswapdMain(); }, options);
    return;
  }
  kswapd_wait_->WakeUp();
}

// kswapd(): sleeps until an allocation wakes it, reclaims down to the high
// watermark, sleeps again. It gives up on a wake-up when a pass frees
// nothing (or after kReclaimPassesMax passes), so it never spins: a daemon
// that never blocked would keep the run from ending.
void Memory::KswapdMain() {
  sched_.current_fiber().kswapd = true;  // current_is_kswapd()
  for (;;) {
    kswapd_wait_->WaitEvent([this] { return kswapd_wanted_; });
    if (sched_.unwinding()) return;
    kswapd_wanted_ = false;
    for (int pass = 0; used_ > config_.high_pages && pass < kReclaimPassesMax; ++pass) {
      if (Reclaim(used_ - config_.high_pages, kGfpKernel, /*kswapd=*/true) == 0) break;
    }
  }
}

}  // namespace fsim::sim
