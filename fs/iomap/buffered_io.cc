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

// sim::Bio::private_tag of iomap's bios: what bi_private points at.
enum : uint32_t { kPrivateIoend = 1, kPrivateParentBio = 2 };
// sim::Bio::container of iomap's bios: the ioend's io_inline_bio, or a
// bio of iomap_ioend_bioset that iomap_chain_bio() allocated.
enum : uint32_t { kContainerIoend = 0x10, kContainerChained = 0x11 };

sim::Bio* NewBio(sim::Scheduler& s, uint64_t sector, uint32_t container) {
  sim::Bio* bio = sim::Heap::Of(s).New<sim::Bio>();
  bio->op = sim::BioOp::kWrite;
  bio->sector = sector;
  bio->container = container;
  return bio;
}

// bio_put(): the last reference frees the bio.
void BioPut(sim::Scheduler& s, sim::Bio* bio) {
  sim::Heap& heap = sim::Heap::Of(s);
  if (heap.IsFreed(bio)) return heap.ReportUseAfterFree(bio, "bio_put");
  if (--bio->refs == 0) heap.Delete(bio);
}

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
      // Straddling EOF: what lies past EOF must be zeroes on disk (a
      // store through mmap may have left bytes there).
      if (!skip_eof_zeroing) ZeroUserSegment(page, into_page, kPageSize);
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
    if (error == kIomapPageStarted) {
      for (Ioend* ioend : submit) Submit(ioend);
      return 0;
    }
    if (error == 0 && iomap.type != IomapType::kHole) {
      AddToIoend(page, offset, kPageSize, &submit);
      ++count;
    }
  }
  AddressSpace* mapping = page.mapping();
  if (error != 0 && count == 0) {
    ClearPageUptodate(page);
    UnlockPage(page);
  } else {
    SetPageWriteback(page);
    UnlockPage(page);
    if (count == 0) EndPageWriteback(page);  // nothing to write after all
  }
  for (Ioend* ioend : submit) Submit(ioend);
  // done: mapping_set_error(): fsync reports it (AS_ENOSPC, AS_EIO).
  if (error != 0 && mapping != nullptr && !skip_mapping_set_error) mapping->SetError(error);
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
    ioend_->bios.push_back(NewBio(sched_, sector, kContainerIoend));
  }
  if (iomap.flags & kIomapFBoundary) ioend_->boundary = iomap.offset + iomap.length;
  sim::Bio* bio = ioend_->bios.back();
  if (bio->vecs.size() >= ops_.BioMaxVecs()) {
    // iomap_chain_bio(): a new bio continues the ioend; bio_chain(prev,
    // new) makes the full one a child of it, bio_get() keeps it for
    // iomap_finish_ioend(), and it goes out now.
    sched_.Cover("iomap:chain_bio");
    sim::Bio* next = NewBio(sched_, BioEndSector(*bio), kContainerChained);
    bio->private_data = next;
    bio->private_tag = kPrivateParentBio;
    ++next->remaining;
    ++bio->refs;
    ioend_->bios.push_back(next);
    SubmitBio(ioend_, ioend_->bios.size() - 2);
    bio = next;
  }
  bio->vecs.push_back(sim::BioVec::In(page.data.data(), page.data.size(), offset - page.offset(), len));
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
  FSIM_BUG_ON(!(index == ioend->submitted), nullptr);
  ++ioend->submitted;
  sim::Bio* bio = ioend->bios[index];
  const bool last = index + 1 == ioend->bios.size();
  if (last) {
    // iomap_submit_ioend(): only the last bio points at the ioend.
    bio->private_data = ioend;
    bio->private_tag = kPrivateIoend;
  }
  // bi_end_io: iomap_writepage_end_bio for the last, bio_chain_endio for a
  // child; both through bio_endio()'s __bi_remaining. The callback may
  // outlive this context: it captures only the ops and the scheduler.
  IomapWritebackOps* ops = &ops_;
  sim::Scheduler* sched = &sched_;
  bio->end_io = [ops, sched](sim::Bio& done) { BioEndio(*sched, ops, done); };
  ops_.SubmitBio(*ioend, bio);
  if (!last && ops_.DoubleSubmitChained()) ops_.SubmitBio(*ioend, bio);
}

// bio_endio() of an iomap writeback bio.
void IomapWritepageCtx::BioEndio(sim::Scheduler& sched, IomapWritebackOps* ops, sim::Bio& bio) {
  if (--bio.remaining > 0) return;  // bio_remaining_done()
  if (bio.private_tag == kPrivateParentBio) {
    // bio_chain_endio() -> __bio_chain_endio(): the error goes up, the
    // child is put, and the parent completes one more of its children.
    auto* parent = static_cast<sim::Bio*>(bio.private_data);
    if (sim::Heap::Of(sched).IsFreed(parent)) {
      return sim::Heap::Of(sched).ReportUseAfterFree(parent, "bio_chain_endio");
    }
    if (bio.status != sim::BlkStatus::kOk || (bio.chain_error && !ops->ChainEndioDropsInheritedError())) {
      parent->chain_error = true;
    }
    BioPut(sched, &bio);
    return BioEndio(sched, ops, *parent);
  }
  FinishIoend(sched, ops, bio);
}

// iomap_writepage_end_bio() -> iomap_finish_ioend(): the ioend is the last
// bio's bi_private.
void IomapWritepageCtx::FinishIoend(sim::Scheduler& sched, IomapWritebackOps* ops, sim::Bio& last) {
  sim::Heap& heap = sim::Heap::Of(sched);
  if (last.private_tag != kPrivateIoend) {
    // A bio whose bi_private is not an ioend, read as one: the ioend's
    // fields (its inode, the ordered tree's lock behind it) are foreign
    // memory. lockdep meets a lock whose class does not match its name:
    // the cover letter's "random WARN_ON in lockdep.c:895".
    sim::Finding f;
    f.kind = sim::FindingKind::kLockMisuse;
    f.signature = "lock_misuse:look_up_lock_class_name_mismatch";
    f.report = std::string("WARNING: CPU: 0 PID: 0 at kernel/locking/lockdep.c:895 look_up_lock_class\n") +
               "  iomap_finish_ioend: bi_private of the bio that completed is " +
               (last.private_tag == kPrivateParentBio ? "a bio (a chained child's parent)" : "not set") +
               ", read as a struct iomap_ioend: a lock in it has a class key whose name does not match";
    sched.Fail(std::move(f));
    return;
  }
  auto* ioend = static_cast<Ioend*>(last.private_data);
  if (heap.IsFreed(ioend)) return heap.ReportUseAfterFree(ioend, "iomap_finish_ioend");
  ioend->error = ioend->error || last.status != sim::BlkStatus::kOk || last.chain_error;
  // The filesystem first, then the pages.
  ops->EndIoend(*ioend);
  // iomap_finish_page_writeback(): an error marks the page and the
  // mapping (mapping_set_error), where fsync and fdatawait find it.
  // (end_extent_writepage() also clears PG_uptodate.)
  const bool clear_uptodate = ioend->error && ops->ClearUptodateOnWriteError();
  for (Page* page : ioend->pages) {
    if (ioend->error) {
      if (clear_uptodate) ClearPageUptodate(*page);
      SetPageError(*page);
      if (page->mapping() != nullptr) page->mapping()->SetError(-kEio);
    }
    EndPageWriteback(*page);
  }
  // The walk by bi_private, each bio put; the ioend goes with the last.
  sim::Bio* bio = ioend->bios.front();
  for (;;) {
    if (heap.IsFreed(bio)) return heap.ReportUseAfterFree(bio, "iomap_finish_ioend");
    sim::Bio* next = bio == &last ? nullptr : static_cast<sim::Bio*>(bio->private_data);
    BioPut(sched, bio);
    if (next == nullptr) break;
    bio = next;
  }
  heap.Delete(ioend);
}

}  // namespace fsim::fs
