// Scenarios as data: a filesystem scenario is a JSON file (format in
// scenarios/FORMAT.md). This header holds the parsed form, the parser and
// its limits; scenarios/fs_programs.cc interprets the parsed form as a
// program, and the built-in files under scenarios/fs/ are compiled into the
// binary (EmbeddedScenarioFiles) so that `fsim` runs from any directory.
//
// Errors are one line: "/json/pointer: what is wrong" (a schema error) or
// "line L, column C: ..." (a JSON syntax error); the caller prefixes the
// file's path. Unknown and duplicate keys are errors: a typo is never
// silently ignored.
//
// Open values ({"min": A, "max": B, "step": S}) are not drawn here: the
// interpreter draws each through the scheduler's Chooser when the
// operation runs, as min + k * step for k in [0, options), so that k = 0
// is the smallest choice and they replay and shrink like any decision.
#ifndef FSIM_SCENARIOS_JSON_SCENARIO_H_
#define FSIM_SCENARIOS_JSON_SCENARIO_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fs/btrfs/volumes.h"
#include "model/target.h"
#include "sim/block.h"
#include "sim/memory.h"

namespace fsim::scenarios {

// Limits of a scenario file (each refused with a one-line error when
// exceeded, never truncated). Fibers leave room under sim::kFibersMax for
// kswapd, I/O completions, the ordered-extent worker, settle and power.
inline constexpr size_t kScenarioFibersMax = 16;
inline constexpr size_t kScenarioFilesMax = 8;
inline constexpr size_t kScenarioOpsMax = 64;        // per fiber
inline constexpr size_t kScenarioFsxOpsMax = 100'000;  // per fiber, from an fsx log
inline constexpr uint64_t kScenarioRepeatMax = 64;   // per operation
inline constexpr uint64_t kScenarioFileBytesMax = 2 << 20;  // offsets, sizes, ends
// All files together (their metadata must fit a checkpoint slot).
inline constexpr uint64_t kScenarioBytesMax = 8 << 20;
inline constexpr uint64_t kScenarioSleepNsMax = 10'000'000'000;  // 10 s of virtual time
inline constexpr uint64_t kScenarioDeviceMibMin = 4;  // the metadata log plus data
inline constexpr uint64_t kScenarioDeviceMibMax = 1024;
inline constexpr uint64_t kScenarioMemoryPagesMax = 1 << 20;

// A value: fixed (min == max) or open, drawn through the Chooser at `site`.
struct Choice {
  uint64_t min = 0;
  uint64_t max = 0;
  uint64_t step = 1;
  std::string site;  // the value's JSON pointer (the Chooser site's name)

  bool fixed() const { return min == max; }
  uint64_t options() const { return (max - min) / step + 1; }
  // The largest value that can be drawn (max rounded down to the step).
  uint64_t top() const { return min + (options() - 1) * step; }
};

enum class OpKind {
  kWrite,
  kRead,
  kTruncate,
  kFallocate,
  kPunchHole,
  kZeroRange,
  kFsync,
  kMmapWrite,
  kSleep,
  kWriteback,
  // posix_fadvise(POSIX_FADV_DONTNEED) over [offset, +length) (length 0:
  // to EOF): the range's dirty pages written back (not waited for), its
  // clean unused pages dropped from the page cache.
  kFadviseDontneed,
  kCloneRange,  // FICLONERANGE from `source` into the op's file
  // Only from an fsx log (a fiber's "fsx"): clone_range and copy_range
  // (the bytes of [offset, +length) to `dest`), dedupe_range.
  kCopyRange,
  kDedupeRange,
};
const char* OpKindName(OpKind kind);
// True for the operations that change a file (its bytes or its size).
bool ChangesFile(OpKind kind);

// One operation of a fiber. Fields an operation does not take stay fixed 0.
struct OpSpec {
  OpKind kind = OpKind::kFsync;
  size_t file = 0;  // index into ScenarioSpec::files
  Choice repeat{1, 1, 1, {}};
  Choice offset;
  Choice length;
  Choice size;  // truncate
  Choice byte;  // write, mmap_write
  Choice ns;    // sleep
  uint64_t dest = 0;  // copy_range, dedupe_range
  // write: the user buffer is a shared mapping of `source_file` from
  // `source_offset` (it may fault, into this very file), not `byte`s.
  bool has_source = false;
  size_t source_file = 0;
  Choice source_offset;
  bool keep_size = false;  // fallocate, zero_range
  bool past_eof = false;   // mmap_write: the store may run past EOF in its page
  bool sync = false;       // write: RWF_SYNC, an fsync after the write
  // fsync: the fiber goes on after a failed fsync (an application that
  // retries, as databases did before 2018), instead of stopping.
  bool continue_on_error = false;
  // write, mmap_write: text-like bytes, `byte` with its top two bits drawn per
  // 16-byte run of file offsets by a fixed hash (TextByte), so that zlib
  // packs 96 KiB into two blocks or more, where a constant byte packs
  // into one.
  bool text = false;
  // From an fsx log (a fiber's "fsx"): the bytes a write or mmap_write
  // stores (instead of one `byte`), the log's line, the file size fsx saw
  // before the op (checked), and fsx's close_open after it.
  std::shared_ptr<const std::vector<uint8_t>> data;
  int fsx_line = 0;  // 0: not from an fsx log
  bool check_size = false;
  uint64_t size_before = 0;
  bool close_open = false;
};

// The byte a `text` write of `byte` stores at file offset `pos`.
uint8_t TextByte(uint8_t byte, uint64_t pos);
// Turns `data`, a write of one byte at file offset `pos`, into that
// byte's text (TextByte of each byte, one mix per 16-byte run).
void FillText(std::span<uint8_t> data, uint64_t pos);

struct FiberSpec {
  std::string name;
  std::vector<OpSpec> ops;
  // The ops come from an fsx log: the fiber checks each read, each size
  // and the final bytes against the reference model itself (see
  // FORMAT.md), and is its file's only changer.
  bool fsx = false;
};

struct ScenarioSpec {
  std::string name;
  std::string description;
  bool default_suite = false;
  // The lock orders under which the scenario is a correct program of the
  // default suite (empty: every order); see Scenario::suite_orders.
  std::vector<std::string> suite_orders;
  model::Config config;  // defaults of the scenario's configuration
  // The disks (1 to 4); device 0 also holds the metadata log.
  std::vector<sim::DeviceConfig> devices;
  // The data chunk's profile over them (mkfs.btrfs -d).
  fs::Profile data_profile = fs::Profile::kSingle;
  sim::MemoryConfig memory;
  bool memory_declared = false;  // the file gives a memory budget (meant as pressure)
  // vm.dirty_ratio and vm.dirty_background_ratio, in percent of the
  // memory budget: the dirty threshold above which a writer is throttled
  // and the one above which the flusher is woken (fs/mm/page_cache.h).
  uint32_t dirty_ratio = 20;
  uint32_t dirty_background_ratio = 10;
  std::vector<std::string> files;  // inode numbers 257, 258, ... in order
  std::vector<FiberSpec> fibers;
  std::optional<Choice> power_cut_ns;  // when the power fails
  bool check_linearizable = true;
  bool check_invariants = true;
  bool check_crash_consistency = false;
  // The scenario as canonical JSON (keys sorted, comments dropped): what a
  // trace stores, and what ParseScenario accepts back.
  std::string json;
};

// Parses a scenario. On failure returns nullopt and sets `error` to one
// line (without the file's name).
std::optional<ScenarioSpec> ParseScenario(std::string_view text, std::string* error);

// Reads and parses a file. On failure sets `error` to one line starting
// with `path`.
std::optional<ScenarioSpec> LoadScenarioFile(const std::string& path, std::string* error);

// Whether the filesystem's metadata for `spec` always fits a checkpoint
// slot of the metadata area `log_len` bytes long (config log_kib): an
// upper bound of the state (an inode item per file; extent items, each at
// least a block but a file's last, per block a file may reach; a checksum
// per block the scenario's operations may write, and no more than its
// extent items' extents can hold). Returns "" if so, else one line
// saying what it needs.
std::string MetadataFitProblem(const ScenarioSpec& spec, uint64_t log_len);

// True for a scenario named by its path rather than its name.
bool IsScenarioPath(std::string_view name);

// The built-in scenario files, compiled in (generated from scenarios/fs/).
struct EmbeddedScenarioFile {
  const char* path;  // e.g. "scenarios/fs/fs_writers.json"
  const char* text;
};
std::span<const EmbeddedScenarioFile> EmbeddedScenarioFiles();

}  // namespace fsim::scenarios

#endif  // FSIM_SCENARIOS_JSON_SCENARIO_H_
