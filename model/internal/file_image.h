// The linearizability search's file state, kept incrementally: what the
// search needs at every node (apply an operation, take it back, check a
// read, name the state by a hash) costs in proportion to the pages the
// operation touches, not to the file.
//
// Representation. The file is a vector of ids of 4 KiB page images.
// Images are immutable (copy-on-write: changing a page makes another
// image); an operation applied to an image gives the same new image every
// time it is applied to that image again (a transition cache), so the
// search copies each distinct page version once. Two ids may name equal
// bytes (images are not interned): SamePages() compares ids, then content
// hashes, then bytes, so a comparison of states is exact.
//
// The state hash is kept only once TrackHash() is called: a search that
// never refutes a state (most runs: the first order tried explains the
// history) never looks one up, so it never hashes a page. Once tracked it
// is Mix(size) plus, for each page i, Mix(page content hash, i)
// (mod 2^64), updated for the pages an operation touches; each image's
// content hash is computed once, when first needed.
//
// Invariants:
// - pages_.size() == ceil(size_ / kPageBytes);
// - the bytes of the last page past size_ are zero (so equal files have
//   equal pages, and extending the file needs no zero-fill);
// - if tracking: hash_ == HashFromScratch() == HashOfBytes(the file's
//   bytes). Tests and debug builds recompute it from scratch.
//
// Undo: Apply() logs what it overwrites; Undo(mark) restores the state the
// image had when GetMark() returned `mark`, so the depth-first search
// walks one state instead of copying it at every node.
//
// Not thread-safe; one search owns one image. Nothing here depends on
// addresses or on unordered-container iteration order: the hash table is
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
    bool tracking = false;
    size_t pages = 0;
    size_t undo = 0;
  };

  // REQUIRES: initial.bytes.size() < 2^36 (page indices fit 24 bits).
  explicit FileImage(const FileState& initial);

  uint64_t size() const { return size_; }
  const std::vector<uint32_t>& page_ids() const { return pages_; }
  // True once an operation needed more than kPageImagesMax images; the
  // state is then wrong and the search must stop.
  bool exhausted() const { return exhausted_; }

  // Starts keeping the state hash (hashing the current pages); idempotent.
  void TrackHash();
  bool tracking() const { return tracking_; }
  // REQUIRES: tracking().
  uint64_t hash() const;

  // Applies `op` (any kind; a read or fsync changes nothing) with
  // ApplyFileOp's semantics. `op_index` (< 256) names the operation for
  // the transition cache. REQUIRES: one op_index always names one
  // operation.
  void Apply(const FileOp& op, uint32_t op_index);
  Mark GetMark() const { return {size_, hash_, tracking_, pages_.size(), undo_.size()}; }
  // Restores the state at `mark` (the hash stays tracked if it is).
  // REQUIRES: no Undo past `mark` since.
  void Undo(const Mark& mark);

  // True if a read `op` at this state returns exactly `result`. Copies
  // nothing.
  bool ReadMatches(const FileOp& op, const std::vector<uint8_t>& result) const;
  // True if the file's bytes are `bytes`.
  bool Equals(const std::vector<uint8_t>& bytes) const;
  // True if the pages named by `ids` (of this image) hold the bytes the
  // current pages hold. REQUIRES: ids.size() == page_ids().size(),
  // tracking() since those ids were current (their hashes are known).
  bool SamePages(std::span<const uint32_t> ids) const;

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

  const uint8_t* PageBytes(uint32_t id) const;
  const Page& Image(uint32_t id) const;
  uint64_t ImageHash(uint32_t id) const;  // computed on first use
  uint64_t PagesHash() const;             // the tracked hash, from the page list
  void SetPage(uint32_t index, uint32_t id);
  void SetSize(uint64_t size, uint32_t op_index);
  // Writes `data` (or zeroes if data is null) over [offset, offset + length).
  // REQUIRES: offset + length <= size_.
  void Fill(uint64_t offset, uint64_t length, const uint8_t* data, uint32_t op_index);

  uint64_t size_ = 0;
  uint64_t hash_ = 0;  // if tracking_
  bool tracking_ = false;
  bool exhausted_ = false;
  std::vector<uint32_t> pages_;
  std::vector<Undone> undo_;
  // Id 0 is the zero page (one static image, shared by every search);
  // id i > 0 is images_[i - 1].
  std::deque<Page> images_;
  mutable std::vector<uint64_t> image_hash_;  // id -> content hash, if hashed (id 0 is)
  mutable std::vector<bool> image_hashed_;
  // (op_index, page index, old id) -> new id.
  std::unordered_map<uint64_t, uint32_t> transitions_;
};

}  // namespace fsim::model::internal

#endif  // FSIM_MODEL_INTERNAL_FILE_IMAGE_H_
