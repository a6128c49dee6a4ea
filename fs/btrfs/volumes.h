// The volume layer (fs/btrfs/volumes.c): chunks map the filesystem's
// logical address space onto stripes of the devices of a sim::BlockArray,
// with the SINGLE, DUP, RAID0, RAID1 and RAID10 profiles.
//
// - MapBlock() is __btrfs_map_block(): for a logical range it returns the
//   stripes to read or write and map_length, the bytes that can be done
//   in one go from `logical` (btrfs_get_io_geometry's len): up to the end
//   of the 64 KiB stripe for the striped profiles (RAID0, RAID10), else up
//   to the end of the chunk.
// - BioFitsInStripe() is btrfs_bio_fits_in_stripe(): the predicate
//   btrfs_bio_add_page() asks before growing a bio, so that btrfs's own
//   bios never cross map_length.
// - MapBio() is btrfs_map_bio(). iomap builds bios by sector contiguity
//   only and so merges past map_length (the RFC's TODO). What happens then
//   is a configuration (set_split_bios()):
//   - split (the default, the correct behaviour): the bio is cut at every
//     map_length boundary (bio_split() of a sector range, mid-page if need
//     be) and each piece is mapped and submitted as btrfs_map_bio() would
//     submit a bio that fits; the pieces are chained to the original
//     (bio_chain(): the original's __bi_remaining), which completes once,
//     in interrupt context, after the last stripe of the last piece, with
//     the first error any piece ended with (__bio_chain_endio()). btrfs
//     itself splits this way from v6.3 (btrfs_submit_chunk(),
//     btrfs_split_bio(), the original's pending_ios).
//   - not split (bug flag iomap_merge_past_map_length): v5.13's
//     btrfs_crit + BUG(), reported as a WARN finding; the bio is failed
//     with an I/O error and nothing is submitted.
//   Per mapped bio (struct btrfs_bio): a write goes to every copy (RAID1,
//   DUP, both mirrors of a RAID10 stripe) and succeeds if no more than
//   max_errors copies failed (btrfs_raid_array's tolerated_failures: 1 for
//   RAID1 and RAID10, 0 for DUP, whose copies share one device); a read
//   goes to one copy, chosen once per MapBio() through the Chooser (btrfs
//   picks by pid in find_live_mirror(); exploring all covers it).
//
// Invariants: chunks do not overlap; every stripe lies inside its device;
// a RAID10 chunk has an even number of stripes, at least 4, in mirror
// pairs (stripes 2k and 2k+1 hold the same data); bio_counter() counts
// MapBio() calls in progress plus stripe bios in flight, and is 0 when no
// I/O is.
//
// Locking rules: none (single-threaded simulation). Completion runs in
// interrupt context.
#ifndef FSIM_FS_BTRFS_VOLUMES_H_
#define FSIM_FS_BTRFS_VOLUMES_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

#include "sim/block.h"
#include "sim/scheduler.h"

namespace fsim::fs {

inline constexpr uint64_t kStripeLen = 64 * 1024;  // BTRFS_STRIPE_LEN
inline constexpr size_t kRaid10SubStripes = 2;     // btrfs_raid_array[RAID10].sub_stripes
// Pieces one bio may be split into (a 16 MiB bio over 64 KiB stripes);
// more is a harness error: no caller builds bios that large.
inline constexpr size_t kBioSplitsMax = 256;

// sim::Bio::container of the bios btrfs allocates itself (btrfs_bio_alloc()
// from btrfs_bioset: a struct btrfs_io_bio around the bio).
inline constexpr uint32_t kBtrfsIoBioContainer = 0x20;

enum class Profile { kSingle, kDup, kRaid0, kRaid1, kRaid10 };
const char* ProfileName(Profile profile);

struct Stripe {
  size_t device;      // index in the BlockArray
  uint64_t physical;  // byte offset on the device
};

struct Chunk {
  uint64_t logical = 0;
  uint64_t length = 0;
  Profile profile = Profile::kSingle;
  // SINGLE: 1; DUP: 2 on one device; RAID0: 2 or more; RAID1: 2;
  // RAID10: 4 or more, an even number (map_lookup->sub_stripes = 2): data
  // striped over num_stripes / 2 pairs, stripes 2k and 2k+1 mirrors.
  std::vector<Stripe> stripes;
};

// What to do for one logical range (struct btrfs_bio in 5.13, later
// btrfs_io_context).
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
  // their devices; the profile's stripe count (harness checks).
  void AddChunk(Chunk chunk);
  // __btrfs_map_block(). Returns false if `logical` is in no chunk. For a
  // read, `mirror` (0-based, < NumCopies) picks the copy. `length` is
  // unused: map_length does not depend on it (as in 5.13 for these
  // profiles).
  bool MapBlock(bool write, uint64_t logical, uint64_t length, int mirror, Mapping* out) const;
  // btrfs_num_copies(): 2 for DUP, RAID1 and RAID10, else 1; 0 if
  // `logical` is in no chunk.
  int NumCopies(uint64_t logical) const;
  // Whether copy `mirror` (0-based) of the `len` bytes at `logical` are stale
  // because the device failed the write that should have replaced it:
  // the newest write submitted to the copy's sectors that ended (in
  // submission order) ended with an I/O error. A write a profile
  // tolerates losing (RAID1's second copy) leaves such a copy behind
  // legitimately; read repair may then find no good copy if the other
  // read fails too. Not a kernel function: the model's knowledge of what
  // its injected faults did, so that an unrepairable checksum failure
  // they explain is not reported as the filesystem's.
  bool CopyStaleAfterFailedWrite(uint64_t logical, uint64_t len, int mirror) const;
  // btrfs_raid_array[profile].tolerated_failures of the chunk holding
  // `logical`: the copies a write may lose and still succeed (RAID1 and
  // RAID10 1, DUP, RAID0 and single 0), as the profile defines it.
  int ToleratedFailures(uint64_t logical) const;
  // btrfs_bio_fits_in_stripe(), as a predicate: true if [logical,
  // logical + len) lies in one chunk and within the map_length of
  // `logical`, i.e. one btrfs_map_bio() can do it without splitting.
  // (The kernel function answers the opposite question, "1: the page
  // cannot be merged", for logical = the bio's start and len = the bio's
  // size plus the page's.) False if `logical` is in no chunk.
  // REQUIRES: len > 0.
  bool BioFitsInStripe(sim::BioOp op, uint64_t logical, uint64_t len) const;
  // BIO_MAX_VECS as the filesystem sets it (FsConfig::bio_max_vecs): a
  // bio with more vecs is __bio_add_page()'s WARN.
  void set_bio_max_vecs(size_t n) { bio_max_vecs_ = n; }
  size_t bio_max_vecs() const { return bio_max_vecs_; }

  // btrfs_map_bio(): `bio.sector` is a logical address in 512-byte units,
  // its size a multiple of 512. Submits to the devices (splitting it at
  // map_length boundaries if it does not fit and split_bios()) and calls
  // bio.end_io once, in interrupt context, with the combined status:
  // kIoError if some piece had more failed copies than its max_errors, or
  // if the bio touches logical space outside every chunk (a WARN finding,
  // nothing submitted), or crosses map_length with splitting off (a WARN
  // finding, nothing submitted). REQUIRES: process context (may sleep
  // while a device queue is full); the bio and its pages live until
  // end_io.
  void MapBio(sim::Bio* bio, Where where = Where::current());
  // btrfs_map_bio(..., mirror_num): as MapBio(), with `mirror_num` > 0
  // naming the copy (1-based, <= NumCopies) a read uses, or the only copy
  // a write goes to (repair_io_failure() rewriting a bad copy). 0 is
  // MapBio(). A one-copy write must fit in map_length.
  void MapBio(sim::Bio* bio, int mirror_num, Where where = Where::current());

  // true (the default): MapBio() splits a bio crossing map_length. false:
  // v5.13's behaviour with iomap merging past map_length (bug flag
  // iomap_merge_past_map_length): the WARN, and the bio fails.
  void set_split_bios(bool split) { split_bios_ = split; }
  bool split_bios() const { return split_bios_; }
  // An injectable mistake (FsConfig::bug_raid10_stripe_index_without_sub_stripes):
  // RAID10's stripe_index is stripe_nr % factor, without the * sub_stripes
  // that makes it the first stripe of a mirrored pair.
  void set_bug_raid10_stripe_index(bool bug) { bug_raid10_stripe_index_ = bug; }
  // An injectable mistake (FsConfig::bug_dup_tolerates_failed_copy): a DUP
  // write's max_errors is 1, as RAID1's, not DUP's tolerated_failures 0.
  void set_bug_dup_tolerates_failed_copy(bool bug) { bug_dup_tolerates_failed_copy_ = bug; }

  // fs_info->bio_counter (btrfs_bio_counter_inc/dec): MapBio() calls in
  // progress plus stripe bios submitted and not yet completed.
  uint64_t bio_counter() const { return bio_counter_; }

  const std::vector<Chunk>& chunks() const { return chunks_; }

 private:
  size_t bio_max_vecs_ = sim::kBioMaxVecs;
  const Chunk* FindChunk(uint64_t logical) const;
  void SubmitMapped(sim::Bio* bio, const Mapping& map, Where where);
  void SplitAndSubmit(sim::Bio* bio, int mirror, const Mapping& first, Where where);
  void Warn(std::string signature, std::string report);
  void FailBio(sim::Bio* bio);

  sim::Scheduler& sched_;
  sim::BlockArray& array_;
  std::vector<Chunk> chunks_;  // sorted by logical
  bool split_bios_ = true;
  bool bug_raid10_stripe_index_ = false;
  bool bug_dup_tolerates_failed_copy_ = false;
  uint64_t bio_counter_ = 0;
};

}  // namespace fsim::fs

#endif  // FSIM_FS_BTRFS_VOLUMES_H_
