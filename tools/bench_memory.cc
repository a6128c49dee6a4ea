// fsim bench: reclaim passes per second. One fiber allocates single pages
// with GFP_KERNEL into a trivial cache over a budget of a few pages, so
// almost every allocation enters direct reclaim (and wakes kswapd); the
// cache's shrinker frees what it is asked to. The figure counts passes
// (direct and kswapd), the unit in which reclaim costs a run time.
#include "tools/bench_memory.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>

#include "model/random_walk.h"
#include "sim/memory.h"
#include "sim/scheduler.h"

namespace fsim::tools {
namespace {

// Pages that can be dropped at once: each counted in Memory::used().
class TrivialCache final : public sim::Shrinker {
 public:
  explicit TrivialCache(sim::Scheduler& sched) : sched_(sched) {}
  std::string_view name() const override { return "bench_cache"; }
  uint64_t Count() override { return pages; }
  uint64_t Scan(uint64_t nr_to_scan, uint64_t, sim::Gfp) override {
    uint64_t freed = std::min(nr_to_scan, pages);
    pages -= freed;
    sim::Memory::Of(sched_).FreePages(freed);
    return freed;
  }
  uint64_t pages = 0;

 private:
  sim::Scheduler& sched_;
};

}  // namespace

void BM_ReclaimPass(benchmark::State& state) {
  constexpr int kAllocations = 2000;
  sim::Scheduler sched;
  model::RandomWalk walk;
  sim::RunOptions options;
  int64_t passes = 0;
  for (auto _ : state) {
    TrivialCache cache(sched);
    options.seed++;
    sched.Run(walk, options, [&] {
      sim::Memory& mem = sim::Memory::Of(sched);
      mem.Configure({.budget_pages = 8, .low_pages = 6, .high_pages = 4, .kswapd = true});
      mem.RegisterShrinker(&cache);
      sched.Spawn("allocator", [&] {
        for (int i = 0; i < kAllocations; ++i) {
          if (mem.AllocPages(1, sim::kGfpKernel)) ++cache.pages;
        }
      });
    }, [] {});
    const sim::MemoryStats& stats = sim::Memory::Of(sched).stats();
    passes += static_cast<int64_t>(stats.direct_reclaims + stats.kswapd_reclaims);
  }
  state.SetItemsProcessed(passes);
}

}  // namespace fsim::tools
