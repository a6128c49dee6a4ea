#include "fs/btrfs/compression.h"

#include <xxhash.h>
#include <zlib.h>

#include <cstring>
#include <unordered_map>

#include "sim/check.h"

namespace fsim::fs {
namespace {

// zlib is a pure function of its input, and runs of one scenario compress
// and decompress the same extents over and over (an fsx log replayed per
// run): each codec keeps what it produced, keyed by the input's hash and
// checked against the input itself, so a hit is a memcmp instead of a
// deflate. Nothing a run decides depends on it (a hit returns the bytes
// the codec would), so digests cannot change. Bounded: the cache is
// dropped whole when it holds kCodecCacheBytes.
constexpr size_t kCodecCacheBytes = size_t{64} << 20;

class CodecCache {
 public:
  // `param`: what else the output depends on (inflate's bound).
  const std::optional<std::vector<uint8_t>>* Find(std::span<const uint8_t> in, uint64_t param,
                                                  uint64_t* hash) {
    *hash = XXH3_64bits_withSeed(in.data(), in.size(), param);
    auto it = entries_.find(*hash);
    if (it == entries_.end() || it->second.param != param || it->second.input.size() != in.size() ||
        std::memcmp(it->second.input.data(), in.data(), in.size()) != 0) {
      return nullptr;
    }
    return &it->second.output;
  }
  void Put(uint64_t hash, std::span<const uint8_t> in, uint64_t param,
           const std::optional<std::vector<uint8_t>>& out) {
    const size_t bytes = in.size() + (out ? out->size() : 0);
    if (bytes_ + bytes > kCodecCacheBytes) {
      entries_.clear();
      bytes_ = 0;
    }
    auto [it, inserted] = entries_.try_emplace(hash);
    if (!inserted) bytes_ -= it->second.input.size() + (it->second.output ? it->second.output->size() : 0);
    it->second.input.assign(in.begin(), in.end());
    it->second.param = param;
    it->second.output = out;
    bytes_ += bytes;
  }

 private:
  struct Entry {
    std::vector<uint8_t> input;
    uint64_t param = 0;
    std::optional<std::vector<uint8_t>> output;
  };
  std::unordered_map<uint64_t, Entry> entries_;  // looked up only, never iterated
  size_t bytes_ = 0;
};

std::optional<std::vector<uint8_t>> Deflate(std::span<const uint8_t> in);
std::optional<std::vector<uint8_t>> Inflate(std::span<const uint8_t> in, uint64_t max_out);

}  // namespace

std::optional<std::vector<uint8_t>> ZlibCompress(std::span<const uint8_t> in) {
  static thread_local CodecCache cache;
  uint64_t hash = 0;
  if (const auto* hit = cache.Find(in, 0, &hash)) return *hit;
  std::optional<std::vector<uint8_t>> out = Deflate(in);
  cache.Put(hash, in, 0, out);
  return out;
}

std::optional<std::vector<uint8_t>> ZlibDecompress(std::span<const uint8_t> in, uint64_t max_out) {
  static thread_local CodecCache cache;
  uint64_t hash = 0;
  if (const auto* hit = cache.Find(in, max_out, &hash)) return *hit;
  std::optional<std::vector<uint8_t>> out = Inflate(in, max_out);
  cache.Put(hash, in, max_out, out);
  return out;
}

namespace {

// btrfs's default zlib level (BTRFS_ZLIB_DEFAULT_LEVEL).
constexpr int kZlibLevel = 3;

std::optional<std::vector<uint8_t>> Deflate(std::span<const uint8_t> in) {
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

std::optional<std::vector<uint8_t>> Inflate(std::span<const uint8_t> in, uint64_t max_out) {
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

}  // namespace

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
