// iomap's buffered writeback (fs/iomap/buffered-io.c, v5.13): the path
// the RFC moves btrfs onto.
//
// - IomapDoWritepage() is iomap_do_writepage(): it refuses (WARN, then
//   redirties) when called from direct reclaim (PF_MEMALLOC without
//   PF_KSWAPD), redirties a page wholly past EOF, zeroes the tail of the
//   page straddling EOF, and maps the page: ->map_blocks for every block
//   (the filesystem validates the mapping it cached in the context), then
//   iomap_add_to_ioend().
// - iomap_add_to_ioend() keeps adding to the current ioend while the type,
//   the file offset and the disk sector are contiguous; iomap knows nothing
//   of btrfs chunks or stripes, so an ioend (and its bio) can run past the
//   end of the mapping that btrfs's map_blocks returned, which is the
//   RFC's "iomap merges bios past the extent map's mapped length".
//   A bio holds at most kBioMaxVecs pages; a full one is chained to a new
//   one and submitted. The ioend stays open across pages and calls.
// - fsim adds kIomapFBoundary: a mapping flagged so must not be merged
//   past its end (the fix the RFC needed; later kernels grew the same
//   idea). Without the flag, behaviour is v5.13's.
// - Completion: when every bio of an ioend has completed (in interrupt
//   context), each page ends writeback and the filesystem's EndIoend runs
//   (btrfs accounts its ordered extents there).
//
// Locking rules: IomapDoWritepage is called with the page locked and
// unlocks it. Completion runs in interrupt context.
#ifndef FSIM_FS_IOMAP_BUFFERED_IO_H_
#define FSIM_FS_IOMAP_BUFFERED_IO_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "fs/mm/page_cache.h"
#include "sim/block.h"
#include "sim/scheduler.h"

namespace fsim::fs {

inline constexpr size_t kBioMaxVecs = 256;  // BIO_MAX_VECS

// A ->map_blocks return value (fsim): the filesystem cannot map the page
// now (the RFC's best-effort extent lock failed); iomap redirties the page
// and unlocks it, as btrfs's writepage did under PF_MEMALLOC.
inline constexpr int kIomapRedirty = 1;

enum class IomapType { kHole, kDelalloc, kMapped, kUnwritten, kInline };

enum IomapFlags : uint32_t {
  kIomapFNew = 1u << 0,
  kIomapFShared = 1u << 1,
  kIomapFBoundary = 1u << 2,  // fsim: no bio may cross this mapping's end
};

struct Iomap {
  uint64_t addr = 0;    // disk address (bytes, logical) of `offset`
  uint64_t offset = 0;  // file offset
  uint64_t length = 0;
  IomapType type = IomapType::kHole;
  uint32_t flags = 0;
  bool Covers(uint64_t pos) const { return pos >= offset && pos < offset + length; }
};

struct Ioend {
  IomapType type = IomapType::kMapped;
  uint32_t flags = 0;
  uint64_t offset = 0;      // file offset
  uint64_t size = 0;        // bytes
  uint64_t boundary = ~uint64_t{0};  // file offset it may not grow past
  std::vector<std::unique_ptr<sim::Bio>> bios;  // the chain
  size_t submitted = 0;     // bios handed to the filesystem so far
  int pending = 0;          // bios submitted and not completed
  bool error = false;
  std::vector<Page*> pages;
};

class IomapWritepageCtx;

// What the filesystem plugs into iomap writeback (iomap_writeback_ops,
// plus the RFC's submit hook).
class IomapWritebackOps {
 public:
  virtual ~IomapWritebackOps() = default;
  // ->map_blocks: make wpc.iomap cover `offset`. REQUIRES: the page is
  // locked. Returns 0 or a negative errno.
  virtual int MapBlocks(IomapWritepageCtx& wpc, uint64_t offset) = 0;
  // Submits one bio of `ioend` (bio->sector is a logical disk address in
  // 512-byte units). The bio's end_io is set; the fs must call it once.
  virtual void SubmitBio(Ioend& ioend, sim::Bio* bio) = 0;
  // All I/O of `ioend` is done (interrupt context), before its pages end
  // writeback.
  virtual void EndIoend(Ioend& ioend) { (void)ioend; }
};

class IomapWritepageCtx {
 public:
  IomapWritepageCtx(sim::Scheduler& sched, IomapWritebackOps& ops) : sched_(sched), ops_(ops) {}
  ~IomapWritepageCtx();

  Iomap iomap;
  // The pass being written, while DoWritepage runs (->map_blocks may size
  // its mapping by what the pass will still write); null otherwise.
  const WritebackControl* wbc = nullptr;
  // Set by iomap_writepages (a whole pass), not by a single ->writepage:
  // ->map_blocks may then map the dirty range past the page.
  bool whole_pass = false;
  // An injectable mistake (FsConfig::bug_writeback_past_eof_after_truncate):
  // a page wholly past EOF is written like any other instead of redirtied.
  bool write_past_eof = false;

  // iomap_do_writepage(). REQUIRES: `page` locked, its dirty bit cleared
  // for I/O (write_cache_pages does both). Unlocks it.
  int DoWritepage(Page& page, WritebackControl& wbc, uint64_t i_size);
  // iomap_writepages(): write_cache_pages over `mapping` with
  // DoWritepage, then submits the ioend left open.
  int Writepages(AddressSpace& mapping, WritebackControl& wbc, uint64_t i_size);
  // Submits the ioend left open (the end of iomap_writepage[s]).
  void SubmitPending();

  // Ioends built so far (for tests).
  uint64_t ioends() const { return ioends_; }
  // Pages written although wholly past EOF (only with write_past_eof).
  uint64_t past_eof_pages() const { return past_eof_pages_; }

 private:
  void AddToIoend(Page& page, uint64_t offset, uint64_t len, std::vector<Ioend*>* submit);
  bool CanAdd(uint64_t offset, uint64_t sector) const;
  void Submit(Ioend* ioend);
  void SubmitBio(Ioend* ioend, size_t index);
  void BioDone(Ioend* ioend, sim::Bio& bio);

  sim::Scheduler& sched_;
  IomapWritebackOps& ops_;
  // The open ioend. Ioends live in sim::Heap from allocation until their
  // last bio completes, so a completion through a stale pointer is seen.
  Ioend* ioend_ = nullptr;
  uint64_t ioends_ = 0;
  uint64_t past_eof_pages_ = 0;
};

}  // namespace fsim::fs

#endif  // FSIM_FS_IOMAP_BUFFERED_IO_H_
