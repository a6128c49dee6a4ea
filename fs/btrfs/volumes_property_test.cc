// Properties of bio splitting in the volume layer (btrfs_map_bio with
// split_bios on). For every profile (single, dup, raid0, raid1, raid10),
// random chunk geometry (two adjacent chunks, each of a random profile,
// stripes on random devices at random offsets), a random sector-aligned
// bio of up to 2 MiB that may cross stripes and the boundary between the
// chunks, random bio_vec sizes (so that boundaries fall mid-vec), and a
// random schedule and latencies:
// - a write lands every sector of the bio exactly once per copy, on the
//   device and at the physical offset the profile's definition gives
//   (computed here per sector, independently of MapBlock's map_length
//   arithmetic), with the bio's bytes, and nowhere else;
// - a read fills every sector of the bio from that same place, all of it
//   from one mirror (per chunk, as the mirror maps onto its copies);
// - the original bio's end_io runs exactly once, in interrupt context,
//   after every stripe bio of every piece completed (bio_counter is 0).
// And btrfs_bio_fits_in_stripe agrees with the definition: a range fits
// iff it lies within one chunk and, for striped profiles, one stripe.
// RapidCheck draws the cases from a fixed seed (RC_PARAMS in BUILD).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include "fs/btrfs/volumes.h"
#include "sim/check.h"
#include "sim/testing.h"

namespace fsim::fs {
namespace {

constexpr uint64_t kSector = 512;
constexpr size_t kDevices = 6;
constexpr uint64_t kDeviceBytes = 32 << 20;
constexpr uint64_t kBioBytesMax = 2 << 20;

struct Loc {
  size_t device;
  uint64_t physical;
  bool operator<(const Loc& o) const {
    return device != o.device ? device < o.device : physical < o.physical;
  }
};

// Where byte `offset` of chunk `c` lives, copy by copy, from the profile's
// definition (btrfs's on-disk layout), one byte at a time.
std::vector<Loc> Copies(const Chunk& c, uint64_t offset) {
  const size_t n = c.stripes.size();
  const uint64_t stripe = offset / kStripeLen, within = offset % kStripeLen;
  auto at = [&](size_t i, uint64_t physical) {
    return Loc{c.stripes[i].device, c.stripes[i].physical + physical};
  };
  switch (c.profile) {
    case Profile::kSingle: return {at(0, offset)};
    case Profile::kDup:
    case Profile::kRaid1: return {at(0, offset), at(1, offset)};
    case Profile::kRaid0: return {at(stripe % n, stripe / n * kStripeLen + within)};
    case Profile::kRaid10: {
      // Stripe k goes to mirror pair k mod pairs, row k div pairs.
      const size_t pairs = n / 2, pair = stripe % pairs;
      const uint64_t physical = stripe / pairs * kStripeLen + within;
      return {at(2 * pair, physical), at(2 * pair + 1, physical)};
    }
  }
  return {};
}

bool Striped(Profile p) { return p == Profile::kRaid0 || p == Profile::kRaid10; }

// A random chunk of a random profile at `logical`, its stripes placed
// after `next_free` on their devices (advanced), with random gaps.
Chunk GenChunk(uint64_t logical, std::vector<uint64_t>& next_free) {
  Chunk c;
  c.logical = logical;
  c.profile = *rc::gen::element(Profile::kSingle, Profile::kDup, Profile::kRaid0,
                                Profile::kRaid1, Profile::kRaid10);
  size_t n = 1;
  switch (c.profile) {
    case Profile::kSingle: n = 1; break;
    case Profile::kDup:
    case Profile::kRaid1: n = 2; break;
    case Profile::kRaid0: n = *rc::gen::inRange<size_t>(2, kDevices + 1); break;
    case Profile::kRaid10: n = *rc::gen::element(size_t{4}, size_t{6}); break;
  }
  // Distinct devices for the stripes (one for DUP), in a random order.
  std::vector<size_t> devices(kDevices);
  for (size_t i = 0; i < kDevices; ++i) devices[i] = i;
  for (size_t i = 0; i + 1 < kDevices; ++i) {
    std::swap(devices[i], devices[*rc::gen::inRange<size_t>(i, kDevices)]);
  }
  uint64_t per_stripe;
  if (Striped(c.profile)) {
    const uint64_t data_stripes = c.profile == Profile::kRaid0 ? n : n / 2;
    per_stripe = *rc::gen::inRange<uint64_t>(1, 9) * kStripeLen;  // whole stripes, as btrfs
    c.length = per_stripe * data_stripes;
  } else {
    per_stripe = c.length = *rc::gen::inRange<uint64_t>(1, 769) * 4096;  // up to 3 MiB
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t d = c.profile == Profile::kDup ? devices[0] : devices[i];
    const uint64_t physical = next_free[d] + *rc::gen::inRange<uint64_t>(0, 64) * 4096;
    next_free[d] = physical + per_stripe;
    FSIM_CHECK(next_free[d] <= kDeviceBytes);  // two chunks of at most 2 x 3.25 MiB a device
    c.stripes.push_back({d, physical});
  }
  return c;
}

struct World {
  std::vector<Chunk> chunks;
  uint64_t bio_logical = 0;
  uint64_t bio_len = 0;
  std::vector<uint32_t> vec_lens;  // sector multiples summing to bio_len
};

World GenWorld() {
  World w;
  std::vector<uint64_t> next_free(kDevices, 0);
  const uint64_t start = *rc::gen::inRange<uint64_t>(0, 256) * 4096;
  w.chunks.push_back(GenChunk(start, next_free));
  w.chunks.push_back(GenChunk(start + w.chunks[0].length, next_free));
  const uint64_t end = w.chunks[1].logical + w.chunks[1].length;
  // Half the bios start near the boundary between the chunks, to cross it.
  const bool near_boundary = *rc::gen::arbitrary<bool>();
  const uint64_t lo = near_boundary && w.chunks[1].logical > start + kBioBytesMax
                          ? w.chunks[1].logical - kBioBytesMax
                          : start;
  w.bio_logical = lo + *rc::gen::inRange<uint64_t>(0, (end - lo) / kSector) * kSector;
  const uint64_t room = std::min(kBioBytesMax, end - w.bio_logical);
  w.bio_len = *rc::gen::inRange<uint64_t>(1, room / kSector + 1) * kSector;
  const uint64_t step = *rc::gen::inRange<uint64_t>(1, 16);
  for (uint64_t left = w.bio_len, i = 0; left > 0; ++i) {
    // 512 B to 8 KiB; a bio holds at most BIO_MAX_VECS vecs, so the
    // last one takes the rest (one multi-page bvec).
    const uint64_t len =
        i + 1 == sim::kBioMaxVecs ? left : std::min(left, (i * step % 16 + 1) * kSector);
    w.vec_lens.push_back(static_cast<uint32_t>(len));
    left -= len;
  }
  return w;
}

const Chunk& ChunkOf(const World& w, uint64_t logical) {
  return logical < w.chunks[1].logical ? w.chunks[0] : w.chunks[1];
}

// Sector `j` of the bio as written by copy `copy` (-1: the bio's own
// data): a tag naming both, then filler.
void FillSector(uint8_t* out, uint64_t j, int copy) {
  const uint64_t tag = j * 8 + static_cast<uint64_t>(copy + 1);
  std::memcpy(out, &tag, sizeof(tag));
  for (uint64_t b = sizeof(tag); b < kSector; ++b) out[b] = static_cast<uint8_t>(j * 31 + b + copy);
}

std::vector<sim::DeviceConfig> Devices() {
  std::vector<sim::DeviceConfig> c(kDevices);
  for (size_t i = 0; i < kDevices; ++i) {
    c[i].name = "sd" + std::string(1, static_cast<char>('a' + i));
    c[i].capacity_sectors = kDeviceBytes / kSector;
    // The volume layer is under test, not the block layer's limits.
    c[i].max_sectors = kBioBytesMax / kSector;
  }
  return c;
}

struct Outcome {
  int end_io_calls = 0;
  bool end_io_in_irq = false;
  uint64_t bio_counter_at_end_io = ~uint64_t{0};
  sim::BlkStatus status = sim::BlkStatus::kIoError;
};

// Runs one MapBio of the world's bio (after `prepare`, in the same fiber)
// and records how it ended.
sim::RunResult RunBio(const World& w, bool write, uint64_t seed, std::vector<uint8_t>& buffer,
                      std::unique_ptr<sim::BlockArray>& array, Outcome& out,
                      const std::function<void(sim::Scheduler&)>& prepare) {
  sim::Scheduler s;
  sim::testing::RandomStrategy strategy;
  std::unique_ptr<Volumes> v;
  sim::RunOptions o;
  o.seed = seed;
  return sim::testing::RunFunctions(s, strategy, [&] {
    array = std::make_unique<sim::BlockArray>(s, Devices());
    v = std::make_unique<Volumes>(s, *array);
    for (const Chunk& c : w.chunks) v->AddChunk(c);
    s.Spawn("submitter", [&] {
      prepare(s);
      sim::Completion done(s, "done");
      sim::Bio bio;
      bio.op = write ? sim::BioOp::kWrite : sim::BioOp::kRead;
      bio.sector = w.bio_logical / kSector;
      uint64_t at = 0;
      for (uint32_t len : w.vec_lens) {
        bio.vecs.push_back({buffer.data() + at, len});
        at += len;
      }
      bio.end_io = [&](sim::Bio& b) {
        ++out.end_io_calls;
        out.end_io_in_irq = s.current_fiber().in_irq;
        out.bio_counter_at_end_io = v->bio_counter();
        out.status = b.status;
        done.Complete();
      };
      v->MapBio(&bio);
      done.Wait();
    });
  }, [] {}, o);
}

RC_GTEST_PROP(VolumesPropertyTest, ASplitWriteLandsEverySectorOncePerCopy, ()) {
  const World w = GenWorld();
  const uint64_t seed = *rc::gen::inRange<uint64_t>(0, 1u << 30);
  const uint64_t sectors = w.bio_len / kSector;
  std::vector<uint8_t> data(w.bio_len);
  for (uint64_t j = 0; j < sectors; ++j) FillSector(data.data() + j * kSector, j, -1);
  std::unique_ptr<sim::BlockArray> array;
  Outcome out;
  sim::RunResult r = RunBio(w, true, seed, data, array, out, [](sim::Scheduler&) {});
  RC_ASSERT(r.findings.empty());
  RC_ASSERT(out.end_io_calls == 1);
  RC_ASSERT(out.end_io_in_irq);
  RC_ASSERT(out.bio_counter_at_end_io == 0u);
  RC_ASSERT(out.status == sim::BlkStatus::kOk);
  // Expected: (device, physical) of every sector of every copy -> j.
  std::map<Loc, uint64_t> expected;
  for (uint64_t j = 0; j < sectors; ++j) {
    const uint64_t logical = w.bio_logical + j * kSector;
    const Chunk& c = ChunkOf(w, logical);
    for (const Loc& loc : Copies(c, logical - c.logical)) {
      RC_ASSERT(expected.emplace(loc, j).second);  // copies never share a sector
    }
  }
  // Seen: every sector every device wrote, with its data; each once.
  std::map<Loc, uint64_t> seen;
  for (size_t d = 0; d < kDevices; ++d) {
    for (const sim::WriteRecord& rec : array->device(d).writes()) {
      RC_ASSERT(rec.fate == sim::WriteFate::kCached);
      for (uint64_t k = 0; k < rec.sectors; ++k) {
        const Loc loc{d, (rec.sector + k) * kSector};
        auto want = expected.find(loc);
        RC_ASSERT(want != expected.end());  // nowhere else
        RC_ASSERT(seen.emplace(loc, want->second).second);  // once
        RC_ASSERT(std::memcmp(rec.data.data() + k * kSector, data.data() + want->second * kSector,
                              kSector) == 0);
      }
    }
  }
  RC_ASSERT(seen.size() == expected.size());  // and everywhere it should
  RC_CLASSIFY(
      w.bio_logical < w.chunks[1].logical && w.bio_logical + w.bio_len > w.chunks[1].logical,
      "crosses the chunks");
}

RC_GTEST_PROP(VolumesPropertyTest, ASplitReadFillsEverySectorFromOneMirror, ()) {
  const World w = GenWorld();
  const uint64_t seed = *rc::gen::inRange<uint64_t>(0, 1u << 30);
  const uint64_t sectors = w.bio_len / kSector;
  // Lay down every copy of every sector, tagged with its copy, straight
  // on the devices; runs of contiguous sectors go as one bio.
  auto prepare = [&](sim::Scheduler&, sim::BlockArray& array) {
    for (int copy = 0; copy < 2; ++copy) {
      std::vector<uint8_t> run;
      Loc start{0, 0};
      auto flush = [&] {
        if (run.empty()) return;
        sim::Bio b;
        b.op = sim::BioOp::kWrite;
        b.sector = start.physical / kSector;
        b.vecs = {{run.data(), static_cast<uint32_t>(run.size())}};
        FSIM_CHECK(array.device(start.device).SubmitBioWait(b) == sim::BlkStatus::kOk);
        run.clear();
      };
      for (uint64_t j = 0; j < sectors; ++j) {
        const uint64_t logical = w.bio_logical + j * kSector;
        const Chunk& c = ChunkOf(w, logical);
        const std::vector<Loc> copies = Copies(c, logical - c.logical);
        if (copy >= static_cast<int>(copies.size())) continue;
        const Loc loc = copies[copy];
        if (!run.empty() && (loc.device != start.device ||
                             loc.physical != start.physical + run.size() ||
                             run.size() >= kBioBytesMax)) {
          flush();
        }
        if (run.empty()) start = loc;
        run.resize(run.size() + kSector);
        FillSector(run.data() + run.size() - kSector, j, copy);
      }
      flush();
    }
  };
  std::vector<uint8_t> buffer(w.bio_len, 0xee);
  std::unique_ptr<sim::BlockArray> array;
  Outcome out;
  sim::RunResult r =
      RunBio(w, false, seed, buffer, array, out, [&](sim::Scheduler& s) { prepare(s, *array); });
  RC_ASSERT(r.findings.empty());
  RC_ASSERT(out.end_io_calls == 1);
  RC_ASSERT(out.end_io_in_irq);
  RC_ASSERT(out.bio_counter_at_end_io == 0u);
  RC_ASSERT(out.status == sim::BlkStatus::kOk);
  // The mirror read in the first chunk; the second maps it onto its own
  // copies (mirror mod its copies).
  std::vector<uint8_t> want(kSector);
  int mirror = -1;
  for (uint64_t j = 0; j < sectors; ++j) {
    const uint64_t logical = w.bio_logical + j * kSector;
    const Chunk& c = ChunkOf(w, logical);
    const int copies = static_cast<int>(Copies(c, 0).size());
    uint64_t tag;
    std::memcpy(&tag, buffer.data() + j * kSector, sizeof(tag));
    RC_ASSERT(tag / 8 == j);
    const int copy = static_cast<int>(tag % 8) - 1;
    RC_ASSERT(copy >= 0 && copy < copies);
    if (mirror < 0) mirror = copy;  // the first sector is in the mirror's chunk
    RC_ASSERT(copy == mirror % copies);
    FillSector(want.data(), j, copy);
    RC_ASSERT(std::memcmp(buffer.data() + j * kSector, want.data(), kSector) == 0);
  }
  for (size_t d = 0; d < kDevices; ++d) {
    for (const sim::WriteRecord& rec : array->device(d).writes()) {
      RC_ASSERT(rec.fate == sim::WriteFate::kCached);  // only what prepare wrote
    }
  }
}

RC_GTEST_PROP(VolumesPropertyTest, BioFitsInStripeIsOneStripeOfOneChunk, ()) {
  const World w = GenWorld();
  sim::Scheduler s;
  sim::BlockArray array(s, Devices());
  Volumes v(s, array);
  for (const Chunk& c : w.chunks) v.AddChunk(c);
  const Chunk& c = ChunkOf(w, w.bio_logical);
  const uint64_t first = w.bio_logical - c.logical, last = first + w.bio_len - 1;
  const bool fits = last < c.length &&
                    (!Striped(c.profile) || first / kStripeLen == last / kStripeLen);
  RC_ASSERT(v.BioFitsInStripe(sim::BioOp::kWrite, w.bio_logical, w.bio_len) == fits);
  RC_ASSERT(v.BioFitsInStripe(sim::BioOp::kRead, w.bio_logical, w.bio_len) == fits);
}

}  // namespace
}  // namespace fsim::fs
