// Built-in filesystem scenarios (registered in code until scenarios become
// data files): the btrfs model on iomap driven through its real paths and
// judged by the oracles: the reference file model with a linearizability
// check (data_mismatch), the page cache's invariants (warn), ordered
// extents left pending (warn), and, after a power cut and a remount from
// the durable image, what fsync promised (crash_inconsistency).
//
// Configuration: order=NAME (a lock-order variant, scenarios/orders/;
// default legacy), bug=NAME (an injected mistake, fs/btrfs_inode.h).
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fs/btrfs_inode.h"
#include "model/file_model.h"
#include "scenarios/fs_config.h"
#include "scenarios/registry.h"
#include "sim/memory.h"

namespace fsim::scenarios {
namespace {

using fs::kPageSize;
using sim::Finding;
using sim::FindingKind;
using sim::Scheduler;

sim::DeviceConfig Disk(const std::string& name) {
  sim::DeviceConfig d;
  d.name = name;
  d.capacity_sectors = 16384;  // 8 MiB
  d.latency_choices = 2;
  return d;
}

void Report(Scheduler& s, FindingKind kind, std::string signature, std::string report) {
  Finding f;
  f.kind = kind;
  f.signature = std::move(signature);
  f.report = std::move(report);
  s.Report(std::move(f));
}

// The world of one run: memory under pressure, one disk, the filesystem,
// one file, and the history of completed operations.
class FsWorld : public sim::Program {
 public:
  explicit FsWorld(fs::FsConfig config) : config_(config) {}

 protected:
  void Build(Scheduler& s, uint64_t budget_pages, uint32_t latency_choices = 2) {
    sim::MemoryConfig m;
    m.budget_pages = budget_pages;
    m.low_pages = budget_pages * 2 / 3;
    m.high_pages = budget_pages / 2;
    sim::Memory::Of(s).Configure(m);
    sim::DeviceConfig disk = Disk("vda");
    disk.latency_choices = latency_choices;
    array_ = std::make_unique<sim::BlockArray>(s, std::vector<sim::DeviceConfig>{disk});
    fs_ = std::make_unique<fs::BtrfsFs>(s, *array_, config_);
    inode_ = std::make_unique<fs::BtrfsInode>(*fs_, 257);
  }

  // Spawns each worker; when all have returned, a last fiber settles the
  // world (Settle) for Finish to judge.
  void SpawnWorkers(Scheduler& s,
                    std::vector<std::pair<std::string, std::function<void()>>> workers) {
    done_ = std::make_unique<sim::Completion>(s, "workers_done");
    const size_t n = workers.size();
    for (auto& [name, body] : workers) {
      s.Spawn(name, [this, body = std::move(body)] {
        body();
        done_->Complete();
      });
    }
    s.Spawn("settle", [this, n, &s] {
      for (size_t i = 0; i < n; ++i) done_->Wait();
      Settle(s);
    });
  }

  void Write(const std::string& who, uint64_t off, std::vector<uint8_t> data) {
    uint64_t invoke = ++clock_;
    inode_->BufferedWrite(off, data);
    model::FileOp op;
    op.kind = model::FileOpKind::kWrite;
    op.offset = off;
    op.data = std::move(data);
    Record(op, invoke, {}, who);
  }

  void ReadAll(const std::string& who, uint64_t off, uint64_t len) {
    uint64_t invoke = ++clock_;
    std::vector<uint8_t> got = inode_->Read(off, len);
    model::FileOp op;
    op.kind = model::FileOpKind::kRead;
    op.offset = off;
    op.length = len;
    Record(op, invoke, got, who);
  }

  void Record(const model::FileOp& op, uint64_t invoke, const std::vector<uint8_t>& result,
              const std::string& who) {
    // Linux makes buffered I/O atomic per page only: check it per page.
    model::RecordPerPage(history_, op, invoke, result, who, kPageSize, clock_);
  }

  // truncate(5000), then back to three pages, recorded.
  void TruncateDownUp() {
    for (uint64_t size : {uint64_t{5000}, uint64_t{3 * kPageSize}}) {
      uint64_t invoke = ++clock_;
      inode_->Truncate(size);
      model::FileOp op;
      op.kind = model::FileOpKind::kTruncate;
      op.offset = size;
      Record(op, invoke, {}, "truncate");
    }
  }

  // Runs in the last fiber: the file as read, invariants, nothing pending.
  void Settle(Scheduler& s) {
    final_ = inode_->Read(0, 1 << 20);
    inode_->Fsync();
    for (const std::string& v : inode_->mapping().CheckInvariants(inode_->i_size())) {
      Report(s, FindingKind::kWarn, "warn:page_cache_invariant", v);
    }
    for (const fs::ExtentState& st : inode_->io_tree().States()) {
      if (st.bits & fs::kExtentLocked) {
        Report(s, FindingKind::kWarn, "warn:extent_left_locked",
               "WARNING: extent range [" + std::to_string(st.start) + ", " +
                   std::to_string(st.end) + "] of ino 257 left locked");
      }
    }
    if (!inode_->ordered().Pending().empty()) {
      Report(s, FindingKind::kWarn, "warn:ordered_extent_pending",
             "WARNING: ordered extents still pending after fsync");
    }
  }

  void Judge(Scheduler& s) {
    model::FileState final_state{final_};
    model::Linearization l = model::CheckLinearizable(model::FileState{}, history_, &final_state);
    if (l.ok) return;
    std::string report = "data mismatch: " + l.why + "\n  history (per page):";
    for (const model::OpRecord& r : history_) {
      report += "\n    " + r.who + " " + model::FileOpName(r.op.kind) + " [" +
                std::to_string(r.op.offset) + ", +" +
                std::to_string(r.op.kind == model::FileOpKind::kWrite ? r.op.data.size()
                                                                      : r.op.length) +
                ") @" + std::to_string(r.invoke) + "-" + std::to_string(r.response);
    }
    report += "\n  the file as read at the end (" + std::to_string(final_.size()) + " bytes):";
    for (size_t i = 0; i < final_.size();) {
      size_t j = i;
      while (j < final_.size() && final_[j] == final_[i]) ++j;
      char run[64];
      std::snprintf(run, sizeof run, " [%zu,%zu)=0x%02x", i, j, final_[i]);
      report += run;
      i = j;
    }
    Report(s, FindingKind::kDataMismatch, "data_mismatch:file", report);
  }

  fs::FsConfig config_;
  std::unique_ptr<sim::BlockArray> array_;
  std::unique_ptr<fs::BtrfsFs> fs_;
  std::unique_ptr<fs::BtrfsInode> inode_;
  std::vector<model::OpRecord> history_;
  std::vector<uint8_t> final_;
  uint64_t clock_ = 0;
  std::unique_ptr<sim::Completion> done_;
};

// Two writers on overlapping ranges, a reader, the flusher and fsync,
// under memory pressure (kswapd writing pages back).
class Writers final : public FsWorld {
 public:
  using FsWorld::FsWorld;
  void Start(Scheduler& s) override {
    Build(s, 12);
    SpawnWorkers(s, {
        {"writer_a", [this] { Write("writer_a", 1000, std::vector<uint8_t>(6000, 0xaa)); }},
        {"writer_b", [this] { Write("writer_b", 3000, std::vector<uint8_t>(6000, 0xbb)); }},
        {"reader", [this] { ReadAll("reader", 0, 3 * kPageSize); }},
        {"flusher", [this] { inode_->WritebackAll(); }},
        {"fsync", [this] { inode_->Fsync(); }},
    });
  }
  void Finish(Scheduler& s) override { Judge(s); }
};

// Writers, a truncate down and back up, the flusher and a reader: the
// truncated range must read as zeroes afterwards, whatever writeback did.
class Truncate final : public FsWorld {
 public:
  using FsWorld::FsWorld;
  void Start(Scheduler& s) override {
    Build(s, 16);
    SpawnWorkers(s, {
        {"writer", [this] { Write("writer", 0, std::vector<uint8_t>(3 * kPageSize, 0x77)); }},
        {"truncate", [this] { TruncateDownUp(); }},
        {"flusher", [this] { inode_->WritebackAll(); }},
        {"reader", [this] { ReadAll("reader", 0, 3 * kPageSize); }},
    });
  }
  void Finish(Scheduler& s) override { Judge(s); }
};

// The smallest race of the suite, small enough for bounded exhaustive
// search: a two-page write, a truncate into its second page and back, and
// one writeback pass, on a disk with one latency and memory to spare.
class SmallTruncate final : public FsWorld {
 public:
  using FsWorld::FsWorld;
  void Start(Scheduler& s) override {
    Build(s, 64, 1);
    SpawnWorkers(s, {
        {"writer", [this] { Write("writer", 0, std::vector<uint8_t>(2 * kPageSize, 0x55)); }},
        {"truncate",
         [this] {
           for (uint64_t size : {uint64_t{5000}, uint64_t{2 * kPageSize}}) {
             uint64_t invoke = ++clock_;
             inode_->Truncate(size);
             model::FileOp op;
             op.kind = model::FileOpKind::kTruncate;
             op.offset = size;
             Record(op, invoke, {}, "truncate");
           }
         }},
        {"flusher", [this] { inode_->WritebackAll(); }},
    });
  }
  void Finish(Scheduler& s) override { Judge(s); }
};

// A writer, a hole punched across its range (partial pages at both
// ends), the flusher and a reader.
class PunchHole final : public FsWorld {
 public:
  using FsWorld::FsWorld;
  void Start(Scheduler& s) override {
    Build(s, 16);
    SpawnWorkers(s, {
        {"writer", [this] { Write("writer", 0, std::vector<uint8_t>(3 * kPageSize, 0x66)); }},
        {"punch",
         [this] {
           uint64_t invoke = ++clock_;
           inode_->PunchHole(1000, 8000);
           model::FileOp op;
           op.kind = model::FileOpKind::kPunchHole;
           op.offset = 1000;
           op.length = 8000;
           Record(op, invoke, {}, "punch");
         }},
        {"flusher", [this] { inode_->WritebackAll(); }},
        {"reader", [this] { ReadAll("reader", 0, 3 * kPageSize); }},
    });
  }
  void Finish(Scheduler& s) override { Judge(s); }
};

// Stores through a shared mapping (page_mkwrite) against buffered writes,
// a truncate down and back up, and the flusher.
class MmapTruncate final : public FsWorld {
 public:
  using FsWorld::FsWorld;
  void Start(Scheduler& s) override {
    Build(s, 16);
    SpawnWorkers(s, {
        {"writer", [this] { Write("writer", 0, std::vector<uint8_t>(3 * kPageSize, 0x31)); }},
        {"mmap", [this] { MmapStores(); }},
        {"truncate", [this] { TruncateDownUp(); }},
        {"flusher", [this] { inode_->WritebackAll(); }},
    });
  }

 private:
  void MmapStores() {
    for (uint64_t page = 0; page < 3; ++page) {
      uint64_t invoke = ++clock_;
      std::vector<uint8_t> data(100, static_cast<uint8_t>(0x40 + page));
      uint64_t written = inode_->MmapWrite(page * kPageSize + 50, data);
      if (written == 0) continue;  // SIGBUS: past EOF
      model::FileOp op;
      op.kind = model::FileOpKind::kWrite;
      op.offset = page * kPageSize + 50;
      op.data.assign(data.begin(), data.begin() + static_cast<long>(written));
      Record(op, invoke, {}, "mmap");
    }
  }

 public:
  void Finish(Scheduler& s) override { Judge(s); }
};

// A writer rewriting more pages than memory holds, a reader behind it:
// reclaim writes pages back from kswapd while writes go on.
class WritePressure final : public FsWorld {
 public:
  using FsWorld::FsWorld;
  void Start(Scheduler& s) override {
    Build(s, 8);
    SpawnWorkers(s, {
        {"writer",
         [this] {
           for (uint8_t round = 1; round <= 2; ++round) {
             Write("writer", 0, std::vector<uint8_t>(6 * kPageSize, round));
           }
         }},
        {"reader", [this] { ReadAll("reader", 2 * kPageSize, 2 * kPageSize); }},
    });
  }
  void Finish(Scheduler& s) override { Judge(s); }
};

// Write, fsync, write, fsync, with the power cut at a time the Chooser
// picks; then a remount from the durable image must show the state of a
// commit at or after the last fsync that returned.
class FsyncPowerCut final : public FsWorld {
 public:
  using FsWorld::FsWorld;
  void Start(Scheduler& s) override {
    Build(s, 32);
    states_ = {{}, std::vector<uint8_t>(3 * kPageSize, 0x11)};
    states_.push_back(states_[1]);
    std::fill(states_[2].begin() + kPageSize, states_[2].begin() + 2 * kPageSize, 0x22);
    s.Spawn("app", [this] {
      inode_->BufferedWrite(0, states_[1]);
      if (inode_->Fsync() != 0) return;
      promised_ = 1;
      inode_->BufferedWrite(kPageSize, std::vector<uint8_t>(kPageSize, 0x22));
      if (inode_->Fsync() != 0) return;
      promised_ = 2;
    });
    s.Spawn("power", [this, &s] {
      s.SleepFor(50'000 * (1 + s.Choose(8, "power_cut_time")));
      array_->device(0).PowerCut();
      Remount(s);
    });
  }

 private:
  void Remount(Scheduler& s) {
    sim::BlockDevice image(s, Disk("vda"));
    image.LoadDurableImage(array_->device(0));
    std::string problem;
    fs::PersistentState p = fs::MetadataLog::Mount(s, image, 0, fs::BtrfsFs::kLogLen, &problem);
    if (!problem.empty()) {
      Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:mount", "mount: " + problem);
      return;
    }
    // The file as the remount reads it: extents over the durable image.
    std::vector<uint8_t> file(p.inodes.count(257) ? p.inodes.at(257).size : 0, 0);
    if (p.extents.count(257)) {
      for (const auto& [off, item] : p.extents.at(257)) {
        std::vector<uint8_t> block(item.num_bytes);
        image.ReadSectors((item.disk_bytenr + item.offset) / 512, item.num_bytes / 512,
                          block.data(), true);
        for (uint64_t i = 0; i < item.num_bytes && off + i < file.size(); ++i) file[off + i] = block[i];
      }
    }
    for (int st = promised_; st < static_cast<int>(states_.size()); ++st) {
      if (file == states_[st]) return;
    }
    Report(s, FindingKind::kCrashInconsistency, "crash_inconsistency:fsync_lost",
           "crash inconsistency: after a power cut the remounted file (" +
               std::to_string(file.size()) + " bytes) is not the state of fsync #" +
               std::to_string(promised_) + " or of any later commit");
  }

  std::vector<std::vector<uint8_t>> states_;
  int promised_ = 0;
};

}  // namespace

void RegisterFsPrograms(std::vector<Scenario>& out) {
  const std::vector<std::pair<std::string, std::string>> keys = FsConfigKeys();

  auto add = [&](std::string name, std::string description, auto make) {
    out.push_back({std::move(name), std::move(description), true, keys, {},
                   [make](const model::Config& config) -> ProgramFactory {
                     fs::FsConfig c = ParseFsConfig(config);
                     return [make, c] { return make(c); };
                   }});
  };
  add("fs_writers", "btrfs/iomap: two buffered writers overlap, a reader, flusher, fsync, kswapd",
      [](fs::FsConfig c) { return std::make_unique<Writers>(c); });
  add("fs_write_pressure", "btrfs/iomap: rewrites larger than memory, writepage from kswapd",
      [](fs::FsConfig c) { return std::make_unique<WritePressure>(c); });
  add("fs_truncate", "btrfs/iomap: truncate down and up against a writer, flusher and reader",
      [](fs::FsConfig c) { return std::make_unique<Truncate>(c); });
  add("fs_small_truncate", "btrfs/iomap: a two-page write, truncate into it and back, one writeback",
      [](fs::FsConfig c) { return std::make_unique<SmallTruncate>(c); });
  add("fs_punch_hole", "btrfs/iomap: a hole punched across a writer's range, flusher, reader",
      [](fs::FsConfig c) { return std::make_unique<PunchHole>(c); });
  add("fs_mmap_truncate", "btrfs/iomap: stores through mmap (page_mkwrite) vs writes and truncate",
      [](fs::FsConfig c) { return std::make_unique<MmapTruncate>(c); });
  add("fs_fsync_powercut", "btrfs/iomap: write+fsync twice, power cut, remount keeps fsync'd data",
      [](fs::FsConfig c) { return std::make_unique<FsyncPowerCut>(c); });
}

}  // namespace fsim::scenarios
