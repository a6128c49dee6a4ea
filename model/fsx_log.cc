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
      } else if (w != "close_open" && w != "unshare" && w != "*") {
        *error = file + ":" + std::to_string(n) + ": unknown flag '" + w + "'";
        return std::nullopt;
      }
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

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
