#include "fs/metadata_log.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <cstring>

#include "sim/check.h"
#include "sim/sync.h"

namespace fsim::fs {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kSuperMagic = 0x4653494d5355504bull;  // "FSIMSUPK"
constexpr uint32_t kRecordMagic = 0x524c5346;            // "FSLR"

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
    bio.flags = done + n == len ? last_flags : 0;
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

MetadataLog::MetadataLog(sim::Scheduler& sched, sim::BlockDevice& device, uint64_t area_start,
                         uint64_t area_len)
    : sched_(sched), device_(device), area_start_(area_start), area_len_(area_len) {
  FSIM_CHECK(area_start % kBlock == 0 && area_len > 2 * kBlock);
}

void MetadataLog::UpdateInode(const InodeItem& item) {
  batch_.push_back(kTagInode);
  Put64(batch_, item.ino);
  Put64(batch_, item.size);
  Put64(batch_, item.generation);
  state_.inodes[item.ino] = item;
}

void MetadataLog::InsertExtent(const FileExtentItem& e) {
  batch_.push_back(kTagExtent);
  for (uint64_t v : {e.ino, e.file_offset, e.num_bytes, e.disk_bytenr, e.disk_num_bytes, e.offset}) {
    Put64(batch_, v);
  }
  batch_.push_back(e.compression);
  batch_.push_back(static_cast<uint8_t>(e.type));
  for (int i = 0; i < 8; ++i) batch_.push_back(0);  // reserved
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
  batch_.push_back(kTagCsum);
  Put64(batch_, disk_bytenr);
  Put64(batch_, crc);
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
  // Record: magic, payload length, generation, checksum, payload; padded.
  std::vector<uint8_t> record;
  Put64(record, kRecordMagic | (static_cast<uint64_t>(batch_.size()) << 32));
  Put64(record, generation_ + 1);
  Put64(record, XXH3_64bits(batch_.data(), batch_.size()));
  record.insert(record.end(), batch_.begin(), batch_.end());
  record.resize(RoundUp(record.size()), 0);
  if (tail_ + record.size() > area_len_) return false;
  if (!DeviceIo(device_, true, area_start_ + tail_, record.data(), record.size())) return false;
  // The superblock names the record only once the record is durable:
  // PREFLUSH persists it, FUA the superblock itself.
  std::vector<uint8_t> super;
  Put64(super, kSuperMagic);
  Put64(super, generation_ + 1);
  Put64(super, tail_ + record.size());
  Put64(super, XXH3_64bits(super.data(), super.size()));
  super.resize(kBlock, 0);
  if (!DeviceIo(device_, true, area_start_, super.data(), super.size(),
                sim::kBioPreflush | sim::kBioFua)) {
    return false;
  }
  tail_ += record.size();
  ++generation_;
  batch_.clear();
  return true;
}

PersistentState MetadataLog::Mount(sim::Scheduler& sched, sim::BlockDevice& device,
                                   uint64_t area_start, uint64_t area_len, std::string* problem) {
  (void)sched;
  PersistentState s;
  std::vector<uint8_t> super(kBlock);
  if (!DeviceIo(device, false, area_start, super.data(), kBlock)) {
    *problem = "cannot read the superblock";
    return s;
  }
  if (Get64(super.data()) != kSuperMagic) return s;  // a fresh filesystem
  if (XXH3_64bits(super.data(), 24) != Get64(super.data() + 24)) {
    *problem = "superblock checksum mismatch";
    return s;
  }
  uint64_t tail = Get64(super.data() + 16);
  if (tail > area_len || tail < kBlock) {
    *problem = "superblock tail out of the log area";
    return s;
  }
  std::vector<uint8_t> log(tail - kBlock);
  if (!log.empty() && !DeviceIo(device, false, area_start + kBlock, log.data(), log.size())) {
    *problem = "cannot read the log";
    return s;
  }
  for (uint64_t at = 0; at < log.size();) {
    const uint8_t* h = log.data() + at;
    uint64_t first = Get64(h);
    uint64_t len = first >> 32;
    if ((first & 0xffffffffu) != kRecordMagic || at + 24 + len > log.size() ||
        XXH3_64bits(h + 24, len) != Get64(h + 16)) {
      *problem = "log record at " + std::to_string(kBlock + at) +
                 " is torn or corrupt although the superblock names it";
      return s;
    }
    for (size_t off = 0; off < len;) {
      size_t used = ApplyItem(h + 24 + off, len - off, s);
      if (used == 0) {
        *problem = "malformed item in the log record at " + std::to_string(kBlock + at);
        return s;
      }
      off += used;
    }
    s.generation = Get64(h + 8);
    at += RoundUp(24 + len);
  }
  return s;
}

}  // namespace fsim::fs
