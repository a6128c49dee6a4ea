// The scenario file parser: JSON text to ScenarioSpec, every value
// checked, every error one line naming the JSON pointer of the culprit.
#include "scenarios/json_scenario.h"

#include "model/error_line.h"
#include "model/trace.h"
#include "scenarios/fs_config.h"
#include "scenarios/orders/order_variant.h"
#include "scenarios/registry.h"
#include "sim/random.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "fs/btrfs/inode.h"
#include "fs/btrfs/metadata_log.h"
#include "fs/mm/page_cache.h"
#include "model/file_model.h"
#include "model/fsx_log.h"
#include "sim/limits.h"

namespace fsim::scenarios {
namespace {

using json = nlohmann::json;
using fs::kPageSize;

struct SchemaError {
  std::string path;
  std::string what;
};

[[noreturn]] void Fail(const std::string& path, std::string what) {
  throw SchemaError{path.empty() ? "/" : path, std::move(what)};
}

// A key as a JSON pointer token (RFC 6901).
std::string Token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// One JSON object of the file: refuses keys it does not expect, finds the
// ones it does.
class Object {
 public:
  Object(const json& j, std::string path, std::vector<std::string> keys, const std::string& what = "")
      : j_(j), path_(std::move(path)) {
    if (!j.is_object()) Fail(path_, "expected an object");
    for (const auto& [key, value] : j.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        Fail(At(key), "unknown key" + what + " (expected one of: " + Join(keys) + ")");
      }
    }
  }
  const json* Find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  const json& Require(const char* key) const {
    const json* v = Find(key);
    if (v == nullptr) Fail(path_, std::string("missing required key '") + key + "'");
    return *v;
  }
  std::string At(std::string_view key) const { return path_ + "/" + Token(key); }
  const std::string& path() const { return path_; }

 private:
  const json& j_;
  std::string path_;
};

uint64_t Uint(const json& v, const std::string& path, uint64_t lo, uint64_t hi) {
  if (!v.is_number_unsigned()) Fail(path, "expected an unsigned integer");
  uint64_t x = v.get<uint64_t>();
  if (x < lo || x > hi) {
    Fail(path, std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]");
  }
  return x;
}

bool Bool(const json& v, const std::string& path) {
  if (!v.is_boolean()) Fail(path, "expected true or false");
  return v.get<bool>();
}

std::string String(const json& v, const std::string& path) {
  if (!v.is_string()) Fail(path, "expected a string");
  return v.get<std::string>();
}

// An unsigned integer, or an open range {"min", "max", "step"}.
Choice ReadChoice(const json& v, const std::string& path, uint64_t lo, uint64_t hi) {
  Choice c;
  c.site = path;
  if (!v.is_object()) {
    c.min = c.max = Uint(v, path, lo, hi);
    return c;
  }
  Object o(v, path, {"min", "max", "step"});
  c.min = Uint(o.Require("min"), o.At("min"), lo, hi);
  c.max = Uint(o.Require("max"), o.At("max"), lo, hi);
  if (const json* step = o.Find("step")) c.step = Uint(*step, o.At("step"), 1, hi);
  if (c.min > c.max) {
    Fail(path, "min " + std::to_string(c.min) + " is greater than max " + std::to_string(c.max));
  }
  if (c.options() > UINT32_MAX) {
    Fail(path, "more than " + std::to_string(UINT32_MAX) + " options: use a larger step");
  }
  return c;
}

struct OpInfo {
  const char* name;
  OpKind kind;
  std::vector<std::string> keys;  // besides op, repeat and (but for sleep) file
};

// Per file, the largest end any operation may give it (a truncate's
// size, a copy's destination end, a range's end).
std::vector<uint64_t> FileEnds(const ScenarioSpec& spec) {
  std::vector<uint64_t> file_end(spec.files.size(), 0);
  for (const FiberSpec& f : spec.fibers) {
    for (const OpSpec& op : f.ops) {
      const uint64_t end = !ChangesFile(op.kind)             ? 0
                           : op.kind == OpKind::kTruncate  ? op.size.top()
                           : op.kind == OpKind::kCopyRange ? op.dest + op.length.top()
                                                           : op.offset.top() + op.length.top();
      file_end[op.file] = std::max(file_end[op.file], end);
    }
  }
  return file_end;
}

const std::vector<OpInfo>& Ops() {
  static const std::vector<OpInfo> ops = {
      {"write", OpKind::kWrite, {"offset", "length", "byte", "sync", "source", "text"}},
      {"read", OpKind::kRead, {"offset", "length"}},
      {"truncate", OpKind::kTruncate, {"size"}},
      {"fallocate", OpKind::kFallocate, {"offset", "length", "keep_size"}},
      {"punch_hole", OpKind::kPunchHole, {"offset", "length"}},
      {"zero_range", OpKind::kZeroRange, {"offset", "length", "keep_size"}},
      {"fsync", OpKind::kFsync, {"on_error"}},
      {"mmap_write", OpKind::kMmapWrite, {"offset", "length", "byte", "past_eof", "text"}},
      {"sleep", OpKind::kSleep, {"ns"}},
      {"writeback", OpKind::kWriteback, {}},
      {"fadvise_dontneed", OpKind::kFadviseDontneed, {"offset", "length"}},
      {"clone_range", OpKind::kCloneRange, {"offset", "length", "source"}},
      {"dedupe_range", OpKind::kDedupeRange, {"offset", "length", "source"}},
  };
  return ops;
}

bool TakesRange(OpKind k) {
  return k == OpKind::kWrite || k == OpKind::kRead || k == OpKind::kFallocate ||
         k == OpKind::kPunchHole || k == OpKind::kZeroRange || k == OpKind::kMmapWrite ||
         k == OpKind::kCloneRange || k == OpKind::kDedupeRange || k == OpKind::kFadviseDontneed;
}


OpSpec ReadOp(const json& j, const std::string& path, const std::vector<std::string>& files,
              size_t index) {
  if (!j.is_object()) Fail(path, "expected an object");
  auto op_it = j.find("op");
  if (op_it == j.end()) Fail(path, "missing required key 'op'");
  std::string name = String(*op_it, path + "/op");
  const OpInfo* info = nullptr;
  std::vector<std::string> names;
  for (const OpInfo& o : Ops()) {
    names.push_back(o.name);
    if (name == o.name) info = &o;
  }
  if (info == nullptr) {
    Fail(path + "/op", "unknown operation '" + name + "' (expected one of: " + Join(names) + ")");
  }
  std::vector<std::string> keys = {"op", "repeat"};
  if (info->kind != OpKind::kSleep) keys.push_back("file");
  keys.insert(keys.end(), info->keys.begin(), info->keys.end());
  Object o(j, path, keys, " for " + name);
  OpSpec op;
  op.kind = info->kind;
  if (const json* r = o.Find("repeat")) op.repeat = ReadChoice(*r, o.At("repeat"), 0, kScenarioRepeatMax);
  if (const json* f = o.Find("file")) {
    std::string file = String(*f, o.At("file"));
    auto it = std::find(files.begin(), files.end(), file);
    if (it == files.end()) Fail(o.At("file"), "unknown file '" + file + "' (files: " + Join(files) + ")");
    op.file = static_cast<size_t>(it - files.begin());
  }
  if (TakesRange(op.kind)) {
    op.offset = ReadChoice(o.Require("offset"), o.At("offset"), 0, kScenarioFileBytesMax - 1);
    op.length = ReadChoice(o.Require("length"), o.At("length"), 1, kScenarioFileBytesMax);
    if (op.offset.top() + op.length.top() > kScenarioFileBytesMax) {
      Fail(path, "offset + length reaches " + std::to_string(op.offset.top() + op.length.top()) +
                     ", past the largest file size " + std::to_string(kScenarioFileBytesMax));
    }
  }
  if (op.kind == OpKind::kWrite || op.kind == OpKind::kMmapWrite) {
    // Each operation writes its own byte unless told otherwise, so that
    // the linearizability check can tell the writers apart.
    op.byte.min = op.byte.max = 1 + index % 255;
    if (const json* b = o.Find("byte")) op.byte = ReadChoice(*b, o.At("byte"), 0, 255);
  }
  if (const json* src = o.Find("source")) {
    Object so(*src, o.At("source"), {"file", "offset"});
    op.has_source = true;
    if (const json* f = so.Find("file")) {
      std::string file = String(*f, so.At("file"));
      auto it = std::find(files.begin(), files.end(), file);
      if (it == files.end()) Fail(so.At("file"), "unknown file '" + file + "' (files: " + Join(files) + ")");
      op.source_file = static_cast<size_t>(it - files.begin());
    } else {
      op.source_file = op.file;
    }
    op.source_offset = ReadChoice(so.Require("offset"), so.At("offset"), 0, kScenarioFileBytesMax - 1);
    if (op.source_offset.top() + op.length.top() > kScenarioFileBytesMax) {
      Fail(o.At("source"), "offset + length reaches past the largest file size " +
                               std::to_string(kScenarioFileBytesMax));
    }
    if (o.Find("byte") != nullptr) Fail(o.At("byte"), "a write from a source takes no byte");
  }
  if (op.kind == OpKind::kCloneRange && !op.has_source) Fail(path, "clone_range needs a source");
  if (op.kind == OpKind::kDedupeRange && !op.has_source) Fail(path, "dedupe_range needs a source");
  if (const json* k = o.Find("keep_size")) op.keep_size = Bool(*k, o.At("keep_size"));
  if (const json* k = o.Find("past_eof")) op.past_eof = Bool(*k, o.At("past_eof"));
  if (const json* k = o.Find("sync")) op.sync = Bool(*k, o.At("sync"));
  if (const json* k = o.Find("on_error")) {
    const std::string v = String(*k, o.At("on_error"));
    if (v != "stop" && v != "continue") Fail(o.At("on_error"), "expected \"stop\" or \"continue\", got \"" + v + "\"");
    op.continue_on_error = v == "continue";
  }
  if (const json* k = o.Find("text")) {
    op.text = Bool(*k, o.At("text"));
    if (op.text && op.has_source) Fail(o.At("text"), "a write from a source takes no text");
  }
  if (op.kind == OpKind::kTruncate) {
    op.size = ReadChoice(o.Require("size"), o.At("size"), 0, kScenarioFileBytesMax);
  }
  if (op.kind == OpKind::kSleep) op.ns = ReadChoice(o.Require("ns"), o.At("ns"), 0, kScenarioSleepNsMax);
  return op;
}

// Pages an operation may split into (the linearizability check's unit)
// and pages it may dirty (each written back once into fresh data space).
uint64_t PagesSpanned(const OpSpec& op) {
  uint64_t len = op.length.top();
  if (op.kind == OpKind::kMmapWrite) return 1;  // a store is cut at its page's end
  if (op.offset.fixed()) {
    uint64_t o = op.offset.min;
    return (o + len - 1) / kPageSize - o / kPageSize + 1;
  }
  return (len + kPageSize - 2) / kPageSize + 1;
}

uint64_t HistoryPieces(const OpSpec& op) {
  switch (op.kind) {
    case OpKind::kCloneRange:
      return 2 * PagesSpanned(op);  // a read of the source, a write here
    case OpKind::kWrite:
    case OpKind::kRead:
    case OpKind::kPunchHole:
    case OpKind::kZeroRange:
    case OpKind::kMmapWrite:
      return PagesSpanned(op);
    case OpKind::kTruncate:
    case OpKind::kFallocate:
      return 1;
    default:
      return 0;
  }
}

uint64_t PagesDirtied(const OpSpec& op) {
  switch (op.kind) {
    case OpKind::kWrite:
    case OpKind::kMmapWrite:
      return PagesSpanned(op);
    case OpKind::kCopyRange:
    case OpKind::kCloneRange:
      return PagesSpanned(op) + 1;  // written at dest, which may straddle one more
    case OpKind::kTruncate:
      return 1;  // the partial page's tail, zeroed and written
    case OpKind::kPunchHole:
    case OpKind::kZeroRange:
      return 2;  // the partial pages at both ends
    default:
      return 0;
  }
}

sim::DeviceConfig ReadDevice(const json& j, const std::string& path) {
  Object o(j, path,
           {"name", "size_mib", "profile", "queue_depth", "max_sectors", "latency_ns_min",
            "latency_ns_max", "latency_choices", "write_cache", "faults", "latency_spike_ns", "io_error_window"});
  sim::DeviceConfig d;
  d.name = "vda";
  d.capacity_sectors = 16384;  // 8 MiB
  d.latency_choices = 2;
  if (const json* v = o.Find("name")) {
    d.name = String(*v, o.At("name"));
    if (d.name.empty() || d.name.size() > 31) Fail(o.At("name"), "expected 1 to 31 characters");
  }
  if (const json* v = o.Find("size_mib")) {
    d.capacity_sectors =
        Uint(*v, o.At("size_mib"), kScenarioDeviceMibMin, kScenarioDeviceMibMax) * 2048;
  }
  if (o.Find("profile") != nullptr) {
    Fail(o.At("profile"), "the profile is the filesystem's: \"data_profile\" at the top level");
  }
  if (const json* v = o.Find("queue_depth")) d.queue_depth = Uint(*v, o.At("queue_depth"), 1, 64);
  if (const json* v = o.Find("max_sectors")) d.max_sectors = Uint(*v, o.At("max_sectors"), 1, 65536);
  if (const json* v = o.Find("latency_ns_min")) {
    d.latency_ns_min = Uint(*v, o.At("latency_ns_min"), 0, kScenarioSleepNsMax);
  }
  if (const json* v = o.Find("latency_ns_max")) {
    d.latency_ns_max = Uint(*v, o.At("latency_ns_max"), 0, kScenarioSleepNsMax);
  }
  if (d.latency_ns_min > d.latency_ns_max) {
    Fail(path, "latency_ns_min " + std::to_string(d.latency_ns_min) +
                   " is greater than latency_ns_max " + std::to_string(d.latency_ns_max));
  }
  if (const json* v = o.Find("latency_choices")) {
    d.latency_choices = Uint(*v, o.At("latency_choices"), 1, 64);
  }
  if (const json* v = o.Find("write_cache")) d.write_cache = Bool(*v, o.At("write_cache"));
  if (const json* v = o.Find("io_error_window")) {
    d.io_error_window = static_cast<uint32_t>(Uint(*v, o.At("io_error_window"), 1, 4096));
  }
  if (const json* v = o.Find("latency_spike_ns")) {
    d.latency_spike_ns = Uint(*v, o.At("latency_spike_ns"), 0, kScenarioSleepNsMax);
  }
  if (const json* v = o.Find("faults")) {
    if (!v->is_array()) Fail(o.At("faults"), "expected an array");
    for (size_t i = 0; i < v->size(); ++i) {
      std::string at = o.At("faults") + "/" + std::to_string(i);
      std::string f = String((*v)[i], at);
      if (f == "io_errors") {
        d.fault_io_errors = true;
      } else if (f == "io_error_once") {
        d.fault_io_error_once = true;
      } else if (f == "read_error_once") {
        d.fault_read_error_once = true;
      } else if (f == "device_failure") {
        d.fault_device_failure = true;
      } else if (f == "latency_spikes") {
        d.fault_latency_spikes = true;
      } else if (f == "bitrot") {
        d.fault_bitrot = true;
      } else {
        Fail(at, "unknown fault '" + f +
                     "' (expected one of: io_errors, io_error_once, read_error_once, device_failure, "
                     "latency_spikes, bitrot)");
      }
    }
  }
  if (o.Find("io_error_window") != nullptr && !d.fault_io_error_once && !d.fault_read_error_once) {
    Fail(o.At("io_error_window"),
         "applies to the io_error_once and read_error_once faults, which this device does not have");
  }
  return d;
}

// "memory": the budget and watermarks (spec.memory) and the dirty ratios.
void ReadMemory(const json& j, const std::string& path, ScenarioSpec& spec) {
  Object o(j, path, {"budget_pages", "low_pages", "high_pages", "kswapd", "dirty_ratio",
                     "dirty_background_ratio"});
  sim::MemoryConfig m;
  // The budget defaults to the scenario default (64 pages): a block may
  // set only the dirty ratios.
  if (const json* v = o.Find("budget_pages")) {
    m.budget_pages = Uint(*v, o.At("budget_pages"), 1, kScenarioMemoryPagesMax);
  } else {
    m.budget_pages = spec.memory.budget_pages;
  }
  m.low_pages = m.budget_pages * 2 / 3;
  m.high_pages = m.budget_pages / 2;
  if (const json* v = o.Find("low_pages")) m.low_pages = Uint(*v, o.At("low_pages"), 0, kScenarioMemoryPagesMax);
  if (const json* v = o.Find("high_pages")) m.high_pages = Uint(*v, o.At("high_pages"), 0, kScenarioMemoryPagesMax);
  if (const json* v = o.Find("kswapd")) m.kswapd = Bool(*v, o.At("kswapd"));
  if (!(m.high_pages <= m.low_pages && m.low_pages <= m.budget_pages)) {
    Fail(path, "expected high_pages <= low_pages <= budget_pages (got " +
                   std::to_string(m.high_pages) + ", " + std::to_string(m.low_pages) + ", " +
                   std::to_string(m.budget_pages) + ")");
  }
  spec.memory = m;
  if (const json* v = o.Find("dirty_ratio")) {
    spec.dirty_ratio = static_cast<uint32_t>(Uint(*v, o.At("dirty_ratio"), 1, 100));
  }
  if (const json* v = o.Find("dirty_background_ratio")) {
    spec.dirty_background_ratio = static_cast<uint32_t>(Uint(*v, o.At("dirty_background_ratio"), 1, 100));
  }
  if (spec.dirty_background_ratio >= spec.dirty_ratio) {
    Fail(o.At("dirty_background_ratio"), "expected less than dirty_ratio (" +
                                             std::to_string(spec.dirty_ratio) + "), got " +
                                             std::to_string(spec.dirty_background_ratio));
  }
}

// A fiber's "fsx": {"log": TEXT, "seed": S, "max_len": L, "file": NAME}:
// an fsx operation log (model/fsx_log.h) replayed as fsx --replay-ops does,
// its data from glibc's random() after srandom(seed) over max_len bytes.
std::vector<OpSpec> ReadFsx(const json& j, const std::string& path,
                            const std::vector<std::string>& files) {
  Object o(j, path, {"log", "seed", "max_len", "file"});
  const std::string text = String(o.Require("log"), o.At("log"));
  uint64_t seed = 1;
  if (const json* v = o.Find("seed")) seed = Uint(*v, o.At("seed"), 0, 0xffffffff);
  uint64_t max_len = 256 * 1024;  // fsx's -l default
  if (const json* v = o.Find("max_len")) max_len = Uint(*v, o.At("max_len"), 1, kScenarioFileBytesMax);
  size_t file = 0;
  if (const json* f = o.Find("file")) {
    std::string name = String(*f, o.At("file"));
    auto it = std::find(files.begin(), files.end(), name);
    if (it == files.end()) Fail(o.At("file"), "unknown file '" + name + "' (files: " + Join(files) + ")");
    file = static_cast<size_t>(it - files.begin());
  }
  const std::string where = o.At("log");
  std::string error;
  std::optional<std::vector<model::FsxOp>> log = model::ParseFsxLog(text, where, &error);
  if (!log) Fail(where, "line " + error.substr(std::min(error.size(), where.size() + 1)));
  std::optional<std::vector<model::FileOp>> file_ops =
      model::ToFileOps(*log, model::FsxBuffer(static_cast<uint32_t>(seed), max_len), where, &error);
  if (!file_ops) Fail(where, "line " + error.substr(std::min(error.size(), where.size() + 1)));
  std::vector<OpSpec> out;
  auto fixed = [](uint64_t v) { return Choice{v, v, 1, {}}; };
  for (size_t i = 0; i < log->size(); ++i) {
    const model::FsxOp& x = (*log)[i];
    const model::FileOp& f = (*file_ops)[i];
    const std::string at = "line " + std::to_string(x.line) + ": " + x.name + ": ";
    const uint64_t end = f.kind == model::FileOpKind::kTruncate ? f.offset : f.offset + f.length;
    if (end > kScenarioFileBytesMax) {
      Fail(where, at + "reaches " + std::to_string(end) + ", past the largest file size " +
                      std::to_string(kScenarioFileBytesMax));
    }
    const size_t first = out.size();
    OpSpec op;
    op.file = file;
    op.fsx_line = x.line;
    op.offset = fixed(f.offset);
    op.length = fixed(f.length);
    op.keep_size = f.keep_size;
    const bool ranged = f.kind != model::FileOpKind::kTruncate && f.kind != model::FileOpKind::kFsync;
    if (ranged && f.length == 0) continue;  // fsx does nothing for an empty range
    switch (f.kind) {
      case model::FileOpKind::kWrite:
        if (x.name == "mapwrite" && end > x.size_before()) {
          // fsx's domapwrite(): the file is extended with ftruncate first.
          OpSpec grow = op;
          grow.kind = OpKind::kTruncate;
          grow.offset = grow.length = Choice{};
          grow.size = fixed(end);
          out.push_back(grow);
        }
        op.kind = x.name == "mapwrite" ? OpKind::kMmapWrite : OpKind::kWrite;
        op.data = std::make_shared<const std::vector<uint8_t>>(f.data);
        break;
      case model::FileOpKind::kRead: op.kind = OpKind::kRead; break;
      case model::FileOpKind::kTruncate:
        op.kind = OpKind::kTruncate;
        op.offset = op.length = Choice{};
        op.size = fixed(f.offset);
        break;
      case model::FileOpKind::kFallocate: op.kind = OpKind::kFallocate; break;
      case model::FileOpKind::kPunchHole: op.kind = OpKind::kPunchHole; break;
      case model::FileOpKind::kZeroRange: op.kind = OpKind::kZeroRange; break;
      case model::FileOpKind::kFsync:
        op.kind = OpKind::kFsync;
        op.offset = op.length = Choice{};
        break;
      case model::FileOpKind::kCopy:
      case model::FileOpKind::kDedupe:
        if (f.dest + f.length > kScenarioFileBytesMax) {
          Fail(where, at + "reaches " + std::to_string(f.dest + f.length) +
                          ", past the largest file size " + std::to_string(kScenarioFileBytesMax));
        }
        op.kind = f.kind == model::FileOpKind::kCopy ? OpKind::kCopyRange : OpKind::kDedupeRange;
        op.dest = f.dest;
        break;
    }
    out.push_back(op);
    out[first].check_size = true;
    out[first].size_before = x.size_before();
    out.back().close_open = x.close_open;
    if (out.size() > kScenarioFsxOpsMax) {
      Fail(where, "more than " + std::to_string(kScenarioFsxOpsMax) + " operations");
    }
  }
  return out;
}

std::vector<FiberSpec> ReadFibers(const json& j, const std::string& path,
                                  const std::vector<std::string>& files) {
  if (!j.is_array()) Fail(path, "expected an array");
  if (j.empty() || j.size() > kScenarioFibersMax) {
    Fail(path, "expected 1 to " + std::to_string(kScenarioFibersMax) + " fibers");
  }
  std::vector<FiberSpec> fibers;
  size_t op_index = 0;
  for (size_t i = 0; i < j.size(); ++i) {
    Object o(j[i], path + "/" + std::to_string(i), {"name", "ops", "fsx"});
    FiberSpec f;
    f.name = String(o.Require("name"), o.At("name"));
    if (f.name.empty() || f.name.size() >= sim::kFiberNameMax) {
      Fail(o.At("name"), "expected 1 to " + std::to_string(sim::kFiberNameMax - 1) + " characters");
    }
    if (f.name == "settle" || f.name == "power") {
      Fail(o.At("name"), "'" + f.name + "' is the name of fsim's own fiber");
    }
    for (const FiberSpec& other : fibers) {
      if (other.name == f.name) Fail(o.At("name"), "a second fiber named '" + f.name + "'");
    }
    if (const json* fsx = o.Find("fsx")) {
      if (o.Find("ops") != nullptr) Fail(o.At("fsx"), "a fiber has either ops or fsx, not both");
      f.fsx = true;
      f.ops = ReadFsx(*fsx, o.At("fsx"), files);
      fibers.push_back(std::move(f));
      continue;
    }
    const json& ops = o.Require("ops");
    if (!ops.is_array()) Fail(o.At("ops"), "expected an array");
    if (ops.size() > kScenarioOpsMax) {
      Fail(o.At("ops"), "more than " + std::to_string(kScenarioOpsMax) + " operations");
    }
    for (size_t k = 0; k < ops.size(); ++k) {
      f.ops.push_back(ReadOp(ops[k], o.At("ops") + "/" + std::to_string(k), files, op_index++));
    }
    fibers.push_back(std::move(f));
  }
  return fibers;
}

void ReadChecks(const json& j, const std::string& path, ScenarioSpec& spec) {
  Object o(j, path, {"linearizable", "invariants", "crash_consistency"});
  if (const json* v = o.Find("linearizable")) spec.check_linearizable = Bool(*v, o.At("linearizable"));
  if (const json* v = o.Find("invariants")) spec.check_invariants = Bool(*v, o.At("invariants"));
  if (const json* v = o.Find("crash_consistency")) {
    spec.check_crash_consistency = Bool(*v, o.At("crash_consistency"));
  }
}

// What the whole scenario must satisfy beyond each value's own range.
void CheckWhole(const ScenarioSpec& spec) {
  if (spec.check_crash_consistency) {
    if (!spec.power_cut_ns) Fail("/checks/crash_consistency", "needs a power_cut");
    for (const FiberSpec& f : spec.fibers) {
      for (const OpSpec& op : f.ops) {
        if (op.has_source) {
          Fail("/fibers", "a write from a mapped source (its bytes known only once copied) "
                          "cannot run with crash_consistency");
        }
      }
    }
    // Several fibers may change files: the fsync integrity oracle judges
    // any number of them; the whole-state check needs one (FsWorld).
  }
  // A file an fsx fiber replays a log on is that fiber's alone to read
  // and change (it checks its reads and final bytes against the log's own
  // reference model); others may write it back or fsync it.
  for (size_t i = 0; i < spec.fibers.size(); ++i) {
    const FiberSpec& x = spec.fibers[i];
    if (!x.fsx || x.ops.empty()) continue;
    const size_t file = x.ops.front().file;
    for (size_t k = 0; k < spec.fibers.size(); ++k) {
      if (k == i) continue;
      for (const OpSpec& op : spec.fibers[k].ops) {
        if (op.file == file && (ChangesFile(op.kind) || op.kind == OpKind::kRead)) {
          Fail("/fibers/" + std::to_string(k),
               "reads or changes file '" + spec.files[file] + "', which fiber '" + x.name +
                   "' replays an fsx log on (only fsync, writeback and sleep may share it)");
        }
      }
    }
  }
  if (spec.check_linearizable) {
    for (size_t file = 0; file < spec.files.size(); ++file) {
      uint64_t pieces = 0;
      for (const FiberSpec& f : spec.fibers) {
        if (f.fsx) continue;  // checked by the fiber itself
        for (const OpSpec& op : f.ops) {
          if (op.file == file) pieces += HistoryPieces(op) * op.repeat.top();
        }
      }
      if (pieces > model::kHistoryOpsMax) {
        Fail("/fibers", "up to " + std::to_string(pieces) + " operations (per page) on file '" +
                            spec.files[file] + "', more than the linearizability check's " +
                            std::to_string(model::kHistoryOpsMax) +
                            ": fewer or shorter operations, or checks.linearizable false");
      }
    }
  }
  // The files together stay within kScenarioBytesMax: the metadata the
  // filesystem keeps for them (extent items, checksums) must fit its
  // checkpoint slot (fs/btrfs/metadata_log.h).
  uint64_t total = 0;
  for (uint64_t end : FileEnds(spec)) total += end;
  if (total > kScenarioBytesMax) {
    Fail("/files", "the files may grow to " + std::to_string(total) + " bytes together, more than " +
                       std::to_string(kScenarioBytesMax));
  }
  uint64_t dirtied = 0;
  for (const FiberSpec& f : spec.fibers) {
    for (const OpSpec& op : f.ops) dirtied += PagesDirtied(op) * op.repeat.top();
  }
  // Data space of the chunk (fs::BtrfsFs): the smallest device after the
  // log area, times the devices RAID0 stripes over, halved by DUP.
  uint64_t smallest = ~uint64_t{0};
  for (const sim::DeviceConfig& d : spec.devices) {
    smallest = std::min<uint64_t>(smallest, d.capacity_sectors * d.sector_size);
  }
  uint64_t space = (smallest - (1 << 20)) / fs::kStripeLen * fs::kStripeLen;
  if (spec.data_profile == fs::Profile::kRaid0) space *= spec.devices.size();
  if (spec.data_profile == fs::Profile::kRaid10) space *= spec.devices.size() / fs::kRaid10SubStripes;
  if (spec.data_profile == fs::Profile::kDup) space /= 2;
  if (dirtied * kPageSize > space) {
    Fail("/fibers", "may write back up to " + std::to_string(dirtied * kPageSize) +
                        " bytes, more than the device's data space of " + std::to_string(space));
  }
}

ScenarioSpec ReadScenario(const json& j) {
  Object o(j, "", {"name", "description", "default_suite", "suite_orders", "config", "devices",
                   "data_profile", "memory", "files", "fibers", "power_cut", "checks"});
  ScenarioSpec spec;
  spec.name = String(o.Require("name"), "/name");
  if (spec.name.empty() || spec.name.size() > 64 || IsScenarioPath(spec.name) ||
      !std::all_of(spec.name.begin(), spec.name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
      })) {
    Fail("/name", "expected 1 to 64 letters, digits, '_' or '-'");
  }
  spec.description = String(o.Require("description"), "/description");
  if (spec.description.empty() || spec.description.find('\n') != std::string::npos) {
    Fail("/description", "expected one non-empty line");
  }
  if (const json* v = o.Find("default_suite")) spec.default_suite = Bool(*v, "/default_suite");
  if (const json* v = o.Find("suite_orders")) {
    if (!v->is_array() || v->empty() || v->size() > 16) {
      Fail("/suite_orders", "expected an array of 1 to 16 lock-order variant names");
    }
    for (size_t i = 0; i < v->size(); ++i) {
      const std::string at = "/suite_orders/" + std::to_string(i);
      std::string name = String((*v)[i], at);
      if (FindOrderVariant(name) == nullptr) Fail(at, "no lock-order variant '" + name + "'");
      spec.suite_orders.push_back(std::move(name));
    }
  }
  if (const json* v = o.Find("config")) {
    // The keys an fs scenario takes on the command line: the runtime's
    // and the filesystem's (one list each, so a key added there is
    // accepted here too).
    std::vector<std::string> keys;
    for (const auto& [key, help] : RuntimeKeys()) keys.push_back(key);
    for (const auto& [key, help] : FsConfigKeys()) keys.push_back(key);
    Object c(*v, "/config", keys, " in config");
    for (const auto& [key, value] : v->items()) spec.config[key] = String(value, c.At(key));
    if (auto it = spec.config.find("compress");
        it != spec.config.end() && it->second != "on" && it->second != "off") {
      Fail(c.At("compress"), "expected \"on\" or \"off\", not \"" + it->second + "\"");
    }
  }
  spec.devices = {ReadDevice(json::object(), "/devices/0")};
  if (const json* v = o.Find("devices")) {
    if (!v->is_array() || v->empty() || v->size() > 4) {
      Fail("/devices", "expected an array of 1 to 4 devices");
    }
    spec.devices.clear();
    for (size_t i = 0; i < v->size(); ++i) {
      spec.devices.push_back(ReadDevice((*v)[i], "/devices/" + std::to_string(i)));
      if (!o.Find("devices")->at(i).contains("name")) {
        spec.devices.back().name = "vd" + std::string(1, static_cast<char>('a' + i));
      }
    }
  }
  if (const json* v = o.Find("data_profile")) {
    const std::string p = String(*v, "/data_profile");
    const size_t n = spec.devices.size();
    if (p == "single") {
      spec.data_profile = fs::Profile::kSingle;
    } else if (p == "dup") {
      spec.data_profile = fs::Profile::kDup;
    } else if (p == "raid0") {
      spec.data_profile = fs::Profile::kRaid0;
      if (n < 2) Fail("/data_profile", "raid0 needs at least 2 devices, /devices has " + std::to_string(n));
    } else if (p == "raid1") {
      spec.data_profile = fs::Profile::kRaid1;
      if (n != 2) Fail("/data_profile", "raid1 needs exactly 2 devices, /devices has " + std::to_string(n));
    } else if (p == "raid10") {
      spec.data_profile = fs::Profile::kRaid10;
      if (n != 4) Fail("/data_profile", "raid10 needs exactly 4 devices, /devices has " + std::to_string(n));
    } else {
      Fail("/data_profile", "expected \"single\", \"dup\", \"raid0\", \"raid1\" or \"raid10\", not \"" + p + "\"");
    }
  }
  // Silent corruption is repairable by design only where another copy is
  // good: one rotten device, a profile with two copies, no other errors.
  size_t rotten = 0, erring = 0;
  for (const sim::DeviceConfig& d : spec.devices) {
    rotten += d.fault_bitrot;
    erring += d.FailsIo();
  }
  if (rotten > 0) {
    if (rotten > 1) Fail("/devices", "the bitrot fault is on more than one device: a block could rot on every copy");
    if (erring > 0) Fail("/devices", "the bitrot fault cannot be combined with I/O errors (io_errors, io_error_once, read_error_once) or device_failure");
    if (spec.data_profile == fs::Profile::kSingle || spec.data_profile == fs::Profile::kRaid0) {
      Fail("/data_profile", "the bitrot fault needs a data profile with two copies (dup, raid1, raid10)");
    }
  }
  spec.memory.budget_pages = 64;
  spec.memory.low_pages = 64 * 2 / 3;
  spec.memory.high_pages = 64 / 2;
  if (const json* v = o.Find("memory")) {
    ReadMemory(*v, "/memory", spec);
    // Only a budget is meant as pressure; dirty ratios alone may be set to
    // keep writeback away.
    spec.memory_declared = v->is_object() && (v->contains("budget_pages") || v->contains("low_pages") ||
                                              v->contains("high_pages"));
  }
  spec.files = {"file"};
  if (const json* v = o.Find("files")) {
    if (!v->is_array() || v->empty() || v->size() > kScenarioFilesMax) {
      Fail("/files", "expected an array of 1 to " + std::to_string(kScenarioFilesMax) + " names");
    }
    spec.files.clear();
    for (size_t i = 0; i < v->size(); ++i) {
      std::string at = "/files/" + std::to_string(i);
      std::string name = String((*v)[i], at);
      if (name.empty()) Fail(at, "expected a non-empty name");
      if (std::count(spec.files.begin(), spec.files.end(), name)) Fail(at, "a second file named '" + name + "'");
      spec.files.push_back(name);
    }
  }
  spec.fibers = ReadFibers(o.Require("fibers"), "/fibers", spec.files);
  if (const json* v = o.Find("power_cut")) {
    Object p(*v, "/power_cut", {"at_ns"});
    spec.power_cut_ns = ReadChoice(p.Require("at_ns"), "/power_cut/at_ns", 0, kScenarioSleepNsMax);
    // The Chooser site of fs_fsync_powercut as it was written in C++, so
    // that its runs (and their digests) carried over to the data file.
    spec.power_cut_ns->site = "power_cut_time";
  }
  if (const json* v = o.Find("checks")) ReadChecks(*v, "/checks", spec);
  CheckWhole(spec);
  spec.json = j.dump();
  return spec;
}

// Refuses a key given twice in one object (nlohmann keeps the last one
// silently): tracks the JSON pointer of the value being parsed.
class DuplicateKeys {
 public:
  struct Frame {
    bool array = false;
    size_t index = 0;
    std::string key;
    std::set<std::string> keys;
  };
  std::vector<Frame> frames;
  std::optional<SchemaError> error;

  std::string Path() const {
    std::string p;
    for (const Frame& f : frames) p += "/" + (f.array ? std::to_string(f.index) : Token(f.key));
    return p;
  }
  void Event(json::parse_event_t event, const json& parsed) {
    using E = json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        frames.push_back({event == E::array_start, 0, {}, {}});
        return;
      case E::key: {
        Frame& f = frames.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second && !error) error = SchemaError{Path(), "duplicate key"};
        return;
      }
      case E::object_end:
      case E::array_end:
        frames.pop_back();
        break;
      case E::value:
        break;
    }
    if (!frames.empty() && frames.back().array) ++frames.back().index;
  }
};

}  // namespace

uint8_t TextByte(uint8_t byte, uint64_t pos) {
  // Two bits of a fixed mix of the offset's 16-byte run (never a run's
  // draw: the bytes of a file offset are the same in every run and
  // process). Runs of 16 keep zlib fast; per byte it is 20 times slower.
  return static_cast<uint8_t>(byte ^ ((sim::Mix64((pos >> 4) ^ 0x7465'7874ull) >> 62) << 6));  // "text"
}

namespace {

// TextByte(0, pos) for every file offset below kTextTableMax, built on
// first use and grown a mebibyte at a time: a 2 MiB text write spent a
// sixth of its run mixing 131,072 runs. The bytes are a pure function of
// the offset, so the table changes nothing a run does or reports.
constexpr uint64_t kTextTableMax = uint64_t{64} << 20;

const uint8_t* TextTable(uint64_t end) {
  static std::vector<uint8_t> table;
  if (end > table.size()) {
    const uint64_t grown = std::min(kTextTableMax, (end + (uint64_t{1} << 20) - 1) & ~((uint64_t{1} << 20) - 1));
    uint64_t pos = table.size();
    table.resize(grown);
    for (; pos < grown; pos += 16) std::memset(table.data() + pos, TextByte(0, pos), 16);
  }
  return table.data();
}

}  // namespace

void FillText(std::span<uint8_t> data, uint64_t pos) {
  uint64_t i = 0;
  if (pos < kTextTableMax) {
    const uint64_t n = std::min<uint64_t>(data.size(), kTextTableMax - pos);
    const uint8_t* bits = TextTable(pos + n) + pos;
    for (; i + 8 <= n; i += 8) {  // a word at a time (the byte loop is not vectorised at -O2)
      uint64_t d, b;
      std::memcpy(&d, data.data() + i, 8);
      std::memcpy(&b, bits + i, 8);
      d ^= b;
      std::memcpy(data.data() + i, &d, 8);
    }
    for (; i < n; ++i) data[i] ^= bits[i];
  }
  for (; i < data.size();) {
    const uint64_t run_end = std::min<uint64_t>(data.size(), i + 16 - (pos + i) % 16);
    const uint8_t bits = static_cast<uint8_t>(TextByte(0, pos + i));
    for (; i < run_end; ++i) data[i] ^= bits;
  }
}

bool ChangesFile(OpKind k) {
  return k == OpKind::kWrite || k == OpKind::kTruncate || k == OpKind::kFallocate ||
         k == OpKind::kPunchHole || k == OpKind::kZeroRange || k == OpKind::kMmapWrite ||
         k == OpKind::kCopyRange || k == OpKind::kCloneRange;
}

const char* OpKindName(OpKind kind) {
  for (const OpInfo& o : Ops()) {
    if (o.kind == kind) return o.name;
  }
  if (kind == OpKind::kCopyRange) return "copy_range";
  if (kind == OpKind::kDedupeRange) return "dedupe_range";
  return "?";
}

bool IsScenarioPath(std::string_view name) { return name.ends_with(".json"); }

namespace {

std::optional<ScenarioSpec> ParseScenarioUnchecked(std::string_view text, std::string* error) {
  if (model::JsonNestingDepth(text) > model::kJsonDepthMax) {
    *error = "/: nested deeper than " + std::to_string(model::kJsonDepthMax) + " levels";
    return std::nullopt;
  }
  DuplicateKeys dup;
  json j;
  try {
    j = json::parse(
        text,
        [&dup](int, json::parse_event_t event, json& parsed) {
          dup.Event(event, parsed);
          return true;
        },
        /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 1: ..."
    std::string what = e.what();
    size_t at = what.find(" at line ");
    *error = at == std::string::npos ? what : what.substr(at + 4);
    return std::nullopt;
  } catch (const json::exception& e) {
    // A number the parser cannot hold (1e999): where it was, and what.
    const std::string where = dup.Path();
    std::string what = e.what();
    const size_t tag = what.find("] ");
    if (tag != std::string::npos) what = what.substr(tag + 2);
    *error = (where.empty() ? std::string("/") : where) + ": " + what;
    return std::nullopt;
  }
  try {
    if (dup.error) throw *dup.error;
    return ReadScenario(j);
  } catch (const SchemaError& e) {
    *error = e.path + ": " + e.what;
    return std::nullopt;
  }
}

}  // namespace

std::optional<ScenarioSpec> ParseScenario(std::string_view text, std::string* error) {
  std::optional<ScenarioSpec> spec = ParseScenarioUnchecked(text, error);
  if (!spec) *error = model::OneLine(*error);
  return spec;
}

std::optional<ScenarioSpec> LoadScenarioFile(const std::string& path, std::string* error) {
  if (std::error_code ec; std::filesystem::is_directory(path, ec)) {
    *error = model::OneLine(path + ": is a directory, not a scenario file");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = model::OneLine(path + ": cannot read: " + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::optional<ScenarioSpec> spec = ParseScenario(text.str(), error);
  if (!spec) *error = model::OneLine(path + ": " + *error);
  return spec;
}

std::string MetadataFitProblem(const ScenarioSpec& spec, uint64_t log_len) {
  constexpr uint64_t kBlock = 4096;
  const size_t files = spec.files.size();
  uint64_t written = 0;  // blocks the operations may write (dirty, then checksummed)
  for (const FiberSpec& f : spec.fibers) {
    for (const OpSpec& op : f.ops) {
      if (!ChangesFile(op.kind)) continue;
      // A write's blocks (one more for a start inside a block); truncate,
      // punch, zero range and fallocate zero at most two partial blocks.
      const bool writes = op.kind == OpKind::kWrite || op.kind == OpKind::kMmapWrite ||
                          op.kind == OpKind::kCopyRange || op.kind == OpKind::kCloneRange;
      const uint64_t per = writes ? (op.length.top() + kBlock - 1) / kBlock + 1 : 2;
      written += per * op.repeat.top();
    }
  }
  uint64_t items = 0, largest = 0;
  for (uint64_t end : FileEnds(spec)) {
    items += (end + kBlock - 1) / kBlock + 1;
    largest = std::max(largest, (end + kBlock - 1) / kBlock + 1);
  }
  // An extent is at most a file's dirty run (the largest file), and each
  // extent item keeps one whole extent's checksums alive.
  const uint64_t csums = std::min(written, items * largest);
  const uint64_t need = fs::MetadataLog::CheckpointBytesMax(files, items, csums);
  const uint64_t slot = fs::MetadataLog::SlotBytes(log_len);
  if (need <= slot) return "";
  // The area is four slots (a quarter each, whole blocks).
  const uint64_t kib = 4 * need / 1024;
  return "a metadata area of " + std::to_string(log_len >> 10) + " KiB (config log_kib) has checkpoint slots of " +
         std::to_string(slot) + " bytes; this scenario's files may need " + std::to_string(need) + " (" +
         std::to_string(items) + " extent items, " + std::to_string(csums) + " checksums): " +
         (kib <= (fs::BtrfsFs::kLogLen >> 10) ? "log_kib " + std::to_string(kib) + " or more"
                                                : std::string("fewer or smaller files and writes"));
}

}  // namespace fsim::scenarios
