// Property: for random operation sequences across fibers (write, read,
// mmap write, truncate, punch hole, zero range, fallocate, fsync), under random schedules and memory
// pressure, in both lock orders, the btrfs model reports nothing and every
// read and the final file are explained by a legal serial order of the
// operations (per page, as Linux guarantees). RapidCheck generates and
// shrinks the sequences; the run's seed is part of the generated case.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "fs/btrfs/inode.h"
#include "model/file_model.h"
#include "sim/memory.h"
#include "sim/testing.h"

namespace fsim::fs {
namespace {

struct Op {
  model::FileOpKind kind;
  uint64_t offset;
  uint64_t length;
  uint8_t byte;
  bool keep_size;
  bool mmap;  // a write through a shared mapping (one page, within EOF)
};

// How RapidCheck prints a counterexample.
void showValue(const Op& op, std::ostream& os) {
  os << model::FileOpName(op.kind) << "(" << op.offset << ", " << op.length;
  if (op.kind == model::FileOpKind::kWrite) os << ", 0x" << std::hex << int(op.byte) << std::dec;
  if (op.keep_size) os << ", keep_size";
  if (op.mmap && op.kind == model::FileOpKind::kWrite) os << ", mmap";
  os << ")";
}

rc::Gen<Op> GenOp() {
  using K = model::FileOpKind;
  return rc::gen::build<Op>(
      rc::gen::set(&Op::kind, rc::gen::element(K::kWrite, K::kWrite, K::kRead, K::kTruncate,
                                                K::kPunchHole, K::kZeroRange, K::kFallocate,
                                                K::kFsync)),
      rc::gen::set(&Op::keep_size, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Op::mmap, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Op::offset, rc::gen::inRange<uint64_t>(0, 3 * kPageSize)),
      rc::gen::set(&Op::length, rc::gen::inRange<uint64_t>(1, 2 * kPageSize)),
      rc::gen::set(&Op::byte, rc::gen::inRange<uint8_t>(1, 255)));
}

void Check(LockOrder order, const std::vector<std::vector<Op>>& fibers, uint64_t seed) {
  sim::Scheduler s;
  sim::testing::RandomStrategy strategy;
  std::unique_ptr<sim::BlockArray> array;
  std::unique_ptr<BtrfsFs> fs;
  std::unique_ptr<BtrfsInode> inode;
  std::vector<model::OpRecord> history;
  uint64_t clock = 0;
  std::vector<uint8_t> final_bytes;
  auto record = [&](const model::FileOp& op, uint64_t invoke, const std::vector<uint8_t>& got,
                    const std::string& who) {
    model::RecordPerPage(history, op, invoke, got, who, kPageSize, clock);
  };
  sim::RunOptions options;
  options.seed = seed;
  sim::RunResult r = sim::testing::RunFunctions(s, strategy, [&] {
    sim::MemoryConfig m;
    m.budget_pages = 16;
    m.low_pages = 10;
    m.high_pages = 8;
    sim::Memory::Of(s).Configure(m);
    sim::DeviceConfig d;
    d.capacity_sectors = 16384;
    d.latency_choices = 2;
    array = std::make_unique<sim::BlockArray>(s, std::vector<sim::DeviceConfig>{d});
    FsConfig config;
    config.order = order;
    fs = std::make_unique<BtrfsFs>(s, *array, config);
    inode = std::make_unique<BtrfsInode>(*fs, 257);
    auto done = std::make_shared<sim::Completion>(s, "done");
    for (size_t f = 0; f < fibers.size(); ++f) {
      s.Spawn("f" + std::to_string(f), [&, f, done] {
        for (const Op& op : fibers[f]) {
          model::FileOp fop;
          fop.kind = op.kind;
          fop.offset = op.offset;
          fop.length = op.length;
          fop.keep_size = op.keep_size;
          uint64_t invoke = ++clock;
          std::vector<uint8_t> got;
          switch (op.kind) {
            case model::FileOpKind::kWrite:
              if (op.mmap) {
                // One page, as a store through the mapping; only the bytes
                // before EOF are written (past it: SIGBUS or not file).
                uint64_t in_page = kPageSize - op.offset % kPageSize;
                fop.data.assign(std::min(op.length, in_page), op.byte);
                uint64_t written = inode->MmapWrite(op.offset, fop.data);
                fop.data.resize(written);
                if (written == 0) continue;  // SIGBUS: nothing happened
              } else {
                fop.data.assign(op.length, op.byte);
                inode->BufferedWrite(op.offset, fop.data);
              }
              break;
            case model::FileOpKind::kRead:
              got = inode->Read(op.offset, op.length);
              break;
            case model::FileOpKind::kTruncate:
              inode->Truncate(op.offset);
              break;
            case model::FileOpKind::kPunchHole:
              inode->PunchHole(op.offset, op.length);
              break;
            case model::FileOpKind::kZeroRange:
              inode->ZeroRange(op.offset, op.length, op.keep_size);
              break;
            case model::FileOpKind::kFallocate:
              inode->Fallocate(op.offset, op.length, op.keep_size);
              break;
            default:
              inode->Fsync();
              break;
          }
          record(fop, invoke, got, "f" + std::to_string(f));
        }
        done->Complete();
      });
    }
    s.Spawn("settle", [&, done] {
      for (size_t i = 0; i < fibers.size(); ++i) done->Wait();
      final_bytes = inode->Read(0, 1 << 20);
    });
  }, [] {}, options);
  RC_ASSERT(r.findings.empty());
  model::FileState final_state{final_bytes};
  RC_ASSERT(model::CheckLinearizable(model::FileState{}, history, &final_state).ok);
}

RC_GTEST_PROP(BtrfsPropertyTest, RandomOperationsAreLinearizableInBothOrders, ()) {
  const auto fibers = *rc::gen::container<std::vector<std::vector<Op>>>(
      *rc::gen::inRange(1, 4), rc::gen::container<std::vector<Op>>(*rc::gen::inRange(1, 4), GenOp()));
  const auto seed = *rc::gen::inRange<uint64_t>(0, 1u << 30);
  for (LockOrder order : {LockOrder::kLegacy, LockOrder::kRfc}) Check(order, fibers, seed);
}

}  // namespace
}  // namespace fsim::fs
