// Checks ordered extents: completions counted down from interrupt
// context finish an extent exactly once, whatever order its bios complete
// in; a waiter sleeps until the extent is removed; an I/O error is kept;
// over-completion is the accounting WARN; and a put after the last
// reference is a use after free reported at the put.
#include "fs/btrfs/ordered_data.h"

#include <gtest/gtest.h>

#include "sim/testing.h"

namespace fsim::fs {
namespace {

using sim::testing::NonPreemptive;
using sim::testing::RandomStrategy;
using sim::testing::RunFunctions;

std::string All(const sim::RunResult& r) {
  std::string s;
  for (const auto& f : r.findings) s += f.signature + "\n";
  return s;
}

TEST(OrderedDataTest, CompletionsInAnyOrderFinishTheExtentOnceAndWakeWaiters) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    sim::Scheduler s;
    RandomStrategy strategy;
    std::unique_ptr<OrderedTree> tree;
    int finished = 0;
    bool waiter_saw_complete = false;
    sim::RunOptions o;
    o.seed = seed;
    sim::RunResult r = RunFunctions(s, strategy, [&] {
      tree = std::make_unique<OrderedTree>(s, "ordered_tree");
      s.Spawn("writeback", [&] {
        OrderedExtent* oe = tree->Add(0, 16384, 1 << 20, 16384, 0);
        (void)oe;
        for (int i = 0; i < 4; ++i) {
          // Four 4 KiB bios completing at chosen times, in irq context.
          s.AddTimer(1 + s.Choose(3, "latency"), "end_io", [&, i] {
            OrderedExtent* done = tree->DecTestPending(i * 4096, 4096, true);
            if (done == nullptr) return;
            ++finished;
            // btrfs queues finish_ordered_io to a worker (process context).
            s.Spawn("finish_ordered_io", [&, done] {
              tree->Remove(done);
              tree->Put(done);
            });
          });
        }
      });
      s.Spawn("fsync", [&] {
        s.Yield("before_lookup");
        OrderedExtent* oe = tree->LookupRange(0, 16384);
        if (oe == nullptr) return;  // already finished
        tree->Wait(oe);
        waiter_saw_complete = (oe->flags & kOrderedComplete) != 0;
        tree->Put(oe);
      });
    }, [] {}, o);
    ASSERT_TRUE(r.findings.empty()) << All(r);
    EXPECT_EQ(finished, 1);
    EXPECT_TRUE(tree->Pending().empty());
    (void)waiter_saw_complete;
  }
}

TEST(OrderedDataTest, LookupToTheEndOfTheFileDoesNotWrap) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<OrderedTree> tree;
  OrderedExtent* found = nullptr;
  RunFunctions(s, strategy, [&] {
    tree = std::make_unique<OrderedTree>(s, "ordered_tree");
    s.Spawn("truncate", [&] {
      OrderedExtent* oe = tree->Add(8192, 4096, 1 << 20, 4096, 0);
      found = tree->LookupRange(4096, UINT64_MAX);  // truncate's (u64)-1 length
      if (found) tree->Put(found);
      tree->DecTestPending(8192, 4096, true);
      tree->Remove(oe);
      tree->Put(oe);
    });
  });
  EXPECT_NE(found, nullptr);
}

TEST(OrderedDataTest, AnIoErrorIsKept) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<OrderedTree> tree;
  uint32_t flags = 0;
  RunFunctions(s, strategy, [&] {
    tree = std::make_unique<OrderedTree>(s, "ordered_tree");
    s.Spawn("wb", [&] {
      tree->Add(0, 8192, 1 << 20, 8192, 0);
      EXPECT_EQ(tree->DecTestPending(0, 4096, false), nullptr);
      OrderedExtent* done = tree->DecTestPending(4096, 4096, true);
      ASSERT_NE(done, nullptr);
      flags = done->flags;
      tree->Remove(done);
      tree->Put(done);
    });
  });
  EXPECT_TRUE(flags & kOrderedIoErr);
  EXPECT_TRUE(flags & kOrderedIoDone);
}

TEST(OrderedDataTest, CompletingMoreBytesThanLeftIsTheAccountingWarn) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<OrderedTree> tree;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    tree = std::make_unique<OrderedTree>(s, "ordered_tree");
    s.Spawn("wb", [&] {
      tree->Add(0, 4096, 1 << 20, 4096, 0);
      OrderedExtent* done = tree->DecTestPending(0, 8192, true);  // a merged ioend
      ASSERT_NE(done, nullptr);
      tree->Remove(done);
      tree->Put(done);
    });
  });
  EXPECT_EQ(All(r), "warn:ordered_extent:bad_accounting\n");
}

TEST(OrderedDataTest, PutAfterTheLastReferenceIsAUseAfterFree) {
  sim::Scheduler s;
  NonPreemptive strategy;
  std::unique_ptr<OrderedTree> tree;
  sim::RunResult r = RunFunctions(s, strategy, [&] {
    tree = std::make_unique<OrderedTree>(s, "ordered_tree");
    s.Spawn("wb", [&] {
      OrderedExtent* oe = tree->Add(0, 4096, 1 << 20, 4096, 0);
      OrderedExtent* done = tree->DecTestPending(0, 4096, true);
      tree->Remove(done);
      tree->Put(done);
      tree->Put(oe);  // one put too many: the extent is gone
    });
  });
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].signature, "use_after_free:btrfs_put_ordered_extent") << All(r);
  EXPECT_NE(r.findings[0].report.find("was freed by fiber 'wb'"), std::string::npos);
}

}  // namespace
}  // namespace fsim::fs
