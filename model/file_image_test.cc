// Checks the linearizability search's incremental state against
// from-scratch definitions, on operations RapidCheck generates (and
// shrinks): after every operation of a random sequence the image holds the
// bytes ApplyFileOp gives, its incremental hash equals the hash recomputed
// from those bytes, and undoing to any earlier mark gives back exactly the
// earlier state. Then checks that the incremental search gives the verdict
// (and the serial order) the old whole-state search gives on random
// concurrent histories, legal ones and corrupted ones, split per page or
// not; the old search is kept here as the reference, with its memo made
// exact (it keyed refuted states by a 64-bit hash alone).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>

#include "model/file_model.h"
#include "model/internal/file_image.h"
#include "model/internal/linearize.h"

namespace fsim::model {
namespace {

using internal::FileImage;
using internal::HashOfBytes;
using internal::kPageBytes;

// Offsets and lengths around three pages, bytes from a small alphabet so
// that states (and pages) recur and zero pages appear.
rc::Gen<FileOp> GenOp() {
  return rc::gen::exec([] {
    using K = FileOpKind;
    FileOp op;
    op.kind = *rc::gen::element(K::kWrite, K::kWrite, K::kRead, K::kTruncate, K::kPunchHole,
                                K::kZeroRange, K::kFallocate, K::kFsync);
    op.offset = *rc::gen::oneOf(rc::gen::inRange<uint64_t>(0, 3 * kPageBytes + 200),
                                rc::gen::element<uint64_t>(0, kPageBytes, 2 * kPageBytes,
                                                           kPageBytes - 1, kPageBytes + 1));
    op.length = *rc::gen::inRange<uint64_t>(0, 2 * kPageBytes + 100);
    op.keep_size = *rc::gen::arbitrary<bool>();
    if (op.kind == K::kWrite) {
      uint8_t byte = *rc::gen::inRange<uint8_t>(0, 3);
      bool pattern = *rc::gen::arbitrary<bool>();
      op.data.resize(op.length);
      for (size_t i = 0; i < op.data.size(); ++i) {
        op.data[i] = static_cast<uint8_t>(pattern ? byte + i % 7 : byte);
      }
    }
    return op;
  });
}

RC_GTEST_PROP(FileImageTest, IncrementalHashAndBytesMatchAFromScratchRecomputation, ()) {
  const auto ops = *rc::gen::container<std::vector<FileOp>>(GenOp());
  RC_PRE(ops.size() <= 200u);
  FileState initial{*rc::gen::container<std::vector<uint8_t>>(rc::gen::inRange<uint8_t>(0, 2))};
  FileState ref = initial;
  FileImage image(initial);
  image.CheckInvariants();
  // The hash is kept from a random point on (as the search starts keeping
  // it at its first refutation); marks from before are undone to as well.
  const size_t track_from = *rc::gen::inRange<size_t>(0, ops.size() + 1);
  std::vector<std::pair<FileImage::Mark, FileState>> marks;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i == track_from) image.TrackHash();
    if (i % 3 == 0) marks.emplace_back(image.GetMark(), ref);
    if (ops[i].kind == FileOpKind::kRead) {
      RC_ASSERT(image.ReadMatches(ops[i], ApplyFileOp(ref, ops[i])));
      continue;
    }
    ApplyFileOp(ref, ops[i]);
    image.Apply(ops[i], static_cast<uint32_t>(i));  // one index per operation
    image.CheckInvariants();  // the hash against its recomputation, and the layout
    RC_ASSERT(image.Bytes() == ref.bytes);
    if (image.tracking()) RC_ASSERT(image.hash() == HashOfBytes(ref.bytes));
    RC_ASSERT(image.Equals(ref.bytes));
  }
  image.TrackHash();
  RC_ASSERT(image.hash() == HashOfBytes(ref.bytes));
  // Back to each mark, newest first, as the search backtracks.
  while (!marks.empty()) {
    image.Undo(marks.back().first);
    image.CheckInvariants();
    RC_ASSERT(image.Bytes() == marks.back().second.bytes);
    RC_ASSERT(image.hash() == HashOfBytes(marks.back().second.bytes));
    marks.pop_back();
  }
}

TEST(FileImageTest, EqualBytesReachedByDifferentPathsAreTheSamePagesWithTheSameHash) {
  FileImage image(FileState{});
  image.TrackHash();
  const FileImage::Mark empty = image.GetMark();
  FileOp w{FileOpKind::kWrite, 100, 0, false, std::vector<uint8_t>(5000, 7)};
  image.Apply(w, 0);
  std::vector<uint32_t> ids = image.page_ids();
  uint64_t hash = image.hash();
  image.Undo(empty);
  EXPECT_EQ(image.size(), 0u);
  // The same bytes in two steps: a zeroed extension, then the data.
  image.Apply(FileOp{FileOpKind::kFallocate, 0, 5100, false, {}}, 1);
  image.Apply(w, 2);
  EXPECT_TRUE(image.SamePages(ids));
  EXPECT_EQ(image.hash(), hash);
  // Truncating to zero and back leaves zero pages (the zero page's id).
  image.Apply(FileOp{FileOpKind::kTruncate, 0, 0, false, {}}, 3);
  image.Apply(FileOp{FileOpKind::kTruncate, 3 * kPageBytes, 0, false, {}}, 4);
  EXPECT_EQ(image.page_ids(), (std::vector<uint32_t>{0, 0, 0}));
  image.CheckInvariants();
}

// --- the old search, as the reference ---------------------------------------

struct ReferenceSearch {
  const std::vector<OpRecord>& history;
  const FileState* final_state;
  std::set<std::pair<uint64_t, std::vector<uint8_t>>> dead;
  std::vector<size_t> order;
  uint64_t all;

  bool Run(uint64_t done, const FileState& state) {
    if (done == all) return final_state == nullptr || state == *final_state;
    if (dead.count({done, state.bytes})) return false;
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
    dead.insert({done, state.bytes});
    return false;
  }
};

// A history that some serial order explains (each operation takes effect at
// a random point of its interval), then perhaps corrupted: a read byte, the
// final file, or two reads' results swapped.
struct GeneratedHistory {
  FileState initial;
  std::vector<OpRecord> history;
  FileState final_state;
  bool check_final = true;
};

// Dense histories: short operations on a few bytes from a few values, all
// overlapping in time, so that the search meets the same done-set with
// different states and refutes deep in the tree (the memo at work).
rc::Gen<FileOp> GenDenseOp() {
  return rc::gen::exec([] {
    using K = FileOpKind;
    FileOp op;
    op.kind = *rc::gen::element(K::kWrite, K::kWrite, K::kWrite, K::kRead, K::kRead,
                                K::kTruncate, K::kPunchHole, K::kZeroRange);
    op.offset = *rc::gen::inRange<uint64_t>(0, 12);
    op.length = *rc::gen::inRange<uint64_t>(1, 6);
    if (op.kind == K::kWrite) op.data.assign(op.length, *rc::gen::inRange<uint8_t>(1, 4));
    return op;
  });
}

GeneratedHistory GenHistory() {
  GeneratedHistory g;
  const bool dense = *rc::gen::arbitrary<bool>();
  g.initial.bytes.assign(dense ? 8 : *rc::gen::inRange<size_t>(0, 2 * kPageBytes), 1);
  const auto ops = dense ? *rc::gen::container<std::vector<FileOp>>(
                               *rc::gen::inRange<size_t>(2, 10), GenDenseOp())
                         : *rc::gen::resize(6, rc::gen::nonEmpty(
                               rc::gen::container<std::vector<FileOp>>(GenOp())));
  const bool per_page = *rc::gen::arbitrary<bool>();
  std::vector<std::pair<uint64_t, size_t>> points;  // (linearization point, index)
  for (const FileOp& op : ops) {
    const uint64_t invoke = *rc::gen::inRange<uint64_t>(0, dense ? 4 : 20);
    const uint64_t response = invoke + *rc::gen::inRange<uint64_t>(1, dense ? 20 : 10);
    for (const FileOp& piece : per_page ? SplitAtPages(op, kPageBytes) : std::vector{op}) {
      if (g.history.size() == 12) break;  // the reference search is exponential
      points.emplace_back(*rc::gen::inRange<uint64_t>(invoke, response + 1), g.history.size());
      g.history.push_back({piece, invoke, response, {}, "f"});
    }
  }
  std::stable_sort(points.begin(), points.end());
  FileState state = g.initial;
  for (const auto& [point, i] : points) g.history[i].result = ApplyFileOp(state, g.history[i].op);
  g.final_state = state;
  g.check_final = *rc::gen::arbitrary<bool>();
  std::vector<size_t> reads;
  for (size_t i = 0; i < g.history.size(); ++i) {
    if (!g.history[i].result.empty()) reads.push_back(i);
  }
  switch (*rc::gen::inRange(0, 4)) {
    case 1:
      if (!reads.empty()) {
        std::vector<uint8_t>& r = g.history[reads[*rc::gen::inRange<size_t>(0, reads.size())]].result;
        r[*rc::gen::inRange<size_t>(0, r.size())] ^= 1;
      }
      break;
    case 2:
      if (*rc::gen::arbitrary<bool>() || g.final_state.bytes.empty()) {
        g.final_state.bytes.push_back(0);
      } else {
        g.final_state.bytes[*rc::gen::inRange<size_t>(0, g.final_state.bytes.size())] ^= 2;
      }
      break;
    case 3:
      if (reads.size() >= 2) std::swap(g.history[reads[0]].result, g.history[reads[1]].result);
      break;
    default:
      break;
  }
  return g;
}

// `order` is a linearization of `history`: a permutation that respects
// real time (an operation that responded before another was invoked comes
// first), in which every read sees what it returned and which ends in
// `final_state` (if given).
bool IsLinearization(const FileState& initial, const std::vector<OpRecord>& history,
                     const FileState* final_state, const std::vector<size_t>& order) {
  if (order.size() != history.size()) return false;
  std::vector<bool> seen(history.size(), false);
  FileState state = initial;
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    if (i >= history.size() || seen[i]) return false;
    seen[i] = true;
    for (size_t later = k + 1; later < order.size(); ++later) {
      if (history[order[later]].response < history[i].invoke) return false;
    }
    std::vector<uint8_t> got = ApplyFileOp(state, history[i].op);
    if (history[i].op.kind == FileOpKind::kRead && got != history[i].result) return false;
  }
  return final_state == nullptr || state == *final_state;
}

// The search takes a state-preserving operation (a matching read, an
// fsync) as soon as it may, so its order can differ from the reference's;
// the verdict may not, and its order must be a linearization.
RC_GTEST_PROP(LinearizabilityTest, IncrementalSearchGivesTheOldSearchsVerdictAndALinearization, ()) {
  const GeneratedHistory g = GenHistory();
  const FileState* final_state = g.check_final ? &g.final_state : nullptr;
  ReferenceSearch ref{g.history, final_state, {}, {}, (uint64_t{1} << g.history.size()) - 1};
  const bool ok = ref.Run(0, g.initial);
  Linearization l = internal::CheckLinearizable(g.initial, g.history, final_state, true);
  RC_TAG(ok ? "linearizable" : "refused", ref.dead.empty() ? "no refutation" : "refutations");
  RC_ASSERT(l.ok == ok);
  if (ok) RC_ASSERT(IsLinearization(g.initial, g.history, final_state, l.order));
  // The public entry point agrees with the verifying one.
  RC_ASSERT(CheckLinearizable(g.initial, g.history, final_state).ok == ok);
}

}  // namespace
}  // namespace fsim::model
