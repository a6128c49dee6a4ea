// fsim bench: the memory-pressure model's figures (sim/memory.h).
#ifndef FSIM_TOOLS_BENCH_MEMORY_H_
#define FSIM_TOOLS_BENCH_MEMORY_H_

#include <benchmark/benchmark.h>

namespace fsim::tools {

// The Google Benchmark behind "reclaim/pass": reclaim passes per second
// (items_per_second), each a pass over the shrinkers with PF_MEMALLOC set
// and fs_reclaim held under lockdep, in one fiber allocating over a tight
// budget (with kswapd).
void BM_ReclaimPass(benchmark::State& state);

}  // namespace fsim::tools

#endif  // FSIM_TOOLS_BENCH_MEMORY_H_
