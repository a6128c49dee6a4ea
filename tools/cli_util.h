// What several subcommands share: K=V and I/N parsing, Ctrl-C, and the
// progress line of long explorations. The wall clock read here only paces
// the progress display; it never reaches a run.
#ifndef FSIM_TOOLS_CLI_UTIL_H_
#define FSIM_TOOLS_CLI_UTIL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/error_line.h"
#include "model/explorer.h"

namespace fsim::tools {

// A user-supplied string as an error message shows it: control and
// non-ASCII bytes escaped (\n, \xNN), at most kShownMax bytes of it (a
// 1 MB name is not a 1 MB line), the cut said.
inline constexpr size_t kShownMax = 120;
std::string Shown(std::string_view s);
// A whole error message made one line of sane length: escaped as Shown(),
// and past kLineMax bytes its middle cut out (the start names the input,
// the end says what is wrong with it).
inline constexpr size_t kLineMax = model::kErrorLineMax;
std::string OneLine(std::string_view message);

// --config K=V pairs into `config`; false and one line in `error` if not
// (no '=', an empty key, or one key given twice with different values).
bool ParseConfig(const std::vector<std::string>& pairs, model::Config* config,
                 std::string* error);

// A finding as JSON summaries list it: kind, signature, seed, run, trace,
// message (callers add what their rows do not already say).
nlohmann::json FindingJson(const model::FindingRecord& f);

// -j N: runs `fsim <base> --shard I/N` for I in 0..N-1 as child processes
// (each in its own process group, so that Ctrl-C reaches them once: this
// process passes its SIGINT on), each printing its JSON summary on stdout.
// Fills `summaries` with each child's parsed JSON (null if it printed
// none) and `failed` with how each shard that did not finish ended (a
// signal, an exit code other than clean, findings or interrupted, or no
// summary). Returns kExitClean if every shard finished, else the worst
// such exit code (at least kExitInternal); `error` and 2 if a child could
// not be started.
int RunShards(const std::vector<std::string>& base, uint32_t jobs,
              std::vector<nlohmann::json>* summaries, std::vector<std::string>* failed,
              std::string* error);

// The processes -j runs: `jobs` if given (not 0), else every CPU this
// process may run on, or one when a single --shard was asked for.
uint32_t JobsFor(uint32_t jobs, const std::string& shard);

// --shard I/N; empty means 0/1.
bool ParseShard(const std::string& s, uint32_t* index, uint32_t* count, std::string* error);

// --out DIR is checked before anything runs, so that a finding's trace
// can be written the moment it is found: not empty; an existing directory
// we may write, or a path whose nearest existing ancestor is one (it is
// created then). False with one line in *error otherwise.
bool CheckOutDir(const std::string& dir, std::string* error);
// The file an option names (`flag`, for the message) can be written: not
// a directory, in an existing directory we may write. False with a
// one-line *error otherwise.
bool CheckOutFile(const std::string& path, const std::string& flag, std::string* error);

// Ctrl-C (SIGINT) during an exploration: the first one asks the explorer to
// stop after the run in progress (traces already found are on disk; the
// summary is printed); a second one kills the process as usual.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  static bool Interrupted();
};

// The exit codes of every subcommand (the help text's "Exit codes").
inline constexpr int kExitClean = 0;
inline constexpr int kExitFindings = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInternal = 3;
inline constexpr int kExitNotReproduced = 4;
// The exit code of an exploration stopped by Ctrl-C with no finding (as a
// shell reports a command killed by SIGINT).
inline constexpr int kExitInterrupted = 130;

// Progress of a long exploration on stderr: on a terminal, one line
// rewritten in place (runs, runs per second, findings so far, elapsed);
// otherwise a plain line every `interval` (for CI logs). Silent for runs
// shorter than one interval.
class Progress {
 public:
  explicit Progress(std::string what,
                    std::chrono::milliseconds interval = std::chrono::milliseconds(0));
  void OnRun(const model::RunRecord& run);
  void OnFinding() { ++findings_; }
  // Ends the line on a terminal.
  void Done();

 private:
  void Print(bool final);
  using Clock = std::chrono::steady_clock;
  std::string what_;
  bool tty_;
  std::chrono::milliseconds interval_;
  Clock::time_point start_;
  Clock::time_point last_;
  uint64_t runs_ = 0;
  uint64_t findings_ = 0;
  bool printed_ = false;
};

}  // namespace fsim::tools

#endif  // FSIM_TOOLS_CLI_UTIL_H_
