// Traces: a failing run as a self-contained JSON file that replays bit for
// bit. Format "fsim-trace", version 1; the fields are documented in
// traces/FORMAT.md. A trace is written atomically (temporary file, then
// rename), so a reader never sees half a trace.
#ifndef FSIM_MODEL_TRACE_H_
#define FSIM_MODEL_TRACE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/target.h"
#include "sim/chooser.h"
#include "sim/finding.h"

namespace fsim::model {

inline constexpr const char* kTraceFormat = "fsim-trace";
inline constexpr int kTraceVersion = 1;

// The strategy fsim's commands and fsim::Check explore with unless told
// otherwise (best on SCTBench and on the fs bug catalogue: README). A
// trace's strategy, and the model's ExploreOptions, default to PCT as
// before: old traces name none.
inline constexpr const char* kDefaultStrategy = "surw";

struct StrategyInfo {
  std::string name = "pct";  // random | pct | surw | dfs
  int depth = 3;             // pct
  int preemptions = -1;      // dfs; -1: unbounded
};

struct Trace {
  std::string scenario;
  std::string scenario_json;
  Config config;
  StrategyInfo strategy;
  uint64_t seed = 0;
  uint64_t run = 0;
  uint64_t digest = 0;
  uint64_t steps = 0;
  uint64_t virtual_ns = 0;
  std::vector<sim::Decision> decisions;
  std::optional<sim::Finding> finding;
};

// Writes `trace` to `path` atomically. Returns an error message, or empty.
std::string WriteTrace(const std::string& path, const Trace& trace);
// Writes `text` to `path` through a temporary unique to this process,
// renamed into place (how traces are written). Returns "" or a one-line
// error naming the file.
std::string WriteFileAtomically(const std::string& path, const std::string& text);

// Reads a trace. On failure returns nullopt and sets `error` to one line
// naming the file and the problem.
std::optional<Trace> ReadTrace(const std::string& path, std::string* error);

// Every JSON input (traces, scenarios) is refused past this nesting: a
// document nested 100,000 deep would overflow the stack of the recursive
// code that walks or prints it. fsim's own documents nest under 10.
inline constexpr size_t kJsonDepthMax = 64;
// The deepest nesting of objects and arrays in `text` (strings skipped),
// counted without parsing; stops counting past kJsonDepthMax + 1.
size_t JsonNestingDepth(std::string_view text);

// Digests are printed and stored as 16 hex digits.
std::string DigestHex(uint64_t digest);

}  // namespace fsim::model

#endif  // FSIM_MODEL_TRACE_H_
