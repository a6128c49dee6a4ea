#include "model/internal/file_image.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxh_x86dispatch.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "sim/check.h"

namespace fsim::model::internal {
namespace {

constexpr uint64_t kPageIndexMax = uint64_t{1} << 24;  // fits the transition key
constexpr uint32_t kZeroId = 0;                          // interned first

// splitmix64's finaliser: a bijection that spreads every input bit.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9;
  x ^= x >> 27;
  x *= 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

// Page i's share of the state hash: its content hash tied to its place, so
// that moving a page changes the hash. The shares are added (mod 2^64), so
// one page's share is taken out and put back without touching the others.
uint64_t PageShare(uint64_t content_hash, uint64_t index) {
  return Mix(content_hash ^ Mix(index + 0x9e3779b97f4a7c15));
}

uint64_t SizeShare(uint64_t size) { return Mix(size ^ 0xa0761d6478bd642f); }

uint64_t PagesFor(uint64_t size) { return (size + kPageBytes - 1) / kPageBytes; }

}  // namespace

uint64_t HashOfBytes(std::span<const uint8_t> bytes) {
  uint64_t h = SizeShare(bytes.size());
  std::array<uint8_t, kPageBytes> page;
  for (uint64_t i = 0; i < PagesFor(bytes.size()); ++i) {
    uint64_t from = i * kPageBytes;
    uint64_t n = std::min<uint64_t>(kPageBytes, bytes.size() - from);
    page.fill(0);
    std::memcpy(page.data(), bytes.data() + from, n);
    h += PageShare(XXH3_64bits_dispatch(page.data(), kPageBytes), i);
  }
  return h;
}

namespace {

// The zero page and its content hash: immutable, so one of each serves
// every image (function-local statics: initialised once, thread-safely).
const std::array<uint8_t, kPageBytes>& ZeroPage() {
  static const std::array<uint8_t, kPageBytes> zero{};
  return zero;
}

uint64_t ZeroPageHash() {
  static const uint64_t hash = XXH3_64bits_dispatch(ZeroPage().data(), kPageBytes);
  return hash;
}

}  // namespace

const FileImage::Page& FileImage::Image(uint32_t id) const {
  return id == kZeroId ? ZeroPage() : images_[id - 1];
}

const uint8_t* FileImage::PageBytes(uint32_t id) const { return Image(id).data(); }

FileImage::FileImage(const FileState& initial) {
  image_hash_.push_back(ZeroPageHash());
  image_hashed_.push_back(true);
  const std::vector<uint8_t>& b = initial.bytes;
  FSIM_CHECK(PagesFor(b.size()) <= kPageIndexMax);
  size_ = b.size();
  for (uint64_t i = 0; i < PagesFor(size_); ++i) {
    uint64_t from = i * kPageBytes;
    uint64_t n = std::min<uint64_t>(kPageBytes, size_ - from);
    if (std::all_of(b.begin() + from, b.begin() + from + n, [](uint8_t x) { return x == 0; })) {
      pages_.push_back(kZeroId);
      continue;
    }
    if (images_.size() + 1 >= kPageImagesMax) {
      exhausted_ = true;  // an initial file of more than kPageImagesMax pages
      return;
    }
    Page& page = images_.emplace_back();  // zeroed
    std::memcpy(page.data(), b.data() + from, n);
    image_hash_.push_back(0);
    image_hashed_.push_back(false);
    pages_.push_back(static_cast<uint32_t>(images_.size()));
  }
}

uint64_t FileImage::ImageHash(uint32_t id) const {
  if (!image_hashed_[id]) {
    image_hash_[id] = XXH3_64bits_dispatch(PageBytes(id), kPageBytes);
    image_hashed_[id] = true;
  }
  return image_hash_[id];
}

uint64_t FileImage::PagesHash() const {
  uint64_t h = SizeShare(size_);
  for (uint64_t i = 0; i < pages_.size(); ++i) h += PageShare(ImageHash(pages_[i]), i);
  return h;
}

void FileImage::TrackHash() {
  if (tracking_) return;
  hash_ = PagesHash();
  tracking_ = true;
}

uint64_t FileImage::hash() const {
  FSIM_CHECK(tracking_);
  return hash_;
}

void FileImage::SetPage(uint32_t index, uint32_t id) {
  uint32_t old = pages_[index];
  if (old == id) return;
  undo_.push_back({index, old});
  if (tracking_) hash_ += PageShare(ImageHash(id), index) - PageShare(ImageHash(old), index);
  pages_[index] = id;
}

void FileImage::SetSize(uint64_t size, uint32_t op_index) {
  if (size == size_) return;
  FSIM_CHECK(PagesFor(size) <= kPageIndexMax);
  if (tracking_) hash_ += SizeShare(size) - SizeShare(size_);
  const uint64_t want = PagesFor(size);
  if (size < size_) {
    // The bytes past the new EOF in its last page become zero.
    if (size % kPageBytes != 0) {
      size_ = std::min(size_, want * kPageBytes);
      Fill(size, size_ - size, nullptr, op_index);
    }
    while (pages_.size() > want) {
      uint32_t index = static_cast<uint32_t>(pages_.size() - 1);
      undo_.push_back({index, pages_.back()});
      if (tracking_) hash_ -= PageShare(ImageHash(pages_.back()), index);
      pages_.pop_back();
    }
  } else {
    // The old last page is already zero past the old EOF.
    while (pages_.size() < want) {
      if (tracking_) hash_ += PageShare(ZeroPageHash(), pages_.size());
      pages_.push_back(kZeroId);
    }
  }
  size_ = size;
}

void FileImage::Fill(uint64_t offset, uint64_t length, const uint8_t* data, uint32_t op_index) {
  FSIM_CHECK(offset + length <= size_);
  for (uint64_t at = offset; at < offset + length && !exhausted_;) {
    const uint64_t index = at / kPageBytes;
    const uint64_t next = std::min(offset + length, (index + 1) * kPageBytes);
    const uint32_t old = pages_[index];
    const uint64_t key = uint64_t{op_index} << 56 | index << 32 | old;
    auto [it, fresh] = transitions_.try_emplace(key, 0);
    if (fresh) {
      if (images_.size() + 1 >= kPageImagesMax) {
        exhausted_ = true;
        return;
      }
      // A new version of the page: the old bytes, then the operation's.
      Page& page = images_.emplace_back(Image(old));
      uint8_t* dst = page.data() + (at - index * kPageBytes);
      if (data != nullptr) {
        std::memcpy(dst, data + (at - offset), next - at);
      } else {
        std::memset(dst, 0, next - at);
      }
      image_hash_.push_back(0);
      image_hashed_.push_back(false);
      it->second = static_cast<uint32_t>(images_.size());
    }
    SetPage(static_cast<uint32_t>(index), it->second);
    at = next;
  }
}

void FileImage::Apply(const FileOp& op, uint32_t op_index) {
  FSIM_CHECK(op_index < 256);
  const uint64_t end = op.offset + op.length;
  switch (op.kind) {
    case FileOpKind::kWrite: {
      const uint64_t write_end = op.offset + op.data.size();
      if (write_end > size_) SetSize(write_end, op_index);
      Fill(op.offset, op.data.size(), op.data.data(), op_index);
      break;
    }
    case FileOpKind::kTruncate:
      SetSize(op.offset, op_index);
      break;
    case FileOpKind::kPunchHole:
      if (op.offset < size_) Fill(op.offset, std::min(end, size_) - op.offset, nullptr, op_index);
      break;
    case FileOpKind::kZeroRange:
      if (!op.keep_size && end > size_) SetSize(end, op_index);
      if (op.offset < size_) Fill(op.offset, std::min(end, size_) - op.offset, nullptr, op_index);
      break;
    case FileOpKind::kFallocate:
      if (!op.keep_size && end > size_) SetSize(end, op_index);
      break;
    case FileOpKind::kCopy: {
      if (op.offset >= size_) break;
      const std::vector<uint8_t> all = Bytes();
      const uint64_t n = std::min(end, size_) - op.offset;
      if (op.dest + n > size_) SetSize(op.dest + n, op_index);
      Fill(op.dest, n, all.data() + op.offset, op_index);
      break;
    }
    case FileOpKind::kRead:
    case FileOpKind::kFsync:
    case FileOpKind::kDedupe:
      break;
  }
}

void FileImage::Undo(const Mark& mark) {
  FSIM_CHECK(mark.undo <= undo_.size());
  // Pages appended since the mark are dropped; pages dropped since are
  // brought back (as zero, then their logged ids below, newest first).
  pages_.resize(mark.pages, kZeroId);
  while (undo_.size() > mark.undo) {
    const Undone& u = undo_.back();
    if (u.index < pages_.size()) pages_[u.index] = u.old_id;
    undo_.pop_back();
  }
  size_ = mark.size;
  // A mark taken before tracking began holds no hash: recompute it.
  if (tracking_) hash_ = mark.tracking ? mark.hash : PagesHash();
}

bool FileImage::SamePages(std::span<const uint32_t> ids) const {
  FSIM_CHECK(ids.size() == pages_.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const uint32_t a = ids[i], b = pages_[i];
    if (a == b) continue;
    if (ImageHash(a) != ImageHash(b) || std::memcmp(PageBytes(a), PageBytes(b), kPageBytes) != 0) {
      return false;
    }
  }
  return true;
}

bool FileImage::ReadMatches(const FileOp& op, const std::vector<uint8_t>& result) const {
  if (op.offset >= size_) return result.empty();
  const uint64_t stop = std::min(op.offset + op.length, size_);
  if (result.size() != stop - op.offset) return false;
  for (uint64_t at = op.offset; at < stop;) {
    const uint64_t index = at / kPageBytes;
    const uint64_t next = std::min(stop, (index + 1) * kPageBytes);
    if (std::memcmp(PageBytes(pages_[index]) + (at - index * kPageBytes),
                    result.data() + (at - op.offset), next - at) != 0) {
      return false;
    }
    at = next;
  }
  return true;
}

bool FileImage::Equals(const std::vector<uint8_t>& bytes) const {
  if (bytes.size() != size_) return false;
  FileOp all{FileOpKind::kRead, 0, size_, false, {}};
  return ReadMatches(all, bytes);
}

std::vector<uint8_t> FileImage::Bytes() const {
  std::vector<uint8_t> out(size_);
  for (uint64_t i = 0; i < pages_.size(); ++i) {
    uint64_t from = i * kPageBytes;
    std::memcpy(out.data() + from, PageBytes(pages_[i]), std::min(kPageBytes, size_ - from));
  }
  return out;
}

uint64_t FileImage::HashFromScratch() const { return HashOfBytes(Bytes()); }

void FileImage::CheckInvariants() const {
  FSIM_CHECK(!exhausted_);
  FSIM_CHECK(pages_.size() == PagesFor(size_));
  if (size_ % kPageBytes != 0) {
    const uint8_t* last = PageBytes(pages_.back());
    FSIM_CHECK(std::all_of(last + size_ % kPageBytes, last + kPageBytes,
                           [](uint8_t b) { return b == 0; }));
  }
  for (uint32_t id : pages_) {
    FSIM_CHECK(id <= images_.size());
    if (image_hashed_[id]) FSIM_CHECK(XXH3_64bits_dispatch(PageBytes(id), kPageBytes) == image_hash_[id]);
  }
  if (tracking_) {
    FSIM_CHECK_MSG(hash_ == HashFromScratch(),
                   "incremental file hash differs from its recomputation");
  }
}

}  // namespace fsim::model::internal
