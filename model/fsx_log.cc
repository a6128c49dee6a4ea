#include "model/fsx_log.h"

#include <sstream>

#include "model/error_line.h"

namespace fsim::model {
namespace {

bool ParseNumber(const std::string& s, uint64_t* out) {
  // C integers: 0x hex, leading-0 octal, decimal.
  if (s.empty()) return false;
  size_t used = 0;
  try {
    *out = std::stoull(s, &used, 0);
  } catch (...) {
    return false;
  }
  return used == s.size();
}

size_t ArgsFor(const std::string& name) {
  if (name == "copy_range" || name == "clone_range" || name == "dedupe_range" ||
      name == "exchange_range") {
    return 4;
  }
  return 3;
}


std::optional<std::vector<FsxOp>> ParseFsxLogUnchecked(const std::string& text,
                                                       const std::string& file,
                                                       std::string* error) {
  std::vector<FsxOp> ops;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream words(line);
    std::string w;
    if (!(words >> w) || w[0] == '#') continue;
    if (w == "skip") continue;
    FsxOp op;
    op.name = w;
    op.line = n;
    size_t want = ArgsFor(w);
    for (size_t i = 0; i < want; ++i) {
      uint64_t v;
      if (!(words >> w) || !ParseNumber(w, &v)) {
        *error = file + ":" + std::to_string(n) + ": " + op.name + " needs " +
                 std::to_string(want) + " numbers";
        return std::nullopt;
      }
      op.args.push_back(v);
    }
    while (words >> w) {
      if (w == "keep_size") {
        op.keep_size = true;
      } else if (w == "close_open") {
        op.close_open = true;
      } else if (w != "unshare" && w != "*") {
        *error = file + ":" + std::to_string(n) + ": unknown flag '" + w + "'";
        return std::nullopt;
      }
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

GlibcRandom::GlibcRandom(uint32_t seed) {
  // srandom_r(): x[0] = seed (0 becomes 1), x[i] = 16807 * x[i-1] mod
  // 2^31-1 by Schrage's method on signed 32-bit words, then 310 values
  // discarded.
  int32_t x[34];
  x[0] = static_cast<int32_t>(seed == 0 ? 1 : seed);
  for (int i = 1; i < 31; ++i) {
    const int32_t hi = x[i - 1] / 127773, lo = x[i - 1] % 127773;
    int32_t word = 16807 * lo - 2836 * hi;
    if (word < 0) word += 2147483647;
    x[i] = word;
  }
  for (int i = 31; i < 34; ++i) x[i] = x[i - 31];
  for (int i = 0; i < 34; ++i) r_[i] = static_cast<uint32_t>(x[i]);
  for (int i = 0; i < 310; ++i) Next();
}

uint32_t GlibcRandom::Next() {
  // x[i] = x[i-31] + x[i-3] (mod 2^32); random() returns x[i] >> 1. r_ is
  // a ring of the last 34 values with r_[at_] the oldest (x[i-34]).
  const uint32_t v = r_[(at_ + 3) % 34] + r_[(at_ + 31) % 34];
  r_[at_] = v;
  at_ = (at_ + 1) % 34;
  return v >> 1;
}

std::vector<uint8_t> FsxBuffer(uint32_t seed, size_t len) {
  GlibcRandom random(seed);
  std::vector<uint8_t> orig(len);
  for (uint8_t& b : orig) b = static_cast<uint8_t>(random.Next() % 256);
  return orig;
}

std::optional<std::vector<FsxOp>> ParseFsxLog(const std::string& text, const std::string& file,
                                              std::string* error) {
  auto ops = ParseFsxLogUnchecked(text, file, error);
  if (!ops) *error = OneLine(*error);
  return ops;
}

std::optional<std::vector<FileOp>> ToFileOps(const std::vector<FsxOp>& ops,
                                             const std::vector<uint8_t>& orig,
                                             const std::string& file, std::string* error) {
  std::vector<FileOp> out;
  uint64_t k = 0;
  for (const FsxOp& op : ops) {
    ++k;
    FileOp f;
    f.offset = op.args[0];
    f.length = op.args[1];
    f.keep_size = op.keep_size;
    // fsx's files are small (its -l, 256 KiB by default); a range past
    // kFsxFileMax is a damaged log, not a test to run.
    for (uint64_t a : op.args) {
      if (a > kFsxFileMax) {
        *error = OneLine(file + ":" + std::to_string(op.line) + ": " + op.name + ": " +
                         std::to_string(a) + " is past the largest file fsx makes (" +
                         std::to_string(kFsxFileMax) + " bytes)");
        return std::nullopt;
      }
    }
    if (op.name == "write" || op.name == "mapwrite") {
      f.kind = FileOpKind::kWrite;
      f.data.resize(f.length);
      for (uint64_t i = 0; i < f.length; ++i) {
        uint64_t o = f.offset + i;
        uint64_t r = (o & 1) && o < orig.size() ? orig[o] : 0;
        f.data[i] = static_cast<uint8_t>((k + r) & 0xff);
      }
    } else if (op.name == "read" || op.name == "mapread") {
      f.kind = FileOpKind::kRead;
    } else if (op.name == "truncate") {
      f.kind = FileOpKind::kTruncate;
      f.offset = op.args[1];
      f.length = 0;
    } else if (op.name == "fallocate") {
      f.kind = FileOpKind::kFallocate;
    } else if (op.name == "punch_hole") {
      f.kind = FileOpKind::kPunchHole;
    } else if (op.name == "zero_range") {
      f.kind = FileOpKind::kZeroRange;
    } else if (op.name == "fsync") {
      f.kind = FileOpKind::kFsync;
    } else {
      *error = OneLine(file + ":" + std::to_string(op.line) + ": unsupported op " + op.name);
      return std::nullopt;
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace fsim::model
