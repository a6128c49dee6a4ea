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
// - Completion as v5.13 chains it: iomap_chain_bio() bio_chain()s the full
//   bio to the new one (its bi_private becomes the new bio, its end_io
//   bio_chain_endio, the new bio's __bi_remaining one more) and takes a
//   reference for iomap_finish_ioend(); only the last bio (io_bio) has the
//   ioend as bi_private. When the last bio and every child have completed
//   (in interrupt context), iomap_finish_ioend() runs the filesystem's
//   EndIoend (btrfs accounts its ordered extents there), ends each page's
//   writeback, and walks the chain by bi_private, putting each bio. Bios
//   and ioends live in sim::Heap: a bio or ioend used after it was freed,
//   a bi_private read as the wrong type, are reported where they happen.
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

using sim::kBioMaxVecs;  // BIO_MAX_VECS

// A ->map_blocks return value (fsim): the filesystem cannot map the page
// now (the RFC's best-effort extent lock failed); iomap redirties the page
// and unlocks it, as btrfs's writepage did under PF_MEMALLOC.
inline constexpr int kIomapRedirty = 1;
// ->map_blocks took the page (still locked, its dirty bit cleared) for
// I/O the filesystem starts itself, as btrfs's writepage_delalloc() does
// for a range handed to the async compression workers (page_started):
// iomap neither adds it to an ioend nor unlocks it.
inline constexpr int kIomapPageStarted = 2;

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
  // The chain, first (io_inline_bio) to last (io_bio): bios live in
  // sim::Heap, each put by iomap_finish_ioend (and a chained one also by
  // bio_chain_endio, after iomap_chain_bio's bio_get).
  std::vector<sim::Bio*> bios;
  size_t submitted = 0;     // bios handed to the filesystem so far
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
  // An injectable mistake (FsConfig::bug_chained_bio_double_submit): the
  // bio iomap_chain_bio() fills is also handed to the hook a second time.
  virtual bool DoubleSubmitChained() const { return false; }
  // All I/O of `ioend` is done (interrupt context), before its pages end
  // writeback.
  virtual void EndIoend(Ioend& ioend) { (void)ioend; }
  // BIO_MAX_VECS for this filesystem's bios (FsConfig::bio_max_vecs).
  virtual size_t BioMaxVecs() const { return kBioMaxVecs; }
  // Bug flag chain_endio_drops_inherited_error.
  virtual bool ChainEndioDropsInheritedError() const { return false; }
  // A failed write also clears the page's PG_uptodate, as v5.13 btrfs's
  // own end_extent_writepage() does (the legacy order: its pages are then
  // read from the disk again); iomap_finish_page_writeback() leaves it.
  virtual bool ClearUptodateOnWriteError() const { return false; }
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
  // An injectable mistake (FsConfig::bug_writepage_skips_eof_zeroing): the
  // page straddling EOF goes to disk without its part past EOF zeroed.
  bool skip_eof_zeroing = false;
  // Injected mistake: a ->map_blocks error is returned without
  // mapping_set_error() (see bug_writepage_error_not_in_mapping).
  bool skip_mapping_set_error = false;

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
  static void BioEndio(sim::Scheduler& sched, IomapWritebackOps* ops, sim::Bio& bio);
  static void FinishIoend(sim::Scheduler& sched, IomapWritebackOps* ops, sim::Bio& last);

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
