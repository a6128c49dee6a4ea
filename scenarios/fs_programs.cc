// The filesystem scenarios: the interpreter of scenario files
// (scenarios/FORMAT.md, parsed by scenarios/json_scenario.cc) and the
// registration of the built-in ones (scenarios/fs/*.json, compiled in).
//
// A run builds the world the file describes (memory budget, one disk, the
// btrfs model, its files), spawns one fiber per `fibers` entry running its
// operations in order, and judges with the oracles the file asks for:
// - linearizable: the reference file model with a linearizability check
//   per page over every completed operation (data_mismatch);
// - invariants: after the fibers, a last fiber ("settle") reads each file
//   whole, fsyncs it and checks the page cache's invariants, extent ranges
//   left locked and ordered extents left pending (warn);
// - crash_consistency: a fiber ("power") cuts the power at the drawn time
//   and remounts from the durable image: each file must be in the state of
//   a prefix of the operations at least as long as the last fsync that
//   returned promised (crash_inconsistency).
//
// Configuration: order=NAME (a lock-order variant, scenarios/orders/;
// default legacy), bug=NAME (an injected mistake, fs/btrfs/inode.h).
#include <algorithm>
#include <array>
#include <cstring>
#include <cstdio>
#include <typeinfo>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "fs/btrfs/compression.h"
#include "fs/btrfs/inode.h"
#include "model/file_model.h"
#include "scenarios/fs_config.h"
#include "scenarios/json_scenario.h"
#include "scenarios/registry.h"
#include "sim/check.h"
#include "sim/heap.h"
#include "sim/memory.h"

namespace fsim::scenarios {
namespace {

using fs::kPageSize;
using sim::Finding;
using sim::FindingKind;
using sim::Scheduler;

constexpr uint64_t kFirstIno = 257;

std::vector<uint8_t> fsx_final_bytes;
constexpr uint64_t kReadAllBytes = kScenarioFileBytesMax;
// Settle reads each file this many times at most while the read fails.
constexpr int kFinalReadAttempts = 4;

void Report(Scheduler& s, FindingKind kind, std::string signature, std::string report) {
  Finding f;
  f.kind = kind;
  f.signature = std::move(signature);
  f.report = std::move(report);
  s.Report(std::move(f));
}

// A value of the scenario: fixed, or drawn through the Chooser now.
uint64_t Draw(Scheduler& s, const Choice& c) {
  if (c.fixed()) return c.min;
  return c.min + s.Choose(c.options(), sim::Site::Runtime(c.site)) * c.step;
}

// The world of one run of a scenario file. Holds the spec it interprets
// (shared by every run of the target).
class FsWorld final : public sim::Program {
 public:
  FsWorld(std::shared_ptr<const ScenarioSpec> spec, fs::FsConfig config)
      : spec_(std::move(spec)), config_(config) {}

  void Start(Scheduler& s) override {
    const ScenarioSpec& spec = *spec_;
    sim::Memory::Of(s).Configure(spec.memory);
    // vm.dirty_ratio and vm.dirty_background_ratio as thresholds in pages
    // (at the defaults, 20 and 10, the page cache's own: budget / 5 and
    // half of that).
    fs::PageCacheConfig pc;
    pc.dirty_thresh_pages = std::max<uint64_t>(1, spec.memory.budget_pages * spec.dirty_ratio / 100);
    pc.dirty_background_thresh_pages =
        std::max<uint64_t>(1, spec.memory.budget_pages * spec.dirty_background_ratio / 100);
    fs::PageCache::Of(s).Configure(pc);
    array_ = std::make_unique<sim::BlockArray>(s, spec.devices);
    config_.data_profile = spec.data_profile;
    fs_ = std::make_unique<fs::BtrfsFs>(s, *array_, config_);
    files_.resize(spec.files.size());
    for (size_t i = 0; i < files_.size(); ++i) {
      files_[i].inode = std::make_unique<fs::BtrfsInode>(*fs_, kFirstIno + i);
    }
    crash_check_ = spec.check_crash_consistency;
    for (auto* v : {&invoked_per_file_, &done_per_file_, &promised_per_file_}) v->assign(files_.size(), 0);
    unsynced_.assign(files_.size(), false);
    caught_.assign(files_.size(), false);
    syncing_.assign(files_.size(), 0);
    // The fsync oracle needs the changes wherever fsync may be judged: after
    // a power cut, and on disks that fail I/O (CheckDiskAfterFaults).
    track_changes_ = crash_check_ || FaultsInjected() || EnospcInjected();
    // FIDEDUPERANGE's outcome is judged (JudgeDedupe) against each file's
    // bytes as its changes, one after another, made them.
    judge_dedupe_ = std::any_of(spec.fibers.begin(), spec.fibers.end(), [](const FiberSpec& fiber) {
      return std::any_of(fiber.ops.begin(), fiber.ops.end(),
                         [](const OpSpec& op) { return op.kind == OpKind::kDedupeRange; });
    });
    if (judge_dedupe_) {
      in_flight_.assign(files_.size(), 0);
      change_events_.assign(files_.size(), 0);
      sequential_.assign(files_.size(), model::FileState{});
    }
    fsx_model_.assign(files_.size(), std::nullopt);
    for (const FiberSpec& fiber : spec.fibers) {
      if (fiber.fsx && !fiber.ops.empty()) fsx_model_[fiber.ops.front().file] = model::FileState{};
    }
    for (const FiberSpec& fiber : spec.fibers) {
      const bool changes = std::any_of(fiber.ops.begin(), fiber.ops.end(),
                                       [](const OpSpec& op) { return ChangesFile(op.kind); });
      if (changes) ++changers_;
    }
    const bool settle = spec.check_linearizable || spec.check_invariants;
    if (settle) done_ = std::make_unique<sim::Completion>(s, "workers_done");
    for (const FiberSpec& fiber : spec.fibers) {
      s.Spawn(fiber.name, [this, &s, &fiber] {
        RunFiber(s, fiber);
        if (done_) done_->Complete();
      });
    }
    if (settle) {
      s.Spawn("settle", [this, &s] {
        for (size_t i = 0; i < spec_->fibers.size(); ++i) done_->Wait();
        Settle(s);
      });
    }
    if (spec.power_cut_ns) {
      s.Spawn("power", [this, &s] {
        s.SleepFor(Draw(s, *spec_->power_cut_ns));
        cut_clock_ = ++clock_;
        const std::vector<uint64_t> errors = DeviceErrors();
        failed_before_cut_ = std::any_of(errors.begin(), errors.end(), [](uint64_t n) { return n != 0; });
        array_->PowerCut();  // every device of the array loses power
        if (spec_->check_crash_consistency) Remount(s);
      });
    }
  }

  void Finish(Scheduler& s) override {
    if (unmounted_) CheckLeaks(s);
    // With the ENOSPC fault a write may be dropped at writeback (the
    // error goes to fsync): the checks that assume no write is lost (the
    // fsx log's model, linearizability) stand aside, as for a scenario
    // whose devices fail I/O; the fsync and disk oracles judge the run.
    const bool lossy = EnospcInjected();
    for (size_t i = 0; i < files_.size() && settled_ && cut_clock_ == ~uint64_t{0} && !lossy; ++i) {
      if (!fsx_model_[i]) continue;
      fsx_final_bytes = files_[i].final;
      CheckFsxBytes(s, i, 0, "the file at the end", files_[i].final, fsx_model_[i]->bytes);
    }
    if (!spec_->check_linearizable || lossy) return;
    for (size_t i = 0; i < files_.size(); ++i) Judge(s, i);
  }

 private:
  struct File {
    std::unique_ptr<fs::BtrfsInode> inode;
    std::vector<model::OpRecord> history;
    std::vector<uint8_t> final;  // as read by settle
    bool final_unreadable = false;  // settle's read failed every time (-EIO)
  };

  void RunFiber(Scheduler& s, const FiberSpec& fiber) {
    for (const OpSpec& op : fiber.ops) {
      const uint64_t n = Draw(s, op.repeat);
      for (uint64_t r = 0; r < n; ++r) {
        // The operation holds the inode (an open file's reference for the
        // call): the superblock shrinker evicts it only between calls.
        fs::BtrfsInode& inode = *files_[op.file].inode;
        inode.Igrab();
        const bool go_on = RunOp(s, fiber.name, op);
        inode.Iput();
        if (!go_on) return;
      }
    }
  }

  // Runs one operation, its values drawn in the order offset, length,
  // byte (or size, or ns). Returns false if the fiber gives up (an fsync
  // failed, as an application does on EIO).
  bool RunOp(Scheduler& s, const std::string& who, const OpSpec& spec) {
    File& file = files_[spec.file];
    fs::BtrfsInode& inode = *file.inode;
    std::optional<model::FileState>& fsx = fsx_model_[spec.file];
    if (spec.fsx_line > 0 && spec.check_size && fsx && !EnospcInjected() && inode.i_size() != spec.size_before) {
      Report(s, FindingKind::kDataMismatch, "data_mismatch:fsx_size:" + spec_->files[spec.file],
             "fsx line " + std::to_string(spec.fsx_line) + ": the file is " +
                 std::to_string(inode.i_size()) + " bytes before the op, fsx logged " +
                 std::to_string(spec.size_before));
    }
    model::FileOp op;
    const bool go_on = RunOpKind(s, who, spec, file, inode, op);
    if (spec.fsx_line > 0 && fsx && !EnospcInjected()) {
      // The log's reference model follows the fiber; a read is checked
      // against it (a change was made by this fiber alone).
      if (spec.kind != OpKind::kRead) {
        if (ChangesFile(spec.kind)) model::ApplyFileOp(*fsx, op);
      } else if (cut_clock_ == ~uint64_t{0}) {
        // (After a power cut the disks are gone: what a read of an
        // uncached page returns is no longer the file's; the crash check
        // judges what survived.)
        std::vector<uint8_t> want = model::ApplyFileOp(*fsx, op);
        CheckFsxBytes(s, spec.file, spec.fsx_line, "read [" + std::to_string(op.offset) + ", +" +
                                                       std::to_string(op.length) + ")",
                      last_read_, want);
      }
    }
    // fsx's close_open: close and open again, with the file's clean page
    // cache dropped.
    if (spec.close_open) inode.mapping().InvalidateMappingPages(0, fs::kLEndMax);
    return go_on;
  }

  bool RunOpKind(Scheduler& s, const std::string& who, const OpSpec& spec, File& file,
                 fs::BtrfsInode& inode, model::FileOp& op) {
    switch (spec.kind) {
      case OpKind::kWrite: {
        op.kind = model::FileOpKind::kWrite;
        op.offset = Draw(s, spec.offset);
        uint64_t len = Draw(s, spec.length);
        if (spec.has_source) return WriteFromSource(s, who, spec, file, inode, op, len);
        if (spec.data) {
          op.data = *spec.data;
        } else {
          op.data.assign(len, static_cast<uint8_t>(Draw(s, spec.byte)));
          if (spec.text) FillText(op.data, op.offset);
        }
        const size_t state = invoked_.size();  // this write's entry in the crash check's list
        uint64_t invoke = Begin(spec.file, op);
        const uint64_t written = inode.BufferedWrite(op.offset, op.data);
        if (written < op.data.size()) {
          // -EIO (a partial page's read failed): only what the batches
          // before it wrote is the file's. The write's place among the
          // changes stays (other fibers may have invoked theirs since);
          // what it changed is cut to what it wrote (nothing: a no-op).
          op.data.resize(written);
          if (crash_check_) {
            model::FileOp& entry = invoked_[state].second;
            entry.data.resize(written);
            if (written == 0) entry.kind = model::FileOpKind::kFsync;  // changes nothing
          }
          if (written > 0) End(file, op, invoke, {}, who);
          return false;  // the application sees the error and gives up
        }
        End(file, op, invoke, {}, who);
        return !spec.sync || Fsync(inode);  // generic_write_sync()
      }
      case OpKind::kMmapWrite: {
        op.kind = model::FileOpKind::kWrite;
        op.offset = Draw(s, spec.offset);
        if (spec.data) {
          // fsx's mapwrite: a memcpy into a shared mapping of the whole
          // range (within EOF: fsx extended the file first), one store
          // (page_mkwrite) per page, each its own change: no lock orders
          // them against fsync, so a commit may take any prefix of them.
          op.data = *spec.data;
          for (uint64_t at = 0; at < op.data.size();) {
            const uint64_t n = std::min<uint64_t>(op.data.size() - at, kPageSize - (op.offset + at) % kPageSize);
            model::FileOp piece;
            piece.kind = model::FileOpKind::kWrite;
            piece.offset = op.offset + at;
            piece.data.assign(op.data.begin() + static_cast<long>(at),
                              op.data.begin() + static_cast<long>(at + n));
            uint64_t invoke = Begin(spec.file, piece, /*store=*/true);
            inode.MmapWrite(piece.offset, piece.data, false);
            End(file, piece, invoke, {}, who);
            at += n;
          }
          return true;
        }
        // A store stays within its page (page_mkwrite faults one page).
        uint64_t len = std::min(Draw(s, spec.length), kPageSize - op.offset % kPageSize);
        op.data.assign(len, static_cast<uint8_t>(Draw(s, spec.byte)));
        if (spec.text) FillText(op.data, op.offset);
        const size_t state = invoked_.size();  // this store's entry in the crash check's list
        uint64_t invoke = Begin(spec.file, op, /*store=*/true);
        uint64_t written = inode.MmapWrite(op.offset, op.data, spec.past_eof);
        if (written < len) {
          // SIGBUS at EOF: only the bytes before it were stored. The
          // store's entry keeps its place (the fault may have slept, and
          // other fibers' changes come after it), cut to what it stored
          // (nothing: a no-op).
          if (crash_check_) {
            model::FileOp& entry = invoked_[state].second;
            entry.data.resize(written);
            if (written == 0) entry.kind = model::FileOpKind::kFsync;  // changes nothing
          }
          if (written == 0) return true;
          op.data.resize(written);
        }
        End(file, op, invoke, {}, who);
        return true;
      }
      case OpKind::kRead: {
        op.kind = model::FileOpKind::kRead;
        op.offset = Draw(s, spec.offset);
        op.length = Draw(s, spec.length);
        uint64_t invoke = ++clock_;
        int error = 0;
        std::vector<uint8_t> got = inode.Read(op.offset, op.length, &error);
        if (error != 0) {
          // -EIO after got.size() bytes: judged as a read of what it
          // returned (nothing, if none).
          CheckReadError(s, spec.file, op.offset, got.size(), who);
          op.length = got.size();
        }
        if (error == 0 || !got.empty()) Record(file, op, invoke, got, who);
        last_read_ = std::move(got);
        return true;
      }
      case OpKind::kTruncate: {
        op.kind = model::FileOpKind::kTruncate;
        op.offset = Draw(s, spec.size);
        uint64_t invoke = Begin(spec.file, op);
        inode.Truncate(op.offset);
        End(file, op, invoke, {}, who);
        return true;
      }
      case OpKind::kFallocate:
      case OpKind::kPunchHole:
      case OpKind::kZeroRange: {
        op.kind = spec.kind == OpKind::kFallocate   ? model::FileOpKind::kFallocate
                  : spec.kind == OpKind::kPunchHole ? model::FileOpKind::kPunchHole
                                                    : model::FileOpKind::kZeroRange;
        op.offset = Draw(s, spec.offset);
        op.length = Draw(s, spec.length);
        op.keep_size = spec.keep_size;
        uint64_t invoke = Begin(spec.file, op);
        if (spec.kind == OpKind::kFallocate) {
          inode.Fallocate(op.offset, op.length, op.keep_size);
        } else if (spec.kind == OpKind::kPunchHole) {
          inode.PunchHole(op.offset, op.length);
        } else {
          inode.ZeroRange(op.offset, op.length, op.keep_size);
        }
        End(file, op, invoke, {}, who);
        return true;
      }
      case OpKind::kFsync:
        return Fsync(inode) || spec.continue_on_error;
      case OpKind::kSleep:
        s.SleepFor(Draw(s, spec.ns));
        return true;
      case OpKind::kCopyRange: {
        op.kind = model::FileOpKind::kCopy;
        op.offset = Draw(s, spec.offset);
        op.length = Draw(s, spec.length);
        op.dest = spec.dest;
        const size_t state = invoked_.size();  // this copy's entry in the crash check's list
        uint64_t invoke = Begin(spec.file, op);
        int error = 0;
        const uint64_t copied = inode.CopyFileRange(op.offset, op.length, op.dest, &error);
        if (error != 0) {
          // -EIO (after a power cut, or from a failing device): the copy
          // stopped after `copied` bytes, which are the file's; as a
          // short write, its place stays and what it changed is cut.
          op.length = copied;
          if (crash_check_) {
            model::FileOp& entry = invoked_[state].second;
            entry.length = copied;
            if (copied == 0) entry.kind = model::FileOpKind::kFsync;  // changes nothing
          }
          if (copied > 0) End(file, op, invoke, {}, who);
          return false;  // the application sees the error and gives up
        }
        End(file, op, invoke, {}, who);
        return true;
      }
      case OpKind::kDedupeRange: {
        op.kind = model::FileOpKind::kDedupe;
        op.offset = Draw(s, spec.offset);
        op.length = Draw(s, spec.length);
        if (spec.has_source) {
          // FIDEDUPERANGE from another file (or this one) into [offset,
          // +length) here: no byte changes, so nothing to record.
          const uint64_t src_off = Draw(s, spec.source_offset);
          File& src = files_[spec.source_file];
          if (spec.source_file != spec.file) src.inode->Igrab();
          const DedupeCall call = DedupeBegins(spec.source_file, src_off, spec.file, op.offset, op.length, true);
          int error = 0;
          const bool same = inode.DedupeRangeFrom(*src.inode, src_off, op.length, op.offset, &error);
          if (spec.source_file != spec.file) src.inode->Iput();
          JudgeDedupe(s, call, same, error, who);
          return error == 0;  // a failed compare: the application gives up
        }
        op.dest = spec.dest;
        const DedupeCall call = DedupeBegins(spec.file, op.offset, spec.file, op.dest, op.length, false);
        int error = 0;
        const bool same = inode.DedupeRange(op.offset, op.length, op.dest, &error);
        JudgeDedupe(s, call, same, error, who);
        return error == 0;
      }
      case OpKind::kCloneRange: {
        op.kind = model::FileOpKind::kWrite;
        op.offset = Draw(s, spec.offset);
        const uint64_t len = Draw(s, spec.length);
        const uint64_t src_off = Draw(s, spec.source_offset);
        File& src = files_[spec.source_file];
        const uint64_t invoke = ++clock_;
        ChangeBegins(spec.file);
        if (spec.source_file != spec.file) src.inode->Igrab();
        int error = 0;
        op.data = inode.CloneRangeFrom(*src.inode, src_off, len, op.offset, &error);
        if (spec.source_file != spec.file) src.inode->Iput();
        // (Nothing cloned: the source ends before src_off, or -EIO, on
        // which the application gives up.)
        if (!op.data.empty()) RecordCopy(src, src_off, file, op, invoke, who);
        return error == 0;
      }
      case OpKind::kWriteback:
        inode.WritebackAll();
        return true;
      case OpKind::kFadviseDontneed: {
        const uint64_t offset = Draw(s, spec.offset);
        inode.FadviseDontneed(offset, Draw(s, spec.length));
        return true;
      }
    }
    return true;
  }

  // A write whose user buffer maps a file (perhaps this one): its bytes are
  // what the copy read, recorded as a read of the source too.
  class RecordingBuffer final : public fs::UserBuffer {
   public:
    explicit RecordingBuffer(fs::UserBuffer& inner) : inner_(inner) {}
    bool FaultIn(uint64_t off, uint64_t len) override { return inner_.FaultIn(off, len); }
    uint64_t CopyAtomic(uint64_t off, uint8_t* dst, uint64_t len) override {
      const uint64_t n = inner_.CopyAtomic(off, dst, len);
      if (bytes.size() < off + n) bytes.resize(off + n);
      std::copy(dst, dst + n, bytes.begin() + static_cast<long>(off));
      return n;
    }
    std::vector<uint8_t> bytes;

   private:
    fs::UserBuffer& inner_;
  };

  bool WriteFromSource(Scheduler& s, const std::string& who, const OpSpec& spec, File& file,
                       fs::BtrfsInode& inode, model::FileOp& op, uint64_t len) {
    const uint64_t src_off = Draw(s, spec.source_offset);
    File& src = files_[spec.source_file];
    fs::MappedBuffer mapped(*src.inode, src_off);
    RecordingBuffer buffer(mapped);
    const uint64_t invoke = ++clock_;
    ChangeBegins(spec.file);
    // Whether the whole source lies within its file for the whole write:
    // inside EOF now, and no other fiber can shrink it meanwhile.
    const bool source_whole = src_off + len <= src.inode->i_size() && !Shrinkable(who, spec.source_file);
    if (spec.source_file != spec.file) src.inode->Igrab();
    const uint64_t written = inode.BufferedWriteFrom(op.offset, len, buffer);
    if (spec.source_file != spec.file) src.inode->Iput();
    // A write from a mapping comes back short only if the buffer faults
    // for good: SIGBUS past the source's EOF, or a read error
    // (fault_in_pages_readable's -EFAULT). A page reclaimed between the
    // fault-in and the atomic copy is faulted in again
    // (btrfs_buffered_write's retry with one page), never a short write.
    if (written < len && source_whole && !FaultsInjected() && !PowerCutHappened()) {
      Report(s, FindingKind::kDataMismatch, "data_mismatch:short_write",
             "write(2) of " + std::to_string(len) + " bytes at " + std::to_string(op.offset) +
                 " of '" + spec_->files[spec.file] + "' from a mapping of '" +
                 spec_->files[spec.source_file] + "' at " + std::to_string(src_off) +
                 " returned " + std::to_string(written) + " (fiber '" + who +
                 "'), although the source lay within its file throughout and no device failed: "
                 "a fault-in that should have read the source page gave up");
    }
    buffer.bytes.resize(written);
    op.data = buffer.bytes;
    if (written > 0) RecordCopy(src, src_off, file, op, invoke, who);  // else -EFAULT
    return true;
  }

  // Whether a fiber other than `who` truncates `file` (may shrink it).
  bool Shrinkable(const std::string& who, size_t file) const {
    for (const FiberSpec& fiber : spec_->fibers) {
      if (fiber.name == who) continue;
      for (const OpSpec& op : fiber.ops) {
        if (op.file == file && op.kind == OpKind::kTruncate) return true;
      }
    }
    return false;
  }

  // A write whose bytes were read from `src` at `src_off` (a mapped user
  // buffer, a clone): a read of the source and a write here, both from
  // `invoke` on, for the linearizability check.
  void RecordCopy(File& src, uint64_t src_off, File& file, const model::FileOp& op,
                  uint64_t invoke, const std::string& who) {
    model::FileOp read;
    read.kind = model::FileOpKind::kRead;
    read.offset = src_off;
    read.length = op.data.size();
    Record(src, read, invoke, op.data, who);
    // The destination's change, for the fsync oracle too (a clone over
    // bytes an earlier write made is the bytes' last writer).
    End(file, op, invoke, {}, who);
    if (track_changes_) {
      const std::vector<uint64_t> errors = DeviceErrors();
      changes_.back().copy_after_failure =
          std::any_of(errors.begin(), errors.end(), [](uint64_t n) { return n != 0; });
    }
  }

  // fsync(2): on success, every change done before it is promised to
  // survive a power cut. Returns false if it failed.
  // `settle`: settle's own fsync of one file at the end, a promise about
  // that file only (the whole-state crash check's promised_ counts the
  // application's).
  bool Fsync(fs::BtrfsInode& inode, bool settle = false) {
    const uint64_t changed = changes_done_;
    const uint64_t invoke = ++clock_;
    const std::vector<uint64_t> errors_at_start = DeviceErrors();
    size_t index = 0;
    while (index < files_.size() && files_[index].inode.get() != &inode) ++index;
    FSIM_CHECK_MSG(index < files_.size(), "fsync of an inode no file holds");
    const uint64_t changed_here = done_per_file_[index];
    const uint64_t invoked_here = invoked_per_file_[index];
    if (!settle) FsyncBegins(index);
    const int rc = inode.Fsync();
    const bool ok = rc == 0;
    const uint64_t response = ++clock_;
    fsyncs_.push_back({index, invoke, response, ok});
    CheckFsyncFailure(index, rc, errors_at_start);
    if (!settle) FsyncEnds(index, ok, invoked_here, changed_here);
    if (ok && !settle) {
      promised_ = std::max(promised_, changed);
      promised_per_file_[index] = std::max(promised_per_file_[index], changed_here);
    }
    return ok;
  }

  // Failed requests so far, per device, reads included (a read repair's
  // rewrite, a remount's read: anything an fsync might have to report is
  // counted, so that the check below errs towards silence).
  // The last entry counts the data allocations that failed with -ENOSPC
  // (config enospc_window): an error fsync may report as well.
  std::vector<uint64_t> DeviceErrors() const {
    std::vector<uint64_t> n(array_->size() + 1);
    for (size_t d = 0; d < array_->size(); ++d) n[d] = array_->device(d).stats().errors;
    n.back() = fs_->enospc_failures();
    return n;
  }

  // An fsync may fail only to report a failure: a write of the file's
  // data, or a commit, that failed and was not yet reported to this
  // task (v5.13 reports a writeback error once per open file:
  // file_check_and_advance_wb_err). Counted generously: a failed
  // request anywhere since this task's fsync of the file before last
  // began (the error of a request that failed just before the last one
  // began may have been set after it looked). With none, the failure
  // is spurious: a writeback error kept and reported again and again
  // (AS_EIO never cleared), or an error made up.
  //
  // Nor may it fail for a degraded array: data kept in two copies (RAID1,
  // RAID10) whose failed requests since then were all on one device
  // other than the first, which holds the metadata log. v5.13 writes the
  // data to the other copy (a bio fails only past max_errors) and commits
  // (barrier_all_devices: check_barrier_error returns 0 while the array
  // is rw-degradable), so fsync returns 0.
  //
  // And the error must be one that happened: -ENOSPC only if a data
  // allocation failed in the window, -EIO only if a request did (a
  // mapping that keeps one flag for both, AS_EIO for AS_ENOSPC, reports
  // the wrong one).
  void CheckFsyncFailure(size_t file, int rc, const std::vector<uint64_t>& errors_at_start) {
    const bool ok = rc == 0;
    Scheduler& s = *Scheduler::Running();
    const std::string& task = s.current_fiber().name;
    std::vector<std::vector<uint64_t>>& starts = fsync_error_marks_[{task, file}];
    if (!ok && !PowerCutHappened()) {
      const std::vector<uint64_t> now = DeviceErrors();
      std::vector<uint64_t> since(now.size(), 0);
      if (starts.size() >= 2) since = starts[starts.size() - 2];
      std::vector<size_t> failing;
      for (size_t d = 0; d < now.size(); ++d) {
        if (now[d] != since[d]) failing.push_back(d);
      }
      const std::string window = starts.size() >= 2 ? "this task's fsync of it before last began"
                                                     : "the run began";
      const fs::Profile p = spec_->data_profile;
      // errseq reports an error once to each file: a task's fsyncs of a
      // file fail with -ENOSPC at most as often as allocations failed.
      const uint64_t enospc_reports = rc == -fs::kEnospc ? ++enospc_reports_[{task, file}] : 0;
      const bool enospc_failed = !failing.empty() && failing.back() == array_->size();
      const bool io_failed = !failing.empty() && failing.front() < array_->size();
      if (!failing.empty() && ((rc == -fs::kEnospc && !enospc_failed) || (rc == -fs::kEio && !io_failed))) {
        Report(s, FindingKind::kDataMismatch, "data_mismatch:fsync_errno:" + spec_->files[file],
               "fsync of file '" + spec_->files[file] + "' by " + task + " failed with " +
                   (rc == -fs::kEnospc ? std::string("-ENOSPC, although no data allocation")
                                       : std::string("-EIO, although no request on any device")) +
                   " failed since " + window + " (only " +
                   (enospc_failed ? std::string("an allocation") : std::string("requests")) +
                   " did): the error is reported as another");
      } else if (enospc_reports > fs_->enospc_failures()) {
        Report(s, FindingKind::kDataMismatch, "data_mismatch:fsync_eio:" + spec_->files[file],
               "fsync of file '" + spec_->files[file] + "' by " + task + " failed with -ENOSPC (report #" +
                   std::to_string(enospc_reports) + " to this task), although only " +
                   std::to_string(fs_->enospc_failures()) +
                   " data allocation(s) failed in the run: an error reported again (fsync reports "
                   "a writeback error once)");
      } else if (failing.empty()) {
        Report(s, FindingKind::kDataMismatch, "data_mismatch:fsync_eio:" + spec_->files[file],
               "fsync of file '" + spec_->files[file] + "' by " + task +
                   " failed, although no request on any device (nor any data allocation) failed since " + window +
                   ": an error reported that nothing caused, or one reported again "
                   "(fsync reports a writeback error once)");
      } else if ((p == fs::Profile::kRaid1 || p == fs::Profile::kRaid10) && failing.size() == 1 &&
                 failing[0] != 0 && failing[0] < array_->size()) {
        Report(s, FindingKind::kDataMismatch,
               "data_mismatch:fsync_eio_degraded:" + spec_->files[file],
               "fsync of file '" + spec_->files[file] + "' by " + task + " failed, although since " +
                   window + " requests failed only on " + array_->device(failing[0]).config().name +
                   ", one device of a " + fs::ProfileName(p) +
                   " array whose other copies and metadata device work: a degraded array writes "
                   "the other copy and commits (btrfs_check_rw_degradable), and fsync returns 0");
      }
    }
    starts.push_back(errors_at_start);
    if (starts.size() > 2) starts.erase(starts.begin());
  }

  // An operation that changes a file is invoked: its clock tick, and (for
  // the crash check) the state the files reach with it.
  uint64_t Begin(size_t file, const model::FileOp& op, bool store = false) {
    PushState(file, op, store);
    ChangeBegins(file);
    return ++clock_;
  }

  // A change of `file` is invoked (Begin, or a clone's or a mapped
  // write's own tick) or ends (End): for JudgeDedupe, which judges a
  // dedupe only when no change of either file was in flight during it,
  // and knows a file's bytes only while its changes never overlapped. A
  // change that ends without End (nothing written) stays in flight: the
  // file is never judged again, which only makes the oracle see less.
  void ChangeBegins(size_t file) {
    if (!judge_dedupe_) return;
    if (in_flight_[file]++ > 0) sequential_[file].reset();
    ++change_events_[file];
  }
  void ChangeEnds(size_t file, const model::FileOp& op) {
    if (!judge_dedupe_) return;
    if (in_flight_[file] > 0) --in_flight_[file];
    ++change_events_[file];
    if (sequential_[file]) model::ApplyFileOp(*sequential_[file], op);
  }

  // FIDEDUPERANGE (vfs_dedupe_file_range_compare) promises: "same" only
  // for equal bytes, "differs" only for unequal ones, and an error only
  // for a request or allocation that failed. What the bytes are is known
  // when neither file had a change in flight during the call and the
  // changes before it ran one after another (sequential_); the byte check
  // also needs every write to have reached its pages as written (no write
  // request failed: a failed writeback may leave a page to be read from
  // the disk again, and no allocation failed).
  struct DedupeCall {
    size_t src_file, dst_file;
    uint64_t src_off, dst_off, len;
    bool from_source;  // DedupeRangeFrom (clipped to both EOFs), else DedupeRange
    bool quiet;        // no change of either file in flight at the start
    uint64_t src_events, dst_events;
  };
  DedupeCall DedupeBegins(size_t src_file, uint64_t src_off, size_t dst_file, uint64_t dst_off, uint64_t len,
                          bool from_source) {
    DedupeCall c{src_file, dst_file, src_off, dst_off, len, from_source, false, 0, 0};
    if (!judge_dedupe_) return c;
    c.quiet = in_flight_[src_file] == 0 && in_flight_[dst_file] == 0 && sequential_[src_file] &&
              sequential_[dst_file];
    c.src_events = change_events_[src_file];
    c.dst_events = change_events_[dst_file];
    return c;
  }
  void JudgeDedupe(Scheduler& s, const DedupeCall& c, bool same, int error, const std::string& who) {
    if (!judge_dedupe_ || PowerCutHappened()) return;
    auto what = [&] {
      return "FIDEDUPERANGE of '" + spec_->files[c.dst_file] + "' [" + std::to_string(c.dst_off) + ", +" +
             std::to_string(c.len) + ") against '" + spec_->files[c.src_file] + "' at " + std::to_string(c.src_off) +
             " (fiber '" + who + "')";
    };
    uint64_t io_errors = 0, write_errors = 0;
    for (size_t d = 0; d < array_->size(); ++d) {
      io_errors += array_->device(d).stats().errors;
      write_errors += array_->device(d).stats().write_errors;
    }
    if (error != 0) {
      s.Cover("dedupe:error");
      const bool explained = (error == -fs::kEio && io_errors > 0) ||
                             (error == -fs::kEnospc && fs_->enospc_failures() > 0);
      if (!explained) {
        Report(s, FindingKind::kDataMismatch, "data_mismatch:dedupe_errno:" + spec_->files[c.dst_file],
               what() + " failed with error " + std::to_string(error) +
                   ", although no request on any device (nor any data allocation) failed that could cause it");
      }
      return;
    }
    if (!c.quiet || change_events_[c.src_file] != c.src_events || change_events_[c.dst_file] != c.dst_events ||
        write_errors > 0 || fs_->enospc_failures() > 0) {
      return;
    }
    const std::vector<uint8_t>& a = sequential_[c.src_file]->bytes;
    const std::vector<uint8_t>& b = sequential_[c.dst_file]->bytes;
    auto piece = [](const std::vector<uint8_t>& v, uint64_t off, uint64_t len) {
      if (off >= v.size()) return std::span<const uint8_t>();
      return std::span<const uint8_t>(v.data() + off, std::min<uint64_t>(len, v.size() - off));
    };
    bool equal = true;
    if (c.from_source) {
      // Compared to the nearer EOF; nothing to compare past either.
      if (c.src_off < a.size() && c.dst_off < b.size()) {
        const uint64_t n = std::min({c.len, a.size() - c.src_off, b.size() - c.dst_off});
        equal = std::ranges::equal(piece(a, c.src_off, n), piece(b, c.dst_off, n));
      }
    } else if (c.len > 0) {
      // Within one file each range is read to EOF: ranges cut short
      // differently differ.
      equal = std::ranges::equal(piece(a, c.src_off, c.len), piece(b, c.dst_off, c.len));
    }
    s.Cover(equal ? "dedupe:judged_equal" : "dedupe:judged_differs");
    if (equal != same) {
      Report(s, FindingKind::kDataMismatch,
             std::string("data_mismatch:dedupe_") + (same ? "same:" : "differs:") + spec_->files[c.dst_file],
             what() + " returned " + (same ? "\"same\" (0, extents shared)" : "FILE_DEDUPE_RANGE_DIFFERS") +
                 " with no error, although the ranges' bytes (no change of either file in flight during the "
                 "call) are " + (equal ? "equal" : "different"));
    }
  }

  // `store`: a store through mmap, which takes no lock fsync holds.
  void PushState(size_t file, const model::FileOp& op, bool store = false) {
    if (!crash_check_) return;
    invoked_.push_back({file, op});
    store_.push_back(store);
    unsynced_[file] = true;
    ++invoked_per_file_[file];
    for (size_t g = 0; g < files_.size(); ++g) {
      if (g != file && syncing_[g] > 0) caught_[file] = true;
    }
  }

  // A commit writes every file's items as they are at that moment, so a
  // commit of one file's fsync catches another file with changes not yet
  // synced between two writebacks of its own (the flusher's, reclaim's),
  // or with a truncate's or clone's items and not the writes before them:
  // in no state after a prefix of its changes. btrfs promises such a file
  // nothing either (fsync logs its own inode; the rest is whatever the
  // last transaction commit found). Such a file is `caught_`: the
  // whole-state check holds it only to bytes some change put there
  // (CheckCaughtFile), and leaves the rest to the fsync oracle.
  void FsyncBegins(size_t file) {
    ++syncing_[file];
    for (size_t g = 0; g < files_.size(); ++g) {
      if (g != file && unsynced_[g]) caught_[g] = true;
    }
  }

  // Synced again if the fsync returned 0 and covered every change invoked
  // to the file (none in flight when it began, none invoked since).
  void FsyncEnds(size_t file, bool ok, uint64_t invoked_at_start, uint64_t done_at_start) {
    --syncing_[file];
    if (ok && invoked_at_start == done_at_start && invoked_per_file_[file] == invoked_at_start) {
      unsynced_[file] = false;
    }
  }

  // Whether `found` is state #k (k >= promised_) with some of the stores
  // through mmap invoked right after it: a store takes no lock fsync
  // holds, so a commit may hold each page with none, some or all of the
  // stores into it (model::PagewiseStoresAllowed). fsync's writeback scans
  // pages in index order while an fsx mapwrite stores page after page in
  // the same order, so a page the scan passed before its store is left
  // out and a later one taken, even after a second mapwrite stored into
  // it again.
  // With `only` a file's index, that file alone after its own changes
  // (ForEachState).
  bool TornStoresAllowed(const std::vector<model::FileState>& found, size_t from, size_t only = kAllFiles) const {
    bool allowed = false;
    ForEachState(from, [&](size_t, size_t next, const std::vector<model::FileState>& state) {
      // The run of stores after state #k, per file.
      std::vector<std::vector<const model::FileOp*>> stores(files_.size());
      bool any = false;
      for (size_t j = next; j < invoked_.size(); ++j) {
        if (only != kAllFiles && invoked_[j].first != only) continue;  // another file's
        if (!store_[j]) break;
        stores[invoked_[j].first].push_back(&invoked_[j].second);
        any = true;
      }
      if (!any) return false;
      for (size_t f = 0; f < files_.size(); ++f) {
        if (only != kAllFiles && f != only) continue;
        if (!model::PagewiseStoresAllowed(state[f], stores[f], found[f], kPageSize)) return false;
      }
      return allowed = true;
    }, only);
    return allowed;
  }

  // Visits states #from, #from + 1, ... in order (state #k: every file
  // after the first k changes invoked; with `only` a file's index, that
  // file after the first k of its own), built by replaying invoked_ rather
  // than kept, until `visit(k, next, state)` returns true; `next` is the
  // index in invoked_ of the change after state #k.
  static constexpr size_t kAllFiles = ~size_t{0};
  template <typename Visit>
  void ForEachState(size_t from, Visit visit, size_t only = kAllFiles) const {
    std::vector<model::FileState> state(files_.size());
    size_t k = 0;
    for (size_t j = 0; j < invoked_.size(); ++j) {
      if (only != kAllFiles && invoked_[j].first != only) continue;
      if (k >= from && visit(k, j, state)) return;
      model::ApplyFileOp(state[invoked_[j].first], invoked_[j].second);
      ++k;
    }
    if (k >= from) visit(k, invoked_.size(), state);
  }

  void End(File& file, const model::FileOp& op, uint64_t invoke, const std::vector<uint8_t>& result,
           const std::string& who) {
    ++changes_done_;
    ++done_per_file_[static_cast<size_t>(&file - files_.data())];
    ChangeEnds(static_cast<size_t>(&file - files_.data()), op);
    Record(file, op, invoke, result, who);
    if (track_changes_) {
      changes_.push_back({static_cast<size_t>(&file - files_.data()), op, invoke, ++clock_});
    }
  }

  void Record(File& file, const model::FileOp& op, uint64_t invoke,
              const std::vector<uint8_t>& result, const std::string& who) {
    if (!spec_->check_linearizable) return;
    if (fsx_model_[static_cast<size_t>(&file - files_.data())]) return;  // the fsx fiber checks it
    // What Linux guarantees a read racing a write, and so what is checked:
    // nothing across pages (a buffered write copies and commits one page
    // at a time, iomap_write_actor / btrfs_buffered_write's batches, and
    // filemap_read copies page by page), so each page of an operation is
    // its own operation. Within a page, filemap_read copies an uptodate
    // page with no page lock while a writer may copy into it
    // (copy_page_to_iter against iov_iter_copy_from_user_atomic): Linux
    // promises no atomicity there either, and a torn page is possible on
    // real hardware. fsim's copies are single steps (no scheduling point
    // inside a page copy), so a read sees each page either before or after
    // a racing write's copy into it, and the per-page check is exact for
    // the model; a model change that yielded inside a copy would have to
    // relax it to bytes.
    const size_t before = file.history.size();
    model::RecordPerPage(file.history, op, invoke, result, who, kPageSize, clock_);
    // A page whose writeback failed may have lost the write, as Linux
    // lets it (v5.13's legacy end_extent_writepage clears PG_uptodate, so
    // the page is read from the disk again; reclaim may drop it under
    // either order): a read of it from then on is not judged. The disk
    // checks and fsync's error judge the failure.
    const std::set<uint64_t>& failed = file.inode->write_failed_pages();
    if (op.kind != model::FileOpKind::kRead || failed.empty()) return;
    auto lost = [&](const model::OpRecord& r) { return failed.contains(r.op.offset / kPageSize); };
    const auto kept = std::remove_if(file.history.begin() + static_cast<std::ptrdiff_t>(before),
                                     file.history.end(), lost);
    if (kept != file.history.end()) {
      if (Scheduler* sched = Scheduler::Running()) sched->Cover("linearizability:read_after_write_error");
    }
    file.history.erase(kept, file.history.end());
  }

  // Runs in the last fiber: each file as read, invariants, nothing pending.
  void Settle(Scheduler& s) {
    bool synced = true;
    for (File& file : files_) file.inode->Igrab();  // settle holds them to the end
    for (File& file : files_) {
      fs::BtrfsInode& inode = *file.inode;
      // A read that fails (-EIO) is tried again, as a user would: the
      // page is read from the disk again, and a fault may not recur.
      for (int attempt = 0;; ++attempt) {
        int error = 0;
        file.final = inode.Read(0, kReadAllBytes, &error);
        file.final_unreadable = error != 0;
        if (error != 0) {
          CheckReadError(s, static_cast<size_t>(&file - files_.data()), 0, file.final.size(), "settle");
        }
        if (error == 0 || attempt + 1 == kFinalReadAttempts) break;
      }
      if (file.final_unreadable) {
        // A read that failed returned with its readahead still under I/O:
        // settled only once every page's read has ended.
        for (uint64_t index = 0; index * kPageSize < inode.i_size(); ++index) {
          if (fs::Page* page = inode.mapping().FindGetPage(index)) {
            fs::WaitOnPageLocked(*page);
            fs::PutPage(*page);
          }
        }
      }
      // A failed fsync reported its error once: settle fsyncs again, as a
      // user would, so that what follows judges a settled file.
      bool ok = Fsync(inode, /*settle=*/true);
      if (!ok) ok = Fsync(inode, /*settle=*/true);
      synced = ok && synced;
      if (!spec_->check_invariants) continue;
      for (const std::string& v : inode.mapping().CheckInvariants(inode.i_size())) {
        Report(s, FindingKind::kWarn, "warn:page_cache_invariant", v);
      }
      const uint64_t ino = kFirstIno + static_cast<uint64_t>(&file - files_.data());
      for (const fs::ExtentState& st : inode.io_tree().States()) {
        if (st.bits & fs::kExtentLocked) {
          Report(s, FindingKind::kWarn, "warn:extent_left_locked",
                 "WARNING: extent range [" + std::to_string(st.start) + ", " +
                     std::to_string(st.end) + "] of ino " + std::to_string(ino) + " left locked");
        }
      }
      if (!inode.ordered().Pending().empty()) {
        Report(s, FindingKind::kWarn, "warn:ordered_extent_pending",
               "WARNING: ordered extents still pending after fsync");
      }
    }
    // The allocator: live, pinned and free space tile the data chunk.
    if (std::string why = fs_->CheckSpace(); !why.empty()) {
      Report(s, FindingKind::kWarn, "warn:extent_space", "BTRFS: data space accounting: " + why);
    }
    if (synced && spec_->check_invariants) {
      // Quiescent after every fsync returned 0: the btrfs-side state
      // must be settled too (see BtrfsInode::CheckQuiescent).
      std::vector<const fs::BtrfsInode*> inodes;
      for (File& file : files_) {
        inodes.push_back(file.inode.get());
        for (const std::string& v : file.inode->CheckQuiescent()) {
          Report(s, FindingKind::kWarn, "warn:btrfs_not_quiescent", "WARNING: " + v);
        }
      }
      if (std::string why = fs_->CheckReservations(inodes); !why.empty()) {
        Report(s, FindingKind::kWarn, "warn:space_info:reservation_mismatch", "WARNING: " + why);
      }
    }
    settled_ = true;
    if (synced) CheckDisk(s);
    if (FaultsInjected() || EnospcInjected()) CheckDiskAfterFaults(s);
    // Unmount: every inode evicted (its page cache dropped, the delalloc
    // left cleared with its reservation), then no data space may still be
    // reserved (btrfs_free_block_groups()'s WARN).
    if (!spec_->check_invariants) return;
    for (File& file : files_) file.inode->EvictAtUnmount();
    if (std::string why = fs_->CheckUnmount(); !why.empty()) {
      Report(s, FindingKind::kWarn, "warn:space_info:bytes_may_use_at_unmount", why);
    }
    if (std::string why = fs_->CheckReservedAtUnmount(); !why.empty()) {
      Report(s, FindingKind::kWarn, "warn:space_info:bytes_reserved_at_unmount", why);
    }
    unmounted_ = true;
  }

  // kmemleak's scan after the unmount, once every fiber is done: every
  // object the filesystem allocated on the sim heap (pages, ordered
  // extents, bios, ioends) must be freed by then. A reference never put
  // (a page's on a retry path, an ordered extent's after a wait) leaves
  // its object here. One finding per type, naming the first object.
  void CheckLeaks(Scheduler& s) {
    struct Leak {
      std::string type;
      uint64_t count = 0;
      uint64_t bytes = 0;
      std::string first;
    };
    std::vector<Leak> leaks;  // in order of each type's first object
    sim::Heap::Of(s).ForEachLive([&](const void* p, const char* type, size_t size,
                                     const sim::FiberSite& by) {
      std::string name = sim::Heap::TypeName(type);
      auto it = std::find_if(leaks.begin(), leaks.end(), [&](const Leak& l) { return l.type == name; });
      if (it == leaks.end()) {
        std::string first = "unreferenced object " + name + " (size " + std::to_string(size) +
                            "): allocated by fiber '" + by.fiber_name() + "'";
        if (std::strcmp(type, typeid(fs::Page).name()) == 0) {
          const auto* page = static_cast<const fs::Page*>(p);
          first += ", page " + std::string(page->name()) + ", refcount " +
                   std::to_string(page->refcount());
        }
        leaks.push_back({name, 0, 0, first});
        it = leaks.end() - 1;
      }
      ++it->count;
      it->bytes += size;
    });
    for (const Leak& l : leaks) {
      Report(s, FindingKind::kWarn, "warn:memory_leak:" + l.type,
             "kmemleak: " + std::to_string(l.count) + " new suspected memory leak(s) of " + l.type +
                 " after unmount (" + std::to_string(l.bytes) + " bytes)\n  " + l.first);
    }
  }

  // An fsx fiber's check: `got` (bytes read, or the file) against what
  // its log's reference model holds; the first difference names the line.
  void CheckFsxBytes(Scheduler& s, size_t index, int line, const std::string& what,
                     const std::vector<uint8_t>& got, const std::vector<uint8_t>& want) {
    if (got == want) return;
    size_t at = 0;
    while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
    std::string report = "fsx";
    if (line > 0) report += " line " + std::to_string(line);
    report += ": " + what + " in file '" + spec_->files[index] + "' differs from the log's model";
    if (got.size() != want.size()) {
      report += ": " + std::to_string(got.size()) + " bytes, the model " +
                std::to_string(want.size());
    }
    if (at < got.size() && at < want.size()) {
      report += "; first difference at byte " + std::to_string(at) + ": 0x" + Hex(got[at]) +
                ", the model 0x" + Hex(want[at]);
    }
    Report(s, FindingKind::kDataMismatch, "data_mismatch:fsx:" + spec_->files[index], report);
  }

  void Judge(Scheduler& s, size_t index) {
    if (fsx_model_[index]) return;  // checked against its fsx log's model
    const File& file = files_[index];
    // Unknown, not a finding: the disk checks judge a file that the end
    // of the run could not read.
    if (file.final_unreadable) return;
    model::FileState final_state{file.final};
    // After a power cut the disks are gone: a page whose writeback then
    // failed and that reclaim dropped reads as the disk had it (a hole
    // where the write never got its extent), data Linux lets the failed
    // write lose. So the reads that ended before the cut are judged, and
    // neither the later ones nor the file at the end (the crash check
    // judges what survived).
    const bool cut = cut_clock_ != ~uint64_t{0};
    // A failed write may have lost pages (see Record): the file as read at
    // the end is then not the model's to judge.
    const bool lost = !file.inode->write_failed_pages().empty();
    std::vector<model::OpRecord> before_cut;
    if (cut) {
      for (const model::OpRecord& r : file.history) {
        if (r.op.kind != model::FileOpKind::kRead || r.response < cut_clock_) before_cut.push_back(r);
      }
    }
    model::Linearization l = model::CheckLinearizable(model::FileState{}, cut ? before_cut : file.history,
                                                      cut || lost ? nullptr : &final_state);
    if (l.ok) return;
    if (l.undecided) {
      // Unknown, not a finding (the disk checks still judge the run);
      // counted, so a scenario that is often undecided shows it.
      s.Cover("linearizability:undecided");
      return;
    }
    const std::string& name = spec_->files[index];
    std::string report = "data mismatch";
    if (files_.size() > 1) report += " in file '" + name + "'";
    report += ": " + l.why + "\n  history (per page" + (cut ? std::string(", the reads that ended before the power cut") : "") + "):";
    for (const model::OpRecord& r : cut ? before_cut : file.history) {
      report += "\n    " + r.who + " " + model::FileOpName(r.op.kind) + " [" +
                std::to_string(r.op.offset) + ", +" +
                std::to_string(r.op.kind == model::FileOpKind::kWrite ? r.op.data.size()
                                                                      : r.op.length) +
                ") @" + std::to_string(r.invoke) + "-" + std::to_string(r.response);
    }
    if (cut) return Report(s, FindingKind::kDataMismatch, "data_mismatch:" + name, report);
    const std::vector<uint8_t>& bytes = file.final;
    report += "\n  the file as read at the end (" + std::to_string(bytes.size()) + " bytes):";
    // Runs of one byte value; text data changes every 16 bytes, so at
    // most the first kRunsShown runs are listed.
    constexpr size_t kRunsShown = 64;
    size_t runs = 0;
    for (size_t i = 0; i < bytes.size(); ++runs) {
      size_t j = i;
      while (j < bytes.size() && bytes[j] == bytes[i]) ++j;
      if (runs < kRunsShown) {
        char run[64];
        std::snprintf(run, sizeof run, " [%zu,%zu)=0x%02x", i, j, bytes[i]);
        report += run;
      }
      i = j;
    }
    if (runs > kRunsShown) report += " ... (" + std::to_string(runs - kRunsShown) + " more runs)";
    Report(s, FindingKind::kDataMismatch, "data_mismatch:" + name, report);
  }

  // Mounts the metadata from device 0's durable image, as a remount after
  // a power cut now would; `problem` says why if the mount fails.
  fs::PersistentState MountDurableImage(Scheduler& s, std::string* problem) {
    // The image is read as a healthy disk: the faults configured for the
    // device are the run's, not the reader's (a read of the image that
    // failed by injection would make a sound image look unmountable, and
    // spend the run's decisions).
    sim::DeviceConfig config = spec_->devices[0];
    config.ClearFaults();
    sim::BlockDevice image(s, config);
    // Mount reads the metadata area only; the data is read by
    // ReadFromDisk from each device's durable contents.
    const uint64_t log_len = fs_->config().log_len;
    image.LoadDurableImage(array_->device(0), 0, log_len / array_->device(0).config().sector_size);
    return fs::MetadataLog::Mount(s, image, 0, log_len, problem);
  }

  // As MountDurableImage; a mount that fails is reported (its message
  // after `what`) and gives nothing.
  std::optional<fs::PersistentState> MountDurable(Scheduler& s, const std::string& what) {
    std::string problem;
    fs::PersistentState p = MountDurableImage(s, &problem);
    if (problem.empty()) return p;
    Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:mount", what + problem);
    return std::nullopt;
  }

  // The most copies any chunk keeps of its data (1 for single, 2 for
  // RAID1 and RAID10), as the chunk items say.
  int DataCopies() const {
    int copies = 1;
    for (const fs::Chunk& c : fs_->volumes().chunks()) {
      fs::Stripe st;
      uint64_t contiguous = 0;
      for (int k = 0; OnDisk(c, 0, k, &st, &contiguous); ++k) copies = std::max(copies, k + 1);
    }
    return copies;
  }

  // The copies of a block a write may lose and still succeed, as the
  // chunk items' profiles say (btrfs_chunk_max_errors: RAID1 and RAID10
  // one, DUP and the rest none): deliberately not Volumes::MapBlock's
  // max_errors, which is the code under test.
  int DataToleratedFailures() const {
    int tolerated = 0;
    for (const fs::Chunk& c : fs_->volumes().chunks()) {
      if (c.profile == fs::Profile::kRaid1 || c.profile == fs::Profile::kRaid10) tolerated = 1;
    }
    return tolerated;
  }

  // Whether a device corrupts sectors silently (fault bitrot).
  bool BitrotInjected() const {
    for (size_t d = 0; d < array_->size(); ++d) {
      if (array_->device(d).config().fault_bitrot) return true;
    }
    return false;
  }

  // Whether the power was cut (every device is then dead).
  bool PowerCutHappened() const {
    for (size_t d = 0; d < array_->size(); ++d) {
      if (array_->device(d).dead()) return true;
    }
    return false;
  }

  // Where copy `copy` of chunk byte `offset` lies on disk, as a reader of
  // btrfs's on-disk format (btrfs-progs, or the next kernel) finds it from
  // the chunk item alone: deliberately not through fs::Volumes::MapBlock,
  // so that a layout the model writes consistently but wrongly (a stripe
  // row, a RAID10 pair, a mirror index) is read from where the format says
  // and seen. Also gives how many bytes from there are contiguous on that
  // device (to the stripe's end). False if the copy does not exist.
  static bool OnDisk(const fs::Chunk& c, uint64_t offset, int copy, fs::Stripe* at,
                     uint64_t* contiguous) {
    const size_t n = c.stripes.size();
    const uint64_t stripe_nr = offset / fs::kStripeLen, in_stripe = offset % fs::kStripeLen;
    switch (c.profile) {
      case fs::Profile::kSingle:
      case fs::Profile::kDup:
      case fs::Profile::kRaid1:
        // Every stripe holds the whole chunk; copy k is stripe k.
        if (static_cast<size_t>(copy) >= n) return false;
        *at = {c.stripes[copy].device, c.stripes[copy].physical + offset};
        *contiguous = c.length - offset;
        return true;
      case fs::Profile::kRaid0:
        // Stripe units go round the devices: unit k on stripe k mod n, in
        // row k div n.
        if (copy != 0) return false;
        *at = {c.stripes[stripe_nr % n].device,
               c.stripes[stripe_nr % n].physical + stripe_nr / n * fs::kStripeLen + in_stripe};
        *contiguous = std::min(fs::kStripeLen - in_stripe, c.length - offset);
        return true;
      case fs::Profile::kRaid10: {
        // Units go round the pairs (stripes 2j and 2j+1 mirror each
        // other); copy k is the pair's k-th stripe.
        const uint64_t pairs = n / fs::kRaid10SubStripes;
        if (static_cast<size_t>(copy) >= fs::kRaid10SubStripes) return false;
        const fs::Stripe& s = c.stripes[stripe_nr % pairs * fs::kRaid10SubStripes + copy];
        *at = {s.device, s.physical + stripe_nr / pairs * fs::kStripeLen + in_stripe};
        *contiguous = std::min(fs::kStripeLen - in_stripe, c.length - offset);
        return true;
      }
    }
    return false;
  }

  // The logical bytes a file extent item's data occupies: a compressed
  // extent is read whole (its encoded bytes, decoded afterwards), a plain
  // one only the part the item uses.
  struct ItemBytes {
    uint64_t base;
    uint64_t io_size;
    bool encoded;
  };
  static ItemBytes BytesOf(const fs::FileExtentItem& item) {
    const bool encoded = item.compression != 0;
    return {encoded ? item.disk_bytenr : item.disk_bytenr + item.offset,
            encoded ? item.disk_num_bytes : item.num_bytes, encoded};
  }

  // The chunk holding logical address `logical`, from the chunk items;
  // nullptr if none does.
  const fs::Chunk* ChunkAt(uint64_t logical) const {
    const fs::Chunk* chunk = nullptr;
    for (const fs::Chunk& c : fs_->volumes().chunks()) {
      if (logical >= c.logical && logical < c.logical + c.length) chunk = &c;
    }
    return chunk;
  }

  // Reads file `i` as a remount would: its size and file extent items
  // from `p`, its data from the durable media through copy `mirror` of the
  // chunk mapping. Extents whose copy `mirror` does not exist read copy 0.
  // With kRepairMirror, each block as btrfs reads it with read repair: the
  // first copy that matches its checksum (copy 0 if none does, or if the
  // block has none).
  // With `csum_bad` set, also lists the blocks whose data does not match
  // the checksum `p` holds for them (and, with `bad_device`, the device
  // each such block was read from). False (with `why`) if an extent points
  // outside every chunk.
  static constexpr int kRepairMirror = -1;
  bool ReadFromDisk(const fs::PersistentState& p, size_t i, int mirror, std::vector<uint8_t>* out,
                    std::string* why, std::vector<uint64_t>* csum_bad = nullptr,
                    std::vector<size_t>* bad_device = nullptr, std::vector<bool>* flush_lost = nullptr) {
    const uint64_t ino = kFirstIno + i;
    std::vector<uint8_t>& file = *out;
    file.assign(p.inodes.count(ino) ? p.inodes.at(ino).size : 0, 0);
    if (!p.extents.count(ino)) return true;
    std::vector<uint8_t> block;
    for (const auto& [off, item] : p.extents.at(ino)) {
      // A preallocated extent reads as zeroes, whatever its blocks hold.
      if (item.type == fs::FileExtentType::kPrealloc) continue;
      // A compressed extent is read whole and decoded; the item's bytes
      // are [offset, offset + num_bytes) of what it decodes to.
      const auto [base, io_size, encoded] = BytesOf(item);
      // A plain item wholly inside the file is read straight into it.
      const bool direct = !encoded && off <= file.size() && io_size <= file.size() - off;
      uint8_t* dst = file.data() + (direct ? off : 0);
      if (!direct) {
        block.resize(io_size);  // every byte is read below
        dst = block.data();
      }
      for (uint64_t k = 0; k < io_size;) {
        const uint64_t logical = base + k;
        const fs::Chunk* chunk = ChunkAt(logical);
        fs::Stripe st;
        uint64_t contiguous = 0;
        if (chunk == nullptr ||
            (!OnDisk(*chunk, logical - chunk->logical, mirror, &st, &contiguous) &&
             !OnDisk(*chunk, logical - chunk->logical, 0, &st, &contiguous))) {
          *why = "a file extent of ino " + std::to_string(ino) + " points at logical " +
                 std::to_string(logical) + ", outside every chunk";
          return false;
        }
        // As far as this copy goes in one piece, in whole pages (the last
        // page of the extent may be short); a block at a time to repair.
        uint64_t n = std::min<uint64_t>(io_size - k, std::max<uint64_t>(contiguous, kPageSize));
        if (n > kPageSize) n -= n % kPageSize;
        if (mirror == kRepairMirror) n = std::min<uint64_t>(n, kPageSize);
        array_->device(st.device).ReadSectors(st.physical / 512, n / 512, dst + k, true);
        std::memset(dst + k + n / 512 * 512, 0, n % 512);
        if (mirror == kRepairMirror && n == kPageSize) {
          auto c = p.csums.find(base + k);
          for (int copy = 1; c != p.csums.end() && c->second != fs::BtrfsDataCsum(dst + k); ++copy) {
            fs::Stripe other;
            uint64_t ignored = 0;
            if (!OnDisk(*chunk, logical - chunk->logical, copy, &other, &ignored)) {
              // No copy matches: copy 0's bytes, as the failed read left them.
              array_->device(st.device).ReadSectors(st.physical / 512, n / 512, dst + k, true);
              break;
            }
            array_->device(other.device).ReadSectors(other.physical / 512, n / 512, dst + k, true);
          }
        }
        for (uint64_t q = k; csum_bad != nullptr && q + kPageSize <= k + n; q += kPageSize) {
          auto c = p.csums.find(base + q);
          if (c != p.csums.end() && c->second != fs::BtrfsDataCsum(dst + q)) {
            csum_bad->push_back(encoded ? off : off + q);
            if (bad_device != nullptr) bad_device->push_back(st.device);
            if (flush_lost != nullptr) {
              flush_lost->push_back(
                  array_->device(st.device).LostToFailedFlush((st.physical + (q - k)) / 512, kPageSize / 512));
            }
          }
        }
        k += n;
      }
      if (encoded) {
        // A stream that does not decode reads as zeroes here: the data
        // comparison then names the bytes.
        std::optional<std::vector<uint8_t>> decoded = fs::ZlibDecompress(block, fs::kMaxUncompressed);
        std::vector<uint8_t> bytes(item.num_bytes, 0);
        if (decoded && item.offset < decoded->size()) {
          std::memcpy(bytes.data(), decoded->data() + item.offset,
                      std::min<uint64_t>(item.num_bytes, decoded->size() - item.offset));
        }
        block = std::move(bytes);
      }
      if (!direct && off < file.size()) {
        const uint64_t n = std::min<uint64_t>(item.num_bytes, file.size() - off);
        std::memcpy(file.data() + off, block.data(), n);
      }
    }
    return true;
  }

  // Whether device config `c` fails I/O or rots by design: its copies may
  // be bad; a device without faults holds every copy written to it.
  static bool Faulty(const sim::DeviceConfig& c) {
    return c.FailsIo() || c.fault_bitrot;
  }

  // Whether every block keeps a copy on a device configured with no
  // fault: a profile of copies on distinct devices (RAID1, RAID10: not
  // DUP, whose copies share one) with one faulty device. Then a read
  // must not fail: read repair (btrfs_submit_read_repair) reads the good
  // copy.
  bool ReadsMustSucceed() const {
    const fs::Profile p = spec_->data_profile;
    if (p != fs::Profile::kRaid1 && p != fs::Profile::kRaid10) return false;
    size_t faulty = 0;
    for (size_t d = 0; d < array_->size(); ++d) faulty += Faulty(array_->device(d).config());
    return faulty == 1;
  }

  // A read of `file` at `pos` that failed with -EIO after `done` bytes:
  // a finding unless a device may fail I/O by design and no good copy is
  // assured (ReadsMustSucceed), or the power was cut. With no device
  // failing I/O (silent bitrot at most, which read repair fixes) a read
  // has no reason to fail: fsx, for one, stops on it (doread: "read").
  void CheckReadError(Scheduler& s, size_t file, uint64_t pos, uint64_t done, const std::string& who) {
    if (PowerCutHappened() || (FaultsInjected() && !ReadsMustSucceed())) return;
    // After an ENOSPC at writeback a read may fail in v5.13 too: a page
    // read, then written, then cleared of PG_uptodate by the failed
    // writeback (end_extent_writepage, iomap_writepage_map) before the
    // reader's filemap_read_page() looks at it after its wait is -EIO.
    if (fs_->enospc_failures() > 0) return;
    const std::string why =
        FaultsInjected() ? "although every block has a copy on a device with no fault (" + FailingDevices() +
                               " failing): read repair must have read the other copy"
                         : "on devices that fail no I/O";
    Report(s, FindingKind::kDataMismatch, "data_mismatch:read_eio:" + spec_->files[file],
           "read of file '" + spec_->files[file] + "' at " + std::to_string(pos) + " by " + who +
               " failed with -EIO after " + std::to_string(done) + " bytes, " + why);
  }

  // The devices configured to fail I/O or rot, by name ("vdb, vdc").
  std::string FailingDevices() const {
    std::string names;
    for (size_t d = 0; d < array_->size(); ++d) {
      const sim::DeviceConfig& c = array_->device(d).config();
      if (!Faulty(c)) continue;
      names += (names.empty() ? "" : ", ") + c.name;
    }
    return names;
  }

  // Whether a data allocation may fail with -ENOSPC (config
  // enospc_window): then writeback may drop a range it could not place,
  // reporting the error to fsync, and the disk is judged as after I/O
  // errors (CheckDiskAfterFaults) rather than against the page cache.
  bool EnospcInjected() const { return config_.enospc_window > 0; }

  // Whether any device may fail I/O by design (io_errors, device_failure
  // faults): then a copy may legitimately be bad or missing.
  bool FaultsInjected() const {
    for (size_t d = 0; d < array_->size(); ++d) {
      if (array_->device(d).config().FailsIo()) return true;
    }
    return false;
  }

  // Calls visit(file, logical, offset) for every block of data a committed
  // regular item of a file points at (a compressed item: its whole encoded
  // extent, at the item's file offset), in file and item order, until
  // visit returns true; returns whether it did.
  template <typename Visit>
  bool ForEachItemBlock(const fs::PersistentState& p, Visit visit) const {
    for (size_t i = 0; i < files_.size(); ++i) {
      auto items = p.extents.find(kFirstIno + i);
      if (items == p.extents.end()) continue;
      for (const auto& [off, item] : items->second) {
        if (item.type == fs::FileExtentType::kPrealloc) continue;
        const auto [base, io_size, encoded] = BytesOf(item);
        for (uint64_t k = 0; k < io_size; k += kPageSize) {
          if (visit(i, base + k, encoded ? off : off + k)) return true;
        }
      }
    }
    return false;
  }

  // Every block a committed regular item points at has a committed
  // checksum: btrfs_finish_ordered_io() inserts an extent's item and its
  // checksums in one transaction, and a checksum goes only with its whole
  // extent (btrfs_free_extent -> btrfs_del_csums). No inode here is
  // NODATASUM, so a block without one is a csum hole, which v5.13's read
  // (btrfs_lookup_bio_sums: "csum hole found") fails with -EIO. False if
  // one was reported.
  //
  // And the converse, as btrfs check has it ("there are no extents for
  // csum range"): no committed checksum for disk bytes no committed item
  // points at. An extent's checksums are deleted in the transaction that
  // drops its last item; one left behind names a freed extent's blocks,
  // and fails the next extent allocated there that has no checksum of
  // its own.
  bool CheckCsumHoles(Scheduler& s, const fs::PersistentState& p, const std::string& where) {
    if (std::vector<uint64_t> orphans = p.UnreferencedCsums(); !orphans.empty()) {
      Report(s, FindingKind::kChecksum, "checksum:csum_without_extent",
             "btrfs check " + where + ": there are no extents for csum range [" +
                 std::to_string(orphans.front()) + ", " + std::to_string(orphans.front() + kPageSize) +
                 ") (" + std::to_string(orphans.size()) +
                 " committed checksum(s) of disk bytes no committed file extent item points at)");
      return false;
    }
    return !ForEachItemBlock(p, [&](size_t i, uint64_t logical, uint64_t offset) {
      if (p.csums.count(logical) != 0) return false;
      Report(s, FindingKind::kChecksum, "checksum:csum_hole",
             "BTRFS warning: csum hole found for disk bytenr range [" + std::to_string(logical) +
                 ", " + std::to_string(logical + kPageSize) + ") " + where + ": file '" +
                 spec_->files[i] + "', offset " + std::to_string(offset) +
                 ", is committed data with no committed checksum (a read of it fails with -EIO)");
      return true;
    });
  }

  // Read repair, judged on the device: a sector the bitrot fault
  // corrupted was found by a read, and the block it holds is still
  // file data with another good copy (one device rots, at most once a
  // run), so btrfs's read repair (repair_io_failure()) must have rewritten
  // it, whether the read went through the page cache, readahead or a
  // compressed extent. A corrupted copy still standing at the end is a
  // repair that never happened or went to the wrong copy. The rest of the
  // disk check reads what was written (the device's ReadSectors never
  // shows the rot), so a repair the next flush has not made durable is
  // not held against it.
  void CheckRepairs(Scheduler& s, const fs::PersistentState& p) {
    for (size_t d = 0; d < array_->size(); ++d) {
      const std::optional<sim::BitRot> rot = array_->device(d).StandingRot();
      if (!rot) continue;
      const uint64_t at = rot->sector * 512;
      const bool reported = ForEachItemBlock(p, [&](size_t i, uint64_t logical, uint64_t offset) {
        const fs::Chunk* c = ChunkAt(logical);
        fs::Stripe st;
        uint64_t contiguous = 0;
        for (int copy = 0; c != nullptr && OnDisk(*c, logical - c->logical, copy, &st, &contiguous);
             ++copy) {
          if (st.device != d || at < st.physical || at >= st.physical + kPageSize) continue;
          Report(s, FindingKind::kChecksum, "checksum:unrepaired",
                 "BTRFS: read repair left a bad copy: " + array_->device(d).config().name +
                     " sector " + std::to_string(rot->sector) + " (file '" + spec_->files[i] +
                     "', offset " + std::to_string(offset) + ", copy " + std::to_string(copy) +
                     ") rotted, a read found it (request #" + std::to_string(rot->read_seq) +
                     "), and at the end of the run it still holds the corrupted bytes "
                     "although another copy is good: repair_io_failure() did not rewrite it");
          return true;
        }
        return false;
      });
      if (reported) return;
    }
  }

  // The disk check when devices fail I/O by design (io_errors,
  // device_failure), at the end of a run without a power cut (after one,
  // the crash check judges): the durable metadata is mounted once and
  // every copy of every file read once, for two checks.
  //
  // Checksums: fsync may fail and data may be lost, so the data is not
  // compared with the page cache; but what the durable metadata commits
  // must be what was written. A write that failed leaves its ordered
  // extent with an error, and btrfs_finish_ordered_io() then inserts no
  // file extent item and no checksum: every block a committed item points
  // at passes its committed checksum on at least one copy. A block that
  // fails on every copy is a failed write committed as if it had
  // succeeded (or a checksum of other data), which the next read returns
  // as -EIO.
  //
  // fsync: a power cut now would leave the durable images, so every byte
  // an fsync that returned 0 pinned (CheckFsyncIntegrity) must be there,
  // on some copy that passes its checksum, as a read with repair would
  // find it. A write that failed may lose its data, but the error must
  // reach an fsync: one that returned 0 although the data never reached
  // the disk (an error dropped on the way from the bio to the ordered
  // extent, the mapping or fsync's return, or a failed flush treated as
  // done) is this finding.
  void CheckDiskAfterFaults(Scheduler& s) {
    if (PowerCutHappened()) return;  // the crash check's
    // With no power cut, failed writes leave what the sectors held, so the
    // durable image must mount: a superblock naming a log record or
    // checkpoint whose write failed is an unmountable filesystem.
    std::optional<fs::PersistentState> mounted =
        MountDurable(s, "mount at the end of the run (devices failing I/O): ");
    if (!mounted) return;
    const fs::PersistentState& p = *mounted;
    if (!CheckCsumHoles(s, p, "at the end of the run (devices failing I/O)")) return;
    const int copies = DataCopies();
    // A block an item commits was written by a write that succeeded, so at
    // most the copies its profile tolerates losing may fail their
    // checksums; any number may where a device corrupts sectors silently.
    const int tolerated = BitrotInjected() ? copies - 1 : DataToleratedFailures();
    // The commit that made such a block's item durable had device 0's
    // PREFLUSH succeed (the superblock's); a profile that may lose a
    // device commits past another device's failed flush.
    const bool flush_loss_tolerated = DataToleratedFailures() >= 1;
    bool csum_reported = false;
    std::vector<model::FileState> found(files_.size());
    for (size_t i = 0; i < files_.size(); ++i) {
      std::vector<uint8_t>& bytes = found[i].bytes;
      std::map<uint64_t, int> failing;  // file offset -> copies failing there
      std::set<uint64_t> unread;  // file offsets of blocks no copy read so far passes
      for (int mirror = 0; mirror < copies; ++mirror) {
        std::vector<uint8_t> got;
        std::string why;
        std::vector<uint64_t> csum_bad;
        std::vector<size_t> bad_device;
        std::vector<bool> flush_lost;
        if (!ReadFromDisk(p, i, mirror, &got, &why, &csum_bad, &bad_device, &flush_lost)) return;
        const std::set<uint64_t> now(csum_bad.begin(), csum_bad.end());
        // A copy whose write succeeded but whose device then failed the
        // flush that was to make it durable is not a committed failed
        // write: v5.13 commits once the array stays rw-degradable
        // (barrier_all_devices), and a second device's failure may then
        // cost the block its last good copy. Counted only if another of
        // its blocks in the same offset failed otherwise, and only for a
        // profile that tolerates a failed device (btrfs_check_rw_degradable;
        // with none, a failed flush must fail the commit).
        std::set<uint64_t> counted;
        for (size_t k = 0; k < csum_bad.size(); ++k) {
          if (!flush_lost[k] || !flush_loss_tolerated) counted.insert(csum_bad[k]);
        }
        for (uint64_t off : counted) ++failing[off];  // a compressed extent's blocks share one offset
        // A copy on a device that never fails may not be bad: every write
        // to it succeeded, and an item commits only after all its copies'
        // writes ended (the failures a profile tolerates are the failing
        // devices' copies, not any copy).
        for (size_t k = 0; k < csum_bad.size() && !csum_reported; ++k) {
          const sim::DeviceConfig& dev = array_->device(bad_device[k]).config();
          if (Faulty(dev)) continue;
          Report(s, FindingKind::kChecksum, "checksum:on_disk:healthy_copy",
                 "BTRFS warning: csum failed: file '" + spec_->files[i] + "' offset " +
                     std::to_string(csum_bad[k]) + " copy " + std::to_string(mirror) + " on " +
                     dev.name + ", a device that never failed an I/O (devices failing I/O: " +
                     FailingDevices() + "): the copy was never written, written elsewhere, or "
                     "overwritten");
          csum_reported = true;
        }
        if (mirror == 0) {
          bytes = std::move(got);
          unread = now;
          continue;
        }
        // Blocks no earlier copy passed are taken from this one if it
        // passes: the block, or a compressed extent's whole range (its
        // checksums cover the encoded bytes: it decodes whole or not).
        for (auto it = unread.begin(); it != unread.end();) {
          if (now.count(*it) != 0) {
            ++it;
            continue;
          }
          const uint64_t off = *it;
          uint64_t len = kPageSize;
          const auto& items = p.extents.at(kFirstIno + i);
          if (auto at = items.upper_bound(off); at != items.begin()) {
            --at;
            if (at->second.compression != 0) len = at->second.num_bytes;
          }
          const uint64_t n = std::min<uint64_t>(len, bytes.size() - std::min<uint64_t>(off, bytes.size()));
          std::memcpy(bytes.data() + off, got.data() + off, n);
          it = unread.erase(it);
        }
      }
      for (const auto& [off, n] : failing) {
        if (csum_reported || n <= tolerated) continue;
        const std::string which = n == copies ? "every copy" : std::to_string(n) + " of " +
                                                                   std::to_string(copies) + " copies";
        Report(s, FindingKind::kChecksum, "checksum:on_disk:after_io_error",
               "BTRFS warning: csum failed on " + which + " (" + fs::ProfileName(spec_->data_profile) +
                   " tolerates " + std::to_string(tolerated) + " failed cop" +
                   (tolerated == 1 ? "y" : "ies") + " per write): file '" + spec_->files[i] +
                   "' offset " + std::to_string(off) +
                   " as the durable metadata commits it (devices failing I/O): a write that "
                   "failed was committed as written, or its checksum was another block's");
        csum_reported = true;
      }
    }
    CheckFsyncIntegrity(s, found, "on disk at the end of the run (devices failing I/O)",
                        "crash_inconsistency:fsync_returned_0_data_lost");
  }

  // The end-of-run disk check. Settle has written back and fsync'd every
  // file, and fsync returned 0 for each, so the media must now hold what
  // the page cache showed: a power cut at this moment would leave exactly
  // the durable images read here. For each file, the metadata is mounted
  // from device 0's durable image and every copy of every extent is read
  // from its device's media and compared with the file as read at the end
  // (which the linearizability check judged). Data right in memory but
  // wrong or missing on disk is seen here: a page never written back, a
  // mirror that missed a write, a device not flushed before the commit,
  // an i_size made durable before its data, a stale extent item.
  void CheckDisk(Scheduler& s) {
    // After a power cut or with injected faults fsync may fail, and the
    // crash check, not this one, judges what survives.
    if (FaultsInjected() || EnospcInjected() || PowerCutHappened()) return;
    std::optional<fs::PersistentState> mounted = MountDurable(s, "mount after the final fsync: ");
    if (!mounted) return;
    const fs::PersistentState& p = *mounted;
    if (!CheckCsumHoles(s, p, "after the final fsync")) return;
    CheckRepairs(s, p);
    const int copies = DataCopies();
    for (size_t i = 0; i < files_.size(); ++i) {
      const std::vector<uint8_t>& want = files_[i].final;
      for (int mirror = 0; mirror < copies; ++mirror) {
        std::vector<uint8_t> got;
        std::string why;
        std::vector<uint64_t> csum_bad;
        if (!ReadFromDisk(p, i, mirror, &got, &why, &csum_bad)) {
          Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:unmapped", why);
          return;
        }
        const std::string& name = spec_->files[i];
        if (!csum_bad.empty()) {
          Report(s, FindingKind::kChecksum, "checksum:on_disk",
                 "BTRFS warning: after the final fsync, file '" + name + "' copy " +
                     std::to_string(mirror) + " fails its checksum at file offset " +
                     std::to_string(csum_bad.front()) + " (" + std::to_string(csum_bad.size()) +
                     " block(s))");
        }
        if (got == want) continue;
        std::string report = "data on disk differs from the page cache after the final fsync: file '" +
                             name + "', copy " + std::to_string(mirror) + " of " +
                             std::to_string(copies) + ": disk has " + std::to_string(got.size()) +
                             " bytes, the page cache " + std::to_string(want.size());
        const size_t n = std::min(got.size(), want.size());
        size_t at = 0;
        while (at < n && got[at] == want[at]) ++at;
        if (at < n) {
          char where[160];
          std::snprintf(where, sizeof where,
                        "; first difference at byte %zu (page %zu): disk 0x%02x, page cache 0x%02x",
                        at, at / kPageSize, got[at], want[at]);
          report += where;
        }
        Report(s, FindingKind::kDataMismatch,
               std::string("data_mismatch:on_disk") + (copies > 1 ? ":copy" + std::to_string(mirror) : ""),
               report);
        break;
      }
    }
  }

  // The fsync integrity oracle, for any number of fibers changing files:
  // when fsync returned 0, every byte written to the file by a write that
  // completed before that fsync began is durable, unless a later change
  // may have replaced it. Judged per byte: a byte is pinned by fsync F if
  // every write covering it that began before the power cut had completed
  // before F began, one after another (so their order, hence the byte's
  // content, is known); a pinned byte must then be in the remounted file,
  // within its size, as the last of them wrote it. A write racing F pins
  // nothing it covers, but the bytes of its page it does not cover keep
  // what earlier writes made durable. Files with changes that shrink or
  // zero (truncate, punch hole, zero range, fallocate) are left to the
  // state check below.
  //
  // A writeback error is reported once (AS_EIO, or the errseq a file
  // samples): to whichever fsync checks first. So data whose write failed
  // may be missing after a later fsync returned 0, if an fsync that failed
  // may have been the one to report it: a write is not pinned by F when an
  // fsync of the file that failed returned after the write began and
  // began before F returned. `where` says what `found` is ("after the
  // remount").
  void CheckFsyncIntegrity(Scheduler& s, const std::vector<model::FileState>& found,
                           const std::string& where, const std::string& signature) {
    for (size_t file = 0; file < files_.size(); ++file) {
      if (!CheckFileFsyncIntegrity(s, file, found[file].bytes, where, signature)) return;
    }
  }

  // One file's part of CheckFsyncIntegrity; false once it reported.
  bool CheckFileFsyncIntegrity(Scheduler& s, size_t file, const std::vector<uint8_t>& got,
                               const std::string& where, const std::string& signature) {
    // Without failed fsyncs, a byte pinned by an fsync is pinned, with the
    // same content, by every later one of the same file: the last fsync
    // says all. With them, each says what it pins. (An fsync that failed
    // at or after the power cut failed for the dead devices, not for a
    // write error it reported: it excuses nothing, so it does not count.)
    bool failures = false;
    const FsyncPromise* last = nullptr;
    for (const FsyncPromise& f : fsyncs_) {
      if (f.file != file) continue;
      failures |= !f.ok && f.response < cut_clock_;
      if (f.ok && (last == nullptr || last->invoke < f.invoke)) last = &f;
    }
    if (last == nullptr) return true;
    std::vector<const FsyncPromise*> promises;
    for (const FsyncPromise& f : fsyncs_) {
      if (f.file == file && f.ok && (failures || &f == last)) promises.push_back(&f);
    }
    // The file's writes (which do not depend on the fsync judged), in
    // invocation order: for pinned writes, the order they ran in.
    std::vector<const Change*> writes;
    for (const Change& c : changes_) {
      if (c.file != file || c.invoke > cut_clock_) continue;
      if (c.op.kind != model::FileOpKind::kWrite) return true;
      writes.push_back(&c);
    }
    std::sort(writes.begin(), writes.end(),
              [](const Change* a, const Change* b) { return a->invoke < b->invoke; });
    // Each page in segments over which the set of writes covering a byte
    // does not change, with the writes covering each segment.
    struct Segment {
      uint64_t lo, hi;
      std::vector<const Change*> cover;  // in invocation order
    };
    std::map<uint64_t, std::vector<const Change*>> by_page;
    for (const Change* c : writes) {
      if (c->op.data.empty()) continue;
      const uint64_t first = c->op.offset / kPageSize;
      const uint64_t end_page = (c->op.offset + c->op.data.size() - 1) / kPageSize;
      for (uint64_t p = first; p <= end_page; ++p) by_page[p].push_back(c);
    }
    std::vector<Segment> segments;
    for (const auto& [page, cs] : by_page) {
      const uint64_t start = page * kPageSize, end = start + kPageSize;
      std::vector<uint64_t> cuts{start, end};
      for (const Change* c : cs) {
        cuts.push_back(std::clamp<uint64_t>(c->op.offset, start, end));
        cuts.push_back(std::clamp<uint64_t>(c->op.offset + c->op.data.size(), start, end));
      }
      std::sort(cuts.begin(), cuts.end());
      cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
      for (size_t seg = 0; seg + 1 < cuts.size(); ++seg) {
        Segment g{cuts[seg], cuts[seg + 1], {}};
        for (const Change* c : cs) {
          if (c->op.offset <= g.lo && g.lo < c->op.offset + c->op.data.size()) g.cover.push_back(c);
        }
        if (!g.cover.empty()) segments.push_back(std::move(g));
      }
    }
    for (const FsyncPromise* promise : promises) {
      const FsyncPromise& f = *promise;
      // Whether a failed fsync may have reported the loss of `c`'s data
      // instead of F.
      auto reported = [&](const Change& c) {
        for (const FsyncPromise& g : fsyncs_) {
          if (g.file == f.file && !g.ok && g.response > c.invoke && g.invoke < f.response &&
              g.response < cut_clock_) {
            return true;
          }
        }
        return false;
      };
      for (const Segment& g : segments) {
        const uint64_t lo = g.lo, hi = g.hi;
        const Change* prev = nullptr;
        bool pinned = true;
        for (const Change* c : g.cover) {
          pinned = c->response < f.invoke && (prev == nullptr || prev->response < c->invoke);
          if (!pinned) break;
          prev = c;
        }
        if (!pinned || prev == nullptr || reported(*prev) || prev->copy_after_failure) continue;
        if (hi <= got.size() &&
            std::memcmp(got.data() + lo, prev->op.data.data() + (lo - prev->op.offset), hi - lo) == 0) {
          continue;  // the common case: the segment reads back whole
        }
        for (uint64_t b = lo; b < hi; ++b) {
          const uint8_t want = prev->op.data[b - prev->op.offset];
          if (b < got.size() && got[b] == want) continue;
          char detail[200];
          std::snprintf(detail, sizeof detail,
                        "byte %llu (page %llu) %s %s, written as 0x%02x by a "
                        "write that completed before fsync began",
                        static_cast<unsigned long long>(b), static_cast<unsigned long long>(b / kPageSize),
                        b < got.size() ? "differs" : "is past the file's end", where.c_str(), want);
          std::string value = b < got.size() ? " (it reads 0x" + Hex(got[b]) + ")" : "";
          Report(s, FindingKind::kCrashInconsistency, signature,
                 "crash inconsistency: fsync returned 0, but " + std::string(detail) + value +
                     " in file '" + spec_->files[f.file] + "'");
          return false;
        }
      }
    }
    return true;
  }

  static std::string Hex(uint8_t v) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", v);
    return buf;
  }

  // After the power cut: mount the durable image, read each file through
  // its extents, and compare with the states fsync allows.
  void Remount(Scheduler& s) {
    // The log is mounted from device 0's durable image; file data is read
    // from each disk's durable contents through the chunk mapping (mirror
    // 0 of a copy profile, one of the copies a read may pick).
    std::optional<fs::PersistentState> mounted = MountDurable(s, "mount: ");
    if (!mounted) return;
    const fs::PersistentState& p = *mounted;
    if (!CheckCsumHoles(s, p, "after the power cut")) return;
    // The data the remount reads must pass its checksums: every extent
    // the committed metadata points at was written and flushed before
    // that commit, so a block that fails is a read the user gets EIO for
    // (unless faults were injected: then a copy may be legitimately bad).
    const bool faults = FaultsInjected();
    std::vector<model::FileState> found(files_.size());
    for (size_t i = 0; i < files_.size(); ++i) {
      std::string why;
      std::vector<uint64_t> csum_bad;
      // With faults a copy may be bad: read as btrfs does, repairing from
      // a good one.
      if (!ReadFromDisk(p, i, faults ? kRepairMirror : 0, &found[i].bytes, &why, faults ? nullptr : &csum_bad)) {
        Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:unmapped", why);
        return;
      }
      if (!csum_bad.empty()) {
        Report(s, FindingKind::kChecksum, "checksum:after_power_cut",
               "BTRFS warning: after the power cut and remount, file '" + spec_->files[i] +
                   "' fails its checksum at file offset " + std::to_string(csum_bad.front()) +
                   " (" + std::to_string(csum_bad.size()) +
                   " block(s)): the committed metadata points at data that was not durable");
      }
    }
    CheckFsyncIntegrity(s, found, "after the remount", "crash_inconsistency:fsync_lost");
    // The whole-state check: with one fiber changing files, the remounted
    // files are the state after some prefix of its changes, at least as
    // long as the last fsync's, with any of the stores through mmap that
    // followed it (TornStoresAllowed). With several, their order is not
    // one. With the ENOSPC fault a write may be dropped (reported to
    // fsync), so no prefix need match: the fsync oracle above judges.
    // A file a commit of another file's fsync caught between writebacks
    // of its own is in no such state (FsyncBegins): then each file no
    // such commit caught is judged alone, against its own changes.
    // A data write that failed (an I/O error before the cut) loses its
    // bytes while later changes commit (its ordered extent inserts no
    // item), as a dropped -ENOSPC write does: no prefix need match then.
    if (changers_ > 1 || EnospcInjected() || failed_before_cut_) return;
    if (std::none_of(caught_.begin(), caught_.end(), [](bool c) { return c; })) {
      bool allowed = false;
      ForEachState(promised_, [&](size_t, size_t, const std::vector<model::FileState>& state) {
        return allowed = found == state;
      });
      if (allowed || TornStoresAllowed(found, promised_)) return;
      std::string sizes;
      for (const model::FileState& f : found) sizes += (sizes.empty() ? "" : ", ") + std::to_string(f.bytes.size());
      Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:fsync_lost",
             "crash inconsistency: after a power cut the remounted file" +
                 std::string(files_.size() > 1 ? "s (" : " (") + sizes +
                 " bytes) is not the state of fsync #" + std::to_string(promised_) +
                 " or of any later commit" + Nearest(found, promised_));
      return;
    }
    for (size_t f = 0; f < files_.size(); ++f) {
      if (caught_[f]) {
        if (!CheckCaughtFile(s, f, found[f])) return;
        continue;
      }
      const size_t from = promised_per_file_[f];
      bool allowed = false;
      ForEachState(from, [&](size_t, size_t, const std::vector<model::FileState>& state) {
        return allowed = found[f] == state[f];
      }, f);
      if (allowed || TornStoresAllowed(found, from, f)) continue;
      Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:fsync_lost",
             "crash inconsistency: after a power cut the remounted file '" + spec_->files[f] + "' (" +
                 std::to_string(found[f].bytes.size()) + " bytes) is not its state after its change #" +
                 std::to_string(from) + " (the last its fsync covered) or after any later change of it" +
                 Nearest(found, from, f));
      return;
    }
  }

  // A file a commit of another file's fsync caught (FsyncBegins) may hold
  // any mix of its pages from between its changes, at a size no change
  // left (disk_i_size raised by some of a write's ordered extents), but no
  // byte from nowhere: each byte within its size is zero or the byte some
  // state after a prefix of its changes holds there. A byte past an old
  // EOF that a growth revealed unzeroed, or another file's data through a
  // stale extent, is neither. Returns false if it reported.
  bool CheckCaughtFile(Scheduler& s, size_t f, const model::FileState& found) {
    const std::vector<uint8_t>& got = found.bytes;
    std::vector<bool> seen(got.size());
    size_t left = 0;
    for (size_t x = 0; x < got.size(); ++x) {
      seen[x] = got[x] == 0;
      if (!seen[x]) ++left;
    }
    ForEachState(0, [&](size_t, size_t, const std::vector<model::FileState>& state) {
      const std::vector<uint8_t>& bytes = state[f].bytes;
      for (size_t x = 0; x < std::min(bytes.size(), got.size()) && left > 0; ++x) {
        if (!seen[x] && bytes[x] == got[x]) {
          seen[x] = true;
          --left;
        }
      }
      return left == 0;
    }, f);
    if (left == 0) return true;
    const size_t x = static_cast<size_t>(std::find(seen.begin(), seen.end(), false) - seen.begin());
    Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:stale_bytes",
           "crash inconsistency: after a power cut the remounted file '" + spec_->files[f] + "' (" +
               std::to_string(got.size()) + " bytes) reads 0x" + Hex(got[x]) + " at byte " +
               std::to_string(x) + " (page " + std::to_string(x / kPageSize) +
               "), which no change of it ever put there, nor zero (" + std::to_string(left) +
               " such byte(s))");
    return false;
  }

  // The allowed state the remounted files are nearest to (the longest
  // common prefix), and where they first differ from it.
  std::string Nearest(const std::vector<model::FileState>& found, size_t from, size_t only = kAllFiles) const {
    size_t best = from, best_at = 0, best_file = 0, states = from;
    std::vector<uint8_t> a, b;  // the nearest state's differing file, and found's
    ForEachState(from, [&](size_t st, size_t, const std::vector<model::FileState>& state) {
      states = st;
      for (size_t i = 0; i < found.size(); ++i) {
        if (only != kAllFiles && i != only) continue;
        const std::vector<uint8_t>& want = state[i].bytes;
        size_t at = 0;
        while (at < found[i].bytes.size() && at < want.size() && found[i].bytes[at] == want[at]) ++at;
        if (found[i].bytes == want) continue;
        if (st == from || at > best_at) best = st, best_at = at, best_file = i, b = want;
        break;
      }
      return false;
    }, only);
    if (best > states) return "";
    a = found[best_file].bytes;
    std::string r = "; nearest is state #" + std::to_string(best) + " of " +
                    std::to_string(states) + " (" + std::to_string(b.size()) +
                    " bytes), first difference at byte " + std::to_string(best_at);
    if (best_at < a.size() && best_at < b.size()) {
      r += ": 0x" + Hex(a[best_at]) + " on disk, 0x" + Hex(b[best_at]) + " in the state";
    }
    return r;
  }

  std::shared_ptr<const ScenarioSpec> spec_;
  fs::FsConfig config_;
  std::unique_ptr<sim::BlockArray> array_;
  std::unique_ptr<fs::BtrfsFs> fs_;
  std::vector<File> files_;
  // Per file: the reference model of the fsx log replayed on it (one fsx
  // fiber per file, its only reader and changer), or none.
  std::vector<std::optional<model::FileState>> fsx_model_;
  bool settled_ = false;
  bool unmounted_ = false;  // Settle evicted every inode (CheckLeaks may look)
  std::vector<uint8_t> last_read_;  // what the last kRead returned (fsx's check)
  uint64_t clock_ = 0;
  std::unique_ptr<sim::Completion> done_;
  // Crash check: invoked_[k] is the (k+1)th changing operation invoked
  // (state #k is every file after the first k), promised_ the number an
  // fsync made durable.
  bool crash_check_ = false;
  bool track_changes_ = false;  // changes_ kept (crash check, or faults)
  // JudgeDedupe's record, per file, when the scenario dedupes: changes in
  // flight, changes invoked or ended so far, and the bytes its changes
  // made while none overlapped another (nullopt once two did).
  bool judge_dedupe_ = false;
  std::vector<uint64_t> in_flight_, change_events_;
  std::vector<std::optional<model::FileState>> sequential_;
  std::vector<std::pair<size_t, model::FileOp>> invoked_;
  std::vector<bool> store_;  // per invoked_: a store through mmap
  uint64_t changes_done_ = 0;
  uint64_t promised_ = 0;
  // Per file: its changes invoked and done, the number of them its last
  // successful fsync covered, whether it has changes no fsync of it has
  // covered yet, its fsyncs in flight, and whether a commit of another
  // file's fsync caught it with such changes (FsyncBegins).
  std::vector<uint64_t> invoked_per_file_, done_per_file_, promised_per_file_;
  std::vector<bool> unsynced_, caught_;
  std::vector<uint32_t> syncing_;
  // The fsync integrity oracle (crash checks only): every completed change
  // with its clock ticks, every fsync that returned 0 with its start, and
  // the tick of the power cut.
  struct Change {
    size_t file;
    model::FileOp op;
    uint64_t invoke, response;
    // A clone made after a write failed (an I/O error or -ENOSPC at
    // writeback): the source's cached bytes it was recorded with may not
    // be what it shared, the source's extents on disk (v5.13's clone
    // waits for the source range, but an error another path already
    // consumed does not stop it).
    bool copy_after_failure = false;
  };
  // Every fsync (the application's and settle's): a promise if it
  // returned 0; one that failed reported an error, and may have been the
  // one to report the loss of data written before it returned.
  struct FsyncPromise {
    size_t file;
    uint64_t invoke, response;
    bool ok;
  };
  std::vector<Change> changes_;
  std::vector<FsyncPromise> fsyncs_;
  // By task (fiber name) and file: the per-device error counts when its
  // last two fsyncs of the file began (CheckFsyncFailure reads the one
  // before last).
  std::map<std::pair<std::string, size_t>, std::vector<std::vector<uint64_t>>> fsync_error_marks_;
  // -ENOSPC failures of fsync per task and file (CheckFsyncFailure).
  std::map<std::pair<std::string, size_t>, uint64_t> enospc_reports_;
  uint64_t cut_clock_ = ~uint64_t{0};
  bool failed_before_cut_ = false;  // a request failed (or an allocation) before the power cut
  size_t changers_ = 0;  // fibers with operations that change files
};

}  // namespace

const std::vector<uint8_t>& LastFsxFinalBytes() { return fsx_final_bytes; }

Scenario FsScenarioFromSpec(ScenarioSpec spec, std::string source) {
  auto shared = std::make_shared<const ScenarioSpec>(std::move(spec));
  Scenario s;
  s.name = shared->name;
  s.description = shared->description;
  s.default_suite = shared->default_suite;
  s.suite_orders = shared->suite_orders;
  s.config_keys = FsConfigKeys();
  s.defaults = shared->config;
  s.bind = [shared](const model::Config& config) -> ProgramFactory {
    fs::FsConfig c = ParseFsConfig(config);
    if (std::string problem = MetadataFitProblem(*shared, c.log_len); !problem.empty()) {
      throw ConfigError{"scenario " + shared->name + ": " + problem};
    }
    return [shared, c] { return std::make_unique<FsWorld>(shared, c); };
  };
  s.source = std::move(source);
  s.json = shared->json;
  if (shared->memory_declared) {
    // The budget sets the dirty limits too (20% of it): a scenario whose
    // writers reach them uses its budget without reclaiming.
    s.intents.push_back({"reclaim:|balance_dirty_pages:",
                         "a memory budget (memory.budget_pages), but no run reclaimed or reached its "
                         "dirty limits"});
  }
  if (shared->power_cut_ns) s.intents.push_back({"power_cut", "a power cut, but no run reached it"});
  for (const sim::DeviceConfig& d : shared->devices) {
    if (d.fault_io_errors || d.fault_io_error_once || d.fault_read_error_once) {
      s.intents.push_back({"block:io_error", "I/O errors on " + d.name + ", but none was injected"});
    }
    if (d.fault_device_failure) {
      s.intents.push_back({"block:device_failed", d.name + " failing, but it never failed"});
    }
  }
  return s;
}

void RegisterFsPrograms(std::vector<Scenario>& out) {
  for (const EmbeddedScenarioFile& file : EmbeddedScenarioFiles()) {
    std::string error;
    std::optional<ScenarioSpec> spec = ParseScenario(file.text, &error);
    if (!spec) {
      std::string message = std::string("built-in scenario ") + file.path + ": " + error;
      FSIM_CHECK_MSG(spec, message.c_str());
    }
    out.push_back(FsScenarioFromSpec(std::move(*spec), file.path));
  }
}

}  // namespace fsim::scenarios
