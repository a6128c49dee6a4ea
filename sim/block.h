// Simulated block devices (the block layer below a filesystem): bios,
// a bounded request queue, completion out of order in interrupt context
// after latencies chosen through the Chooser, a volatile write cache with
// flush/FUA, power cuts that decide what survives, injected faults, and
// byte-for-byte accounting of what was written.
//
// Model:
// - SubmitBio() (process context, may sleep while the queue is full) gives
//   each request a latency, min + k * step for k chosen through the
//   Chooser, and completes it at that virtual time in a new interrupt-
//   context fiber: the device applies the bio (reads fill the bio's
//   pages; writes take the pages' contents at that moment) and calls
//   end_io with the status. Requests with different latencies complete out
//   of order; equal ones are ordered by the scheduler's choice.
// - A completed write sits in the volatile write cache: reads see it, a
//   power cut may lose it. FUA makes one write durable at completion; a
//   flush (or PREFLUSH) makes durable every write that had completed when
//   it was submitted. The cache is coherent: per sector, a newer version
//   replaces an older one.
// - PowerCut(): in-flight requests end with an I/O error; each was
//   carried out by the device or not and, if several were, in an order
//   the Chooser picks; one carried out is carried out whole (its PREFLUSH
//   first, its FUA to the media). Then
//   each non-durable write is lost, survives whole, or is torn (each of its
//   sectors survives or not), all through the Chooser. Per sector the
//   newest surviving version wins, over the durable one. The image left is
//   what a remount reads (Restart()).
// - Faults are enabled per device (scenario configuration) and decided
//   through the Chooser: I/O errors on a bio, the device failing for good
//   (every later bio errors), latency spikes, silent corruption (bit rot:
//   a data read finds a sector flipped since written, and completes
//   without error). A bio larger than the
//   device's max_sectors is refused with a WARN finding, never split.
//
// Invariants (checked by VerifyImage): the durable image equals the
// replay of every write's recorded fate (durable, lost, torn) onto zeros.
//
// Locking rules: none (single-threaded simulation). end_io runs in
// interrupt context: it must not sleep.
#ifndef FSIM_SIM_BLOCK_H_
#define FSIM_SIM_BLOCK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "sim/byte_arena.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace fsim::sim {

enum class BioOp : uint8_t { kRead, kWrite, kFlush, kDiscard };
enum BioFlags : uint32_t {
  kBioFua = 1u << 0,       // REQ_FUA: durable when complete
  kBioPreflush = 1u << 1,  // REQ_PREFLUSH: flush the cache before this bio
  kBioMeta = 1u << 2,      // REQ_META: metadata I/O (never hit by fault_bitrot)
};
enum class BlkStatus : uint8_t { kOk, kIoError };
const char* BioOpName(BioOp op);
const char* BlkStatusName(BlkStatus status);

// One segment of a bio: a page (or part of one) of the caller's memory.
// `buf`/`buf_len`, when set, name the memory object the segment belongs
// to (its page, or the owner's buffer standing for an array of pages): a
// segment that reaches outside it is reported at submit_bio, KASAN's
// slab-out-of-bounds on the bio's memory, before the device touches a
// byte of it. Segments cut from a segment keep its object.
struct BioVec {
  uint8_t* data;
  uint32_t len;
  const uint8_t* buf = nullptr;
  uint64_t buf_len = 0;

  // The segment [offset, offset + len) of `object` (of `object_len` bytes).
  static BioVec In(uint8_t* object, uint64_t object_len, uint64_t offset, uint64_t len) {
    return BioVec{object + offset, static_cast<uint32_t>(len), object, object_len};
  }
  // `n` bytes of this segment from `skip` on, in the same object.
  BioVec Sub(uint64_t skip, uint64_t n) const {
    return BioVec{data + skip, static_cast<uint32_t>(n), buf, buf_len};
  }
};

// BIO_MAX_VECS (include/linux/bio.h): the most vecs bio_add_page() puts in
// one bio.
inline constexpr size_t kBioMaxVecs = 256;

struct Bio {
  BioOp op = BioOp::kRead;
  uint32_t flags = 0;
  uint64_t sector = 0;  // in the device's sectors
  std::vector<BioVec> vecs;
  BlkStatus status = BlkStatus::kOk;
  // bi_end_io: called once, in interrupt context, when the bio completes.
  std::function<void(Bio&)> end_io;
  void* private_data = nullptr;  // bi_private
  // What bi_private points at, in the owner's terms (C would just cast:
  // fsim keeps the type so that reading it as the wrong one is seen).
  uint32_t private_tag = 0;
  // The structure this bio is embedded in (what container_of may take of
  // it), in the allocator's terms; 0: none.
  uint32_t container = 0;
  int remaining = 1;         // __bi_remaining: bio_chain()ed children + 1
  int refs = 1;              // bi_cnt
  bool chain_error = false;  // a chained child failed (bio_chain_endio)

  uint64_t size() const;
};

struct DeviceConfig {
  std::string name = "sda";
  uint32_t sector_size = 512;
  uint64_t capacity_sectors = 2048;
  uint32_t queue_depth = 4;      // requests in flight at most
  uint32_t max_sectors = 256;    // largest bio the device accepts
  uint64_t latency_ns_min = 10'000;
  uint64_t latency_ns_max = 100'000;
  uint32_t latency_choices = 3;  // distinct latencies between min and max
  bool write_cache = true;       // false: every write is durable at completion
  // Faults, each decided through the Chooser when enabled.
  bool fault_io_errors = false;
  bool fault_device_failure = false;
  bool fault_latency_spikes = false;
  // One request fails, any of the first io_error_window the device
  // completes (the k-th, k drawn at its first completion), and no other:
  // where fault_io_errors fails each request with even odds, so that a
  // failure after n good requests has odds 2^-n, this reaches a failure
  // deep in a run (a checkpoint's write after a dozen commits) as often
  // as the first request's.
  bool fault_io_error_once = false;
  // The same among reads only (an unreadable sector: writes succeed), the
  // k-th read the device completes.
  bool fault_read_error_once = false;
  uint32_t io_error_window = 128;  // k's range, for both
  // Silent corruption: a data read (not REQ_META) may find one sector,
  // at most one per run, with a bit flipped since it was written. The
  // read completes without error; the flip stays for as long as that
  // write is what the sector holds (until the sector is rewritten). The
  // device's own view of what was written (ReadSectors) never shows it.
  bool fault_bitrot = false;
  uint64_t latency_spike_ns = 5'000'000;

  // Whether requests may fail by design (io_errors, io_error_once,
  // read_error_once, device_failure): bitrot and latency spikes fail none.
  bool FailsIo() const {
    return fault_io_errors || fault_io_error_once || fault_read_error_once || fault_device_failure;
  }
  // Every fault off: the same device, healthy.
  void ClearFaults() {
    fault_io_errors = fault_io_error_once = fault_read_error_once = fault_device_failure =
        fault_latency_spikes = fault_bitrot = false;
  }
};

// A sector silently corrupted by fault_bitrot.
struct BitRot {
  uint64_t sector;
  int32_t write;      // the write whose copy of the sector it corrupted
  uint64_t read_seq;  // the read that found it (its submission number)
};

// What became of one write (for accounting and VerifyImage).
enum class WriteFate : uint8_t {
  kInFlight,    // submitted, not completed
  kCached,      // completed into the volatile cache
  kDurable,     // on the media (FUA, flush, or survived a power cut whole)
  kLost,        // a power cut lost all of it
  kTorn,        // a power cut kept some of its sectors (`survived`)
  kFailed,      // completed with an I/O error: nothing written
  kSuperseded,  // every sector replaced by a newer durable write before
                // it could be persisted
};
const char* WriteFateName(WriteFate fate);

struct WriteRecord {
  uint64_t seq;         // submission order
  uint64_t sector;
  uint64_t sectors;
  WriteFate fate;
  uint64_t completion = 0;     // completion order, once completed
  std::vector<bool> survived;  // per sector, for kTorn
  std::span<uint8_t> data;     // what was written, once completed (in the device's arena)
};

struct DeviceStats {
  uint64_t bios = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
  uint64_t write_errors = 0;  // of them, writes and flushes (not reads)
  uint64_t max_in_flight = 0;
};

class BlockDevice {
 public:
  using Where = std::source_location;

  BlockDevice(Scheduler& sched, DeviceConfig config);
  ~BlockDevice();
  BlockDevice(const BlockDevice&) = delete;
  BlockDevice& operator=(const BlockDevice&) = delete;

  // submit_bio(). REQUIRES: process context (may sleep while the queue is
  // full); `bio` and its pages live until end_io has run. Completes with
  // kIoError, asynchronously, a bio past the device's end, any bio of a
  // dead or failed device, and (with a WARN finding) a bio larger than
  // max_sectors.
  void SubmitBio(Bio* bio, Where where = Where::current());
  // submit_bio_wait(): submits and sleeps until completion. `bio.end_io`
  // must be empty. Returns the status.
  BlkStatus SubmitBioWait(Bio& bio, Where where = Where::current());

  // Power loss: see the file comment. Afterwards every bio fails until
  // Restart(). REQUIRES: in a fiber (decisions go through the Chooser).
  void PowerCut();
  // The machine comes back: the volatile cache is empty, the image is the
  // durable one, the device accepts bios again.
  void Restart();
  // A remount's view of another device: this (fresh) device's media
  // becomes `from`'s durable image. REQUIRES: same geometry, nothing
  // written to this device yet. With `sectors`, only [first, first +
  // sectors) is loaded (a mount that reads only its metadata area); the
  // rest reads as never written.
  void LoadDurableImage(const BlockDevice& from, uint64_t first = 0,
                        uint64_t sectors = ~uint64_t{0});

  // Copies `count` sectors from `sector` into `out`: the durable image, or
  // the current view (cache over media) if !durable.
  void ReadSectors(uint64_t sector, uint64_t count, uint8_t* out, bool durable) const;
  // Replays every write's fate onto zeros and compares with the durable
  // image; on mismatch sets `why` to the first differing sector.
  bool VerifyImage(std::string* why) const;

  // The sector fault_bitrot corrupted, if it still holds the corrupted
  // write in the current view (cache over media): nobody rewrote it.
  std::optional<BitRot> StandingRot() const;

  const DeviceConfig& config() const { return config_; }
  const DeviceStats& stats() const { return stats_; }
  const std::vector<WriteRecord>& writes() const { return writes_; }
  // The newest write to [sector, +sectors) that has completed (any fate
  // but in flight), or null if none has.
  const WriteRecord* NewestCompletedWrite(uint64_t sector, uint64_t sectors) const;
  // Whether the newest completed write to [sector, +sectors) is still
  // only in the volatile cache although a flush (or PREFLUSH) submitted
  // after it completed has failed: the write succeeded, and its copy is
  // not durable because the barrier that should have made it so did not
  // (v5.13's barrier_all_devices tolerates that device's failed flush
  // when the array is still rw-degradable).
  bool LostToFailedFlush(uint64_t sector, uint64_t sectors) const;
  uint32_t in_flight() const { return in_flight_; }
  bool dead() const { return dead_; }

 private:
  struct Request;
  // One sector's state: the write whose data is durable on the media, and
  // the newest completed write still in the volatile cache (valid only if
  // it completed after the durable one: the cache is coherent).
  struct Sector {
    int32_t media = -1;   // index in writes_, -1: never written (zeros)
    int32_t cached = -1;  // index in writes_, -1: none
  };
  static constexpr uint64_t kLeafSectors = 64;
  struct Leaf {
    Sector sectors[kLeafSectors];
  };

  void Complete(const std::shared_ptr<Request>& req);
  // fault_bitrot on a completed data read of [sector, sector + count)
  // whose bytes are in `buf`: may corrupt one sector first; then shows
  // the corruption if it is in range and still standing.
  void BitRotRead(const Request& req, uint64_t count, uint8_t* buf);
  // The write the sector holds: in the durable image, or the current
  // view. -1: never written.
  int32_t Version(uint64_t sector, bool durable) const;
  // Fails (or ends) `bio` at once; `poison`: a failed read's buffers get
  // garbage, as DMA would leave them.
  void CompleteNow(Bio* bio, BlkStatus status, bool poison = true);
  void ReportOutOfBounds(const Bio& bio, const BioVec& v, Where where);
  void ApplyWrite(Request& req, bool durable);
  void PersistUpTo(uint64_t completion);
  // The sector's state, allocated on first write (nullptr: never written).
  Sector* Find(uint64_t sector) const;
  // The race detector's object for submission -> completion edges.
  uint64_t CompletionKey() const;
  Sector& Slot(uint64_t sector);
  uint64_t MediaCompletion(const Sector& s) const {
    return s.media < 0 ? 0 : writes_[s.media].completion;
  }
  // True if `write` is still in the cache at `s`.
  bool InCache(const Sector& s, int32_t write) const {
    return writes_[write].completion > MediaCompletion(s);
  }
  const uint8_t* Data(int32_t write, uint64_t sector) const;
  // Makes `write`'s copy of `sector` durable, if newer than the media's.
  void MakeDurable(uint64_t sector, int32_t write);
  void Warn(const std::string& signature, const std::string& report);

  Scheduler& sched_;
  DeviceConfig config_;
  DeviceStats stats_;
  std::unique_ptr<WaitQueue> queue_wait_;
  uint32_t in_flight_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t completions_ = 0;  // completion counter (orders the cache)
  // The largest flush barrier (completions_ at submission) of a flush or
  // PREFLUSH that failed; 0 if none did.
  uint64_t failed_flush_barrier_ = 0;
  uint64_t generation_ = 0;   // bumps at a power cut: stale completions
  bool dead_ = false;
  bool failed_ = false;
  // fault_io_error_once: the index of the completion that fails (-1 until
  // drawn), and the requests completed so far.
  int64_t error_once_at_ = -1;
  uint64_t requests_completed_ = 0;
  int64_t read_error_at_ = -1;  // fault_read_error_once: the same, among reads
  uint64_t reads_completed_ = 0;
  std::optional<BitRot> rot_;
  std::vector<std::shared_ptr<Request>> pending_;  // in flight, submission order
  // Per sector state, sparse: leaves of kLeafSectors sectors allocated on
  // first write, so a run costs what it writes, not the device's size.
  std::vector<std::unique_ptr<Leaf>> leaves_;
  uint64_t media_sectors_ = 0;  // sectors with a durable version
  // Writes completed into the volatile cache since the last power cut, in
  // completion order; a sector of one is cached while InCache() holds.
  std::vector<int32_t> cached_writes_;
  std::vector<WriteRecord> writes_;
  ByteArena data_;                 // the writes' bytes
  std::vector<uint8_t> read_buf_;  // a read's bytes before they go to its vecs
};

// Devices of different sizes and speeds under one filesystem.
class BlockArray {
 public:
  BlockArray(Scheduler& sched, const std::vector<DeviceConfig>& configs);
  size_t size() const { return devices_.size(); }
  BlockDevice& device(size_t i) { return *devices_[i]; }
  void PowerCut();
  void Restart();

 private:
  std::vector<std::unique_ptr<BlockDevice>> devices_;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_BLOCK_H_
