// Checks the reference file model against a real kernel: both fsx logs in
// ../shared/fsx-samples are replayed through the model, fsx's own
// size-before numbers are checked op by op, and the final bytes must equal
// expected.bin (what ext4 held after `fsx --replay-ops`). Then checks the
// linearizability search: legal concurrent histories are accepted (with a
// real-time-consistent order), reads no order explains and final states
// no order reaches are refused, and page-granular splitting admits the
// torn reads Linux allows for multi-page buffered I/O.
#include "model/file_model.h"

#include <gtest/gtest.h>
#include <stdlib.h>  // srandom(), random(): fsx's generator (glibc)

#include <fstream>
#include <sstream>

#include "model/fsx_log.h"

namespace fsim::model {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Copies of ../shared/fsx-samples, kept in the repository so that the
// test is hermetic (see model/testdata/fsx/README.md).
std::string SamplesDir() { return "model/testdata/fsx"; }

// fsx's data buffer from the host's glibc: srandom(seed); orig[i] =
// random() % 256 (the oracle for model::FsxBuffer).
std::vector<uint8_t> LibcFsxBuffer(unsigned seed, size_t len) {
  srandom(seed);
  std::vector<uint8_t> orig(len);
  for (uint8_t& b : orig) b = static_cast<uint8_t>(random() % 256);
  return orig;
}

void ReplaySample(const std::string& name) {
  std::string dir = SamplesDir();
  std::string file = dir + "/" + name + "/ops";
  std::string text = Slurp(file);
  ASSERT_FALSE(text.empty()) << file << " is missing";
  std::string error;
  auto ops = ParseFsxLog(text, file, &error);
  ASSERT_TRUE(ops.has_value()) << error;
  auto file_ops = ToFileOps(*ops, model::FsxBuffer(200, 256 * 1024), file, &error);
  ASSERT_TRUE(file_ops.has_value()) << error;
  FileState state;
  for (size_t i = 0; i < file_ops->size(); ++i) {
    ASSERT_EQ(state.bytes.size(), (*ops)[i].size_before())
        << file << ":" << (*ops)[i].line << ": size before " << (*ops)[i].name;
    ApplyFileOp(state, (*file_ops)[i]);
  }
  std::string expected = Slurp(dir + "/" + name + "/expected.bin");
  ASSERT_EQ(state.bytes.size(), expected.size());
  EXPECT_TRUE(std::equal(state.bytes.begin(), state.bytes.end(),
                         reinterpret_cast<const uint8_t*>(expected.data())));
}

TEST(FileModelTest, ReplaysFsxBasicLogExactlyAsTheKernelDid) { ReplaySample("basic_S200_N200"); }
TEST(FileModelTest, ReplaysFsxFallocLogExactlyAsTheKernelDid) { ReplaySample("falloc_S200_N200"); }

// The project's glibc random() gives what the host's does, for seeds
// small, large (negative as glibc's int32 words) and zero.
TEST(FileModelTest, GlibcRandomMatchesTheHostLibc) {
  for (unsigned seed : {0u, 1u, 200u, 12345u, 0x80000005u, 0xffffffffu}) {
    EXPECT_EQ(model::FsxBuffer(seed, 5000), LibcFsxBuffer(seed, 5000)) << "seed " << seed;
    srandom(seed);
    model::GlibcRandom mine(seed);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(mine.Next(), static_cast<uint32_t>(random())) << seed;
  }
}

TEST(FileModelTest, BadLogsAreRefusedWithFileAndLine) {
  std::string error;
  EXPECT_FALSE(ParseFsxLog("write 0x10 zz 0x0\n", "ops", &error));
  EXPECT_EQ(error, "ops:1: write needs 3 numbers");
  EXPECT_FALSE(ParseFsxLog("\nwrite 0 1 0 sideways\n", "ops", &error));
  EXPECT_EQ(error, "ops:2: unknown flag 'sideways'");
  auto ops = ParseFsxLog("exchange_range 0 1 2 0\n", "ops", &error);
  ASSERT_TRUE(ops.has_value());
  EXPECT_FALSE(ToFileOps(*ops, {}, "ops", &error));
  EXPECT_EQ(error, "ops:1: unsupported op exchange_range (not in v5.13; fsx on such a kernel logs the op as skip)");
  ops = ParseFsxLog("write 0 8192 0\ncollapse_range 4096 4096 8192\n", "ops", &error);
  ASSERT_TRUE(ops.has_value());
  EXPECT_FALSE(ToFileOps(*ops, {}, "ops", &error));
  EXPECT_TRUE(error.starts_with("ops:2: unsupported op collapse_range (btrfs in v5.13 returns -EOPNOTSUPP"))
      << error;
}

// clone_range and copy_range copy bytes (growing the file), dedupe_range
// changes none: fsx's own bookkeeping of them.
TEST(FileModelTest, CloneCopyAndDedupeAsFsxKeepsTheirBytes) {
  std::string error;
  auto ops = ParseFsxLog(
      "write 0 8 0\nclone_range 0 4 10 8\ncopy_range 2 4 0 14\ndedupe_range 0 4 10 14\n", "ops",
      &error);
  ASSERT_TRUE(ops.has_value()) << error;
  auto file_ops = ToFileOps(*ops, std::vector<uint8_t>(64, 0), "ops", &error);
  ASSERT_TRUE(file_ops.has_value()) << error;
  FileState s;
  for (const FileOp& op : *file_ops) ApplyFileOp(s, op);
  // write: op 1 writes byte 1 everywhere (orig all zero).
  std::vector<uint8_t> want = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  EXPECT_EQ(s.bytes, want);
}

FileOp Write(uint64_t off, std::vector<uint8_t> data) {
  FileOp op;
  op.kind = FileOpKind::kWrite;
  op.offset = off;
  op.data = std::move(data);
  return op;
}

FileOp Read(uint64_t off, uint64_t len) {
  FileOp op;
  op.kind = FileOpKind::kRead;
  op.offset = off;
  op.length = len;
  return op;
}

TEST(LinearizabilityTest, AReadOverlappingAWriteMaySeeEitherVersion) {
  FileState initial{{1, 1}};
  for (std::vector<uint8_t> seen : {std::vector<uint8_t>{1, 1}, std::vector<uint8_t>{2, 2}}) {
    std::vector<OpRecord> h = {{Write(0, {2, 2}), 1, 4, {}, "w"}, {Read(0, 2), 2, 3, seen, "r"}};
    FileState final_state{{2, 2}};
    EXPECT_TRUE(CheckLinearizable(initial, h, &final_state).ok);
  }
}

TEST(LinearizabilityTest, ATornReadOfOneAtomicWriteIsRefused) {
  FileState initial{{1, 1}};
  std::vector<OpRecord> h = {{Write(0, {2, 2}), 1, 4, {}, "w"}, {Read(0, 2), 2, 3, {2, 1}, "r"}};
  Linearization l = CheckLinearizable(initial, h, nullptr);
  EXPECT_FALSE(l.ok);
  EXPECT_EQ(l.why, "no serial order of the 2 operations explains every read");
}

TEST(LinearizabilityTest, RealTimeOrderIsRespected) {
  // The read starts after the write returned: it must see the write.
  FileState initial{{1}};
  std::vector<OpRecord> h = {{Write(0, {2}), 1, 2, {}, "w"}, {Read(0, 1), 3, 4, {1}, "r"}};
  EXPECT_FALSE(CheckLinearizable(initial, h, nullptr).ok);
  h[1].result = {2};
  Linearization l = CheckLinearizable(initial, h, nullptr);
  ASSERT_TRUE(l.ok);
  EXPECT_EQ(l.order, (std::vector<size_t>{0, 1}));
}

TEST(LinearizabilityTest, AFinalStateNoOrderReachesIsRefused) {
  FileState initial{{0}};
  std::vector<OpRecord> h = {{Write(0, {1}), 1, 3, {}, "a"}, {Write(0, {2}), 2, 4, {}, "b"}};
  FileState one{{1}}, two{{2}}, three{{3}};
  EXPECT_TRUE(CheckLinearizable(initial, h, &one).ok);  // b then a
  EXPECT_TRUE(CheckLinearizable(initial, h, &two).ok);  // a then b
  EXPECT_FALSE(CheckLinearizable(initial, h, &three).ok);
}

TEST(LinearizabilityTest, PageGranularityAdmitsTheTornReadsLinuxAllows) {
  // A two-page write and a two-page read, recorded per page, as a harness
  // does: the read may see the first page new and the second old.
  const uint64_t kPage = 4;
  FileState initial{std::vector<uint8_t>(8, 1)};
  std::vector<OpRecord> h;
  for (const FileOp& w : SplitAtPages(Write(0, std::vector<uint8_t>(8, 2)), kPage)) {
    h.push_back({w, 1, 6, {}, "writer"});
  }
  std::vector<std::vector<uint8_t>> seen = {{2, 2, 2, 2}, {1, 1, 1, 1}};
  auto reads = SplitAtPages(Read(0, 8), kPage);
  for (size_t i = 0; i < reads.size(); ++i) h.push_back({reads[i], 2, 5, seen[i], "reader"});
  FileState final_state{std::vector<uint8_t>(8, 2)};
  EXPECT_TRUE(CheckLinearizable(initial, h, &final_state).ok);
}

// A history no order explains whose refutation needs every subset of
// many independent concurrent writes: the search gives up as undecided
// (as Porcupine's timeout: unknown), instead of running for minutes; a
// caller does not report it as a mismatch.
TEST(LinearizabilityTest, ARefutationBeyondTheSearchBudgetIsUndecided) {
  std::vector<OpRecord> h;
  uint64_t t = 0;
  FileState final_state{{0xa, 0xb}};
  for (int i = 0; i < 28; ++i) {
    h.push_back({Write(2 + i, {static_cast<uint8_t>(i + 1)}), ++t, 1000, {}, "w"});
    final_state.bytes.push_back(static_cast<uint8_t>(i + 1));
  }
  // Both bytes of page 0 were written, but by two writes of two bytes
  // each: no order leaves one of each (and no byte is impossible alone).
  h.push_back({Write(0, {0xa, 0xa}), ++t, 1000, {}, "a"});
  h.push_back({Write(0, {0xb, 0xb}), ++t, 1000, {}, "b"});
  Linearization l = CheckLinearizable(FileState{}, h, &final_state);
  EXPECT_FALSE(l.ok);
  EXPECT_TRUE(l.undecided) << l.why;
  EXPECT_TRUE(l.why.starts_with("undecided: ")) << l.why;
  // The same history with a final state an order reaches is decided.
  final_state.bytes[1] = 0xa;
  l = CheckLinearizable(FileState{}, h, &final_state);
  EXPECT_TRUE(l.ok) << l.why;
  EXPECT_FALSE(l.undecided);
}

TEST(LinearizabilityTest, OverlongHistoriesAreRefusedNotTruncated) {
  std::vector<OpRecord> h(kHistoryOpsMax + 1, {Read(0, 1), 1, 2, {}, "r"});
  Linearization l = CheckLinearizable(FileState{}, h, nullptr);
  EXPECT_FALSE(l.ok);
  EXPECT_NE(l.why.find("exceeds"), std::string::npos);
}

// A byte nothing wrote where it was seen refutes the history without a
// search, however many operations race (a compressed block read
// undecoded, a stale mapping to another file's data), and says where.
TEST(LinearizabilityTest, AByteNoWritePutThereIsRefusedAtOnce) {
  std::vector<OpRecord> h;
  uint64_t t = 0;
  // 40 concurrent one-byte writes: a search over their orders would be
  // hopeless; the read's 0x78 was written by none of them at byte 5.
  for (int i = 0; i < 40; ++i) h.push_back({Write(i % 8, {static_cast<uint8_t>(i + 1)}), ++t, 1000, {}, "w"});
  h.push_back({Read(0, 8), ++t, 1001, {1, 2, 3, 4, 5, 0x78, 7, 8}, "reader"});
  Linearization l = CheckLinearizable(FileState{}, h, nullptr);
  EXPECT_FALSE(l.ok);
  EXPECT_NE(l.why.find("reader read 0x78 at byte 5, which no operation put there"), std::string::npos) << l.why;
  // The same value at a place some write put it is not refuted that way.
  std::vector<OpRecord> fine = {{Write(5, {0x78}), 1, 2, {}, "w"}, {Read(0, 8), 3, 4, {0, 0, 0, 0, 0, 0x78, 0, 0}, "r"}};
  FileState final_state{{0, 0, 0, 0, 0, 0x78}};
  EXPECT_FALSE(CheckLinearizable(FileState{}, fine, nullptr).ok);  // the read's size is wrong: 8 > 6
  fine[1].result.resize(6);
  EXPECT_TRUE(CheckLinearizable(FileState{}, fine, &final_state).ok);
}

TEST(LinearizabilityTest, WithACopyABytesPlaceIsFreeButItsValueIsNot) {
  FileOp copy;
  copy.kind = FileOpKind::kCopy;
  copy.offset = 0;
  copy.length = 1;
  copy.dest = 3;
  std::vector<OpRecord> h = {{Write(0, {9}), 1, 2, {}, "w"}, {copy, 3, 4, {}, "c"}, {Read(3, 1), 5, 6, {9}, "r"}};
  EXPECT_TRUE(CheckLinearizable(FileState{}, h, nullptr).ok);
  h[2].result = {7};
  Linearization l = CheckLinearizable(FileState{}, h, nullptr);
  EXPECT_FALSE(l.ok);
  EXPECT_NE(l.why.find("0x07 at byte 3"), std::string::npos) << l.why;
}

FileOp Store(uint64_t offset, uint64_t len, uint8_t byte) {
  FileOp op;
  op.kind = FileOpKind::kWrite;
  op.offset = offset;
  op.data.assign(len, byte);
  return op;
}

// Two fsx mapwrites in a row (pages 0-3 with 1s, then pages 1-3 with 2s)
// racing fsync's index-order writeback: the commit may hold page 1 after
// the first store only, page 2 after the second, pages 0 and 3 with none.
TEST(CrashStatesTest, EachPageHoldsAPrefixOfItsOwnStores) {
  constexpr uint64_t kPage = 16;
  const FileState state{std::vector<uint8_t>(4 * kPage, 9)};
  const std::vector<FileOp> ops{Store(0, kPage, 1),         Store(kPage, kPage, 1),     Store(2 * kPage, kPage, 1),
                                Store(3 * kPage, kPage, 1), Store(kPage, kPage, 2),     Store(2 * kPage, kPage, 2),
                                Store(3 * kPage, kPage, 2)};
  std::vector<const FileOp*> stores;
  for (const FileOp& op : ops) stores.push_back(&op);
  FileState found = state;
  std::fill_n(found.bytes.begin() + kPage, kPage, 1);
  std::fill_n(found.bytes.begin() + 2 * kPage, kPage, 2);
  EXPECT_TRUE(PagewiseStoresAllowed(state, stores, found, kPage));
  EXPECT_TRUE(PagewiseStoresAllowed(state, stores, state, kPage));  // none taken
  // A byte no store into its page wrote.
  found.bytes[3 * kPage + 5] = 7;
  EXPECT_FALSE(PagewiseStoresAllowed(state, stores, found, kPage));
  // Stores do not change the size.
  found = state;
  found.bytes.pop_back();
  EXPECT_FALSE(PagewiseStoresAllowed(state, stores, found, kPage));
}

// Within a page the stores land in their order: the second without the
// first is no page any writeback saw.
TEST(CrashStatesTest, StoresIntoOnePageApplyInOrder) {
  constexpr uint64_t kPage = 16;
  const FileState state{std::vector<uint8_t>(kPage, 0)};
  const FileOp a = Store(0, 8, 1), b = Store(4, 8, 2);
  const std::vector<const FileOp*> stores{&a, &b};
  FileState found = state;
  std::fill_n(found.bytes.begin(), 4, 1);
  std::fill_n(found.bytes.begin() + 4, 8, 2);
  EXPECT_TRUE(PagewiseStoresAllowed(state, stores, found, kPage));  // both
  std::fill_n(found.bytes.begin(), 4, 0);
  EXPECT_FALSE(PagewiseStoresAllowed(state, stores, found, kPage));  // b without a
  // A file no store went into keeps the state's bytes.
  found = state;
  std::fill_n(found.bytes.begin(), 8, 1);
  EXPECT_FALSE(PagewiseStoresAllowed(state, {}, found, kPage));
}

}  // namespace
}  // namespace fsim::model
