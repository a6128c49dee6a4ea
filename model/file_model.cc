#include "model/file_model.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <unordered_set>

namespace fsim::model {

const char* FileOpName(FileOpKind kind) {
  switch (kind) {
    case FileOpKind::kWrite: return "write";
    case FileOpKind::kRead: return "read";
    case FileOpKind::kTruncate: return "truncate";
    case FileOpKind::kPunchHole: return "punch_hole";
    case FileOpKind::kZeroRange: return "zero_range";
    case FileOpKind::kFallocate: return "fallocate";
    default: return "fsync";
  }
}

std::vector<uint8_t> ApplyFileOp(FileState& s, const FileOp& op) {
  std::vector<uint8_t>& b = s.bytes;
  const uint64_t size = b.size();
  const uint64_t end = op.offset + op.length;
  switch (op.kind) {
    case FileOpKind::kWrite:
      if (op.offset + op.data.size() > size) b.resize(op.offset + op.data.size(), 0);
      std::copy(op.data.begin(), op.data.end(), b.begin() + static_cast<long>(op.offset));
      break;
    case FileOpKind::kRead: {
      if (op.offset >= size) return {};
      uint64_t stop = std::min(end, size);
      return std::vector<uint8_t>(b.begin() + static_cast<long>(op.offset),
                                  b.begin() + static_cast<long>(stop));
    }
    case FileOpKind::kTruncate:
      b.resize(op.offset, 0);
      break;
    case FileOpKind::kPunchHole:
      if (op.offset < size) {
        std::fill(b.begin() + static_cast<long>(op.offset),
                  b.begin() + static_cast<long>(std::min(end, size)), 0);
      }
      break;
    case FileOpKind::kZeroRange:
      if (!op.keep_size && end > size) b.resize(end, 0);
      if (op.offset < b.size()) {
        std::fill(b.begin() + static_cast<long>(op.offset),
                  b.begin() + static_cast<long>(std::min<uint64_t>(end, b.size())), 0);
      }
      break;
    case FileOpKind::kFallocate:
      if (!op.keep_size && end > size) b.resize(end, 0);
      break;
    case FileOpKind::kFsync:
      break;
  }
  return {};
}

std::vector<FileOp> SplitAtPages(const FileOp& op, uint64_t page) {
  if (op.kind != FileOpKind::kWrite && op.kind != FileOpKind::kRead &&
      op.kind != FileOpKind::kPunchHole && op.kind != FileOpKind::kZeroRange) {
    return {op};
  }
  uint64_t len = op.kind == FileOpKind::kWrite ? op.data.size() : op.length;
  std::vector<FileOp> out;
  for (uint64_t at = op.offset; at < op.offset + len;) {
    uint64_t next = std::min(op.offset + len, (at / page + 1) * page);
    FileOp piece = op;
    piece.offset = at;
    piece.length = next - at;
    if (op.kind == FileOpKind::kWrite) {
      piece.data.assign(op.data.begin() + static_cast<long>(at - op.offset),
                        op.data.begin() + static_cast<long>(next - op.offset));
    }
    out.push_back(std::move(piece));
    at = next;
  }
  if (out.empty()) out.push_back(op);
  return out;
}

void RecordPerPage(std::vector<OpRecord>& history, const FileOp& op, uint64_t invoke,
                   const std::vector<uint8_t>& result, const std::string& who, uint64_t page,
                   uint64_t& clock) {
  for (const FileOp& piece : SplitAtPages(op, page)) {
    OpRecord rec{piece, invoke, ++clock, {}, who};
    if (op.kind == FileOpKind::kRead) {
      uint64_t from = piece.offset - op.offset;
      if (from < result.size()) {
        uint64_t n = std::min<uint64_t>(piece.length, result.size() - from);
        rec.result.assign(result.begin() + static_cast<long>(from),
                          result.begin() + static_cast<long>(from + n));
      }
    }
    history.push_back(std::move(rec));
  }
}

namespace {

struct Search {
  const std::vector<OpRecord>& history;
  const FileState* final_state;
  std::unordered_set<uint64_t> dead;  // (done-set, state) already refuted; lookup only
  std::vector<size_t> order;
  uint64_t all;

  uint64_t Key(uint64_t done, const FileState& s) const {
    return XXH3_64bits_withSeed(s.bytes.data(), s.bytes.size(), done) ^ (s.bytes.size() << 1);
  }

  bool Run(uint64_t done, const FileState& state) {
    if (done == all) return final_state == nullptr || state == *final_state;
    uint64_t key = Key(done, state);
    if (dead.count(key)) return false;
    // Only operations invoked before every pending one has responded can
    // take effect next (real-time order).
    uint64_t first_response = UINT64_MAX;
    for (size_t i = 0; i < history.size(); ++i) {
      if (!(done >> i & 1)) first_response = std::min(first_response, history[i].response);
    }
    for (size_t i = 0; i < history.size(); ++i) {
      if ((done >> i & 1) || history[i].invoke > first_response) continue;
      FileState next = state;
      std::vector<uint8_t> got = ApplyFileOp(next, history[i].op);
      if (history[i].op.kind == FileOpKind::kRead && got != history[i].result) continue;
      order.push_back(i);
      if (Run(done | uint64_t{1} << i, next)) return true;
      order.pop_back();
    }
    dead.insert(key);
    return false;
  }
};

}  // namespace

Linearization CheckLinearizable(const FileState& initial, const std::vector<OpRecord>& history,
                                const FileState* final_state) {
  Linearization out;
  if (history.size() > kHistoryOpsMax) {
    out.why = "history of " + std::to_string(history.size()) + " operations exceeds the " +
              std::to_string(kHistoryOpsMax) + " the check takes";
    return out;
  }
  Search search{history, final_state, {}, {},
                history.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << history.size()) - 1};
  out.ok = search.Run(0, initial);
  if (out.ok) {
    out.order = search.order;
  } else {
    out.why = final_state ? "no serial order of the " + std::to_string(history.size()) +
                                " operations explains every read and the final file"
                          : "no serial order of the " + std::to_string(history.size()) +
                                " operations explains every read";
  }
  return out;
}

}  // namespace fsim::model
