#include "fs/btrfs/volumes.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "sim/check.h"
#include "sim/heap.h"
#include "sim/lockdep.h"

namespace fsim::fs {
namespace {

constexpr uint64_t kSector = 512;

// struct btrfs_bio (5.13): one mapped bio and its stripe bios. The mapped
// bio (`orig`, bbio->orig_bio) completes when every stripe bio has
// (stripes_pending), failed if more than max_errors of them failed.
struct BtrfsBio {
  sim::Bio* orig = nullptr;
  std::vector<sim::Bio> stripe_bios;  // btrfs_bio_clone() per stripe
  // blk_queue_split(): pieces of a stripe bio larger than its device's
  // max_sectors, each chained to it (counted down in `queue_pending`).
  std::vector<sim::Bio> queue_pieces;
  std::vector<int> queue_pending;     // per stripe bio
  std::vector<uint8_t> queue_failed;  // per stripe bio
  int stripes_pending = 0;            // bbio->stripes_pending
  int error = 0;                      // bbio->error
  int max_errors = 0;                 // bbio->max_errors
};

// A bio split at map_length boundaries: the pieces (bio_split()) chained
// to the parent (bio_chain()). `remaining` is the parent's __bi_remaining:
// the parent completes when the last piece has; the first error of a
// piece is the parent's (__bio_chain_endio()).
struct SplitBio {
  sim::Bio* parent = nullptr;
  std::vector<sim::Bio> pieces;
  size_t remaining = 0;
  sim::BlkStatus status = sim::BlkStatus::kOk;
};

// The vecs covering bytes [offset, offset + len) of `vecs`: a vec cut at
// either end keeps the part of its page inside the range (bio_split()
// cuts at sector granularity, mid-page if need be).
std::vector<sim::BioVec> SliceVecs(const std::vector<sim::BioVec>& vecs, uint64_t offset,
                                   uint64_t len) {
  std::vector<sim::BioVec> out;
  uint64_t at = 0;  // offset of the current vec in the bio
  for (const sim::BioVec& v : vecs) {
    const uint64_t begin = std::max(at, offset), end = std::min(at + v.len, offset + len);
    if (begin < end) out.push_back(v.Sub(begin - at, end - begin));
    at += v.len;
  }
  return out;
}

}  // namespace

const char* ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kSingle: return "SINGLE";
    case Profile::kDup: return "DUP";
    case Profile::kRaid0: return "RAID0";
    case Profile::kRaid1: return "RAID1";
    case Profile::kRaid10: return "RAID10";
  }
  return "?";
}

Volumes::Volumes(sim::Scheduler& sched, sim::BlockArray& array) : sched_(sched), array_(array) {}

void Volumes::AddChunk(Chunk chunk) {
  FSIM_CHECK(chunk.length > 0 && !chunk.stripes.empty());
  for (const Chunk& c : chunks_) {
    FSIM_CHECK_MSG(
        chunk.logical + chunk.length <= c.logical || c.logical + c.length <= chunk.logical,
        "overlapping chunks");
  }
  const size_t n = chunk.stripes.size();
  uint64_t data_stripes = 1;  // how many stripes the data is spread over
  switch (chunk.profile) {
    case Profile::kSingle: FSIM_CHECK_MSG(n == 1, "SINGLE has one stripe"); break;
    case Profile::kDup:
      FSIM_CHECK_MSG(n == 2 && chunk.stripes[0].device == chunk.stripes[1].device,
                     "DUP has two stripes on one device");
      break;
    case Profile::kRaid0:
      FSIM_CHECK_MSG(n >= 2, "RAID0 has two stripes or more");
      data_stripes = n;
      break;
    case Profile::kRaid1: FSIM_CHECK_MSG(n == 2, "RAID1 has two stripes"); break;
    case Profile::kRaid10:
      FSIM_CHECK_MSG(n >= 4 && n % kRaid10SubStripes == 0,
                     "RAID10 has an even number of stripes, 4 or more");
      data_stripes = n / kRaid10SubStripes;
      break;
  }
  const uint64_t per_stripe = (chunk.length + data_stripes - 1) / data_stripes;
  for (const Stripe& s : chunk.stripes) {
    FSIM_CHECK(s.device < array_.size());
    const sim::DeviceConfig& d = array_.device(s.device).config();
    FSIM_CHECK_MSG(s.physical + per_stripe <= d.capacity_sectors * d.sector_size,
                   "stripe beyond its device");
  }
  chunks_.push_back(std::move(chunk));
  std::sort(chunks_.begin(), chunks_.end(),
            [](const Chunk& a, const Chunk& b) { return a.logical < b.logical; });
}

const Chunk* Volumes::FindChunk(uint64_t logical) const {
  for (const Chunk& c : chunks_) {
    if (logical >= c.logical && logical < c.logical + c.length) return &c;
  }
  return nullptr;
}

// btrfs_num_copies().
int Volumes::NumCopies(uint64_t logical) const {
  const Chunk* c = FindChunk(logical);
  if (c == nullptr) return 0;
  switch (c->profile) {
    case Profile::kDup:
    case Profile::kRaid1:
    case Profile::kRaid10: return 2;
    default: return 1;
  }
}

int Volumes::ToleratedFailures(uint64_t logical) const {
  const Chunk* c = FindChunk(logical);
  if (c == nullptr) return 0;
  return c->profile == Profile::kRaid1 || c->profile == Profile::kRaid10 ? 1 : 0;
}

bool Volumes::CopyStaleAfterFailedWrite(uint64_t logical, uint64_t len, int mirror) const {
  Mapping map;
  if (!MapBlock(false, logical, len, mirror, &map) || map.stripes.empty()) return false;
  const Stripe& st = map.stripes[0];
  const sim::BlockDevice& dev = array_.device(st.device);
  const uint64_t ss = dev.config().sector_size;
  const uint64_t first = st.physical / ss, last = (st.physical + len + ss - 1) / ss;
  const sim::WriteRecord* w = dev.NewestCompletedWrite(first, last - first);
  return w != nullptr && w->fate == sim::WriteFate::kFailed;
}

// __btrfs_map_block() for the profiles modelled (no RAID5/6, no device
// replace): stripe_nr and stripe_offset from the offset in the chunk,
// then per profile the stripe_index and num_stripes to use; each stripe's
// physical = map->stripes[stripe_index].physical + stripe_offset +
// stripe_nr * stripe_len. map_length is btrfs_get_io_geometry()'s len.
bool Volumes::MapBlock(bool write, uint64_t logical, uint64_t length, int mirror,
                       Mapping* out) const {
  (void)length;
  const Chunk* c = FindChunk(logical);
  if (c == nullptr) return false;
  const uint64_t offset = logical - c->logical;
  const uint64_t to_chunk_end = c->length - offset;
  const uint64_t stripe_nr = offset / kStripeLen;
  const uint64_t stripe_offset = offset % kStripeLen;
  const size_t n = c->stripes.size();
  out->stripes.clear();
  out->max_errors = 0;
  switch (c->profile) {
    case Profile::kRaid0: {  // stripe_index = stripe_nr % num_stripes
      const Stripe& s = c->stripes[stripe_nr % n];
      out->stripes.push_back({s.device, s.physical + (stripe_nr / n) * kStripeLen + stripe_offset});
      out->map_length = std::min(kStripeLen - stripe_offset, to_chunk_end);
      break;
    }
    case Profile::kRaid10: {
      // factor = num_stripes / sub_stripes; stripe_index = (stripe_nr %
      // factor) * sub_stripes; a write needs the full stripe (num_stripes
      // = sub_stripes: both mirrors), a read the mirror asked for.
      const uint64_t factor = n / kRaid10SubStripes;
      const size_t stripe_index =
          static_cast<size_t>(stripe_nr % factor) * (bug_raid10_stripe_index_ ? 1 : kRaid10SubStripes);
      const uint64_t row = stripe_nr / factor;
      for (size_t i = 0; i < kRaid10SubStripes; ++i) {
        if (!write && static_cast<int>(i) != mirror) continue;
        const Stripe& s = c->stripes[stripe_index + i];
        out->stripes.push_back({s.device, s.physical + row * kStripeLen + stripe_offset});
      }
      out->map_length = std::min(kStripeLen - stripe_offset, to_chunk_end);
      if (write) out->max_errors = 1;  // btrfs_chunk_max_errors(): tolerated_failures
      break;
    }
    case Profile::kSingle:
      out->stripes.push_back({c->stripes[0].device, c->stripes[0].physical + offset});
      out->map_length = to_chunk_end;
      break;
    case Profile::kDup:
    case Profile::kRaid1:
      // Every copy for a write, the one asked for on a read. max_errors is
      // btrfs_raid_array's tolerated_failures: 1 for RAID1, but 0 for DUP
      // (both copies are on one device: a failed copy fails the write).
      for (size_t i = 0; i < n; ++i) {
        if (!write && static_cast<int>(i) != mirror) continue;
        out->stripes.push_back({c->stripes[i].device, c->stripes[i].physical + offset});
      }
      out->map_length = to_chunk_end;
      if (write && (c->profile == Profile::kRaid1 || bug_dup_tolerates_failed_copy_)) out->max_errors = 1;
      break;
  }
  return !out->stripes.empty();
}

bool Volumes::BioFitsInStripe(sim::BioOp op, uint64_t logical, uint64_t len) const {
  FSIM_BUG_ON(!(len > 0), "btrfs_bio_fits_in_stripe of an empty range");
  Mapping map;
  if (!MapBlock(op == sim::BioOp::kWrite, logical, len, 0, &map)) return false;
  return len <= map.map_length;  // the kernel's "geom.len < bio_len + size": does not fit
}

void Volumes::Warn(std::string signature, std::string report) {
  sim::Finding f;
  f.kind = sim::FindingKind::kWarn;
  f.signature = std::move(signature);
  f.report = std::move(report);
  sched_.Report(std::move(f));
}

// The bio ends with an I/O error, asynchronously and in interrupt
// context: btrfs_map_bio() returned an error and its caller
// (btrfs_submit_data_bio()) set bi_status and called bio_endio().
void Volumes::FailBio(sim::Bio* bio) {
  sched_.AddTimer(sched_.now_ns(), "btrfs_end_bio", [bio] {
    bio->status = sim::BlkStatus::kIoError;
    if (bio->end_io) bio->end_io(*bio);
  });
}

void Volumes::MapBio(sim::Bio* bio, Where where) { MapBio(bio, 0, where); }

void Volumes::MapBio(sim::Bio* bio, int mirror_num, Where where) {
  // bio_add_page() -> __bio_add_page(): WARN_ON_ONCE(bio_full(bio, len)): a
  // bio never holds more than BIO_MAX_VECS (256) vecs.
  if (bio->vecs.size() > bio_max_vecs_) {
    Warn("warn:bio_full:too_many_vecs",
         "WARNING: CPU: 0 PID: 0 at block/bio.c __bio_add_page: bio_full: a bio of " +
             std::to_string(bio->vecs.size()) + " vecs (BIO_MAX_VECS " +
             std::to_string(bio_max_vecs_) + ")\n  submitted at " +
             sim::WhereText(where));
  }
  const bool write = bio->op == sim::BioOp::kWrite;
  const uint64_t logical = bio->sector * kSector;
  const uint64_t length = bio->size();
  const int copies = NumCopies(logical);
  FSIM_BUG_ON(!(mirror_num >= 0 && mirror_num <= std::max(copies, 1)), nullptr);
  const int mirror = mirror_num > 0 ? mirror_num - 1
                     : copies > 1 && !write
                         ? static_cast<int>(sched_.Choose(copies, "read_mirror"))
                         : 0;
  // A write to one named copy maps as a read of that copy does.
  const bool all_copies = write && mirror_num == 0;
  Mapping map;
  if (!MapBlock(all_copies, logical, length, mirror, &map)) {
    Warn("warn:btrfs_map_bio:unmapped",
         "BTRFS critical: unable to find chunk map for logical " + std::to_string(logical) +
             " length " + std::to_string(length) + "\n  submitted at " + sim::WhereText(where));
    return FailBio(bio);
  }
  if (length <= map.map_length) {
    if (write && !all_copies) map.max_errors = 0;
    ++bio_counter_;  // btrfs_bio_counter_inc_blocked()
    SubmitMapped(bio, map, where);
    --bio_counter_;  // btrfs_bio_counter_dec()
    return;
  }
  FSIM_BUG_ON(!(all_copies || !write), "a one-copy write must fit in map_length");
  if (!split_bios_) {
    // The RFC's "iomap merges bios past the extent map's mapped length".
    Warn("warn:btrfs_map_bio:bio_beyond_map_length",
         "WARNING: btrfs_map_bio: mapping failed logical " + std::to_string(logical) +
             " bio len " + std::to_string(length) + " len " + std::to_string(map.map_length) +
             "\n  (BTRFS critical + BUG() in 5.13: a bio must not cross a stripe or chunk "
             "boundary)\n  submitted at " + sim::WhereText(where));
    return FailBio(bio);
  }
  ++bio_counter_;
  SplitAndSubmit(bio, mirror, map, where);
  --bio_counter_;
}

// The body of btrfs_map_bio() once the bio fits: a stripe bio per stripe
// of `map` (submit_stripe_bio()), completed through btrfs_end_bio().
void Volumes::SubmitMapped(sim::Bio* bio, const Mapping& map, Where where) {
  auto* bbio = sim::Heap::Of(sched_).New<BtrfsBio>();
  bbio->orig = bio;
  bbio->max_errors = map.max_errors;
  bbio->stripes_pending = static_cast<int>(map.stripes.size());
  bbio->stripe_bios.resize(map.stripes.size());
  for (size_t i = 0; i < map.stripes.size(); ++i) {
    sim::Bio& sb = bbio->stripe_bios[i];
    sb.op = bio->op;
    sb.flags = bio->flags;
    sb.sector = map.stripes[i].physical / kSector;
    sb.vecs = bio->vecs;
    // btrfs_end_bio(). Deleting the bbio destroys this very closure: only
    // locals are used after it.
    sb.end_io = [this, bbio](sim::Bio& done) {
      if (done.status != sim::BlkStatus::kOk) ++bbio->error;
      --bio_counter_;
      if (--bbio->stripes_pending > 0) return;
      sim::Bio* orig = bbio->orig;
      const bool failed = bbio->error > bbio->max_errors;
      sim::Heap& heap = sim::Heap::Of(sched_);  // a local: the closure dies next
      heap.Delete(bbio);  // btrfs_end_bbio()
      // The submitter's bio, restored and completed: freed meanwhile (it
      // was submitted twice, or its owner finished without it), that is a
      // use after free.
      if (heap.IsFreed(orig)) return heap.ReportUseAfterFree(orig, "btrfs_end_bbio");
      orig->status = failed ? sim::BlkStatus::kIoError : sim::BlkStatus::kOk;
      if (orig->end_io) orig->end_io(*orig);
    };
  }
  // submit_bio() -> blk_queue_split(): a stripe bio larger than what its
  // device takes in one request goes down as pieces chained to it. The
  // pieces are all built before any is submitted (the vector must not
  // move under a submitted bio).
  bbio->queue_pending.assign(map.stripes.size(), 0);
  bbio->queue_failed.assign(map.stripes.size(), 0);
  std::vector<size_t> first_piece(map.stripes.size(), 0);
  for (size_t i = 0; i < map.stripes.size(); ++i) {
    sim::BlockDevice& dev = array_.device(map.stripes[i].device);
    const uint64_t max_bytes = uint64_t{dev.config().max_sectors} * dev.config().sector_size;
    first_piece[i] = bbio->queue_pieces.size();
    const sim::Bio& sb = bbio->stripe_bios[i];
    if (sb.op == sim::BioOp::kFlush || sb.size() <= max_bytes) continue;
    uint64_t at = 0;
    size_t v = 0;
    uint64_t into = 0;  // bytes of vecs[v] already taken
    while (at < sb.size()) {
      sim::Bio piece;
      piece.op = sb.op;
      piece.flags = sb.flags;
      piece.sector = sb.sector + at / kSector;
      uint64_t len = 0;
      while (len < max_bytes && v < sb.vecs.size()) {
        const uint64_t take = std::min<uint64_t>(sb.vecs[v].len - into, max_bytes - len);
        piece.vecs.push_back(sb.vecs[v].Sub(into, take));
        len += take;
        into += take;
        if (into == sb.vecs[v].len) {
          ++v;
          into = 0;
        }
      }
      at += len;
      piece.end_io = [bbio, i](sim::Bio& done) {
        if (done.status != sim::BlkStatus::kOk) bbio->queue_failed[i] = 1;
        if (--bbio->queue_pending[i] > 0) return;
        sim::Bio& parent = bbio->stripe_bios[i];
        parent.status = bbio->queue_failed[i] ? sim::BlkStatus::kIoError : sim::BlkStatus::kOk;
        parent.end_io(parent);
      };
      bbio->queue_pieces.push_back(std::move(piece));
      ++bbio->queue_pending[i];
    }
  }
  for (size_t i = 0; i < map.stripes.size(); ++i) {
    ++bio_counter_;  // btrfs_bio_counter_inc_noblocked() in submit_stripe_bio()
    sim::BlockDevice& dev = array_.device(map.stripes[i].device);
    const int pieces = bbio->queue_pending[i];
    if (pieces == 0) {
      dev.SubmitBio(&bbio->stripe_bios[i], where);
      continue;
    }
    for (int k = 0; k < pieces; ++k) dev.SubmitBio(&bbio->queue_pieces[first_piece[i] + k], where);
  }
}

// Cuts `bio` at every map_length boundary and submits each piece as a
// bio that fits. Every piece is mapped before anything is submitted, so a
// bio that runs out of its chunk into unmapped space fails whole. A read
// uses the same mirror for every piece (find_live_mirror() answers the
// same for one pid).
void Volumes::SplitAndSubmit(sim::Bio* bio, int mirror, const Mapping& first, Where where) {
  const bool write = bio->op == sim::BioOp::kWrite;
  const uint64_t logical = bio->sector * kSector;
  const uint64_t length = bio->size();
  // bio_split(): each piece starts where the one before it ended (bio_advance
  // of the rest), and btrfs_map_bio() maps it from its own bi_sector, as
  // the kernel maps a split bio (the first piece's is the bio's: `first`).
  std::vector<Mapping> maps = {first};
  std::vector<uint64_t> lens = {first.map_length};
  std::vector<uint64_t> sectors = {bio->sector};
  uint64_t done = first.map_length;
  if (done < length) sched_.Cover("btrfs_map_bio:split_at_map_length");
  while (done < length) {
    // A split that does not advance (a map_length of 0, a stripe computed
    // wrong) would loop: the filesystem's mistake, reported with its trace.
    FSIM_BUG_ON(maps.size() >= kBioSplitsMax,
                "btrfs_map_bio: a bio split into more than kBioSplitsMax pieces");
    sectors.push_back((logical + done) / kSector);
    const uint64_t at = sectors.back() * kSector;
    const int copies = NumCopies(at);
    Mapping map;
    if (copies == 0 || !MapBlock(write, at, length - done, mirror % copies, &map)) {
      Warn("warn:btrfs_map_bio:unmapped",
           "BTRFS critical: unable to find chunk map for logical " + std::to_string(at) +
               " length " + std::to_string(length - done) + " (bio at logical " +
               std::to_string(logical) + " length " + std::to_string(length) +
               ")\n  submitted at " + sim::WhereText(where));
      return FailBio(bio);
    }
    lens.push_back(std::min(map.map_length, length - done));
    done += lens.back();
    maps.push_back(std::move(map));
  }
  auto* split = sim::Heap::Of(sched_).New<SplitBio>();
  split->parent = bio;
  split->remaining = maps.size();  // every piece counted before any is submitted
  split->pieces.resize(maps.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < maps.size(); ++i) {
    sim::Bio& piece = split->pieces[i];
    piece.op = bio->op;
    piece.flags = bio->flags;
    piece.sector = sectors[i];
    piece.vecs = SliceVecs(bio->vecs, offset, lens[i]);
    FSIM_BUG_ON(!(piece.size() == lens[i]), nullptr);
    offset += lens[i];
    // bio_chain_endio(). Deleting `split` destroys this very closure:
    // only locals are used after it.
    piece.end_io = [this, split](sim::Bio& piece_done) {
      if (piece_done.status != sim::BlkStatus::kOk && split->status == sim::BlkStatus::kOk) {
        split->status = piece_done.status;
      }
      if (--split->remaining > 0) return;
      sim::Bio* parent = split->parent;
      const sim::BlkStatus status = split->status;
      sim::Heap& heap = sim::Heap::Of(sched_);  // a local: the closure dies next
      heap.Delete(split);
      if (heap.IsFreed(parent)) return heap.ReportUseAfterFree(parent, "bio_chain_endio");
      parent->status = status;
      if (parent->end_io) parent->end_io(*parent);
    };
  }
  FSIM_BUG_ON(!(offset == length), nullptr);
  for (size_t i = 0; i < maps.size(); ++i) SubmitMapped(&split->pieces[i], maps[i], where);
}

}  // namespace fsim::fs
