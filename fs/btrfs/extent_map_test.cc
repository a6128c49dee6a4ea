// Checks extent maps as btrfs keeps them: overlapping inserts are
// refused; maps that continue each other on disk merge, pinned and
// compressed ones do not; dropping a range splits the maps at its edges
// and shifts the tail's disk address, except for a compressed extent,
// which keeps its whole encoded extent; unpinning lets a map merge.
#include "fs/btrfs/extent_map.h"

#include <gtest/gtest.h>

namespace fsim::fs {
namespace {

ExtentMap Em(uint64_t start, uint64_t len, uint64_t block, uint32_t flags = 0) {
  ExtentMap em;
  em.start = start;
  em.len = len;
  em.block_start = block;
  em.block_len = block == kHole ? 0 : len;
  em.orig_start = start;
  em.ram_bytes = len;
  em.flags = flags;
  return em;
}

TEST(ExtentMapTest, OverlapsAreRefusedAndContinuationsMerge) {
  sim::Scheduler s;
  ExtentMapTree tree(s, "em_tree");
  EXPECT_TRUE(tree.Add(Em(0, 4096, 1 << 20)));
  EXPECT_TRUE(tree.Add(Em(4096, 4096, (1 << 20) + 4096)));  // continues on disk
  EXPECT_FALSE(tree.Add(Em(2048, 4096, 5 << 20)));            // overlaps
  ASSERT_EQ(tree.All().size(), 1u);
  EXPECT_EQ(tree.All()[0].len, 8192u);
  EXPECT_TRUE(tree.Add(Em(8192, 4096, 9 << 20, kEmPinned)));  // pinned: separate
  EXPECT_EQ(tree.All().size(), 2u);
  tree.Unpin(8192, 7);
  EXPECT_EQ(tree.All().size(), 2u);  // not contiguous on disk: still two
  auto em = tree.Lookup(8192, 1);
  ASSERT_TRUE(em.has_value());
  EXPECT_EQ(em->generation, 7u);
  EXPECT_FALSE(tree.Lookup(16384, 4096).has_value());
}

TEST(ExtentMapTest, DropSplitsAtTheEdgesAndShiftsTheTail) {
  sim::Scheduler s;
  ExtentMapTree tree(s, "em_tree");
  tree.Add(Em(0, 16384, 1 << 20));
  tree.Drop(4096, 8192, false);
  auto all = tree.All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].start, 0u);
  EXPECT_EQ(all[0].len, 4096u);
  EXPECT_EQ(all[0].block_start, 1u << 20);
  EXPECT_EQ(all[1].start, 8192u);
  EXPECT_EQ(all[1].len, 8192u);
  EXPECT_EQ(all[1].block_start, (1u << 20) + 8192);
  // Both parts still describe the same on-disk extent.
  for (const ExtentMap& em : all) {
    EXPECT_EQ(em.orig_start, 0u);
    EXPECT_EQ(em.ram_bytes, 16384u);
  }
}

TEST(ExtentMapTest, ACompressedExtentIsKeptWholeOnBothSides) {
  sim::Scheduler s;
  ExtentMapTree tree(s, "em_tree");
  ExtentMap c = Em(0, 32768, 2 << 20, kEmCompressed);
  c.block_len = 8192;  // 32 KiB compressed to 8 KiB
  tree.Add(c);
  tree.Drop(8192, 16384, false);
  for (const ExtentMap& em : tree.All()) {
    EXPECT_EQ(em.block_start, 2u << 20);  // the encoded extent, whole
    EXPECT_EQ(em.block_len, 8192u);
  }
  EXPECT_EQ(tree.All().size(), 2u);
}

TEST(ExtentMapTest, DropCanSkipPinnedMaps) {
  sim::Scheduler s;
  ExtentMapTree tree(s, "em_tree");
  tree.Add(Em(0, 4096, 1 << 20, kEmPinned));
  tree.Add(Em(4096, 4096, kHole));
  tree.Drop(0, 8192, true);
  ASSERT_EQ(tree.All().size(), 1u);
  EXPECT_EQ(tree.All()[0].start, 0u);
  tree.Drop(0, 8192, false);
  EXPECT_TRUE(tree.All().empty());
}

}  // namespace
}  // namespace fsim::fs
