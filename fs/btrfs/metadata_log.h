// Metadata persistence: the file extents, inode items and checksums of
// the filesystem, written through the simulated devices so that a remount
// after a power cut reads the on-disk state, not memory.
//
// Model (a redo log with checkpoints, standing in for btrfs's COW trees
// and the tree-log of fsync; it keeps what crash consistency depends on:
// nothing is durable before a flush, a commit is atomic, and the space of
// the log is reclaimed as a transaction commit reclaims the tree-log's):
// - Items are appended to an in-memory batch; Commit() writes the batch as
//   one record (header + payload + checksum) after the log's tail, then
//   the superblock with PREFLUSH and FUA naming the new tail and
//   generation. A record is durable exactly when the superblock that
//   names it is.
// - When the next record would not fit before the end of the log,
//   Commit() checkpoints instead: the whole state (the batch included, the
//   checksums of extents no item references any more dropped) is
//   written to the checkpoint slot the superblock does not name (two
//   slots, used in turn), then the superblock (PREFLUSH + FUA) names that
//   slot, the new generation and an empty log. Until that superblock is
//   durable the old one names the old slot and the old log, which nothing
//   has overwritten; once it is, the log restarts at its first block. A
//   power cut at any moment leaves the old state or the new one whole.
// - Mount() reads the superblock, loads the checkpoint it names (checking
//   its checksum against the superblock's) and replays every record up to
//   the tail, checking each record's checksum and that generations follow
//   on from the checkpoint's (a torn or stale record stops the replay and
//   is reported by the caller as crash_inconsistency).
// - The replayed state: inode items (size), file extent items (file range
//   -> disk extent, with drops for truncate and punch hole), data
//   checksums per 4 KiB of disk.
//
// Layout of the area [area_start, area_start + area_len) on one device,
// from area_len alone (so that Mount needs nothing else): the superblock
// (4 KiB), the log, then the two checkpoint slots of area_len / 4 each
// (rounded down to 4 KiB). For the filesystem's 1 MiB: the log is
// [4 KiB, 512 KiB), 127 one-block records between checkpoints, and each
// slot 256 KiB, about 3,400 extent items with their checksums (the
// scenarios' largest state, 8 files of 1 MiB in 4 KiB extents, is 156 KB).
// A state larger than a slot is a limit of the model: FSIM_CHECK aborts
// with the numbers, never a silent loss.
//
// Invariants: superblock_ is what the device's durable superblock says
// once the last Commit() returned true; state_ is the state it names plus
// the items of batch_ (a failed commit keeps the batch for the next one),
// less, after a failed checkpoint, csums that no item references.
//
// Locking rules: Commit() sleeps (bio waits); callers serialise commits
// (a transaction mutex).
#ifndef FSIM_FS_BTRFS_METADATA_LOG_H_
#define FSIM_FS_BTRFS_METADATA_LOG_H_

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

// The tree-checker's check_extent_data_item() (v5.13): why `item` is
// corrupt (keys and disk ranges aligned to 4 KiB, a known type and
// compression, no end past 2^64), empty if it is not. MetadataLog runs it
// on every item it inserts, as the kernel does on every leaf it writes.
std::string CheckFileExtentItem(const FileExtentItem& item);

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
  // The checksums of disk bytes no file extent item references, in
  // address order: none in a consistent state, as an extent whose last
  // item went has its csums deleted in that transaction
  // (__btrfs_free_extent -> btrfs_del_csums); btrfs check reports one as
  // "there are no extents for csum range".
  std::vector<uint64_t> UnreferencedCsums() const;
};

class MetadataLog {
 public:
  MetadataLog(sim::Scheduler& sched, sim::BlockDevice& device, uint64_t area_start,
              uint64_t area_len);

  // A checkpoint slot's bytes for an area of `area_len`, and the largest
  // checkpoint (framed) of a state of `inodes` inode items, `items` file
  // extent items and `csums` data checksums: what a scenario must fit
  // (Commit() stops on a state larger than its slot, a limit of the
  // model).
  static uint64_t SlotBytes(uint64_t area_len);
  static uint64_t CheckpointBytesMax(uint64_t inodes, uint64_t items, uint64_t csums);

  // Items of the running transaction (applied to state() at once).
  void UpdateInode(const InodeItem& item);
  void InsertExtent(const FileExtentItem& item);
  void DropExtents(uint64_t ino, uint64_t start, uint64_t end);
  void SetCsum(uint64_t disk_bytenr, uint32_t crc);
  void DropCsums(uint64_t disk_bytenr, uint64_t len);

  // Writes the batch as a record (or, when the log is full, the whole state
  // as a checkpoint), flushes, writes the superblock with FUA. Returns
  // false if an I/O failed (then nothing of the batch is durable; the
  // transaction is aborted, as btrfs would, and the batch kept). Aborts
  // (FSIM_CHECK) if the state outgrows a checkpoint slot.
  bool Commit();

  // Reads the durable log of `device` (through bios). On a bad record,
  // returns the state up to it and sets `problem` to one line.
  static PersistentState Mount(sim::Scheduler& sched, sim::BlockDevice& device,
                               uint64_t area_start, uint64_t area_len, std::string* problem);

  const PersistentState& state() const { return state_; }  // in memory, committed or not
  uint64_t generation() const { return superblock_.generation; }
  uint64_t checkpoints() const { return checkpoints_; }  // written by this mount

  // What the superblock says (in memory: as last written successfully).
  struct Superblock {
    uint64_t generation = 0;       // of the last commit
    uint64_t tail = 4096;          // end of the log's records, from area_start
    uint64_t checkpoint_slot = 0;  // 0: none yet; else 1 or 2
    uint64_t checkpoint_generation = 0;
    uint64_t checkpoint_len = 0;   // payload bytes
    uint64_t checkpoint_csum = 0;  // of the payload
  };

 private:
  bool Checkpoint();
  bool WriteSuperblock(const Superblock& next);

  sim::Scheduler& sched_;
  sim::BlockDevice& device_;
  uint64_t area_start_;
  uint64_t area_len_;
  Superblock superblock_;
  uint64_t checkpoints_ = 0;
  std::vector<uint8_t> batch_;  // serialized items since the last commit
  PersistentState state_;
};

}  // namespace fsim::fs

#endif  // FSIM_FS_BTRFS_METADATA_LOG_H_
