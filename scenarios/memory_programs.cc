// Built-in programs for simulated memory pressure (sim/memory.h): readers
// filling a small page cache that reclaim drops, and the classic reclaim
// inversion, an allocation that may enter filesystem reclaim made while
// holding a lock that writeback takes, with its GFP_NOFS fix. They run
// with lockdep on: the inversion is lockdep's finding, not a deadlock a
// schedule has to hit.
//
// They are kept tiny (a handful of scheduling points per fiber, a budget
// of a few pages) so that DFS exhausts the correct ones: every point at
// which reclaim can run, and every amount it can scan, is a decision.
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "scenarios/registry.h"
#include "sim/memory.h"
#include "sim/sync.h"

namespace fsim::scenarios {
namespace {

using sim::Finding;
using sim::FindingKind;
using sim::Gfp;
using sim::Memory;
using sim::Mutex;
using sim::Program;
using sim::Scheduler;

// One page cache, of one inode: an LRU of pages, oldest first, each page
// counted in Memory::used(). Its shrinker is shrink_page_list() in
// miniature: clean pages are dropped; a dirty page must be written back
// first (writepage, under the inode's extent lock), which reclaim may do
// only with __GFP_FS; without it the page is skipped, as vmscan keeps
// dirty filesystem pages when it may not call into the filesystem.
//
// Locking: the LRU is changed only between scheduling points, so it needs
// no lock of its own in the simulation (the kernel's lru_lock is a
// spinlock held across no sleep).
class PageCache final : public sim::Shrinker {
 public:
  PageCache(Scheduler& sched, Mutex* extent_lock)
      : sched_(sched), extent_lock_(extent_lock) {}

  std::string_view name() const override { return "page_cache"; }
  uint64_t Count() override { return lru_.size(); }
  uint64_t Scan(uint64_t nr_to_scan, uint64_t, Gfp gfp) override {
    // Isolate up to nr_to_scan pages from the old end of the LRU. Clean
    // ones are freed before anything can sleep.
    uint64_t clean = 0, to_write = 0;
    std::deque<bool> skipped;
    for (uint64_t i = 0; i < nr_to_scan && !lru_.empty(); ++i) {
      bool dirty = lru_.front();
      lru_.pop_front();
      if (!dirty) {
        ++clean;
      } else if ((gfp & sim::kGfpFs) != 0) {
        ++to_write;
      } else {
        skipped.push_back(true);
      }
    }
    lru_.insert(lru_.end(), skipped.begin(), skipped.end());  // rotated
    Memory::Of(sched_).FreePages(clean);
    for (uint64_t i = 0; i < to_write; ++i) Writepage();
    return clean + to_write;
  }

  void Add(uint64_t pages, bool dirty) { lru_.insert(lru_.end(), pages, dirty); }
  // Truncates the oldest page if it is clean (invalidation frees it).
  void Truncate() {
    if (lru_.empty() || lru_.front()) return;
    lru_.pop_front();
    Memory::Of(sched_).FreePages(1);
  }
  uint64_t size() const { return lru_.size(); }

 private:
  // Writes one isolated dirty page back, then frees it. The write itself
  // is instant here; taking the extent lock is what matters.
  void Writepage() {
    extent_lock_->Lock();
    extent_lock_->Unlock();
    Memory::Of(sched_).FreePages(1);
  }

  Scheduler& sched_;
  Mutex* extent_lock_;     // may be null when no page is ever dirty
  std::deque<bool> lru_;   // true: dirty
};

// What every memory program checks at its end: usage within the budget,
// every page accounted to the cache, no allocation that had to succeed
// failed.
void CheckMemory(Scheduler& s, const PageCache& cache, uint64_t failed) {
  const Memory& mem = Memory::Of(s);
  std::string problem;
  if (mem.stats().max_used > mem.config().budget_pages) {
    problem = "usage " + std::to_string(mem.stats().max_used) + " exceeded the budget " +
              std::to_string(mem.config().budget_pages);
  } else if (mem.used() != cache.size()) {
    problem = std::to_string(mem.used()) + " pages in use but " +
              std::to_string(cache.size()) + " in the page cache";
  } else if (failed != 0) {
    problem = std::to_string(failed) + " allocation(s) failed though reclaim could free pages";
  } else {
    return;
  }
  Finding f;
  f.kind = FindingKind::kAssertion;
  f.signature = "assertion:memory";
  f.report = "assertion failed: " + problem;
  s.Fail(std::move(f));
}

// Readers each read a few pages into a page cache larger than the budget
// allows, then truncate one: allocations go above the low watermark (kswapd
// wakes, direct reclaim may run early) and past the budget (direct reclaim
// must free clean pages for the allocation to succeed).
class MemPressure final : public Program {
 public:
  static constexpr int kReaders = 2;
  static constexpr int kPagesPerReader = 3;

  void Start(Scheduler& s) override {
    Memory& mem = Memory::Of(s);
    mem.Configure({.budget_pages = 4, .low_pages = 3, .high_pages = 2, .kswapd = true});
    cache_ = std::make_unique<PageCache>(s, nullptr);
    mem.RegisterShrinker(cache_.get());
    for (int r = 0; r < kReaders; ++r) {
      s.Spawn("reader" + std::to_string(r), [this, &mem] {
        for (int i = 0; i < kPagesPerReader; ++i) {
          if (mem.AllocPages(1, sim::kGfpKernel)) {
            cache_->Add(1, /*dirty=*/false);
          } else {
            ++failed_;
          }
        }
        cache_->Truncate();
      });
    }
  }
  void Finish(Scheduler& s) override { CheckMemory(s, *cache_, failed_); }

 private:
  std::unique_ptr<PageCache> cache_;
  uint64_t failed_ = 0;
};

// A writer dirties two pages of an inode under its extent lock, allocating
// them with `gfp`; then a reader puts the system under pressure, and
// reclaim (direct, or kswapd) writes those pages back, taking the extent
// lock inside fs_reclaim. With GFP_KERNEL the writer recorded extent_lock
// -> fs_reclaim: lockdep reports the cycle (in the kernel, the writer's own
// reclaim could write back its inode and deadlock). With GFP_NOFS it did
// not: clean.
class ReclaimUnderLock final : public Program {
 public:
  explicit ReclaimUnderLock(Gfp gfp) : gfp_(gfp) {}

  void Start(Scheduler& s) override {
    Memory& mem = Memory::Of(s);
    mem.Configure({.budget_pages = 4, .low_pages = 3, .high_pages = 2, .kswapd = true});
    extent_lock_ = std::make_unique<Mutex>(s, "extent_lock");
    dirtied_ = std::make_unique<sim::Completion>(s, "dirtied");
    cache_ = std::make_unique<PageCache>(s, extent_lock_.get());
    mem.RegisterShrinker(cache_.get());
    s.Spawn("writer", [this, &mem] {
      extent_lock_->Lock();
      if (mem.AllocPages(2, gfp_)) {
        cache_->Add(2, /*dirty=*/true);
      } else {
        ++failed_;
      }
      extent_lock_->Unlock();
      dirtied_->Complete();
    });
    s.Spawn("reader", [this, &mem] {
      dirtied_->Wait();
      for (int i = 0; i < 3; ++i) {
        if (mem.AllocPages(1, sim::kGfpKernel)) {
          cache_->Add(1, /*dirty=*/false);
        } else {
          ++failed_;
        }
      }
    });
  }
  void Finish(Scheduler& s) override { CheckMemory(s, *cache_, failed_); }

 private:
  Gfp gfp_;
  std::unique_ptr<Mutex> extent_lock_;
  std::unique_ptr<sim::Completion> dirtied_;
  std::unique_ptr<PageCache> cache_;
  uint64_t failed_ = 0;
};

}  // namespace

void RegisterMemoryPrograms(std::vector<Scenario>& out) {
  // Lockdep stays on (no runtime defaults): these programs are about what
  // it reports.
  auto simple = [&](std::string name, std::string description, bool suite,
                    std::function<std::unique_ptr<Program>()> make) {
    out.push_back({std::move(name), std::move(description), suite, {}, {},
                   [make](const model::Config&) -> ProgramFactory { return make; }, {}, {}, {}, {}, {}, false});
  };
  simple("mem_pressure",
         "readers fill a page cache over a small budget; reclaim drops clean pages",
         true, [] { return std::make_unique<MemPressure>(); });
  simple("mem_reclaim_inversion",
         "a writer allocates GFP_KERNEL under extent_lock, which writeback in reclaim takes",
         false, [] { return std::make_unique<ReclaimUnderLock>(sim::kGfpKernel); });
  simple("mem_reclaim_nofs",
         "a writer allocates GFP_NOFS under extent_lock, which writeback in reclaim takes",
         true, [] { return std::make_unique<ReclaimUnderLock>(sim::kGfpNoFs); });
}

}  // namespace fsim::scenarios
