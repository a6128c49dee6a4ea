// Checks the block device's contract: data written reads back; the
// durable image holds only what a flush or FUA made durable; the queue
// depth bounds requests in flight; completions come out of order and in
// interrupt context (sleeping there is reported); I/O errors and device
// failure reach end_io; an oversized bio is a WARN, never split; after
// power cuts the image always equals the replay of every write's fate.
#include "sim/block.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "sim/testing.h"

namespace fsim::sim {
namespace {

using testing::NonPreemptive;
using testing::RandomStrategy;
using testing::RunFunctions;

DeviceConfig Small() {
  DeviceConfig c;
  c.name = "vda";
  c.capacity_sectors = 64;
  c.latency_choices = 3;
  return c;
}

std::vector<uint8_t> Pattern(uint8_t byte, size_t sectors, uint32_t ss = 512) {
  return std::vector<uint8_t>(sectors * ss, byte);
}

Bio WriteBio(uint64_t sector, std::vector<uint8_t>& data, uint32_t flags = 0) {
  Bio b;
  b.op = BioOp::kWrite;
  b.flags = flags;
  b.sector = sector;
  b.vecs = {{data.data(), static_cast<uint32_t>(data.size())}};
  return b;
}

// One run of the random strategy at `seed`: a Small() device as
// `configure` adjusts it, and `body` on it in fiber "fs". The device is
// returned for the caller's checks (`s` must outlive it).
std::unique_ptr<BlockDevice> RunSeeded(Scheduler& s, uint64_t seed,
                                       const std::function<void(DeviceConfig&)>& configure,
                                       const std::function<void(BlockDevice&)>& body) {
  RandomStrategy strategy;
  std::unique_ptr<BlockDevice> d;
  RunOptions o;
  o.seed = seed;
  RunFunctions(s, strategy, [&] {
    DeviceConfig c = Small();
    configure(c);
    d = std::make_unique<BlockDevice>(s, c);
    s.Spawn("fs", [&] { body(*d); });
  }, [] {}, o);
  return d;
}

uint8_t SectorByte(const BlockDevice& d, uint64_t sector, bool durable) {
  std::vector<uint8_t> buf(d.config().sector_size);
  d.ReadSectors(sector, 1, buf.data(), durable);
  return buf[0];
}

TEST(BlockDeviceTest, WritesAreVisibleAtOnceAndDurableOnlyAfterFlush) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<BlockDevice> d;
  std::vector<uint8_t> a = Pattern(0xaa, 2), readback(2 * 512);
  RunResult r = RunFunctions(s, strategy, [&] {
    d = std::make_unique<BlockDevice>(s, Small());
    s.Spawn("fs", [&] {
      Bio w = WriteBio(4, a);
      EXPECT_EQ(d->SubmitBioWait(w), BlkStatus::kOk);
      EXPECT_EQ(SectorByte(*d, 4, false), 0xaa);  // in the cache
      EXPECT_EQ(SectorByte(*d, 4, true), 0x00);   // not durable yet
      Bio rd;
      rd.op = BioOp::kRead;
      rd.sector = 4;
      rd.vecs = {{readback.data(), static_cast<uint32_t>(readback.size())}};
      EXPECT_EQ(d->SubmitBioWait(rd), BlkStatus::kOk);
      EXPECT_EQ(readback, a);
      Bio flush;
      flush.op = BioOp::kFlush;
      EXPECT_EQ(d->SubmitBioWait(flush), BlkStatus::kOk);
      EXPECT_EQ(SectorByte(*d, 5, true), 0xaa);
    });
  });
  EXPECT_TRUE(r.findings.empty());
  std::string why;
  EXPECT_TRUE(d->VerifyImage(&why)) << why;
}

TEST(BlockDeviceTest, FuaIsDurableAtCompletion) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<BlockDevice> d;
  std::vector<uint8_t> a = Pattern(0x11, 1);
  RunFunctions(s, strategy, [&] {
    d = std::make_unique<BlockDevice>(s, Small());
    s.Spawn("fs", [&] {
      Bio w = WriteBio(0, a, kBioFua);
      d->SubmitBioWait(w);
      EXPECT_EQ(SectorByte(*d, 0, true), 0x11);
    });
  });
  EXPECT_EQ(d->writes()[0].fate, WriteFate::kDurable);
}

TEST(BlockDeviceTest, QueueDepthBoundsRequestsInFlightAndCompletionsReorder) {
  std::set<std::vector<int>> orders;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<BlockDevice> d;
    std::vector<std::vector<uint8_t>> data;
    std::vector<Bio> bios(8);
    std::vector<int> completed;
    RunOptions o;
    o.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      d = std::make_unique<BlockDevice>(s, Small());
      for (int i = 0; i < 8; ++i) data.push_back(Pattern(static_cast<uint8_t>(i), 1));
      s.Spawn("submitter", [&] {
        for (int i = 0; i < 8; ++i) {
          bios[i] = WriteBio(i, data[i]);
          bios[i].end_io = [&completed, i, &s](Bio&) {
            EXPECT_TRUE(s.fiber(s.current()).in_irq);
            completed.push_back(i);
          };
          d->SubmitBio(&bios[i]);
          EXPECT_LE(d->in_flight(), 4u);
        }
      });
    }, [] {}, o);
    ASSERT_TRUE(r.findings.empty());
    ASSERT_EQ(completed.size(), 8u);
    EXPECT_EQ(d->stats().max_in_flight, 4u);
    orders.insert(completed);
  }
  EXPECT_GT(orders.size(), 10u);  // completions really come out of order
}

TEST(BlockDeviceTest, SleepingInEndIoIsReported) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<BlockDevice> d;
  std::unique_ptr<Mutex> m;
  std::vector<uint8_t> a = Pattern(1, 1);
  Bio w;
  RunResult r = RunFunctions(s, strategy, [&] {
    d = std::make_unique<BlockDevice>(s, Small());
    m = std::make_unique<Mutex>(s, "ordered_tree_lock");
    s.Spawn("fs", [&] {
      w = WriteBio(0, a);
      w.end_io = [&](Bio&) { m->Lock(); m->Unlock(); };  // a mutex in end_io
      d->SubmitBio(&w);
    });
  });
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].signature, "sleep_in_atomic:mutex_lock");
}

TEST(BlockDeviceTest, IoErrorsReachEndIoAndWriteNothing) {
  int errors = 0, oks = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    Scheduler s;
    std::vector<uint8_t> a = Pattern(0x5a, 1);
    BlkStatus status = BlkStatus::kOk;
    std::unique_ptr<BlockDevice> d = RunSeeded(
        s, seed,
        [](DeviceConfig& c) {
          c.fault_io_errors = true;
          c.write_cache = false;
        },
        [&](BlockDevice& dev) {
          Bio w = WriteBio(3, a);
          status = dev.SubmitBioWait(w);
        });
    if (status == BlkStatus::kIoError) {
      ++errors;
      EXPECT_EQ(d->writes()[0].fate, WriteFate::kFailed);
      EXPECT_EQ(SectorByte(*d, 3, true), 0);
    } else {
      ++oks;
      EXPECT_EQ(SectorByte(*d, 3, true), 0x5a);
    }
  }
  EXPECT_GT(errors, 10);
  EXPECT_GT(oks, 10);
}

// A write that succeeded into the cache, then a flush that failed: the
// write is not durable, and the device says the failed flush is why
// (LostToFailedFlush); a write that completed after that flush, or one a
// later flush made durable, is not lost to it.
TEST(BlockDeviceTest, AWriteLeftInTheCacheByAFailedFlushIsKnownAsSuch) {
  int lost = 0, durable = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Scheduler s;
    std::vector<uint8_t> a = Pattern(0x5a, 1), b = Pattern(0x6b, 1);
    BlkStatus write_a = BlkStatus::kOk, flush_status = BlkStatus::kOk, write_b = BlkStatus::kOk;
    std::unique_ptr<BlockDevice> d = RunSeeded(
        s, seed, [](DeviceConfig& c) { c.fault_io_errors = true; },
        [&](BlockDevice& dev) {
          Bio w = WriteBio(3, a);
          write_a = dev.SubmitBioWait(w);
          Bio flush;
          flush.op = BioOp::kFlush;
          flush_status = dev.SubmitBioWait(flush);
          Bio w2 = WriteBio(9, b);
          write_b = dev.SubmitBioWait(w2);
        });
    if (write_a != BlkStatus::kOk) continue;
    if (flush_status == BlkStatus::kIoError) {
      ++lost;
      EXPECT_EQ(SectorByte(*d, 3, true), 0);
      EXPECT_TRUE(d->LostToFailedFlush(3, 1));
    } else {
      ++durable;
      EXPECT_EQ(SectorByte(*d, 3, true), 0x5a);
      EXPECT_FALSE(d->LostToFailedFlush(3, 1));
    }
    // Completed after every flush: cached, but no flush was asked for it.
    if (write_b == BlkStatus::kOk) EXPECT_FALSE(d->LostToFailedFlush(9, 1));
  }
  EXPECT_GT(lost, 5);
  EXPECT_GT(durable, 5);
}

TEST(BlockDeviceTest, AFailedDeviceFailsEveryLaterBio) {
  bool saw_failure = false;
  for (uint64_t seed = 0; seed < 50 && !saw_failure; ++seed) {
    Scheduler s;
    std::vector<uint8_t> a = Pattern(1, 1);
    std::vector<BlkStatus> statuses;
    RunSeeded(
        s, seed, [](DeviceConfig& c) { c.fault_device_failure = true; },
        [&](BlockDevice& dev) {
          for (int i = 0; i < 6; ++i) {
            Bio w = WriteBio(i, a);
            statuses.push_back(dev.SubmitBioWait(w));
          }
        });
    auto first_error = std::find(statuses.begin(), statuses.end(), BlkStatus::kIoError);
    if (first_error != statuses.end()) {
      saw_failure = true;
      EXPECT_TRUE(std::all_of(first_error, statuses.end(),
                              [](BlkStatus st) { return st == BlkStatus::kIoError; }));
    }
  }
  EXPECT_TRUE(saw_failure);
}

// io_error_once: exactly one request fails (the run makes twice the
// window's requests, so the drawn one is always among them); over seeds,
// the failing one falls at many depths, late ones as well as the first.
TEST(BlockDeviceTest, IoErrorOnceFailsOneRequestAtADrawnDepth) {
  constexpr int kBios = 2 * static_cast<int>(DeviceConfig{}.io_error_window);
  std::set<int> depths;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Scheduler s;
    std::vector<uint8_t> a = Pattern(1, 1);
    std::vector<BlkStatus> statuses;
    RunSeeded(
        s, seed, [](DeviceConfig& c) { c.fault_io_error_once = true; },
        [&](BlockDevice& dev) {
          for (int i = 0; i < kBios; ++i) {
            Bio w = WriteBio(i % 64, a);
            statuses.push_back(dev.SubmitBioWait(w));
          }
        });
    ASSERT_EQ(statuses.size(), static_cast<size_t>(kBios));
    const auto failed = std::count(statuses.begin(), statuses.end(), BlkStatus::kIoError);
    EXPECT_EQ(failed, 1) << "seed " << seed;
    auto at = std::find(statuses.begin(), statuses.end(), BlkStatus::kIoError);
    if (at != statuses.end()) {
      const int depth = static_cast<int>(at - statuses.begin());
      EXPECT_LT(depth, static_cast<int>(DeviceConfig{}.io_error_window));
      depths.insert(depth);
    }
  }
  EXPECT_GT(depths.size(), 50u);
  EXPECT_GT(*depths.rbegin(), static_cast<int>(DeviceConfig{}.io_error_window) * 3 / 4);
}

// read_error_once: one read fails (an unreadable sector), never a write.
TEST(BlockDeviceTest, ReadErrorOnceFailsOneReadAndNoWrite) {
  std::set<int> depths;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Scheduler s;
    std::vector<uint8_t> a = Pattern(1, 1), buf(512, 0);
    int failed_reads = 0, failed_writes = 0, reads = 0;
    RunSeeded(
        s, seed,
        [](DeviceConfig& c) {
          c.fault_read_error_once = true;
          c.io_error_window = 16;
        },
        [&](BlockDevice& dev) {
          for (int i = 0; i < 40; ++i) {
            Bio w = WriteBio(i % 8, a);
            failed_writes += dev.SubmitBioWait(w) != BlkStatus::kOk;
            Bio r;
            r.op = BioOp::kRead;
            r.sector = i % 8;
            r.vecs = {{buf.data(), 512}};
            if (dev.SubmitBioWait(r) != BlkStatus::kOk) {
              ++failed_reads;
              depths.insert(reads);
            }
            ++reads;
          }
        });
    EXPECT_EQ(failed_writes, 0) << "seed " << seed;
    EXPECT_EQ(failed_reads, 1) << "seed " << seed;
  }
  EXPECT_EQ(depths.size(), 16u);  // every read of the window, over the seeds
}

// A read that fails leaves its buffer neither the data nor zeroes (the
// DMA's leftovers, poisoned), so code that uses a failed read's bytes
// shows garbage; a good read gives the data.
TEST(BlockDeviceTest, AFailedReadLeavesGarbageNotDataOrZeroes) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<BlockDevice> d;
  std::vector<uint8_t> data = Pattern(7, 1), good(512, 0), failed(512, 0);
  BlkStatus good_status = BlkStatus::kIoError, failed_status = BlkStatus::kOk;
  RunResult r = RunFunctions(s, strategy, [&] {
    d = std::make_unique<BlockDevice>(s, Small());
    s.Spawn("fs", [&] {
      Bio w = WriteBio(3, data);
      d->SubmitBioWait(w);
      Bio read;
      read.op = BioOp::kRead;
      read.sector = 3;
      read.vecs = {{good.data(), 512}};
      good_status = d->SubmitBioWait(read);
      d->PowerCut();  // every later bio fails
      read.vecs = {{failed.data(), 512}};
      read.status = BlkStatus::kOk;
      failed_status = d->SubmitBioWait(read);
    });
  });
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(good_status, BlkStatus::kOk);
  EXPECT_EQ(good, data);
  EXPECT_EQ(failed_status, BlkStatus::kIoError);
  EXPECT_NE(failed, data);
  EXPECT_NE(failed, std::vector<uint8_t>(512, 0));
}

// Bit rot: a data read may find one sector (at most one a run) with a
// bit flipped, with no I/O error; the flip shows on every later read of
// that sector until it is rewritten, never in the device's own view of
// what was written, and never on a REQ_META read.
TEST(BlockDeviceTest, BitRotFlipsOneSectorSilentlyUntilItIsRewritten) {
  int rotted = 0, clean = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    Scheduler s;
    std::vector<uint8_t> data = Pattern(0x40, 4);
    std::vector<std::vector<uint8_t>> reads;
    std::vector<BlkStatus> statuses;
    std::optional<BitRot> before_rewrite, after_rewrite;
    std::vector<uint8_t> meta(4 * 512);
    std::unique_ptr<BlockDevice> d = RunSeeded(
        s, seed, [](DeviceConfig& c) { c.fault_bitrot = true; },
        [&](BlockDevice& dev) {
          Bio w = WriteBio(8, data);
          dev.SubmitBioWait(w);
          auto read = [&](uint32_t flags, uint8_t* into) {
            Bio r;
            r.op = BioOp::kRead;
            r.flags = flags;
            r.sector = 8;
            r.vecs = {{into, 4 * 512}};
            statuses.push_back(dev.SubmitBioWait(r));
          };
          for (int i = 0; i < 3; ++i) {
            reads.emplace_back(4 * 512);
            read(0, reads.back().data());
          }
          read(kBioMeta, meta.data());
          before_rewrite = dev.StandingRot();
          if (before_rewrite) {
            std::vector<uint8_t> one = Pattern(0x40, 1);
            Bio w2 = WriteBio(before_rewrite->sector, one);
            dev.SubmitBioWait(w2);
            after_rewrite = dev.StandingRot();
            reads.emplace_back(4 * 512);
            read(0, reads.back().data());
          }
        });
    for (BlkStatus st : statuses) EXPECT_EQ(st, BlkStatus::kOk);
    // What the device holds as written is untouched.
    for (uint64_t k = 0; k < 4; ++k) EXPECT_EQ(SectorByte(*d, 8 + k, false), 0x40);
    EXPECT_EQ(meta, data);  // REQ_META never shows it
    if (!before_rewrite) {
      ++clean;
      for (const auto& r : reads) EXPECT_EQ(r, data);
      continue;
    }
    ++rotted;
    ASSERT_GE(before_rewrite->sector, 8u);
    ASSERT_LT(before_rewrite->sector, 12u);
    const size_t at = (before_rewrite->sector - 8) * 512;
    // From the read that found it on, every read shows the one flipped
    // bit; before it, none did.
    bool seen = false;
    for (size_t i = 0; i + 1 < reads.size(); ++i) {
      std::vector<uint8_t> want = data;
      if (seen || reads[i] != data) {
        seen = true;
        want[at] ^= 0x01;
      }
      EXPECT_EQ(reads[i], want) << "read " << i;
    }
    EXPECT_TRUE(seen);
    EXPECT_FALSE(after_rewrite);           // rewritten: no longer standing
    EXPECT_EQ(reads.back(), data);          // and reads are clean again
  }
  EXPECT_GT(rotted, 10);
  EXPECT_GT(clean, 3);
}

TEST(BlockDeviceTest, OversizedBioIsAWarnAndAnErrorNeverASplit) {
  Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<BlockDevice> d;
  std::vector<uint8_t> big = Pattern(7, 300);  // max_sectors is 256
  BlkStatus status = BlkStatus::kOk;
  RunResult r = RunFunctions(s, strategy, [&] {
    DeviceConfig c = Small();
    c.capacity_sectors = 1024;
    d = std::make_unique<BlockDevice>(s, c);
    s.Spawn("fs", [&] {
      Bio w = WriteBio(0, big);
      status = d->SubmitBioWait(w);
    });
  });
  EXPECT_EQ(status, BlkStatus::kIoError);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].signature, "warn:bio_too_large:vda");
  EXPECT_TRUE(d->writes().empty());  // nothing was queued
}

// A segment reaching outside the memory object it belongs to (a length
// computed in the wrong unit) is KASAN's slab-out-of-bounds at submit,
// for a write (the DMA would read past it) and a read (would write past
// it); the bio fails and the device touches none of its bytes. Segments
// with no object named, and segments inside theirs, are left alone.
TEST(BlockDeviceTest, ABioSegmentOutsideItsBufferIsReportedAtSubmitAndNotTouched) {
  for (BioOp op : {BioOp::kWrite, BioOp::kRead}) {
    Scheduler s;
    NonPreemptive strategy;
    std::unique_ptr<BlockDevice> d;
    std::vector<uint8_t> buffer(3 * 512 + 100, 0x5a);  // 3 sectors and a bit
    std::vector<uint8_t> sentinel = buffer;
    BlkStatus inside = BlkStatus::kIoError, outside = BlkStatus::kOk;
    RunResult r = RunFunctions(s, strategy, [&] {
      d = std::make_unique<BlockDevice>(s, Small());
      s.Spawn("fs", [&] {
        Bio ok;
        ok.op = op;
        ok.sector = 0;
        ok.vecs = {BioVec::In(buffer.data(), buffer.size(), 0, 1024),
                   BioVec::In(buffer.data(), buffer.size(), 1024, 512)};
        inside = d->SubmitBioWait(ok);
        Bio past;
        past.op = op;
        past.sector = 8;
        past.vecs = {BioVec::In(buffer.data(), buffer.size(), 1024, 512).Sub(0, 512),
                     BioVec::In(buffer.data(), buffer.size(), 1536, 1024)};
        outside = d->SubmitBioWait(past);
      });
    });
    EXPECT_EQ(inside, BlkStatus::kOk);
    EXPECT_EQ(outside, BlkStatus::kIoError);
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].kind, FindingKind::kUseAfterFree);
    EXPECT_EQ(r.findings[0].signature,
              std::string("kasan:slab-out-of-bounds:submit_bio:") + BioOpName(op));
    EXPECT_NE(r.findings[0].report.find("segment at offset 1536 of a 1636-byte buffer, 924 bytes "
                                        "past its end"),
              std::string::npos)
        << r.findings[0].report;
    EXPECT_EQ(d->writes().size(), op == BioOp::kWrite ? 1u : 0u);  // only the good one
    if (op == BioOp::kRead) {
      // The good read wrote the device's zeroes; the bad one nothing.
      EXPECT_TRUE(std::equal(buffer.begin() + 1536, buffer.end(), sentinel.begin() + 1536));
    }
  }
}

TEST(BlockDeviceTest, LatencySpikesDelayCompletion) {
  uint64_t max_ns = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<BlockDevice> d;
    std::vector<uint8_t> a = Pattern(1, 1);
    RunOptions o;
    o.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      DeviceConfig c = Small();
      c.fault_latency_spikes = true;
      d = std::make_unique<BlockDevice>(s, c);
      s.Spawn("fs", [&] { Bio w = WriteBio(0, a); d->SubmitBioWait(w); });
    }, [] {}, o);
    max_ns = std::max(max_ns, r.virtual_ns);
  }
  EXPECT_GE(max_ns, Small().latency_spike_ns);
}

TEST(BlockDeviceTest, AfterPowerCutsTheImageIsTheReplayOfEveryWritesFate) {
  std::map<WriteFate, int> fates;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<BlockDevice> d;
    std::vector<std::vector<uint8_t>> data;
    std::vector<Bio> bios(12);
    RunOptions o;
    o.seed = seed;
    RunResult r = RunFunctions(s, strategy, [&] {
      d = std::make_unique<BlockDevice>(s, Small());
      for (int i = 0; i < 12; ++i) data.push_back(Pattern(static_cast<uint8_t>(i + 1), 2));
      s.Spawn("writer", [&] {
        for (int i = 0; i < 12; ++i) {
          uint32_t flags = (i % 5 == 4) ? uint32_t{kBioFua} : (i % 7 == 6 ? uint32_t{kBioPreflush} : 0u);
          bios[i] = WriteBio((i * 3) % 8, data[i], flags);
          bios[i].end_io = [](Bio&) {};
          d->SubmitBio(&bios[i]);
        }
      });
      s.Spawn("power", [&] {
        s.SleepFor(60'000 + s.Choose(4, "cut_time") * 40'000);
        d->PowerCut();
      });
    }, [] {}, o);
    ASSERT_TRUE(r.findings.empty()) << r.findings[0].report;
    std::string why;
    ASSERT_TRUE(d->VerifyImage(&why)) << "seed " << seed << ": " << why;
    for (const WriteRecord& w : d->writes()) {
      EXPECT_NE(w.fate, WriteFate::kInFlight);
      EXPECT_NE(w.fate, WriteFate::kCached);  // every byte's fate is known
      ++fates[w.fate];
    }
  }
  // The seeds covered every way a write can end.
  for (WriteFate f : {WriteFate::kDurable, WriteFate::kLost, WriteFate::kTorn,
                      WriteFate::kSuperseded}) {
    EXPECT_GT(fates[f], 0) << WriteFateName(f);
  }
}

}  // namespace
}  // namespace fsim::sim
