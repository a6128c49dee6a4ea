// fsim as a library, as shuttle and loom are used: your own concurrent C++
// code, written on fsim's primitives (sim::Mutex, sim::RwSemaphore,
// sim::WaitQueue, sim::Completion, sim::SpinLock, Scheduler::Spawn and
// Yield), run under fsim's deterministic scheduler with lockdep, the heap's
// use-after-free checks and the deadlock detector, explored by fsim's
// strategies (random, pct, surw, dfs), every finding written as a trace
// that `fsim replay` re-runs bit for bit.
//
// Two ways in, from a Bazel workspace that declares fsim as a repository
// (README, "fsim as a library"; examples/ is one):
//
// 1. A test: fsim::Check() explores a program in-process and returns what
//    it found (with each finding's trace on disk), to assert on in any
//    test framework. Like shuttle::check_pct or loom::model.
//
//      fsim::CheckResult r = fsim::Check("my_queue", MakeQueueProgram,
//                                        {.strategy = "surw", .runs = 2000});
//      EXPECT_TRUE(r.findings.empty()) << r.Describe();
//
// 2. A command line: register the program (fsim::ProgramRegistrar, at
//    static initialisation, in an alwayslink library) and link it with
//    "@fsim//:fsim_main". The binary is fsim's CLI with your programs in
//    its registry: `explore`, `replay`, `shrink`, `lockgraph`, `bench`
//    all take them by name.
//
// Invariants: a program is a sim::Program made afresh for every run (its
// Start() spawns the fibers; Finish() judges the end state with
// sched.Fail()); nothing it does may depend on the wall clock, real
// threads or addresses, or a run would not replay.
#ifndef FSIM_SCENARIOS_LIBRARY_H_
#define FSIM_SCENARIOS_LIBRARY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/explorer.h"
#include "sim/program.h"
#include "sim/scheduler.h"

namespace fsim {

using ProgramFactory = std::function<std::unique_ptr<sim::Program>()>;

// A program as a scenario of the registry.
struct ProgramSpec {
  std::string name;         // unique across the registry
  std::string description;  // one line
  ProgramFactory make;
  // Every access the program's fibers make to shared state is at a
  // scheduling point of a sim primitive or a sctbench::Shared (no plain
  // shared fields read between yields): DFS may then reduce by sleep sets
  // (--por). Leave false when unsure: --por is then refused, not unsound.
  bool names_shared_state = false;
  // Run with lockdep (lock-order inversions reported on first sight).
  bool lockdep = true;
  // Run with the race detector (sim/race.h) unless the user says races=off.
  bool races = false;
  // Listed by `fsim list` under this family.
  std::string family = "user";
};

// Registers `spec` when constructed (at static initialisation):
//
//   static const fsim::ProgramRegistrar kQueue{{.name = "my_queue", ...}};
//
// The library holding it must be alwayslink = True.
struct ProgramRegistrar {
  explicit ProgramRegistrar(ProgramSpec spec);
};

struct CheckOptions {
  std::string strategy = model::kDefaultStrategy;  // random | pct | surw | urw | dfs
  int depth = 3;                 // pct's bug depth
  int preemptions = -1;          // dfs's bound (-1: none)
  uint64_t runs = 1000;          // dfs: at most this many
  uint64_t seed = 1;
  // Keep exploring after the first finding (each distinct one reported
  // once) instead of stopping at it.
  bool all = false;
  std::string out_dir = "fsim-out";  // where findings' traces go
  bool lockdep = true;
  // Report data races on sim::Shared variables (sim/race.h).
  bool races = false;
};

struct CheckResult {
  uint64_t runs = 0;
  uint64_t digest = 0;     // over every run: the same options give the same
  bool exhausted = false;  // dfs explored the whole (bounded) space
  std::vector<model::FindingRecord> findings;
  // One line per finding: kind, signature, trace path, replay command.
  std::string Describe() const;
};

// Explores `make`'s program in-process under `options` as `fsim explore`
// would a registered scenario named `name` (the name seeds the runs and
// names the traces). Throws std::runtime_error on a harness error (an
// unknown strategy, a trace that cannot be written).
CheckResult Check(const std::string& name, const ProgramFactory& make,
                  const CheckOptions& options = {});

// Re-executes a trace that Check() wrote for `make`'s program. Returns
// true if the run reproduced it (the same finding, digest and steps); else
// false with `why` (may be null) set to one line.
bool Replay(const std::string& trace_path, const ProgramFactory& make, std::string* why = nullptr);

}  // namespace fsim

#endif  // FSIM_SCENARIOS_LIBRARY_H_
