// The volume layer (fs/btrfs/volumes.c): chunks map the filesystem's
// logical address space onto stripes of the devices of a sim::BlockArray,
// with the SINGLE, DUP, RAID0 and RAID1 profiles.
//
// - MapBlock() is btrfs_map_block(): for a logical range it returns the
//   stripes to read or write and map_length, the bytes that can be done
//   in one go from `logical`: up to the end of the RAID0 stripe (64 KiB)
//   or of the chunk.
// - MapBio() is btrfs_map_bio(): a bio may not cross map_length. One that
//   does is what the RFC saw when iomap merged bios past an extent map's
//   mapped length: btrfs_crit + BUG() in 5.13, reported here as a WARN
//   finding and failed with an I/O error, never split. Writes go to every
//   mirror (RAID1, DUP) and succeed if at least one copy was written (as
//   btrfs's max_errors = mirrors - 1); a read goes to one mirror, chosen
//   through the Chooser (btrfs picks by pid; exploring both covers it).
//
// Invariants: chunks do not overlap; every stripe lies inside its device.
//
// Locking rules: none (single-threaded simulation). Completion runs in
// interrupt context.
#ifndef FSIM_FS_VOLUMES_H_
#define FSIM_FS_VOLUMES_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

#include "sim/block.h"
#include "sim/scheduler.h"

namespace fsim::fs {

inline constexpr uint64_t kStripeLen = 64 * 1024;  // BTRFS_STRIPE_LEN

enum class Profile { kSingle, kDup, kRaid0, kRaid1 };
const char* ProfileName(Profile profile);

struct Stripe {
  size_t device;      // index in the BlockArray
  uint64_t physical;  // byte offset on the device
};

struct Chunk {
  uint64_t logical = 0;
  uint64_t length = 0;
  Profile profile = Profile::kSingle;
  // SINGLE: 1; DUP: 2 on one device; RAID0: 2 or more; RAID1: 2.
  std::vector<Stripe> stripes;
};

// What to do for one logical range (struct btrfs_io_context).
struct Mapping {
  std::vector<Stripe> stripes;  // the copies (write) or the one (read)
  uint64_t map_length = 0;      // bytes doable from `logical` in one go
  int max_errors = 0;           // copies that may fail on a write
};

class Volumes {
 public:
  using Where = std::source_location;

  Volumes(sim::Scheduler& sched, sim::BlockArray& array);

  // Adds a chunk. REQUIRES: no overlap with another chunk; stripes inside
  // their devices (harness checks).
  void AddChunk(Chunk chunk);
  // btrfs_map_block(). Returns false if `logical` is in no chunk. For a
  // read, `mirror` (0-based, < NumCopies) picks the copy.
  bool MapBlock(bool write, uint64_t logical, uint64_t length, int mirror, Mapping* out) const;
  int NumCopies(uint64_t logical) const;

  // btrfs_map_bio(): `bio.sector` is a logical address in 512-byte units.
  // Submits to the devices and calls bio.end_io once, in interrupt
  // context, with the combined status. REQUIRES: process context; the bio
  // and its pages live until end_io.
  void MapBio(sim::Bio* bio, Where where = Where::current());

  const std::vector<Chunk>& chunks() const { return chunks_; }

 private:
  const Chunk* FindChunk(uint64_t logical) const;

  sim::Scheduler& sched_;
  sim::BlockArray& array_;
  std::vector<Chunk> chunks_;  // sorted by logical
};

}  // namespace fsim::fs

#endif  // FSIM_FS_VOLUMES_H_
