// Built-in programs for the simulated hardware: each device behaviour
// (flush/FUA durability across a power cut, I/O errors, reordered
// completions, oversized bios, end_io context, a mirrored array with a
// failing device) in a correct program and, where there is a classic
// mistake, a buggy twin. They run before any filesystem exists, so that
// `fsim explore` covers the block layer on its own.
#include <memory>
#include <string>
#include <vector>

#include "scenarios/registry.h"
#include "sim/block.h"
#include "sim/sync.h"

namespace fsim::scenarios {
namespace {

using sim::Bio;
using sim::BioOp;
using sim::BlkStatus;
using sim::BlockDevice;
using sim::DeviceConfig;
using sim::Finding;
using sim::FindingKind;
using sim::Scheduler;

DeviceConfig Disk(const std::string& name, uint64_t sectors = 64) {
  DeviceConfig c;
  c.name = name;
  c.capacity_sectors = sectors;
  return c;
}

Bio Write(uint64_t sector, std::vector<uint8_t>& data, uint32_t flags = 0) {
  Bio b;
  b.op = BioOp::kWrite;
  b.flags = flags;
  b.sector = sector;
  b.vecs = {{data.data(), static_cast<uint32_t>(data.size())}};
  return b;
}

void Fail(Scheduler& s, FindingKind kind, std::string signature, std::string report) {
  Finding f;
  f.kind = kind;
  f.signature = std::move(signature);
  f.report = std::move(report);
  s.Fail(std::move(f));
}

// A writer makes records durable and remembers which it may rely on; a
// power cut comes at a time the Chooser picks; after the restart every
// record relied upon must read back. Buggy: the writer relies on a record
// once its write completed, without a flush.
class DurableAcrossPowerCut final : public sim::Program {
 public:
  explicit DurableAcrossPowerCut(bool flush) : flush_(flush) {}
  void Start(Scheduler& s) override {
    disk_ = std::make_unique<BlockDevice>(s, Disk("sda"));
    for (int i = 0; i < 4; ++i) records_.push_back(std::vector<uint8_t>(1024, uint8_t(0x10 + i)));
    s.Spawn("writer", [this] {
      for (int i = 0; i < 4; ++i) {
        uint32_t flags = flush_ && i % 2 == 1 ? uint32_t{sim::kBioFua} : 0u;
        Bio w = Write(2 * i, records_[i], flags);
        if (disk_->SubmitBioWait(w) != BlkStatus::kOk) return;
        if (flush_ && i % 2 == 0) {
          Bio f;
          f.op = BioOp::kFlush;
          if (disk_->SubmitBioWait(f) != BlkStatus::kOk) return;
        }
        relied_ = i + 1;  // fsync() returned: the record is promised
      }
    });
    s.Spawn("power", [this, &s] {
      s.SleepFor(20'000 + 40'000 * s.Choose(6, "power_cut_time"));
      // The machine is down: the writer's further bios fail. (Restarting
      // here would let the old world go on writing as if nothing happened.)
      disk_->PowerCut();
    });
  }
  void Finish(Scheduler& s) override {
    std::string why;
    if (!disk_->VerifyImage(&why)) {
      Fail(s, FindingKind::kCrashInconsistency, "crash_inconsistency:image_accounting", why);
      return;
    }
    std::vector<uint8_t> got(1024);
    for (int i = 0; i < relied_; ++i) {
      disk_->ReadSectors(2 * i, 2, got.data(), true);
      if (got != records_[i]) {
        Fail(s, FindingKind::kCrashInconsistency, "crash_inconsistency:promised_record_lost",
             "crash inconsistency: record " + std::to_string(i) +
                 " was promised durable before the power cut but does not read back "
                 "after it (its write completed into the volatile cache; no flush or FUA)");
        return;
      }
    }
  }

 private:
  bool flush_;
  int relied_ = 0;
  std::unique_ptr<BlockDevice> disk_;
  std::vector<std::vector<uint8_t>> records_;
};

// Two versions of one block. Buggy: both writes are in flight at once, so
// the older may complete last and win. Fixed: the second is submitted
// after the first completed.
class Overwrite final : public sim::Program {
 public:
  explicit Overwrite(bool wait) : wait_(wait) {}
  void Start(Scheduler& s) override {
    disk_ = std::make_unique<BlockDevice>(s, Disk("sdb"));
    v1_.assign(512, 1);
    v2_.assign(512, 2);
    s.Spawn("writer", [this, &s] {
      sim::Completion done(s, "both_written");
      int pending = 2;
      auto end = [&](Bio&) { if (--pending == 0) done.Complete(); };
      Bio a = Write(7, v1_), b = Write(7, v2_);
      a.end_io = end;
      b.end_io = end;
      if (wait_) {
        sim::Completion first(s, "first_written");
        a.end_io = [&](Bio& bio) { end(bio); first.Complete(); };
        disk_->SubmitBio(&a);
        first.Wait();
      } else {
        disk_->SubmitBio(&a);
      }
      disk_->SubmitBio(&b);
      done.Wait();
    });
  }
  void Finish(Scheduler& s) override {
    std::vector<uint8_t> got(512);
    disk_->ReadSectors(7, 1, got.data(), false);
    if (got != v2_) {
      Fail(s, FindingKind::kDataMismatch, "data_mismatch:overwrite_reordered",
           "data mismatch: sector 7 holds version " + std::to_string(got[0]) +
               ", expected version 2: two writes to one sector were in flight together "
               "and completed out of order");
    }
  }

 private:
  bool wait_;
  std::unique_ptr<BlockDevice> disk_;
  std::vector<uint8_t> v1_, v2_;
};

// I/O errors: the writer retries a failed write; the data must be on the
// device in the end (or the writer must have seen every retry fail).
class RetryOnError final : public sim::Program {
 public:
  void Start(Scheduler& s) override {
    DeviceConfig c = Disk("sdc");
    c.fault_io_errors = true;
    disk_ = std::make_unique<BlockDevice>(s, c);
    data_.assign(512, 0x42);
    s.Spawn("writer", [this] {
      for (int attempt = 0; attempt < 3 && !written_; ++attempt) {
        Bio w = Write(1, data_);
        written_ = disk_->SubmitBioWait(w) == BlkStatus::kOk;
      }
    });
  }
  void Finish(Scheduler& s) override {
    std::vector<uint8_t> got(512);
    disk_->ReadSectors(1, 1, got.data(), false);
    if (written_ != (got == data_)) {
      Fail(s, FindingKind::kDataMismatch, "data_mismatch:io_error_status",
           "data mismatch: the writer was told " + std::string(written_ ? "success" : "failure") +
               " but the device holds " + (got == data_ ? "the data" : "something else"));
    }
  }

 private:
  bool written_ = false;
  std::unique_ptr<BlockDevice> disk_;
  std::vector<uint8_t> data_;
};

// A mirrored (RAID1-style) pair of different speeds over an array of three
// devices; one device may fail. A read is served by a mirror that
// succeeds. The buggy twin reads only the first mirror and trusts it.
class Mirror final : public sim::Program {
 public:
  explicit Mirror(bool fallback) : fallback_(fallback) {}
  void Start(Scheduler& s) override {
    DeviceConfig fast = Disk("nvme0", 128), slow = Disk("sdd", 256), spare = Disk("sde", 512);
    fast.fault_device_failure = true;
    slow.latency_ns_min = 200'000;
    slow.latency_ns_max = 800'000;
    array_ = std::make_unique<sim::BlockArray>(s, std::vector<DeviceConfig>{fast, slow, spare});
    data_.assign(512, 0x77);
    s.Spawn("raid1", [this] {
      Bio w0 = Write(3, data_), w1 = Write(3, data_);
      bool ok0 = array_->device(0).SubmitBioWait(w0) == BlkStatus::kOk;
      bool ok1 = array_->device(1).SubmitBioWait(w1) == BlkStatus::kOk;
      if (!ok0 && !ok1) return;  // both mirrors failed: nothing promised
      promised_ = true;
      for (size_t m = 0; m < (fallback_ ? 2u : 1u); ++m) {
        std::vector<uint8_t> buf(512);
        Bio r;
        r.op = BioOp::kRead;
        r.sector = 3;
        r.vecs = {{buf.data(), 512}};
        if (array_->device(m).SubmitBioWait(r) == BlkStatus::kOk) {
          read_back_ = buf;
          return;
        }
      }
    });
  }
  void Finish(Scheduler& s) override {
    if (promised_ && read_back_ != data_) {
      Fail(s, FindingKind::kDataMismatch, "data_mismatch:mirror_read",
           "data mismatch: a mirrored write succeeded on one device but the read did not "
           "fall back to the surviving mirror when the other failed");
    }
  }

 private:
  bool fallback_;
  bool promised_ = false;
  std::vector<uint8_t> read_back_;
  std::unique_ptr<sim::BlockArray> array_;
  std::vector<uint8_t> data_;
};

// A bio larger than the device accepts (the block layer refuses it with a
// WARN), or an end_io that takes a mutex, i.e. sleeps in interrupt
// context, where the correct one would defer the work to process context.
class Misbehaving final : public sim::Program {
 public:
  explicit Misbehaving(bool sleep_in_end_io) : sleep_(sleep_in_end_io) {}
  void Start(Scheduler& s) override {
    disk_ = std::make_unique<BlockDevice>(s, Disk("sdf", 1024));
    lock_ = std::make_unique<sim::Mutex>(s, "ordered_tree_lock");
    data_.assign(sleep_ ? 512 : 300 * 512, 9);
    s.Spawn("submitter", [this, &s] {
      sim::Completion done(s, "end_io_done");
      Bio w = Write(0, data_);
      w.end_io = [this, &done](Bio&) {
        if (sleep_) {
          lock_->Lock();  // finishing an ordered extent under a mutex, in irq
          lock_->Unlock();
        }
        done.Complete();
      };
      disk_->SubmitBio(&w);
      done.Wait();
    });
  }

 private:
  bool sleep_;
  std::unique_ptr<BlockDevice> disk_;
  std::unique_ptr<sim::Mutex> lock_;
  std::vector<uint8_t> data_;
};

}  // namespace

void RegisterBlockPrograms(std::vector<Scenario>& out) {
  auto add = [&](std::string name, std::string description, bool suite,
                 std::function<std::unique_ptr<sim::Program>()> make) {
    out.push_back({std::move(name), std::move(description), suite, {}, {},
                   [make](const model::Config&) -> ProgramFactory { return make; }, {}, {}, {}, {}, {}, false});
  };
  add("disk_flush_durable",
      "records made durable with flush/FUA survive a power cut at any moment", true,
      [] { return std::make_unique<DurableAcrossPowerCut>(true); });
  add("disk_no_flush",
      "records relied on after a write completed, without flush (lost at power cut)", false,
      [] { return std::make_unique<DurableAcrossPowerCut>(false); });
  add("disk_overwrite_ordered", "second version of a block submitted after the first completed",
      true, [] { return std::make_unique<Overwrite>(true); });
  add("disk_overwrite_racing", "two versions of a block in flight at once (older may win)",
      false, [] { return std::make_unique<Overwrite>(false); });
  add("disk_io_error_retry", "writes retried on injected I/O errors; status matches the device",
      true, [] { return std::make_unique<RetryOnError>(); });
  add("disk_mirror", "mirrored write over a 3-device array, read falls back past a failed device",
      true, [] { return std::make_unique<Mirror>(true); });
  add("disk_mirror_no_fallback", "mirrored write, read trusts the first (possibly failed) device",
      false, [] { return std::make_unique<Mirror>(false); });
  add("disk_bio_too_large", "a 300-sector bio to a device that takes 256 (WARN, never split)",
      false, [] { return std::make_unique<Misbehaving>(false); });
  add("disk_end_io_sleeps", "an end_io that takes a mutex in interrupt context", false,
      [] { return std::make_unique<Misbehaving>(true); });
}

}  // namespace fsim::scenarios
