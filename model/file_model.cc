#include "model/file_model.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <unordered_map>

#include "model/internal/file_image.h"
#include "model/internal/linearize.h"
#include "sim/check.h"

namespace fsim::model {

const char* FileOpName(FileOpKind kind) {
  switch (kind) {
    case FileOpKind::kWrite: return "write";
    case FileOpKind::kRead: return "read";
    case FileOpKind::kTruncate: return "truncate";
    case FileOpKind::kPunchHole: return "punch_hole";
    case FileOpKind::kZeroRange: return "zero_range";
    case FileOpKind::kFallocate: return "fallocate";
    case FileOpKind::kCopy: return "copy";
    case FileOpKind::kDedupe: return "dedupe";
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
    case FileOpKind::kCopy: {
      if (op.offset >= size) break;
      const std::vector<uint8_t> src(b.begin() + static_cast<long>(op.offset),
                                     b.begin() + static_cast<long>(std::min(end, size)));
      if (op.dest + src.size() > b.size()) b.resize(op.dest + src.size(), 0);
      std::copy(src.begin(), src.end(), b.begin() + static_cast<long>(op.dest));
      break;
    }
    case FileOpKind::kFsync:
    case FileOpKind::kDedupe:
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
    // Not a copy of `op`: its data would be copied whole for each piece.
    FileOp piece{op.kind, at, next - at, op.keep_size, {}};
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
  for (FileOp& piece : SplitAtPages(op, page)) {
    OpRecord rec{std::move(piece), invoke, ++clock, {}, who};
    if (op.kind == FileOpKind::kRead) {
      uint64_t from = rec.op.offset - op.offset;
      if (from < result.size()) {
        uint64_t n = std::min<uint64_t>(rec.op.length, result.size() - from);
        rec.result.assign(result.begin() + static_cast<long>(from),
                          result.begin() + static_cast<long>(from + n));
      }
    }
    history.push_back(std::move(rec));
  }
}

namespace {

// Wing & Gong's search over one incrementally kept state (see
// model/internal/file_image.h): an operation is applied on the way down
// and undone on the way back, and a read is checked in place, so a node
// costs what its operation touches. A (done-set, state) pair refuted once
// is remembered exactly: its key is a hash, but a hit compares the done
// set, the size and the pages (by id, else by content). The state hash is
// kept from the first refutation on: a search that never backtracks past
// a refuted state hashes nothing.
class Search {
 public:
  Search(const FileState& initial, const std::vector<OpRecord>& history,
         const FileState* final_state, bool verify)
      : history_(history), final_state_(final_state), verify_(verify), image_(initial),
        all_(history.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << history.size()) - 1) {}

  // At most `budget` nodes (0: no limit); past it every Run fails and
  // over_budget() says so (the memo is then no good for another search).
  void set_budget(uint64_t budget) { budget_ = budget; }
  bool over_budget() const { return budget_ != 0 && nodes_ > budget_; }

  bool Run(uint64_t done) {
    if (image_.exhausted()) return false;
    if (budget_ != 0 && ++nodes_ > budget_) return false;
    if (verify_) image_.CheckInvariants();
    if (done == all_) return final_state_ == nullptr || image_.Equals(final_state_->bytes);
    // Nothing refuted yet, nothing to look up (and no state hash needed).
    if (!dead_.empty() && IsDead(Key(done), done)) return false;
    // Only operations invoked before every pending one has responded can
    // take effect next (real-time order).
    uint64_t first_response = UINT64_MAX;
    for (size_t i = 0; i < history_.size(); ++i) {
      if (!(done >> i & 1)) first_response = std::min(first_response, history_[i].response);
    }
    // An operation that leaves the state as it is (a read that matches
    // it now, an fsync) is taken at once, with no alternative tried: if
    // any order of the rest succeeds, the one with it moved first does
    // too (it changes no state, and anything it now precedes did not
    // respond before it was invoked, or it could not be taken now).
    for (size_t i = 0; i < history_.size(); ++i) {
      if ((done >> i & 1) || history_[i].invoke > first_response) continue;
      const FileOp& op = history_[i].op;
      if (op.kind == FileOpKind::kFsync ||
          (op.kind == FileOpKind::kRead && image_.ReadMatches(op, history_[i].result))) {
        return Try(done, i);
      }
    }
    for (size_t i = 0; i < history_.size(); ++i) {
      if ((done >> i & 1) || history_[i].invoke > first_response) continue;
      if (Try(done, i)) return true;
      if (image_.exhausted()) return false;
    }
    image_.TrackHash();
    AddDead(Key(done), done);
    return false;
  }

  const std::vector<size_t>& order() const { return order_; }
  bool exhausted() const { return image_.exhausted(); }

 private:
  struct Dead {
    uint64_t done;
    uint64_t size;
    uint32_t ids_at;     // into dead_ids_
    uint32_t next;       // next entry with the same key, or UINT32_MAX
  };

  // Takes operation i next: true if the rest of the history then has a
  // legal order.
  bool Try(uint64_t done, size_t i) {
    const FileOp& op = history_[i].op;
    if (op.kind == FileOpKind::kRead && !image_.ReadMatches(op, history_[i].result)) return false;
    const internal::FileImage::Mark mark = image_.GetMark();
    image_.Apply(op, static_cast<uint32_t>(i));
    order_.push_back(i);
    if (!image_.exhausted() && Run(done | uint64_t{1} << i)) return true;
    order_.pop_back();
    image_.Undo(mark);
    return false;
  }

  // Verifying, every state with the same done-set gets the same key: the
  // exact comparison then decides every memo hit, as on a collision.
  uint64_t Key(uint64_t done) const {
    if (verify_) return done;
    return XXH3_64bits_withSeed(&done, sizeof done, image_.hash());
  }

  bool IsDead(uint64_t key, uint64_t done) const {
    auto it = dead_by_key_.find(key);
    if (it == dead_by_key_.end()) return false;
    const std::vector<uint32_t>& ids = image_.page_ids();
    for (uint32_t e = it->second; e != UINT32_MAX; e = dead_[e].next) {
      const Dead& d = dead_[e];
      if (d.done == done && d.size == image_.size() &&
          image_.SamePages({dead_ids_.data() + d.ids_at, ids.size()})) {
        return true;
      }
    }
    return false;
  }

  void AddDead(uint64_t key, uint64_t done) {
    auto [it, fresh] = dead_by_key_.try_emplace(key, static_cast<uint32_t>(dead_.size()));
    const uint32_t next = fresh ? UINT32_MAX : it->second;
    it->second = static_cast<uint32_t>(dead_.size());
    FSIM_CHECK(dead_ids_.size() < UINT32_MAX);
    dead_.push_back({done, image_.size(), static_cast<uint32_t>(dead_ids_.size()), next});
    const std::vector<uint32_t>& ids = image_.page_ids();
    dead_ids_.insert(dead_ids_.end(), ids.begin(), ids.end());
  }

  uint64_t budget_ = 0;
  uint64_t nodes_ = 0;
  const std::vector<OpRecord>& history_;
  const FileState* final_state_;
  const bool verify_;
  internal::FileImage image_;
  const uint64_t all_;
  std::vector<size_t> order_;
  // Refuted (done-set, state) pairs: only looked up, never iterated.
  std::unordered_map<uint64_t, uint32_t> dead_by_key_;  // key -> newest entry
  std::vector<Dead> dead_;
  std::vector<uint32_t> dead_ids_;  // each entry's page ids (size decides how many)
};

// A byte no operation could have put where it was seen refutes every
// order at once, so the search need not run: a read, or the final file,
// holding at offset x a nonzero value that no write wrote at x (with a
// copy or dedupe in the history, bytes move: then no write wrote it at
// all). Zero is always possible (a hole, an extension, a punch). Returns
// the first such byte as one line, or "".
std::string ImpossibleByte(const FileState& initial, const std::vector<OpRecord>& history,
                           const FileState* final_state) {
  bool moves = false;
  std::array<bool, 256> anywhere{};
  anywhere[0] = true;
  for (uint8_t b : initial.bytes) anywhere[b] = true;
  std::map<uint64_t, std::vector<const FileOp*>> writes;  // by 4 KiB page
  for (const OpRecord& r : history) {
    if (r.op.kind == FileOpKind::kCopy || r.op.kind == FileOpKind::kDedupe) moves = true;
    if (r.op.kind != FileOpKind::kWrite || r.op.data.empty()) continue;
    for (uint8_t b : r.op.data) anywhere[b] = true;
    for (uint64_t page = r.op.offset >> 12; page <= (r.op.offset + r.op.data.size() - 1) >> 12; ++page) {
      writes[page].push_back(&r.op);
    }
  }
  static const std::vector<const FileOp*> kNone;
  // The first byte of `bytes` (file offset `at` on) nothing put there, or
  // SIZE_MAX; a page's writers are looked up once.
  auto first_impossible = [&](uint64_t at, std::span<const uint8_t> bytes) -> size_t {
    const std::vector<const FileOp*>* page_writes = nullptr;
    uint64_t page = UINT64_MAX;
    for (size_t i = 0; i < bytes.size(); ++i) {
      const uint8_t v = bytes[i];
      if (v == 0) continue;
      const uint64_t x = at + i;
      if (moves || (x < initial.bytes.size() && initial.bytes[x] == v)) {
        if (anywhere[v]) continue;
        return i;
      }
      if ((x >> 12) != page) {
        page = x >> 12;
        auto it = writes.find(page);
        page_writes = it == writes.end() ? &kNone : &it->second;
      }
      bool found = false;
      for (const FileOp* w : *page_writes) {
        if (x >= w->offset && x - w->offset < w->data.size() && w->data[x - w->offset] == v) {
          found = true;
          break;
        }
      }
      if (!found) return i;
    }
    return SIZE_MAX;
  };
  auto hex = [](uint8_t v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", v);
    return std::string(buf);
  };
  for (const OpRecord& r : history) {
    if (r.op.kind != FileOpKind::kRead) continue;
    if (size_t i = first_impossible(r.op.offset, r.result); i != SIZE_MAX) {
      return r.who + " read " + hex(r.result[i]) + " at byte " + std::to_string(r.op.offset + i) +
             ", which no operation put there";
    }
  }
  if (final_state != nullptr) {
    if (size_t x = first_impossible(0, final_state->bytes); x != SIZE_MAX) {
      return "the final file holds " + hex(final_state->bytes[x]) + " at byte " + std::to_string(x) +
             ", which no operation put there";
    }
  }
  return "";
}

}  // namespace

namespace internal {

Linearization CheckLinearizable(const FileState& initial, const std::vector<OpRecord>& history,
                                const FileState* final_state, bool verify) {
  Linearization out;
  if (history.size() > kHistoryOpsMax) {
    out.why = "history of " + std::to_string(history.size()) + " operations exceeds the " +
              std::to_string(kHistoryOpsMax) + " the check takes";
    return out;
  }
  const std::string no_order = "no serial order of the " + std::to_string(history.size()) +
                               " operations explains " +
                               (final_state ? "every read and the final file" : "every read");
  // A clean history is usually ordered in a few hundred nodes. One the
  // search cannot order quickly is first looked at for a byte nothing
  // could have put where it was seen: that refutes it at once, however
  // many orders the search would otherwise try, and says where.
  constexpr uint64_t kQuickNodes = 20000;
  auto judge = [&](Search& search, bool ok) {
    if (search.exhausted()) {
      out.undecided = true;
      out.why = "undecided: the check of " + std::to_string(history.size()) +
                " operations needs more than " + std::to_string(kPageImagesMax) + " page images";
    } else if (ok) {
      out.ok = true;
      out.order = search.order();
    } else {
      const std::string why = ImpossibleByte(initial, history, final_state);
      out.why = why.empty() ? no_order : no_order + ": " + why;
    }
    return out;
  };
  {
    Search quick(initial, history, final_state, verify);
    quick.set_budget(kQuickNodes);
    const bool ok = quick.Run(0);
    if (!quick.over_budget()) return judge(quick, ok);
  }
  if (std::string why = ImpossibleByte(initial, history, final_state); !why.empty()) {
    out.why = no_order + ": " + why;
    return out;
  }
  Search search(initial, history, final_state, verify);
  search.set_budget(kSearchNodesMax);
  const bool ok = search.Run(0);
  if (search.over_budget()) {
    out.undecided = true;
    out.why = "undecided: no serial order of the " + std::to_string(history.size()) +
              " operations found, nor every order refuted, within " +
              std::to_string(kSearchNodesMax) + " search nodes";
    return out;
  }
  return judge(search, ok);
}

}  // namespace internal

Linearization CheckLinearizable(const FileState& initial, const std::vector<OpRecord>& history,
                                const FileState* final_state) {
#ifdef NDEBUG
  constexpr bool kVerify = false;
#else
  constexpr bool kVerify = true;  // debug builds recompute the state hash at every node
#endif
  return internal::CheckLinearizable(initial, history, final_state, kVerify);
}

bool PagewiseStoresAllowed(const FileState& state, const std::vector<const FileOp*>& stores,
                           const FileState& found, uint64_t page) {
  const std::vector<uint8_t>& got = found.bytes;
  const std::vector<uint8_t>& before = state.bytes;
  if (got.size() != before.size()) return false;
  // The stores into each page, in invocation order.
  std::map<uint64_t, std::vector<const FileOp*>> by_page;
  for (const FileOp* op : stores) {
    if (op->data.empty()) continue;  // a store that stored nothing
    const uint64_t last = (op->offset + op->data.size() - 1) / page;
    for (uint64_t p = op->offset / page; p <= last; ++p) by_page[p].push_back(op);
  }
  const auto at = [](const std::vector<uint8_t>& v, uint64_t i) { return v.begin() + static_cast<long>(i); };
  for (uint64_t lo = 0; lo < got.size(); lo += page) {
    const uint64_t hi = std::min<uint64_t>(lo + page, got.size());
    if (std::equal(at(before, lo), at(before, hi), at(got, lo))) continue;  // none applied
    auto into = by_page.find(lo / page);
    if (into == by_page.end()) return false;
    std::vector<uint8_t> held(at(before, lo), at(before, hi));
    bool match = false;
    for (const FileOp* op : into->second) {
      for (uint64_t b = std::max(lo, op->offset); b < std::min(hi, op->offset + op->data.size()); ++b) {
        held[b - lo] = op->data[b - op->offset];
      }
      if ((match = std::equal(held.begin(), held.end(), at(got, lo)))) break;
    }
    if (!match) return false;
  }
  return true;
}

}  // namespace fsim::model
