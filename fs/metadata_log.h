// Metadata persistence: the file extents, inode items and checksums of
// the filesystem, written through the simulated devices so that a remount
// after a power cut reads the on-disk state, not memory.
//
// Model (a simple redo log, standing in for btrfs's COW trees and the
// tree-log of fsync; it keeps what crash consistency depends on: nothing
// is durable before a flush, and a commit is atomic):
// - Items are appended to an in-memory batch; Commit() writes the batch as
//   one record (header + payload + checksum) after the log's tail, then a
//   flush, then the superblock (FUA) naming the new tail and generation.
//   A record is durable exactly when the superblock that names it is.
// - Mount() reads the superblock and replays every record up to its tail,
//   checking each record's checksum (a torn record stops the replay and is
//   reported by the caller as crash_inconsistency).
// - The replayed state: inode items (size), file extent items (file range
//   -> disk extent, with drops for truncate and punch hole), data
//   checksums per 4 KiB of disk.
//
// Locking rules: Commit() sleeps (bio waits); callers serialise commits
// (a transaction mutex). The device area is [area_start, area_start +
// area_len) bytes on one device; its first 4 KiB is the superblock.
#ifndef FSIM_FS_METADATA_LOG_H_
#define FSIM_FS_METADATA_LOG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/block.h"
#include "sim/scheduler.h"

namespace fsim::fs {

struct InodeItem {
  uint64_t ino = 0;
  uint64_t size = 0;
  uint64_t generation = 0;
  bool operator==(const InodeItem&) const = default;
};

enum class FileExtentType : uint8_t { kRegular, kPrealloc };

struct FileExtentItem {
  uint64_t ino = 0;
  uint64_t file_offset = 0;
  uint64_t num_bytes = 0;       // file bytes covered
  uint64_t disk_bytenr = 0;     // logical disk address of the extent
  uint64_t disk_num_bytes = 0;  // encoded length on disk
  uint64_t offset = 0;          // into the decoded extent
  uint8_t compression = 0;      // 0 none
  FileExtentType type = FileExtentType::kRegular;
  bool operator==(const FileExtentItem&) const = default;
};

// What a mount sees.
struct PersistentState {
  uint64_t generation = 0;
  std::map<uint64_t, InodeItem> inodes;
  // ino -> file_offset -> item; items of one inode are disjoint.
  std::map<uint64_t, std::map<uint64_t, FileExtentItem>> extents;
  std::map<uint64_t, uint32_t> csums;  // disk logical (4 KiB aligned) -> crc

  // btrfs_drop_extents(): removes [start, end) of `ino`'s items, trimming
  // the ones that straddle the edges.
  void DropExtents(uint64_t ino, uint64_t start, uint64_t end);
  void InsertExtent(const FileExtentItem& item);  // drops the range first
};

class MetadataLog {
 public:
  MetadataLog(sim::Scheduler& sched, sim::BlockDevice& device, uint64_t area_start,
              uint64_t area_len);

  // Items of the running transaction (applied to state() at once).
  void UpdateInode(const InodeItem& item);
  void InsertExtent(const FileExtentItem& item);
  void DropExtents(uint64_t ino, uint64_t start, uint64_t end);
  void SetCsum(uint64_t disk_bytenr, uint32_t crc);
  void DropCsums(uint64_t disk_bytenr, uint64_t len);

  // Writes the batch as a record, flushes, writes the superblock with FUA.
  // Returns false if an I/O failed or the area is full (then nothing of
  // the batch is durable; the transaction is aborted, as btrfs would).
  bool Commit();

  // Reads the durable log of `device` (through bios). On a bad record,
  // returns the state up to it and sets `problem` to one line.
  static PersistentState Mount(sim::Scheduler& sched, sim::BlockDevice& device,
                               uint64_t area_start, uint64_t area_len, std::string* problem);

  const PersistentState& state() const { return state_; }  // in memory, committed or not
  uint64_t generation() const { return generation_; }

 private:
  sim::Scheduler& sched_;
  sim::BlockDevice& device_;
  uint64_t area_start_;
  uint64_t area_len_;
  uint64_t tail_ = 4096;  // bytes used in the area (superblock first)
  uint64_t generation_ = 0;
  std::vector<uint8_t> batch_;  // serialized items since the last commit
  PersistentState state_;
};

}  // namespace fsim::fs

#endif  // FSIM_FS_METADATA_LOG_H_
