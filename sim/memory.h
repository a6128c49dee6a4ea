// Simulated memory pressure: a page budget for the page cache, allocations
// with the kernel's gfp flags, direct reclaim in the allocating fiber,
// a background reclaimer (kswapd), and shrinkers.
//
// Model (mm/page_alloc.c, mm/vmscan.c, simplified to one zone):
// - The budget has three watermarks, min < low < high (pages in use).
//   Allocating n pages when usage + n exceeds the budget enters direct
//   reclaim if the gfp flags allow it (GFP_KERNEL, GFP_NOFS, GFP_NOIO);
//   an atomic allocation then fails instead.
// - Whenever usage is above the low watermark, an allocation wakes kswapd
//   and may also, as the Chooser decides, enter direct reclaim early: so
//   strategies explore reclaim at every point where it can occur (v5.13
//   reclaims directly only below the min watermark; an early pass scans
//   at most SWAP_CLUSTER_MAX objects per shrinker).
// - Reclaim asks each registered shrinker, in registration order, to scan
//   a number of objects also chosen through the Chooser, with the gfp
//   flags of the allocation (kswapd: GFP_KERNEL) and with the fiber marked
//   PF_MEMALLOC (Fiber::memalloc). With __GFP_FS, reclaim holds the
//   fs_reclaim pseudo-lock (sim/lockdep.h), so that locks taken by
//   shrinkers (writepage) depend on fs_reclaim; every allocation that may
//   enter fs reclaim also records held-locks -> fs_reclaim. Together:
//   lockdep reports an allocation under a lock that writeback takes.
// - kswapd is a daemon fiber: it sleeps until woken, reclaims until usage
//   is at or below the high watermark (or nothing more can be freed), and
//   sleeps again.
//
// Invariants: usage never exceeds the budget (an allocation that cannot
// get under it fails); FreePages never frees more than is in use (a
// harness check).
//
// Locking rules: none (single-threaded simulation); shrinkers may sleep
// and take locks, except under GFP_ATOMIC (never reclaims).
#ifndef FSIM_SIM_MEMORY_H_
#define FSIM_SIM_MEMORY_H_

#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "sim/scheduler.h"

namespace fsim::sim {

// The gfp bits that matter here.
enum GfpFlags : uint32_t {
  kGfpDirectReclaim = 1u << 0,  // __GFP_DIRECT_RECLAIM: may sleep and reclaim
  kGfpIo = 1u << 1,             // __GFP_IO: reclaim may start I/O
  kGfpFs = 1u << 2,             // __GFP_FS: reclaim may call into the filesystem
  // __GFP_NORETRY: one reclaim pass, no waiting for writeback; the
  // allocation may fail (readahead's readahead_gfp_mask()).
  kGfpNoRetry = 1u << 3,
};
using Gfp = uint32_t;
inline constexpr Gfp kGfpKernel = kGfpDirectReclaim | kGfpIo | kGfpFs;
inline constexpr Gfp kGfpNoFs = kGfpDirectReclaim | kGfpIo;
inline constexpr Gfp kGfpNoIo = kGfpDirectReclaim;
inline constexpr Gfp kGfpAtomic = 0;

// "GFP_KERNEL", "GFP_NOFS", ... for reports.
std::string GfpName(Gfp gfp);

// struct shrinker: count and scan objects that can be freed.
class Shrinker {
 public:
  virtual ~Shrinker() = default;
  virtual std::string_view name() const = 0;
  // Objects this shrinker could free now (count_objects).
  virtual uint64_t Count() = 0;
  // Tries to free up to `nr_to_scan` objects under `gfp` (scan_objects);
  // returns the number of pages freed (each freed page must have been
  // returned with Memory::FreePages by the shrinker). May sleep.
  // `nr_to_reclaim` is what the pass still wants (scan_control's
  // nr_to_reclaim less what earlier shrinkers freed; 0 once met): the
  // page LRU stops between its batches once it freed that many, as
  // shrink_lruvec() does; a slab shrinker ignores it, as do_shrink_slab()
  // does.
  virtual uint64_t Scan(uint64_t nr_to_scan, uint64_t nr_to_reclaim, Gfp gfp) = 0;
  // A slab shrinker (shrink_slab()) is asked on every reclaim pass, even
  // one whose target the page LRU already met; the LRU's is asked only
  // while the pass still wants pages.
  virtual bool every_pass() const { return false; }
  // Objects that cannot be freed now but will be freeable, without anyone
  // else's help, once their I/O ends (pages under writeback) or another
  // reclaim pass puts them back (pages it isolated): what an
  // allocation that reclaimed nothing may wait for.
  virtual uint64_t InFlight() { return 0; }
  // Objects waiting for someone to write them before they can be freed
  // (dirty pages: NR_ZONE_WRITE_PENDING's dirty part; the flusher or an
  // fsync cleans them, and reclaim's own writes can nudge the flusher):
  // an allocation that reclaimed nothing waits for writeback while these
  // remain, as should_reclaim_retry() does, before it gives up.
  virtual uint64_t WritePending() { return 0; }
  // The part of InFlight() another reclaim pass holds isolated: back on
  // its list (PutbackDone) when that pass ends.
  virtual uint64_t Isolated() { return 0; }
};

struct MemoryConfig {
  uint64_t budget_pages = 256;  // the hard limit
  uint64_t low_pages = 192;     // above: kswapd is woken, early reclaim possible
  uint64_t high_pages = 128;    // kswapd reclaims down to this
  bool kswapd = true;           // start the kswapd daemon on first use
};

struct MemoryStats {
  uint64_t allocations = 0;
  uint64_t failed_allocations = 0;
  uint64_t direct_reclaims = 0;   // reclaim passes in allocating fibers
  uint64_t kswapd_reclaims = 0;   // reclaim passes by kswapd
  uint64_t pages_reclaimed = 0;
  uint64_t max_used = 0;
};

class Memory final : public RunService {
 public:
  using Where = std::source_location;

  explicit Memory(Scheduler& sched);
  ~Memory() override;
  static Memory& Of(Scheduler& sched) { return sched.Service<Memory>(); }

  // Sets the budget for this run. REQUIRES: before any allocation of the
  // run; high <= low <= budget.
  void Configure(const MemoryConfig& config);

  // Takes `n` pages of the budget. Returns false (no pages taken) if the
  // budget cannot be met: for an atomic allocation at once, otherwise
  // after direct reclaim freed too little. REQUIRES: in a fiber; sleeping
  // allowed unless gfp is kGfpAtomic (checked as might_sleep()).
  bool AllocPages(uint64_t n, Gfp gfp, Where where = Where::current());
  // Returns `n` pages to the budget.
  void FreePages(uint64_t n);

  // REQUIRES: `shrinker` outlives the run, or is unregistered first.
  void RegisterShrinker(Shrinker* shrinker);
  void UnregisterShrinker(Shrinker* shrinker);
  bool HasShrinker(const Shrinker* shrinker) const;

  uint64_t used() const { return used_; }
  const MemoryConfig& config() const { return config_; }
  const MemoryStats& stats() const { return stats_; }

  // One reclaim pass on the current fiber, as direct reclaim (or kswapd)
  // makes it: asks the shrinkers to free `target` pages under `gfp`
  // (holding fs_reclaim with __GFP_FS); returns the pages freed. Public
  // for tests and drop_caches-like drivers. REQUIRES: in a fiber.
  uint64_t Reclaim(uint64_t target, Gfp gfp, bool kswapd);

  // What a shrinker's InFlight() counted has ended (end_page_writeback, a
  // read's unlock, isolated pages put back): allocations waiting for
  // reclaimable memory look again.
  void IoCompleted();
  // Reclaim put pages it had isolated back on the LRU (putback_lru_page):
  // an allocation that found them isolated may look again. Not an I/O: a
  // wait for writeback does not end on it alone (see AllocPages).
  void PutbackDone();

  void OnRunBegin() override;

 private:
  // Reclaim() with each shrinker's nr_to_scan at most `scan_max`.
  uint64_t Reclaim(uint64_t target, Gfp gfp, bool kswapd, uint64_t scan_max);
  void WakeKswapd();
  void KswapdMain();
  // reclaim_wait_, made on first use in a run. Its object id also names
  // the memory at every allocation's scheduling point (a hint for surw).
  class WaitQueue& ReclaimWait();
  // A Shrinker count summed over the registered shrinkers.
  uint64_t SumOverShrinkers(uint64_t (Shrinker::*count)());
  uint64_t InFlight() { return SumOverShrinkers(&Shrinker::InFlight); }
  uint64_t WritePending() { return SumOverShrinkers(&Shrinker::WritePending); }
  // Objects the shrinkers hold now (their Count()s): what another pass
  // might free.
  uint64_t Reclaimable() { return SumOverShrinkers(&Shrinker::Count); }

  Scheduler& sched_;
  MemoryConfig config_;
  MemoryStats stats_;
  uint64_t used_ = 0;
  std::vector<Shrinker*> shrinkers_;
  std::unique_ptr<class WaitQueue> kswapd_wait_;
  // Allocations that reclaimed nothing while I/O was in flight wait here
  // for an I/O to end (or HZ/50).
  std::unique_ptr<class WaitQueue> reclaim_wait_;
  uint64_t io_completions_ = 0;
  uint64_t putbacks_ = 0;
  bool kswapd_started_ = false;
  bool kswapd_wanted_ = false;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_MEMORY_H_
