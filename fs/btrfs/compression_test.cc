#include "fs/btrfs/compression.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <vector>

namespace fsim::fs {
namespace {

// File data as writes leave it: runs of repeated bytes (what compresses)
// mixed with arbitrary bytes (what does not), up to 128 KiB.
rc::Gen<std::vector<uint8_t>> FileData() {
  return rc::gen::map(
      rc::gen::container<std::vector<std::pair<uint8_t, std::pair<bool, uint16_t>>>>(
          rc::gen::pair(rc::gen::arbitrary<uint8_t>(),
                        rc::gen::pair(rc::gen::arbitrary<bool>(), rc::gen::inRange<uint16_t>(1, 9000)))),
      [](const std::vector<std::pair<uint8_t, std::pair<bool, uint16_t>>>& runs) {
        std::vector<uint8_t> out;
        uint32_t x = 1;
        for (const auto& [byte, shape] : runs) {
          for (uint16_t k = 0; k < shape.second && out.size() < kMaxUncompressed; ++k) {
            x = x * 1103515245 + 12345;
            out.push_back(shape.first ? static_cast<uint8_t>(x >> 16) : byte);
          }
        }
        return out;
      });
}

RC_GTEST_PROP(ZlibCodec, RoundTripsWhatItCompresses, ()) {
  const std::vector<uint8_t> data = *FileData();
  const std::optional<std::vector<uint8_t>> enc = ZlibCompress(data);
  if (!enc) {
    RC_TAG("incompressible");
    return;
  }
  RC_ASSERT(enc->size() < data.size());
  // On disk the stream is padded to whole blocks; the padding is ignored.
  std::vector<uint8_t> padded = *enc;
  padded.resize((padded.size() + 4095) / 4096 * 4096, 0);
  const std::optional<std::vector<uint8_t>> dec = ZlibDecompress(padded, kMaxUncompressed);
  RC_ASSERT(dec.has_value());
  RC_ASSERT(*dec == data);
  // Deterministic: the same bytes, the same stream.
  RC_ASSERT(ZlibCompress(data) == enc);
}

RC_GTEST_PROP(ZlibCodec, RefusesACorruptOrOversizedStream, ()) {
  std::vector<uint8_t> data(8192 + *rc::gen::inRange<size_t>(0, 60000), *rc::gen::arbitrary<uint8_t>());
  std::optional<std::vector<uint8_t>> enc = ZlibCompress(data);
  RC_ASSERT(enc.has_value());
  // Decoding into less room than the data needs fails, never truncates.
  RC_ASSERT(!ZlibDecompress(*enc, data.size() - 1).has_value());
  // A stream cut short does not decode.
  enc->resize(enc->size() / 2);
  RC_ASSERT(!ZlibDecompress(*enc, kMaxUncompressed).has_value());
}

TEST(ZlibCodec, RandomDataDoesNotCompress) {
  std::vector<uint8_t> data(kMaxUncompressed);
  uint32_t x = 7;
  for (uint8_t& b : data) b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
  EXPECT_FALSE(ZlibCompress(data).has_value());
}

// The encoded mapping covers the extent whole on disk, however little of
// the file the map covers or is asked for.
TEST(EncodedMapping, IoSizeIsTheEncodedExtentNotTheLogicalLength) {
  // A 128 KiB extent at file offset 64 KiB, stored in 8 KiB; a later
  // overwrite of its first 32 KiB left a map of [96 KiB, 192 KiB).
  const uint64_t orig = 64 << 10, start = 96 << 10, len = 96 << 10;
  const uint64_t disk = 5 << 20, io_size = 8 << 10;
  for (uint64_t pos = start; pos < start + len; pos += 4096) {
    EncodedMapping m = MapEncoded(start, len, orig, disk, io_size, pos);
    EXPECT_EQ(m.addr, disk);
    EXPECT_EQ(m.io_size, io_size);
    EXPECT_EQ(m.offset, start);
    EXPECT_EQ(m.length, len);
    EXPECT_EQ(m.decoded_pos, pos - orig);
    EXPECT_LT(m.decoded_pos, kMaxUncompressed);
  }
  // A clone that put the extent's second half at file offset 0: orig_start
  // wraps below zero, and the decoded position is still right.
  EXPECT_EQ(MapEncoded(0, 64 << 10, uint64_t{0} - (64 << 10), disk, io_size, 4096).decoded_pos,
            (64 << 10) + 4096);
  // The last page of the extent is at its decoded end.
  EXPECT_EQ(MapEncoded(start, len, orig, disk, io_size, start + len - 4096).decoded_pos,
            kMaxUncompressed - 4096);
}

}  // namespace
}  // namespace fsim::fs
