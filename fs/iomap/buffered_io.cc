#include "fs/iomap/buffered_io.h"

#include "sim/check.h"
#include "sim/heap.h"
#include "sim/lockdep.h"

namespace fsim::fs {
namespace {

constexpr uint64_t kSector = 512;

void Warn(sim::Scheduler& s, const std::string& signature, const std::string& report) {
  sim::Finding f;
  f.kind = sim::FindingKind::kWarn;
  f.signature = signature;
  f.report = report;
  s.Report(std::move(f));
}

uint64_t BioEndSector(const sim::Bio& bio) { return bio.sector + bio.size() / kSector; }

}  // namespace

IomapWritepageCtx::~IomapWritepageCtx() {
  // An ioend left open is a writeback that was never submitted: its pages
  // would stay under writeback forever.
  if (ioend_ != nullptr && !sched_.unwinding()) {
    Warn(sched_, "warn:iomap:ioend_not_submitted",
         "WARNING: iomap writepage context destroyed with an ioend never submitted");
  }
}

int IomapWritepageCtx::Writepages(AddressSpace& mapping, WritebackControl& wbc, uint64_t i_size) {
  whole_pass = true;
  int ret = mapping.WriteCachePages(
      wbc, [&](Page& page, WritebackControl& w) { return DoWritepage(page, w, i_size); });
  SubmitPending();
  return ret;
}

int IomapWritepageCtx::DoWritepage(Page& page, WritebackControl& wbc, uint64_t i_size) {
  const sim::Fiber& f = sched_.current_fiber();
  auto redirty = [&] {
    RedirtyPageForWritepage(wbc, page);
    UnlockPage(page);
    return 0;
  };
  // Direct reclaim must not write (stack depth); kswapd may.
  if (f.memalloc && !f.kswapd) {
    Warn(sched_, "warn:iomap_do_writepage:direct_reclaim",
         "WARNING: CPU: 0 PID: 0 at fs/iomap/buffered-io.c iomap_do_writepage\n"
         "  called from direct reclaim (PF_MEMALLOC without PF_KSWAPD) by fiber '" +
             std::string(f.name) + "'");
    return redirty();
  }
  uint64_t end_index = i_size >> kPageShift;
  uint64_t end_offset;
  if (page.index() < end_index) {
    end_offset = page.offset() + kPageSize;
  } else {
    uint64_t into_page = i_size & (kPageSize - 1);
    if (page.index() > end_index || into_page == 0) {
      // Wholly past EOF: truncate will take it; do not write it.
      if (!write_past_eof) return redirty();
      ++past_eof_pages_;
      end_offset = page.offset() + kPageSize;
    } else {
      // Straddling EOF: what lies past EOF must be zeroes on disk.
      ZeroUserSegment(page, into_page, kPageSize);
      end_offset = i_size;
    }
  }
  // iomap_writepage_map(): one block per page (blocksize == PAGE_SIZE).
  std::vector<Ioend*> submit;
  int error = 0;
  int count = 0;
  uint64_t offset = page.offset();
  if (PageUptodate(page) && offset < end_offset) {
    // v5.13 calls ->map_blocks for every block: the filesystem decides
    // whether the mapping it cached is still valid (a page written by
    // another pass and dirtied again since belongs to no extent yet).
    this->wbc = &wbc;
    error = ops_.MapBlocks(*this, offset);
    this->wbc = nullptr;
    if (error == kIomapRedirty) {
      for (Ioend* ioend : submit) Submit(ioend);
      return redirty();
    }
    if (error == 0 && iomap.type != IomapType::kHole) {
      AddToIoend(page, offset, kPageSize, &submit);
      ++count;
    }
  }
  if (error != 0 && count == 0) {
    ClearPageUptodate(page);
    UnlockPage(page);
  } else {
    SetPageWriteback(page);
    UnlockPage(page);
    if (count == 0) EndPageWriteback(page);  // nothing to write after all
  }
  for (Ioend* ioend : submit) Submit(ioend);
  return error;
}

bool IomapWritepageCtx::CanAdd(uint64_t offset, uint64_t sector) const {
  // iomap_can_add_to_ioend(), v5.13: only contiguity; nothing about the
  // filesystem's chunks or stripes.
  if ((iomap.flags & kIomapFShared) != (ioend_->flags & kIomapFShared)) return false;
  if (iomap.type != ioend_->type) return false;
  if (offset != ioend_->offset + ioend_->size) return false;
  if (sector != BioEndSector(*ioend_->bios.back())) return false;
  return offset < ioend_->boundary;
}

void IomapWritepageCtx::AddToIoend(Page& page, uint64_t offset, uint64_t len,
                                   std::vector<Ioend*>* submit) {
  const uint64_t sector = (iomap.addr + (offset - iomap.offset)) / kSector;
  if (ioend_ == nullptr || !CanAdd(offset, sector)) {
    if (ioend_ != nullptr) submit->push_back(ioend_);
    ioend_ = sim::Heap::Of(sched_).New<Ioend>();
    ++ioends_;
    ioend_->type = iomap.type;
    ioend_->flags = iomap.flags;
    ioend_->offset = offset;
    auto bio = std::make_unique<sim::Bio>();
    bio->op = sim::BioOp::kWrite;
    bio->sector = sector;
    ioend_->bios.push_back(std::move(bio));
  }
  if (iomap.flags & kIomapFBoundary) ioend_->boundary = iomap.offset + iomap.length;
  sim::Bio* bio = ioend_->bios.back().get();
  if (bio->vecs.size() >= kBioMaxVecs) {
    // iomap_chain_bio(): a new bio continues the ioend; the full one goes
    // out now.
    auto next = std::make_unique<sim::Bio>();
    next->op = sim::BioOp::kWrite;
    next->sector = BioEndSector(*bio);
    ioend_->bios.push_back(std::move(next));
    SubmitBio(ioend_, ioend_->bios.size() - 2);
    bio = ioend_->bios.back().get();
  }
  bio->vecs.push_back({page.data.data() + (offset - page.offset()), static_cast<uint32_t>(len)});
  ioend_->size += len;
  ioend_->pages.push_back(&page);
}

void IomapWritepageCtx::SubmitPending() {
  if (ioend_ == nullptr) return;
  Ioend* ioend = ioend_;
  ioend_ = nullptr;
  Submit(ioend);
}

void IomapWritepageCtx::Submit(Ioend* ioend) {
  for (size_t i = ioend->submitted; i < ioend->bios.size(); ++i) SubmitBio(ioend, i);
}

void IomapWritepageCtx::SubmitBio(Ioend* ioend, size_t index) {
  FSIM_CHECK(index == ioend->submitted);
  ++ioend->submitted;
  ++ioend->pending;
  sim::Bio* bio = ioend->bios[index].get();
  // The callback may outlive this context: it captures only the ioend,
  // the ops and the scheduler.
  IomapWritebackOps* ops = &ops_;
  sim::Scheduler* sched = &sched_;
  bio->end_io = [ioend, ops, sched](sim::Bio& done) {
    if (done.status != sim::BlkStatus::kOk) ioend->error = true;
    if (--ioend->pending > 0 || ioend->submitted < ioend->bios.size()) return;
    // iomap_finish_ioend(): the filesystem first, then the pages.
    ops->EndIoend(*ioend);
    // iomap_finish_page_writeback(): an error marks the page and the
    // mapping (mapping_set_error), where fsync and fdatawait find it.
    for (Page* page : ioend->pages) {
      if (ioend->error) {
        SetPageError(*page);
        if (page->mapping() != nullptr) page->mapping()->SetError(-kEio);
      }
      EndPageWriteback(*page);
    }
    sim::Heap::Of(*sched).Delete(ioend);
  };
  ops_.SubmitBio(*ioend, bio);
}

}  // namespace fsim::fs
