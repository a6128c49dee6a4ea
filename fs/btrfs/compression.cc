#include "fs/btrfs/compression.h"

#include <zlib.h>

#include "sim/check.h"

namespace fsim::fs {

// btrfs's default zlib level (BTRFS_ZLIB_DEFAULT_LEVEL).
constexpr int kZlibLevel = 3;

std::optional<std::vector<uint8_t>> ZlibCompress(std::span<const uint8_t> in) {
  if (in.empty()) return std::nullopt;
  z_stream strm{};
  FSIM_CHECK(deflateInit(&strm, kZlibLevel) == Z_OK);
  // The output may not reach the input's size: compression must gain.
  std::vector<uint8_t> out(in.size());
  strm.next_in = const_cast<uint8_t*>(in.data());
  strm.avail_in = static_cast<uInt>(in.size());
  strm.next_out = out.data();
  strm.avail_out = static_cast<uInt>(out.size());
  const int ret = deflate(&strm, Z_FINISH);
  const uint64_t produced = strm.total_out;
  deflateEnd(&strm);
  if (ret != Z_STREAM_END || produced >= in.size()) return std::nullopt;
  out.resize(produced);
  return out;
}

std::optional<std::vector<uint8_t>> ZlibDecompress(std::span<const uint8_t> in, uint64_t max_out) {
  z_stream strm{};
  FSIM_CHECK(inflateInit(&strm) == Z_OK);
  // Inflated into a scratch buffer kept between calls (no allocation, no
  // zeroing of max_out bytes per call), then copied out at its size.
  static thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < max_out + 1) scratch.resize(max_out + 1);
  strm.next_in = const_cast<uint8_t*>(in.data());
  strm.avail_in = static_cast<uInt>(in.size());
  strm.next_out = scratch.data();
  strm.avail_out = static_cast<uInt>(max_out + 1);
  const int ret = inflate(&strm, Z_FINISH);
  const uint64_t produced = strm.total_out;
  inflateEnd(&strm);
  if (ret != Z_STREAM_END || produced > max_out) return std::nullopt;
  return std::vector<uint8_t>(scratch.begin(), scratch.begin() + static_cast<long>(produced));
}

EncodedMapping MapEncoded(uint64_t start, uint64_t len, uint64_t orig_start, uint64_t block_start,
                          uint64_t block_len, uint64_t pos) {
  // orig_start = file_offset - offset may lie before the file's start (a
  // clone that put the middle of an extent at offset 0): the arithmetic
  // is modulo 2^64, as btrfs's u64 em->orig_start, and pos - orig_start
  // is still the position in the decoded data.
  FSIM_BUG_ON(!(pos >= start && pos < start + len), nullptr);
  EncodedMapping m;
  m.addr = block_start;
  m.io_size = block_len;
  m.offset = start;
  m.length = len;
  m.decoded_pos = pos - orig_start;
  return m;
}

}  // namespace fsim::fs
