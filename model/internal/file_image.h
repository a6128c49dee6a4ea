// The linearizability search's file state, kept incrementally: what the
// search needs at every node (apply an operation, take it back, check a
// read, name the state by a hash) costs in proportion to the pages the
// operation touches, not to the file.
//
// Representation. The file is a vector of page ids over 4 KiB page images
// that are interned by content: two pages with the same bytes have the
// same id, so two states are equal exactly when their sizes and id vectors
// are equal (memoisation compares states for real, with no byte compare).
// Images are immutable once interned (copy-on-write: changing a page makes
// or finds another image); nothing is freed until the image is destroyed.
//
// Invariants:
// - pages_.size() == ceil(size_ / kPageBytes);
// - the bytes of the last page past size_ are zero (so a page's content
//   alone decides its id, and extending the file needs no zero-fill);
// - hash_ == HashFromScratch() == HashOfBytes(the file's bytes):
//   Mix(size) plus, for each page i, Mix(page content hash, i) (mod 2^64),
//   updated for the pages an operation touches. Tests and debug builds
//   recompute it from scratch.
//
// Undo: Apply() logs what it overwrites; Undo(mark) restores the state the
// image had when Mark() returned `mark`, so the depth-first search walks
// one state instead of copying it at every node.
//
// Not thread-safe; one search owns one image. Nothing here depends on
// addresses or on unordered-container iteration order: the hash tables are
// only looked up.
#ifndef FSIM_MODEL_INTERNAL_FILE_IMAGE_H_
#define FSIM_MODEL_INTERNAL_FILE_IMAGE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>
#include <vector>

#include "model/file_model.h"

namespace fsim::model::internal {

inline constexpr uint64_t kPageBytes = 4096;

// Distinct page images one search may hold (4 KiB each: 128 MiB). A search
// that needs more is refused with a reason (see CheckLinearizable), never
// left to grow.
inline constexpr size_t kPageImagesMax = 32 * 1024;

// The state hash of a plain byte vector (the from-scratch definition).
uint64_t HashOfBytes(std::span<const uint8_t> bytes);

class FileImage {
 public:
  struct Mark {
    uint64_t size = 0;
    uint64_t hash = 0;
    size_t pages = 0;
    size_t undo = 0;
  };

  // REQUIRES: initial.bytes.size() < 2^36 (page indices fit 24 bits).
  explicit FileImage(const FileState& initial);

  uint64_t size() const { return size_; }
  uint64_t hash() const { return hash_; }
  const std::vector<uint32_t>& page_ids() const { return pages_; }
  // True once an operation needed more than kPageImagesMax images; the
  // state is then wrong and the search must stop.
  bool exhausted() const { return exhausted_; }

  // Applies `op` (any kind; a read or fsync changes nothing) with
  // ApplyFileOp's semantics. `op_index` (< 256) names the operation for
  // the page-transition cache: the same operation applied to the same page
  // image always gives the same image, so it is computed once.
  void Apply(const FileOp& op, uint32_t op_index);
  Mark GetMark() const { return {size_, hash_, pages_.size(), undo_.size()}; }
  // Restores the state at `mark`. REQUIRES: no Undo past `mark` since.
  void Undo(const Mark& mark);

  // True if a read `op` at this state returns exactly `result`. Copies
  // nothing.
  bool ReadMatches(const FileOp& op, const std::vector<uint8_t>& result) const;
  // True if the file's bytes are `bytes`.
  bool Equals(const std::vector<uint8_t>& bytes) const;

  // The file's bytes, and the hash recomputed from them (debug checks).
  std::vector<uint8_t> Bytes() const;
  uint64_t HashFromScratch() const;
  // Checks the invariants above from scratch; aborts if one is broken.
  void CheckInvariants() const;

 private:
  using Page = std::array<uint8_t, kPageBytes>;
  struct Undone {
    uint32_t index;
    uint32_t old_id;
  };

  const uint8_t* PageBytes(uint32_t id) const { return images_[id].data(); }
  uint32_t Intern(const Page& page);
  void SetPage(uint32_t index, uint32_t id);
  void SetSize(uint64_t size, uint32_t op_index);
  // Writes `data` (or zeroes if data is null) over [offset, offset + length).
  // REQUIRES: offset + length <= size_.
  void Fill(uint64_t offset, uint64_t length, const uint8_t* data, uint32_t op_index);

  uint64_t size_ = 0;
  uint64_t hash_ = 0;
  bool exhausted_ = false;
  std::vector<uint32_t> pages_;
  std::vector<Undone> undo_;
  // Interned images: id -> bytes, content hash, next id with the same hash.
  std::deque<Page> images_;
  std::vector<uint64_t> image_hash_;
  std::vector<uint32_t> image_next_;
  std::unordered_map<uint64_t, uint32_t> by_hash_;  // content hash -> first id
  // (op_index, page index, old id) -> new id.
  std::unordered_map<uint64_t, uint32_t> transitions_;
  Page scratch_{};
};

}  // namespace fsim::model::internal

#endif  // FSIM_MODEL_INTERNAL_FILE_IMAGE_H_
