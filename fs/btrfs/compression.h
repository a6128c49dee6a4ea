// Compression (fs/btrfs/compression.c, zlib.c): btrfs's zlib codec and the
// arithmetic of an encoded extent's mapping.
//
// An encoded (compressed) extent is one unit on disk: `disk_num_bytes`
// (io_size) of zlib stream, padded to the block size, which decodes to at
// most BTRFS_MAX_UNCOMPRESSED (128 KiB) of file data. A file extent item
// may point at part of the decoded data (its `offset` and `num_bytes`),
// but the whole stream is read, checked against its checksums and
// decoded to read any byte of it, and a write never rewrites it in place
// (COW): the RFC's IOMAP_ENCODED mapping says exactly that to iomap.
//
// The codec is deterministic: the same bytes compress to the same stream
// (zlib 1.2.13 at btrfs's default level, 3).
#ifndef FSIM_FS_BTRFS_COMPRESSION_H_
#define FSIM_FS_BTRFS_COMPRESSION_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace fsim::fs {

// BTRFS_MAX_UNCOMPRESSED: compress_file_range() compresses at most this
// much file data into one extent.
inline constexpr uint64_t kMaxUncompressed = 128 * 1024;

// zlib_compress_pages(): the stream for `in`, or nothing (-E2BIG) when it
// would not be smaller than `in`.
std::optional<std::vector<uint8_t>> ZlibCompress(std::span<const uint8_t> in);

// zlib_decompress_bio(): decodes the stream at the start of `in` (what
// follows the stream's end is padding) into at most `max_out` bytes.
// Nothing if the stream is corrupt or decodes to more than `max_out`.
std::optional<std::vector<uint8_t>> ZlibDecompress(std::span<const uint8_t> in, uint64_t max_out);

// The RFC's IOMAP_ENCODED mapping of file offset `pos` in a compressed
// extent map (btrfs's read iomap_begin for EXTENT_FLAG_COMPRESSED): the
// I/O is the whole encoded extent, whatever part of the file is asked for.
struct EncodedMapping {
  uint64_t addr = 0;     // disk address of the encoded extent (em->block_start)
  uint64_t io_size = 0;  // bytes read or written on disk (em->block_len)
  uint64_t offset = 0;   // file offset the mapping starts at (em->start)
  uint64_t length = 0;   // file bytes the mapping covers (em->len)
  uint64_t decoded_pos = 0;  // where `pos` lies in the decoded data (pos - em->orig_start)
};
// REQUIRES: pos within [start, start + len). orig_start may wrap below 0
// (a clone placed an extent's middle at the file's start).
EncodedMapping MapEncoded(uint64_t start, uint64_t len, uint64_t orig_start, uint64_t block_start,
                          uint64_t block_len, uint64_t pos);

}  // namespace fsim::fs

#endif  // FSIM_FS_BTRFS_COMPRESSION_H_
