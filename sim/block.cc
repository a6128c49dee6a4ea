#include "sim/block.h"

#include <algorithm>
#include <cstring>

#include "sim/check.h"
#include "sim/lockdep.h"
#include "sim/race.h"

namespace fsim::sim {

const char* BioOpName(BioOp op) {
  switch (op) {
    case BioOp::kRead: return "READ";
    case BioOp::kWrite: return "WRITE";
    case BioOp::kFlush: return "FLUSH";
    default: return "DISCARD";
  }
}

const char* BlkStatusName(BlkStatus status) {
  return status == BlkStatus::kOk ? "BLK_STS_OK" : "BLK_STS_IOERR";
}

const char* WriteFateName(WriteFate fate) {
  switch (fate) {
    case WriteFate::kInFlight: return "in_flight";
    case WriteFate::kCached: return "cached";
    case WriteFate::kDurable: return "durable";
    case WriteFate::kLost: return "lost";
    case WriteFate::kTorn: return "torn";
    case WriteFate::kFailed: return "failed";
    default: return "superseded";
  }
}

uint64_t Bio::size() const {
  uint64_t n = 0;
  for (const BioVec& v : vecs) n += v.len;
  return n;
}

struct BlockDevice::Request {
  Bio* bio;
  uint64_t seq;
  uint64_t generation;
  uint64_t flush_barrier;  // completions before submission: what a flush covers
  int64_t write = -1;      // index in writes_
};


BlockDevice::BlockDevice(Scheduler& sched, DeviceConfig config)
    : sched_(sched),
      config_(std::move(config)),
      queue_wait_(std::make_unique<WaitQueue>(sched, config_.name + "_queue")) {
  FSIM_CHECK(config_.sector_size > 0 && config_.queue_depth > 0);
  FSIM_CHECK(config_.latency_choices >= 1 && config_.latency_ns_max >= config_.latency_ns_min);
}

BlockDevice::~BlockDevice() = default;

void BlockDevice::Warn(const std::string& signature, const std::string& report) {
  Finding f;
  f.kind = FindingKind::kWarn;
  f.signature = signature;
  f.report = report;
  sched_.Report(std::move(f));
}

// KASAN's slab-out-of-bounds report for a bio segment outside the memory
// it belongs to: the device would read (a write) or write (a read) past
// it. Reported as use_after_free, the kind of every KASAN report here.
void BlockDevice::ReportOutOfBounds(const Bio& bio, const BioVec& v, Where where) {
  const bool device_writes_memory = bio.op == BioOp::kRead;
  const int64_t offset = v.data - v.buf;
  Finding f;
  f.kind = FindingKind::kUseAfterFree;
  f.signature = std::string("kasan:slab-out-of-bounds:submit_bio:") + BioOpName(bio.op);
  f.report = std::string("BUG: KASAN: slab-out-of-bounds in submit_bio\n") +
             (device_writes_memory ? "Write" : "Read") + " of size " + std::to_string(v.len) +
             " by the DMA of a " + BioOpName(bio.op) + " bio to " + config_.name + " sector " +
             std::to_string(bio.sector) + ": a segment at offset " + std::to_string(offset) +
             " of a " + std::to_string(v.buf_len) + "-byte buffer, " +
             std::to_string(offset < 0 ? -offset
                                       : offset + static_cast<int64_t>(v.len) -
                                             static_cast<int64_t>(v.buf_len)) +
             " bytes " + (offset < 0 ? "before its start" : "past its end") +
             "\n  submitted at " + WhereText(where);
  sched_.Report(std::move(f));
}

namespace {
// A read that failed leaves its buffers as the DMA left them: not the
// data, and not zeroes either. Code that uses a failed read's bytes (a
// page marked uptodate despite the error, a log read taken as valid)
// then shows garbage instead of a plausible zero-filled block.
void PoisonFailedRead(Bio& bio) {
  if (bio.op != BioOp::kRead || bio.status == BlkStatus::kOk) return;
  for (const BioVec& v : bio.vecs) std::memset(v.data, 0xa5, v.len);
}
}  // namespace

void BlockDevice::CompleteNow(Bio* bio, BlkStatus status, bool poison) {
  ++stats_.errors;
  if (bio->op != BioOp::kRead) ++stats_.write_errors;
  if (bio->op == BioOp::kFlush || (bio->flags & kBioPreflush)) {
    failed_flush_barrier_ = std::max(failed_flush_barrier_, completions_);
  }
  // Captures no `this`: the device may be gone when the timer fires.
  Scheduler* sched = &sched_;
  const uint64_t key = CompletionKey();
  if (RaceDetector::On(sched_)) [[unlikely]] RaceDetector::Of(sched_).Release(key);
  sched_.AddTimer(sched_.now_ns(), config_.name + "_end_io", [sched, name = config_.name, bio, status, key, poison] {
    if (RaceDetector::On(*sched)) [[unlikely]] RaceDetector::Of(*sched).Acquire(key);
    bio->status = status;
    if (poison) PoisonFailedRead(*bio);
    if (Tracer* t = sched->tracer(); t != nullptr) [[unlikely]] t->BioComplete(name, *bio);
    if (bio->end_io) bio->end_io(*bio);
  });
}

void BlockDevice::SubmitBio(Bio* bio, Where where) {
  sched_.MightSleep("submit_bio");
  sched_.YieldHint("submit_bio", queue_wait_->object_id());
  if (sched_.unwinding()) return;
  if (Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] t->BioSubmit(config_.name, *bio);
  ++stats_.bios;
  stats_.bytes += bio->size();
  const uint64_t ss = config_.sector_size;
  const uint64_t sectors = (bio->size() + ss - 1) / ss;
  if (dead_ || failed_) return CompleteNow(bio, BlkStatus::kIoError);
  if (bio->op != BioOp::kFlush && bio->size() % ss != 0) {
    Warn("warn:bio_misaligned:" + config_.name,
         "WARNING: bio of " + std::to_string(bio->size()) + " bytes is not a multiple of the " +
             std::to_string(ss) + "-byte sectors of " + config_.name + "\n  submitted at " +
             WhereText(where));
    return CompleteNow(bio, BlkStatus::kIoError);
  }
  for (const BioVec& v : bio->vecs) {
    if (v.buf == nullptr || (v.data >= v.buf && v.data + v.len <= v.buf + v.buf_len)) continue;
    ReportOutOfBounds(*bio, v, where);
    return CompleteNow(bio, BlkStatus::kIoError, /*poison=*/false);  // no byte of it touched
  }
  if (sectors > config_.max_sectors) {
    // The block layer refuses it; it would never split it for us.
    Warn("warn:bio_too_large:" + config_.name,
         "WARNING: bio too large for device " + config_.name + ": " + std::to_string(sectors) +
             " sectors > max_sectors " + std::to_string(config_.max_sectors) + "\n  " +
             BioOpName(bio->op) + " at sector " + std::to_string(bio->sector) +
             ", submitted at " + WhereText(where));
    return CompleteNow(bio, BlkStatus::kIoError);
  }
  if (bio->op != BioOp::kFlush && bio->sector + sectors > config_.capacity_sectors) {
    return CompleteNow(bio, BlkStatus::kIoError);  // beyond end of device
  }
  queue_wait_->WaitEvent([&] { return in_flight_ < config_.queue_depth || dead_; });
  if (sched_.unwinding()) return;
  if (dead_) return CompleteNow(bio, BlkStatus::kIoError);
  if (config_.fault_device_failure && sched_.Choose(2, "device_fails") == 1) failed_ = true;
  uint64_t latency = config_.latency_ns_min;
  if (config_.latency_choices > 1) {
    uint64_t step = (config_.latency_ns_max - config_.latency_ns_min) / (config_.latency_choices - 1);
    latency += step * sched_.Choose(config_.latency_choices, "bio_latency");
  }
  if (config_.fault_latency_spikes && sched_.Choose(2, "latency_spike") == 1) {
    latency += config_.latency_spike_ns;
  }
  auto req = std::make_shared<Request>(Request{bio, ++next_seq_, generation_, completions_});
  if (bio->op == BioOp::kWrite || bio->op == BioOp::kDiscard) {
    req->write = static_cast<int64_t>(writes_.size());
    WriteRecord record;
    record.seq = req->seq;
    record.sector = bio->sector;
    record.sectors = sectors;
    record.fate = WriteFate::kInFlight;
    writes_.push_back(std::move(record));
  }
  pending_.push_back(req);
  ++in_flight_;
  stats_.max_in_flight = std::max<uint64_t>(stats_.max_in_flight, in_flight_);
  // The submitter's past happens before the completion (sim/race.h):
  // one clock for the device, so a completion also inherits other
  // submitters' pasts (erring towards silence, as the detector does).
  if (RaceDetector::On(sched_)) [[unlikely]] RaceDetector::Of(sched_).Release(CompletionKey());
  sched_.AddTimer(sched_.now_ns() + latency, config_.name + "_end_io", [this, req] { Complete(req); });
}

BlkStatus BlockDevice::SubmitBioWait(Bio& bio, Where where) {
  FSIM_CHECK_MSG(!bio.end_io, "SubmitBioWait: the bio has its own end_io");
  Completion done(sched_, config_.name + "_bio_wait");
  bio.end_io = [&done](Bio&) { done.Complete(); };
  SubmitBio(&bio, where);
  done.Wait();
  bio.end_io = nullptr;
  return bio.status;
}

void BlockDevice::Complete(const std::shared_ptr<Request>& req) {
  if (req->generation != generation_) return;  // the power was cut meanwhile
  if (RaceDetector::On(sched_)) [[unlikely]] RaceDetector::Of(sched_).Acquire(CompletionKey());
  pending_.erase(std::find(pending_.begin(), pending_.end(), req));
  --in_flight_;
  queue_wait_->WakeUp();
  Bio& bio = *req->bio;
  BlkStatus status = BlkStatus::kOk;
  bool error_once = false;
  if (config_.fault_io_error_once) {
    if (error_once_at_ < 0) error_once_at_ = static_cast<int64_t>(sched_.Choose(config_.io_error_window, "io_error_at"));
    error_once = requests_completed_++ == static_cast<uint64_t>(error_once_at_);
  }
  if (config_.fault_read_error_once && bio.op == BioOp::kRead) {
    if (read_error_at_ < 0) read_error_at_ = static_cast<int64_t>(sched_.Choose(config_.io_error_window, "read_error_at"));
    error_once = error_once || reads_completed_++ == static_cast<uint64_t>(read_error_at_);
  }
  if (failed_ || error_once || (config_.fault_io_errors && sched_.Choose(2, "bio_io_error") == 1)) {
    status = BlkStatus::kIoError;
    sched_.Cover(failed_ ? "block:device_failed" : "block:io_error");
  }
  if (status == BlkStatus::kOk) {
    if (bio.op == BioOp::kFlush || (bio.flags & kBioPreflush)) PersistUpTo(req->flush_barrier);
    if (bio.op == BioOp::kRead) {
      uint64_t ss = config_.sector_size, offset = 0;
      const uint64_t size = bio.size();
      if (read_buf_.size() < size) read_buf_.resize(size);
      ReadSectors(bio.sector, size / ss, read_buf_.data(), false);
      if (config_.fault_bitrot && !(bio.flags & kBioMeta)) BitRotRead(*req, size / ss, read_buf_.data());
      for (const BioVec& v : bio.vecs) {
        std::memcpy(v.data, read_buf_.data() + offset, v.len);
        offset += v.len;
      }
    } else if (bio.op != BioOp::kFlush) {
      ApplyWrite(*req, (bio.flags & kBioFua) || !config_.write_cache);
    }
  } else {
    ++stats_.errors;
    if (bio.op != BioOp::kRead) ++stats_.write_errors;
    if (bio.op == BioOp::kFlush || (bio.flags & kBioPreflush)) {
      failed_flush_barrier_ = std::max(failed_flush_barrier_, req->flush_barrier);
    }
    if (req->write >= 0) writes_[req->write].fate = WriteFate::kFailed;
  }
  bio.status = status;
  PoisonFailedRead(bio);
  if (Tracer* t = sched_.tracer(); t != nullptr) [[unlikely]] t->BioComplete(config_.name, bio);
  if (bio.end_io) bio.end_io(bio);
}

const WriteRecord* BlockDevice::NewestCompletedWrite(uint64_t sector, uint64_t sectors) const {
  for (auto w = writes_.rbegin(); w != writes_.rend(); ++w) {
    if (w->sector >= sector + sectors || w->sector + w->sectors <= sector) continue;
    if (w->fate != WriteFate::kInFlight) return &*w;
  }
  return nullptr;
}

bool BlockDevice::LostToFailedFlush(uint64_t sector, uint64_t sectors) const {
  const WriteRecord* w = NewestCompletedWrite(sector, sectors);
  return w != nullptr && w->fate == WriteFate::kCached && w->completion <= failed_flush_barrier_;
}

uint64_t BlockDevice::CompletionKey() const {
  return RaceDetector::Field(queue_wait_->object_id(), 1);
}

void BlockDevice::BitRotRead(const Request& req, uint64_t count, uint8_t* buf) {
  const uint64_t first = req.bio->sector;
  if (!rot_ && count > 0 && sched_.Choose(2, "bitrot") == 1) {
    const uint64_t k = count > 1 ? sched_.Choose(count, "bitrot_sector") : 0;
    // Only what was written can rot: a never-written sector reads zeroes.
    if (const int32_t write = Version(first + k, false); write >= 0) {
      rot_ = BitRot{first + k, write, req.seq};
      sched_.Cover("block:bitrot");
    }
  }
  if (const std::optional<BitRot> rot = StandingRot();
      rot && rot->sector >= first && rot->sector < first + count) {
    buf[(rot->sector - first) * config_.sector_size] ^= 0x01;
  }
}

std::optional<BitRot> BlockDevice::StandingRot() const {
  if (rot_ && Version(rot_->sector, false) == rot_->write) return rot_;
  return std::nullopt;
}

int32_t BlockDevice::Version(uint64_t sector, bool durable) const {
  const Sector* s = Find(sector);
  if (s == nullptr) return -1;
  if (!durable && s->cached >= 0 && InCache(*s, s->cached)) return s->cached;
  return s->media;
}

BlockDevice::Sector* BlockDevice::Find(uint64_t sector) const {
  const uint64_t leaf = sector / kLeafSectors;
  if (leaf >= leaves_.size() || !leaves_[leaf]) return nullptr;
  return &leaves_[leaf]->sectors[sector % kLeafSectors];
}

BlockDevice::Sector& BlockDevice::Slot(uint64_t sector) {
  const uint64_t leaf = sector / kLeafSectors;
  if (leaf >= leaves_.size()) leaves_.resize(leaf + 1);
  if (!leaves_[leaf]) leaves_[leaf] = std::make_unique<Leaf>();
  return leaves_[leaf]->sectors[sector % kLeafSectors];
}

const uint8_t* BlockDevice::Data(int32_t write, uint64_t sector) const {
  const WriteRecord& w = writes_[write];
  FSIM_CHECK(sector >= w.sector && sector < w.sector + w.sectors);
  return w.data.data() + (sector - w.sector) * config_.sector_size;
}

void BlockDevice::ApplyWrite(Request& req, bool durable) {
  const uint64_t ss = config_.sector_size;
  const auto index = static_cast<int32_t>(req.write);
  WriteRecord& w = writes_[index];
  // The device takes the pages' contents now, at completion: a page
  // changed while under I/O is written as it is at this moment.
  if (w.data.size() != w.sectors * ss) w.data = data_.Allocate(w.sectors * ss);
  uint64_t offset = 0;
  if (req.bio->op == BioOp::kWrite) {
    for (const BioVec& v : req.bio->vecs) {
      std::memcpy(w.data.data() + offset, v.data, v.len);
      offset += v.len;
    }
  } else {
    std::memset(w.data.data(), 0, w.data.size());
  }
  w.completion = ++completions_;
  w.fate = durable ? WriteFate::kDurable : WriteFate::kCached;
  if (!durable) cached_writes_.push_back(index);
  for (uint64_t k = 0; k < w.sectors; ++k) {
    if (durable) {
      MakeDurable(w.sector + k, index);
    } else {
      Slot(w.sector + k).cached = index;  // the newest completion here
    }
  }
}

void BlockDevice::MakeDurable(uint64_t sector, int32_t write) {
  // Coherent cache: cached versions older than the durable one are gone,
  // which InCache() derives from the media's completion.
  Sector& s = Slot(sector);
  if (s.media < 0) ++media_sectors_;
  if (s.media < 0 || writes_[s.media].completion < writes_[write].completion) s.media = write;
}

void BlockDevice::PersistUpTo(uint64_t barrier) {
  // Cached writes in completion order: the newest persisted one wins.
  size_t kept = 0;
  for (int32_t index : cached_writes_) {
    WriteRecord& w = writes_[index];
    if (w.completion > barrier) {
      cached_writes_[kept++] = index;
      continue;
    }
    bool persisted = false;
    for (uint64_t k = 0; k < w.sectors; ++k) {
      Sector& s = Slot(w.sector + k);
      if (!InCache(s, index)) continue;
      MakeDurable(w.sector + k, index);
      persisted = true;
    }
    if (persisted) w.fate = WriteFate::kDurable;
  }
  cached_writes_.resize(kept);
}

void BlockDevice::PowerCut() {
  FSIM_CHECK_MSG(sched_.in_fiber(), "PowerCut() decides through the Chooser: call it in a fiber");
  ++generation_;
  dead_ = true;
  sched_.Cover(pending_.empty() ? "power_cut:idle" : "power_cut:requests_in_flight");
  // In-flight writes and flushes may or may not have been carried out by
  // the device, in any order. One that was is carried out whole: a
  // PREFLUSH flush first (a device performs the flush before the write),
  // a FUA write straight to the media.
  std::vector<std::shared_ptr<Request>> reached;
  for (const auto& req : pending_) {
    bool flushes = req->bio->op == BioOp::kFlush || (req->bio->flags & kBioPreflush);
    if (req->write < 0 && !flushes) continue;  // a read changes nothing
    if (sched_.Choose(2, "inflight_reached") == 1) {
      reached.push_back(req);
    } else if (req->write >= 0) {
      writes_[req->write].fate = WriteFate::kLost;
    }
  }
  while (!reached.empty()) {
    size_t i = sched_.Choose(reached.size(), "inflight_order");
    Request& req = *reached[i];
    if (req.bio->op == BioOp::kFlush || (req.bio->flags & kBioPreflush)) {
      PersistUpTo(req.flush_barrier);
    }
    if (req.write >= 0) ApplyWrite(req, (req.bio->flags & kBioFua) || !config_.write_cache);
    reached.erase(reached.begin() + static_cast<long>(i));
  }
  // Each write with versions still in the cache: lost, whole, or torn,
  // decided in submission order, its sectors in ascending order.
  std::vector<int32_t> order = cached_writes_;
  std::sort(order.begin(), order.end());
  std::vector<std::pair<uint64_t, int32_t>> winners;  // sector, surviving write
  std::vector<uint64_t> sectors;
  for (int32_t index : order) {
    WriteRecord& w = writes_[index];
    sectors.clear();
    for (uint64_t k = 0; k < w.sectors; ++k) {
      if (InCache(*Find(w.sector + k), index)) sectors.push_back(w.sector + k);
    }
    if (sectors.empty()) continue;
    uint64_t fate = sched_.Choose(3, "power_cut_fate");  // 0 lost, 1 whole, 2 torn
    w.survived.assign(w.sectors, false);
    for (uint64_t sector : sectors) {
      bool keep = fate == 1 || (fate == 2 && sched_.Choose(2, "torn_sector") == 1);
      if (!keep) continue;
      w.survived[sector - w.sector] = true;
      winners.push_back({sector, index});
    }
    bool all = std::all_of(sectors.begin(), sectors.end(),
                           [&](uint64_t s) { return w.survived[s - w.sector]; });
    bool none = std::none_of(sectors.begin(), sectors.end(),
                             [&](uint64_t s) { return w.survived[s - w.sector]; });
    w.fate = none ? WriteFate::kLost : all ? WriteFate::kDurable : WriteFate::kTorn;
  }
  // Per sector the newest surviving version wins (MakeDurable keeps the
  // newest completion whatever the order).
  for (const auto& [sector, index] : winners) MakeDurable(sector, index);
  for (int32_t index : cached_writes_) {
    const WriteRecord& w = writes_[index];
    for (uint64_t k = 0; k < w.sectors; ++k) Slot(w.sector + k).cached = -1;
  }
  cached_writes_.clear();
  for (WriteRecord& w : writes_) {
    if (w.fate == WriteFate::kCached) w.fate = WriteFate::kSuperseded;
  }
  // In-flight bios end with an error: the device is gone.
  std::vector<std::shared_ptr<Request>> dropped;
  dropped.swap(pending_);
  in_flight_ = 0;
  for (const auto& req : dropped) CompleteNow(req->bio, BlkStatus::kIoError);
  queue_wait_->WakeUp();
}

void BlockDevice::Restart() {
  dead_ = false;
  failed_ = false;
}

void BlockDevice::LoadDurableImage(const BlockDevice& from, uint64_t first, uint64_t sectors) {
  FSIM_CHECK(writes_.empty() && media_sectors_ == 0 && cached_writes_.empty());
  FSIM_CHECK(from.config_.sector_size == config_.sector_size &&
             from.config_.capacity_sectors == config_.capacity_sectors);
  // One synthetic durable write per run of durable sectors carries the
  // image (accounting stays whole: VerifyImage replays them like any
  // other), so a remount costs what was written, not the device's size.
  const uint64_t ss = config_.sector_size;
  const uint64_t end = std::min(from.leaves_.size() * kLeafSectors,
                                sectors > ~uint64_t{0} - first ? ~uint64_t{0} : first + sectors);
  for (uint64_t sector = first; sector < end;) {
    const Sector* s = from.Find(sector);
    if (s == nullptr) {
      sector = (sector / kLeafSectors + 1) * kLeafSectors;
      continue;
    }
    if (s->media < 0) {
      ++sector;
      continue;
    }
    uint64_t run = sector;
    for (const Sector* t; run < end && (t = from.Find(run)) != nullptr && t->media >= 0;) ++run;
    WriteRecord record;
    record.seq = ++next_seq_;
    record.completion = ++completions_;
    record.fate = WriteFate::kDurable;
    record.sector = sector;
    record.sectors = run - sector;
    record.data = data_.Allocate(record.sectors * ss);
    from.ReadSectors(sector, record.sectors, record.data.data(), true);
    const auto index = static_cast<int32_t>(writes_.size());
    writes_.push_back(std::move(record));
    for (uint64_t k = sector; k < run; ++k) MakeDurable(k, index);
    sector = run;
  }
}

void BlockDevice::ReadSectors(uint64_t sector, uint64_t count, uint8_t* out, bool durable) const {
  const uint64_t ss = config_.sector_size;
  // Sectors that come from one write's contiguous bytes (or are all never
  // written) are copied as one run.
  const uint8_t* run_src = nullptr;
  uint64_t run_start = 0, run_len = 0;
  auto flush = [&] {
    if (run_len == 0) return;
    if (run_src) {
      std::memcpy(out + run_start * ss, run_src, run_len * ss);
    } else {
      std::memset(out + run_start * ss, 0, run_len * ss);  // never written
    }
  };
  for (uint64_t k = 0; k < count; ++k) {
    const int32_t write = Version(sector + k, durable);
    const uint8_t* src = write >= 0 ? Data(write, sector + k) : nullptr;
    const bool extends = run_len > 0 && (run_src == nullptr ? src == nullptr
                                                            : src == run_src + run_len * ss);
    if (!extends) {
      flush();
      run_src = src;
      run_start = k;
      run_len = 0;
    }
    ++run_len;
  }
  flush();
}

bool BlockDevice::VerifyImage(std::string* why) const {
  // Replay, in completion order, every sector whose write reached the
  // media; the newest wins. It must equal the durable image.
  const uint64_t ss = config_.sector_size;
  std::vector<const WriteRecord*> order;
  for (const WriteRecord& w : writes_) {
    if (w.fate == WriteFate::kDurable || w.fate == WriteFate::kTorn ||
        w.fate == WriteFate::kSuperseded) {
      order.push_back(&w);
    }
  }
  std::sort(order.begin(), order.end(),
            [](const WriteRecord* a, const WriteRecord* b) { return a->completion < b->completion; });
  std::map<uint64_t, const uint8_t*> expected;
  for (const WriteRecord* w : order) {
    if (w->fate == WriteFate::kSuperseded) continue;  // replaced before persisting
    for (uint64_t k = 0; k < w->sectors; ++k) {
      if (w->fate == WriteFate::kTorn && !w->survived[k]) continue;
      expected[w->sector + k] = w->data.data() + k * ss;
    }
  }
  std::vector<uint8_t> got(ss);
  std::vector<uint8_t> zero(ss, 0);
  for (uint64_t sector = 0; sector < leaves_.size() * kLeafSectors; ++sector) {
    const Sector* s = Find(sector);
    if (s != nullptr && s->media >= 0 && !expected.count(sector)) expected[sector] = zero.data();
  }
  for (const auto& [sector, want] : expected) {
    ReadSectors(sector, 1, got.data(), true);
    if (std::memcmp(got.data(), want, ss) != 0) {
      *why = config_.name + ": sector " + std::to_string(sector) +
             " differs from the replay of the writes' fates";
      return false;
    }
  }
  return true;
}

BlockArray::BlockArray(Scheduler& sched, const std::vector<DeviceConfig>& configs) {
  for (const DeviceConfig& c : configs) devices_.push_back(std::make_unique<BlockDevice>(sched, c));
}

void BlockArray::PowerCut() {
  for (auto& d : devices_) d->PowerCut();
}

void BlockArray::Restart() {
  for (auto& d : devices_) d->Restart();
}

}  // namespace fsim::sim
