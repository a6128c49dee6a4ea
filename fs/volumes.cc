#include "fs/volumes.h"

#include <algorithm>
#include <memory>

#include "sim/check.h"
#include "sim/heap.h"
#include "sim/lockdep.h"

namespace fsim::fs {
namespace {

constexpr uint64_t kSector = 512;

// A mapped bio's private state (btrfs_io_context + the stripe bios): the
// original bio completes when every stripe bio has.
struct IoContext {
  sim::Bio* orig = nullptr;
  std::vector<sim::Bio> stripe_bios;
  int pending = 0;
  int errors = 0;
  int max_errors = 0;
};

}  // namespace

const char* ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kSingle: return "SINGLE";
    case Profile::kDup: return "DUP";
    case Profile::kRaid0: return "RAID0";
    default: return "RAID1";
  }
}

Volumes::Volumes(sim::Scheduler& sched, sim::BlockArray& array) : sched_(sched), array_(array) {}

void Volumes::AddChunk(Chunk chunk) {
  FSIM_CHECK(chunk.length > 0 && !chunk.stripes.empty());
  for (const Chunk& c : chunks_) {
    FSIM_CHECK_MSG(chunk.logical + chunk.length <= c.logical || c.logical + c.length <= chunk.logical,
                   "overlapping chunks");
  }
  uint64_t per_stripe = chunk.profile == Profile::kRaid0
                            ? (chunk.length + chunk.stripes.size() - 1) / chunk.stripes.size()
                            : chunk.length;
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

int Volumes::NumCopies(uint64_t logical) const {
  const Chunk* c = FindChunk(logical);
  if (c == nullptr) return 0;
  return c->profile == Profile::kDup || c->profile == Profile::kRaid1 ? 2 : 1;
}

bool Volumes::MapBlock(bool write, uint64_t logical, uint64_t length, int mirror,
                       Mapping* out) const {
  const Chunk* c = FindChunk(logical);
  if (c == nullptr) return false;
  uint64_t offset = logical - c->logical;
  uint64_t to_chunk_end = c->length - offset;
  out->stripes.clear();
  out->max_errors = 0;
  switch (c->profile) {
    case Profile::kRaid0: {
      uint64_t stripe_nr = offset / kStripeLen;
      uint64_t in_stripe = offset % kStripeLen;
      size_t n = c->stripes.size();
      const Stripe& s = c->stripes[stripe_nr % n];
      out->stripes.push_back({s.device, s.physical + (stripe_nr / n) * kStripeLen + in_stripe});
      out->map_length = std::min(kStripeLen - in_stripe, to_chunk_end);
      break;
    }
    case Profile::kSingle:
      out->stripes.push_back({c->stripes[0].device, c->stripes[0].physical + offset});
      out->map_length = to_chunk_end;
      break;
    default: {  // DUP, RAID1: every copy for a write, one for a read
      for (size_t i = 0; i < c->stripes.size(); ++i) {
        if (!write && static_cast<int>(i) != mirror) continue;
        out->stripes.push_back({c->stripes[i].device, c->stripes[i].physical + offset});
      }
      out->map_length = to_chunk_end;
      if (write) out->max_errors = static_cast<int>(c->stripes.size()) - 1;
      break;
    }
  }
  (void)length;
  return !out->stripes.empty();
}

void Volumes::MapBio(sim::Bio* bio, Where where) {
  const bool write = bio->op == sim::BioOp::kWrite;
  const uint64_t logical = bio->sector * kSector;
  const uint64_t length = bio->size();
  int copies = NumCopies(logical);
  int mirror = copies > 1 && !write ? static_cast<int>(sched_.Choose(copies, "read_mirror")) : 0;
  Mapping map;
  auto fail_now = [&] {
    sched_.AddTimer(sched_.now_ns(), "btrfs_end_bio", [bio] {
      bio->status = sim::BlkStatus::kIoError;
      if (bio->end_io) bio->end_io(*bio);
    });
  };
  if (!MapBlock(write, logical, length, mirror, &map)) {
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:btrfs_map_bio:unmapped";
    f.report = "BTRFS critical: unable to find chunk map for logical " + std::to_string(logical) +
               " length " + std::to_string(length) + "\n  submitted at " + sim::WhereText(where);
    sched_.Report(std::move(f));
    return fail_now();
  }
  if (length > map.map_length) {
    // The RFC's "iomap merges bios past the extent map's mapped length".
    sim::Finding f;
    f.kind = sim::FindingKind::kWarn;
    f.signature = "warn:btrfs_map_bio:bio_beyond_map_length";
    f.report = "WARNING: btrfs_map_bio: mapping failed logical " + std::to_string(logical) +
               " bio len " + std::to_string(length) + " len " + std::to_string(map.map_length) +
               "\n  (BTRFS critical + BUG() in 5.13: a bio must not cross a stripe or chunk "
               "boundary)\n  submitted at " + sim::WhereText(where);
    sched_.Report(std::move(f));
    return fail_now();
  }
  auto* io = sim::Heap::Of(sched_).New<IoContext>();
  io->orig = bio;
  io->max_errors = map.max_errors;
  io->pending = static_cast<int>(map.stripes.size());
  io->stripe_bios.resize(map.stripes.size());
  for (size_t i = 0; i < map.stripes.size(); ++i) {
    sim::Bio& sb = io->stripe_bios[i];
    sb.op = bio->op;
    sb.flags = bio->flags;
    sb.sector = map.stripes[i].physical / kSector;
    sb.vecs = bio->vecs;
    sb.end_io = [this, io](sim::Bio& done) {
      if (done.status != sim::BlkStatus::kOk) ++io->errors;
      if (--io->pending > 0) return;
      sim::Bio* orig = io->orig;
      orig->status = io->errors > io->max_errors ? sim::BlkStatus::kIoError : sim::BlkStatus::kOk;
      sim::Heap::Of(sched_).Delete(io);
      if (orig->end_io) orig->end_io(*orig);
    };
  }
  for (size_t i = 0; i < map.stripes.size(); ++i) {
    array_.device(map.stripes[i].device).SubmitBio(&io->stripe_bios[i], where);
  }
}

}  // namespace fsim::fs
