#include "fs/btrfs/metadata_log.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/check.h"
#include "sim/sync.h"

namespace fsim::fs {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kSuperMagic = 0x4653494d5355504bull;  // "FSIMSUPK"
constexpr uint32_t kRecordMagic = 0x524c5346;            // "FSLR"
constexpr uint32_t kCheckpointMagic = 0x50435346;        // "FSCP"
constexpr uint64_t kFrameHeader = 24;  // magic | payload length << 32, generation, checksum
constexpr uint64_t kSuperblockBytes = 56;  // fields, then their checksum
// The highest compression type an item may name (BTRFS_COMPRESS_ZSTD).
constexpr uint8_t kCompressionMax = 3;

enum Tag : uint8_t { kTagInode = 1, kTagExtent, kTagDrop, kTagCsum, kTagDropCsum };

void Put64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

uint64_t RoundUp(uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

// Where things are in the area, from its length alone.
struct Layout {
  uint64_t slot_len;  // each of the two checkpoint slots
  uint64_t log_end;   // the log is [kBlock, log_end); the slots follow
  uint64_t SlotStart(uint64_t slot) const { return log_end + (slot - 1) * slot_len; }
};

Layout LayoutOf(uint64_t area_len) {
  Layout l;
  l.slot_len = area_len / 4 / kBlock * kBlock;
  l.log_end = area_len - 2 * l.slot_len;
  return l;
}

}  // namespace

uint64_t MetadataLog::SlotBytes(uint64_t area_len) { return LayoutOf(area_len).slot_len; }

uint64_t MetadataLog::CheckpointBytesMax(uint64_t inodes, uint64_t items, uint64_t csums) {
  // EncodeInode, EncodeExtent, EncodeCsum: a tag byte and their fields.
  constexpr uint64_t kInodeBytes = 1 + 3 * 8, kExtentBytes = 1 + 6 * 8 + 2 + 8, kCsumBytes = 1 + 2 * 8;
  return RoundUp(kFrameHeader + inodes * kInodeBytes + items * kExtentBytes + csums * kCsumBytes);
}

namespace {

// A record or a checkpoint: header (magic and payload length, generation,
// payload checksum), payload, zeroes up to a whole block.
std::vector<uint8_t> Frame(uint32_t magic, uint64_t generation, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> frame;
  frame.reserve(RoundUp(kFrameHeader + payload.size()));
  Put64(frame, magic | (static_cast<uint64_t>(payload.size()) << 32));
  Put64(frame, generation);
  Put64(frame, XXH3_64bits(payload.data(), payload.size()));
  frame.insert(frame.end(), payload.begin(), payload.end());
  frame.resize(RoundUp(frame.size()), 0);
  return frame;
}

// The payload length of the frame at `h` (`avail` bytes readable there),
// or nullopt if its magic, length or checksum is wrong.
std::optional<uint64_t> CheckFrame(const uint8_t* h, uint64_t avail, uint32_t magic) {
  if (avail < kFrameHeader) return std::nullopt;
  const uint64_t first = Get64(h);
  const uint64_t len = first >> 32;
  if ((first & 0xffffffffu) != magic || kFrameHeader + len > avail) return std::nullopt;
  if (XXH3_64bits(h + kFrameHeader, len) != Get64(h + 16)) return std::nullopt;
  return len;
}

std::vector<uint8_t> EncodeSuperblock(const MetadataLog::Superblock& sb) {
  std::vector<uint8_t> out;
  out.reserve(kBlock);
  Put64(out, kSuperMagic);
  for (uint64_t v : {sb.generation, sb.tail, sb.checkpoint_slot, sb.checkpoint_generation,
                     sb.checkpoint_len, sb.checkpoint_csum}) {
    Put64(out, v);
  }
  Put64(out, XXH3_64bits(out.data(), out.size()));
  FSIM_CHECK(out.size() == kSuperblockBytes + 8);
  out.resize(kBlock, 0);
  return out;
}

void EncodeInode(std::vector<uint8_t>& out, const InodeItem& item) {
  out.push_back(kTagInode);
  Put64(out, item.ino);
  Put64(out, item.size);
  Put64(out, item.generation);
}

void EncodeExtent(std::vector<uint8_t>& out, const FileExtentItem& e) {
  out.push_back(kTagExtent);
  for (uint64_t v : {e.ino, e.file_offset, e.num_bytes, e.disk_bytenr, e.disk_num_bytes, e.offset}) {
    Put64(out, v);
  }
  out.push_back(e.compression);
  out.push_back(static_cast<uint8_t>(e.type));
  for (int i = 0; i < 8; ++i) out.push_back(0);  // reserved
}

void EncodeCsum(std::vector<uint8_t>& out, uint64_t disk_bytenr, uint32_t crc) {
  out.push_back(kTagCsum);
  Put64(out, disk_bytenr);
  Put64(out, crc);
}

// A checkpoint's payload: every item of `s`, in key order (deterministic).
std::vector<uint8_t> EncodeState(const PersistentState& s) {
  std::vector<uint8_t> out;
  for (const auto& [ino, item] : s.inodes) EncodeInode(out, item);
  for (const auto& [ino, items] : s.extents) {
    for (const auto& [offset, item] : items) EncodeExtent(out, item);
  }
  for (const auto& [disk, crc] : s.csums) EncodeCsum(out, disk, crc);
  return out;
}

// Reads or writes [offset, offset+len) of the device through bios no
// larger than the device accepts. Returns false on an I/O error.
bool DeviceIo(sim::BlockDevice& d, bool write, uint64_t offset, uint8_t* data, uint64_t len,
              uint32_t last_flags = 0) {
  const uint64_t ss = d.config().sector_size;
  const uint64_t max = d.config().max_sectors * ss;
  for (uint64_t done = 0; done < len;) {
    uint64_t n = std::min(max, len - done);
    sim::Bio bio;
    bio.op = write ? sim::BioOp::kWrite : sim::BioOp::kRead;
    bio.sector = (offset + done) / ss;
    bio.flags = sim::kBioMeta | (done + n == len ? last_flags : 0);
    bio.vecs = {{data + done, static_cast<uint32_t>(n)}};
    if (d.SubmitBioWait(bio) != sim::BlkStatus::kOk) return false;
    done += n;
  }
  return true;
}

// Applies one serialized item at `p` to `s`; returns its size, or 0 if it
// is malformed.
size_t ApplyItem(const uint8_t* p, size_t left, PersistentState& s) {
  if (left < 1) return 0;
  switch (p[0]) {
    case kTagInode:
      if (left < 25) return 0;
      s.inodes[Get64(p + 1)] = {Get64(p + 1), Get64(p + 9), Get64(p + 17)};
      return 25;
    case kTagExtent: {
      if (left < 59) return 0;
      FileExtentItem e;
      e.ino = Get64(p + 1);
      e.file_offset = Get64(p + 9);
      e.num_bytes = Get64(p + 17);
      e.disk_bytenr = Get64(p + 25);
      e.disk_num_bytes = Get64(p + 33);
      e.offset = Get64(p + 41);
      e.compression = p[49];
      e.type = static_cast<FileExtentType>(p[50]);
      s.InsertExtent(e);
      return 59;
    }
    case kTagDrop:
      if (left < 25) return 0;
      s.DropExtents(Get64(p + 1), Get64(p + 9), Get64(p + 17));
      return 25;
    case kTagCsum:
      if (left < 17) return 0;
      s.csums[Get64(p + 1)] = static_cast<uint32_t>(Get64(p + 9));
      return 17;
    case kTagDropCsum: {
      if (left < 17) return 0;
      uint64_t at = Get64(p + 1), len = Get64(p + 9);
      s.csums.erase(s.csums.lower_bound(at), s.csums.lower_bound(at + len));
      return 17;
    }
    default:
      return 0;
  }
}

// Applies every item of a payload; false if one is malformed.
bool ApplyItems(const uint8_t* p, uint64_t len, PersistentState& s) {
  for (uint64_t off = 0; off < len;) {
    size_t used = ApplyItem(p + off, len - off, s);
    if (used == 0) return false;
    off += used;
  }
  return true;
}

}  // namespace

void PersistentState::DropExtents(uint64_t ino, uint64_t start, uint64_t end) {
  auto& items = extents[ino];
  std::vector<FileExtentItem> keep;
  for (auto it = items.begin(); it != items.end();) {
    const FileExtentItem e = it->second;
    uint64_t e_end = e.file_offset + e.num_bytes;
    if (e_end <= start || e.file_offset >= end) {
      ++it;
      continue;
    }
    it = items.erase(it);
    if (e.file_offset < start) {
      FileExtentItem head = e;
      head.num_bytes = start - e.file_offset;
      keep.push_back(head);
    }
    if (e_end > end) {
      FileExtentItem tail = e;
      tail.file_offset = end;
      tail.num_bytes = e_end - end;
      tail.offset = e.offset + (end - e.file_offset);  // the disk extent stays whole
      keep.push_back(tail);
    }
  }
  for (const FileExtentItem& e : keep) items[e.file_offset] = e;
  if (items.empty()) extents.erase(ino);
}

void PersistentState::InsertExtent(const FileExtentItem& item) {
  DropExtents(item.ino, item.file_offset, item.file_offset + item.num_bytes);
  extents[item.ino][item.file_offset] = item;
}

std::vector<uint64_t> PersistentState::UnreferencedCsums() const {
  std::map<uint64_t, uint64_t> referenced;  // disk start -> end, may overlap
  for (const auto& [ino, items] : extents) {
    for (const auto& [offset, e] : items) {
      uint64_t& end = referenced[e.disk_bytenr];
      end = std::max(end, e.disk_bytenr + e.disk_num_bytes);
    }
  }
  std::vector<uint64_t> out;
  auto range = referenced.begin();
  uint64_t covered_end = 0;  // end of the ranges starting at or before the csum
  for (const auto& [at, crc] : csums) {
    while (range != referenced.end() && range->first <= at) {
      covered_end = std::max(covered_end, range->second);
      ++range;
    }
    if (at >= covered_end) out.push_back(at);
  }
  return out;
}

MetadataLog::MetadataLog(sim::Scheduler& sched, sim::BlockDevice& device, uint64_t area_start,
                         uint64_t area_len)
    : sched_(sched), device_(device), area_start_(area_start), area_len_(area_len) {
  FSIM_CHECK(area_start % kBlock == 0);
  FSIM_CHECK_MSG(area_len % kBlock == 0 && area_len >= 16 * kBlock,
                 "a metadata area of whole blocks, at least 64 KiB");
}

void MetadataLog::UpdateInode(const InodeItem& item) {
  EncodeInode(batch_, item);
  state_.inodes[item.ino] = item;
}

// check_extent_data_item() of the tree-checker (v5.13), which runs on every
// leaf before it is written: a file extent item with a key or a disk range
// not aligned to the sector size (4 KiB here), an unknown type or
// compression, or an end past 2^64 is corruption the kernel refuses to
// write ("write time tree block corruption detected", -EUCLEAN, the
// transaction aborted). Empty when the item passes.
std::string CheckFileExtentItem(const FileExtentItem& e) {
  auto err = [&](const std::string& what) {
    return "ino=" + std::to_string(e.ino) + " file_offset=" + std::to_string(e.file_offset) +
           ", " + what;
  };
  auto unaligned = [&](const char* field, uint64_t v) {
    return err("invalid " + std::string(field) + " for file extent, have " + std::to_string(v) +
               ", should be aligned to " + std::to_string(kBlock));
  };
  if (e.file_offset % kBlock != 0) return unaligned("file_offset", e.file_offset);
  if (e.type != FileExtentType::kRegular && e.type != FileExtentType::kPrealloc) {
    return err("invalid type for file extent, have " + std::to_string(static_cast<int>(e.type)));
  }
  if (e.compression > kCompressionMax) {
    return err("invalid compression for file extent, have " + std::to_string(e.compression));
  }
  if (e.type == FileExtentType::kPrealloc && e.compression != 0) {
    return err("invalid compression for a preallocated file extent, have " +
               std::to_string(e.compression));
  }
  const std::pair<const char*, uint64_t> fields[] = {{"disk_bytenr", e.disk_bytenr},
                                                     {"disk_num_bytes", e.disk_num_bytes},
                                                     {"offset", e.offset},
                                                     {"num_bytes", e.num_bytes}};
  for (const auto& [field, v] : fields) {
    if (v % kBlock != 0) return unaligned(field, v);
  }
  if (e.file_offset + e.num_bytes < e.file_offset) {
    return err("file extent end range overflow, file_offset " + std::to_string(e.file_offset) +
               " num_bytes " + std::to_string(e.num_bytes));
  }
  return {};
}

void MetadataLog::InsertExtent(const FileExtentItem& e) {
  if (std::string why = CheckFileExtentItem(e); !why.empty()) {
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:tree_checker:file_extent";
    f.report = "BTRFS critical (device " + device_.config().name + "): corrupt leaf: root=5 " +
               why + "\nBTRFS error (device " + device_.config().name +
               "): write time tree block corruption detected";
    sched_.Report(std::move(f));
  }
  EncodeExtent(batch_, e);
  state_.InsertExtent(e);
}

void MetadataLog::DropExtents(uint64_t ino, uint64_t start, uint64_t end) {
  batch_.push_back(kTagDrop);
  Put64(batch_, ino);
  Put64(batch_, start);
  Put64(batch_, end);
  state_.DropExtents(ino, start, end);
}

void MetadataLog::SetCsum(uint64_t disk_bytenr, uint32_t crc) {
  EncodeCsum(batch_, disk_bytenr, crc);
  state_.csums[disk_bytenr] = crc;
}

void MetadataLog::DropCsums(uint64_t disk_bytenr, uint64_t len) {
  batch_.push_back(kTagDropCsum);
  Put64(batch_, disk_bytenr);
  Put64(batch_, len);
  state_.csums.erase(state_.csums.lower_bound(disk_bytenr),
                     state_.csums.lower_bound(disk_bytenr + len));
}

bool MetadataLog::Commit() {
  if (batch_.empty()) return true;
  std::vector<uint8_t> record = Frame(kRecordMagic, superblock_.generation + 1, batch_);
  const uint64_t tail = superblock_.tail;
  if (tail + record.size() > LayoutOf(area_len_).log_end) return Checkpoint();
  if (!DeviceIo(device_, true, area_start_ + tail, record.data(), record.size())) return false;
  Superblock next = superblock_;  // the checkpoint stays; the log grows
  next.generation = superblock_.generation + 1;
  next.tail = tail + record.size();
  if (!WriteSuperblock(next)) return false;
  batch_.clear();
  return true;
}

bool MetadataLog::Checkpoint() {
  const Layout layout = LayoutOf(area_len_);
  const std::vector<uint8_t> payload = EncodeState(state_);
  // The payload must read back as the state it was made from (the log's
  // items keep state_ incrementally; this recomputes it from scratch).
  PersistentState check;
  FSIM_CHECK(ApplyItems(payload.data(), payload.size(), check));
  FSIM_CHECK(check.inodes == state_.inodes);
  FSIM_CHECK(check.extents == state_.extents);
  FSIM_CHECK(check.csums == state_.csums);
  Superblock next;
  next.generation = superblock_.generation + 1;
  next.tail = kBlock;  // an empty log
  next.checkpoint_slot = superblock_.checkpoint_slot == 1 ? 2 : 1;  // the one not named
  next.checkpoint_generation = next.generation;
  next.checkpoint_len = payload.size();
  next.checkpoint_csum = XXH3_64bits(payload.data(), payload.size());
  std::vector<uint8_t> frame = Frame(kCheckpointMagic, next.generation, payload);
  if (frame.size() > layout.slot_len) {
    const std::string message = "metadata checkpoint of " + std::to_string(frame.size()) +
                                " bytes does not fit its slot of " +
                                std::to_string(layout.slot_len) + " bytes (a limit of the model)";
    FSIM_CHECK_MSG(frame.size() <= layout.slot_len, message.c_str());
  }
  // The slot is named by no durable superblock: a power cut from here
  // until the superblock below is durable leaves the old state whole.
  if (!DeviceIo(device_, true, area_start_ + layout.SlotStart(next.checkpoint_slot),
                frame.data(), frame.size())) {
    return false;
  }
  if (!WriteSuperblock(next)) return false;
  batch_.clear();
  ++checkpoints_;
  sched_.Cover("metadata_log:checkpoint");
  return true;
}

// The superblock names what was written before it only once that is
// durable: PREFLUSH persists every completed write, FUA the superblock.
bool MetadataLog::WriteSuperblock(const Superblock& next) {
  FSIM_CHECK(next.generation == superblock_.generation + 1);
  FSIM_CHECK(next.tail >= kBlock && next.tail <= LayoutOf(area_len_).log_end);
  std::vector<uint8_t> block = EncodeSuperblock(next);
  if (!DeviceIo(device_, true, area_start_, block.data(), block.size(),
                sim::kBioPreflush | sim::kBioFua)) {
    return false;
  }
  superblock_ = next;
  return true;
}

namespace {

// Reads the superblock into `sb`. Returns false with `problem` set if it is
// unreadable or inconsistent, false with no problem on a fresh device.
bool ReadSuperblock(sim::BlockDevice& device, uint64_t area_start, const Layout& layout,
                    MetadataLog::Superblock* sb, std::string* problem) {
  std::vector<uint8_t> block(kBlock);
  if (!DeviceIo(device, false, area_start, block.data(), kBlock)) {
    *problem = "cannot read the superblock";
    return false;
  }
  const uint8_t* p = block.data();
  if (Get64(p) != kSuperMagic) return false;  // a fresh filesystem
  if (XXH3_64bits(p, kSuperblockBytes) != Get64(p + kSuperblockBytes)) {
    *problem = "superblock checksum mismatch";
    return false;
  }
  *sb = {Get64(p + 8), Get64(p + 16), Get64(p + 24), Get64(p + 32), Get64(p + 40), Get64(p + 48)};
  if (sb->tail > layout.log_end || sb->tail < kBlock) {
    *problem = "superblock tail out of the log area";
    return false;
  }
  if (sb->checkpoint_slot > 2 || (sb->checkpoint_slot != 0 &&
                                  kFrameHeader + sb->checkpoint_len > layout.slot_len)) {
    *problem = "superblock names a checkpoint out of the checkpoint slots";
    return false;
  }
  return true;
}

// Loads the checkpoint `sb` names into `s`; false with `problem` set if it
// is not the one the superblock describes.
bool LoadCheckpoint(sim::BlockDevice& device, uint64_t area_start, const Layout& layout,
                    const MetadataLog::Superblock& sb, PersistentState& s, std::string* problem) {
  const std::string where = "checkpoint in slot " + std::to_string(sb.checkpoint_slot);
  std::vector<uint8_t> frame(RoundUp(kFrameHeader + sb.checkpoint_len));
  if (!DeviceIo(device, false, area_start + layout.SlotStart(sb.checkpoint_slot), frame.data(),
                frame.size())) {
    *problem = "cannot read the " + where;
    return false;
  }
  std::optional<uint64_t> len = CheckFrame(frame.data(), frame.size(), kCheckpointMagic);
  if (!len || *len != sb.checkpoint_len || Get64(frame.data() + 16) != sb.checkpoint_csum ||
      Get64(frame.data() + 8) != sb.checkpoint_generation) {
    *problem = where + " is torn or corrupt although the superblock names it";
    return false;
  }
  if (!ApplyItems(frame.data() + kFrameHeader, *len, s)) {
    *problem = "malformed item in the " + where;
    return false;
  }
  s.generation = sb.checkpoint_generation;
  return true;
}

// Replays the records of [kBlock, sb.tail) onto `s`; false with `problem`
// set at the first bad one.
bool ReplayLog(sim::BlockDevice& device, uint64_t area_start, const MetadataLog::Superblock& sb,
               PersistentState& s, std::string* problem) {
  std::vector<uint8_t> log(sb.tail - kBlock);
  if (!log.empty() && !DeviceIo(device, false, area_start + kBlock, log.data(), log.size())) {
    *problem = "cannot read the log";
    return false;
  }
  for (uint64_t at = 0; at < log.size();) {
    const uint8_t* h = log.data() + at;
    const std::string where = "log record at " + std::to_string(kBlock + at);
    std::optional<uint64_t> len = CheckFrame(h, log.size() - at, kRecordMagic);
    if (!len) {
      *problem = where + " is torn or corrupt although the superblock names it";
      return false;
    }
    if (Get64(h + 8) != s.generation + 1) {
      *problem = where + " has generation " + std::to_string(Get64(h + 8)) + ", expected " +
                 std::to_string(s.generation + 1) + " (a stale record)";
      return false;
    }
    if (!ApplyItems(h + kFrameHeader, *len, s)) {
      *problem = "malformed item in the " + where;
      return false;
    }
    s.generation = Get64(h + 8);
    at += RoundUp(kFrameHeader + *len);
  }
  if (s.generation != sb.generation) {
    *problem = "the log ends at generation " + std::to_string(s.generation) +
               ", the superblock says " + std::to_string(sb.generation);
    return false;
  }
  return true;
}

}  // namespace

PersistentState MetadataLog::Mount(sim::Scheduler& sched, sim::BlockDevice& device,
                                   uint64_t area_start, uint64_t area_len, std::string* problem) {
  (void)sched;
  PersistentState s;
  const Layout layout = LayoutOf(area_len);
  Superblock sb;
  if (!ReadSuperblock(device, area_start, layout, &sb, problem)) return s;
  if (sb.checkpoint_slot != 0 && !LoadCheckpoint(device, area_start, layout, sb, s, problem)) {
    return s;
  }
  ReplayLog(device, area_start, sb, s, problem);
  return s;
}

}  // namespace fsim::fs
