// fsx operation logs (fstests ltp/fsx.c, --record-ops / --replay-ops): a
// real client's workload format, parsed into reference-model operations.
//
// Grammar, one op a line (blank lines and '#' comments ignored):
//   [skip] OPNAME A0 A1 A2 [A3] [keep_size] [close_open] [unshare] [*]
// Most ops are `OP offset length size_before`; `truncate 0 new_size
// old_size`. `skip` lines were not run and are ignored. The last number is
// fsx's file size before the op: a free consistency check.
//
// Data: the k-th non-skip op (1-based) writes byte
// (k + (o odd ? orig[o] : 0)) & 0xff at each file offset o, where orig is
// fsx's buffer of random() % 256 values (ToFileOps takes it).
#ifndef FSIM_MODEL_FSX_LOG_H_
#define FSIM_MODEL_FSX_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/file_model.h"

namespace fsim::model {

struct FsxOp {
  std::string name;  // write, mapwrite, read, mapread, truncate, ...
  std::vector<uint64_t> args;
  bool keep_size = false;
  bool close_open = false;  // fsx closes and reopens the file after the op
  int line = 0;
  uint64_t size_before() const { return args.back(); }
};

// The largest offset, length or size a log may name (fsx -l is far below).
inline constexpr uint64_t kFsxFileMax = uint64_t{16} << 20;

// glibc's random() after srandom(seed) (the TYPE_3 additive feedback
// generator, x[i] = x[i-3] + x[i-31], that fsx draws from), written out so
// that fsx's data does not depend on the host's C library.
class GlibcRandom {
 public:
  explicit GlibcRandom(uint32_t seed);
  // The next random(): 0 .. 2^31-1.
  uint32_t Next();

 private:
  uint32_t r_[34];
  size_t at_ = 0;  // r_[at_] is x[i-34]
};

// fsx's data buffer: srandom(seed), then orig[i] = random() % 256 for
// i < len (its -l, max_file_len; 256 KiB by default).
std::vector<uint8_t> FsxBuffer(uint32_t seed, size_t len);

// fsx's random operation mix as an op log (the format --record-ops
// writes, and fsx --replay-ops and `fsim fsx` read): `n` operations drawn
// from GlibcRandom(seed) with fsx's rules for each op's range (-l max_len,
// -o max_op_len; clone and dedupe ranges block aligned, copy and clone
// ranges not overlapping) and its size_before field from the reference
// model. Ops an fsx run would skip (an empty range) are logged as skip.
std::string GenerateFsxLog(uint64_t n, uint32_t seed, uint64_t max_len = 256 * 1024,
                           uint64_t max_op_len = 64 * 1024);

// Parses a log. On error returns nullopt and sets `error` to one line,
// "FILE:LINE: problem".
std::optional<std::vector<FsxOp>> ParseFsxLog(const std::string& text, const std::string& file,
                                              std::string* error);

// The operations as reference-model operations, with fsx's data:
// clone_range and copy_range become kCopy, dedupe_range kDedupe. Ops btrfs
// does not implement (collapse/insert_range, exchange_range: fsx skips
// them there) are refused with "FILE:LINE: unsupported op NAME".
std::optional<std::vector<FileOp>> ToFileOps(const std::vector<FsxOp>& ops,
                                             const std::vector<uint8_t>& orig,
                                             const std::string& file, std::string* error);

}  // namespace fsim::model

#endif  // FSIM_MODEL_FSX_LOG_H_
