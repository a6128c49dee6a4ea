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
  int line = 0;
  uint64_t size_before() const { return args.back(); }
};

// The largest offset, length or size a log may name (fsx -l is far below).
inline constexpr uint64_t kFsxFileMax = uint64_t{16} << 20;

// Parses a log. On error returns nullopt and sets `error` to one line,
// "FILE:LINE: problem".
std::optional<std::vector<FsxOp>> ParseFsxLog(const std::string& text, const std::string& file,
                                              std::string* error);

// The operations as reference-model operations, with fsx's data. Ops the
// model does not have (copy_range, clone_range, collapse/insert_range,
// dedupe, exchange) are refused with "FILE:LINE: unsupported op NAME".
std::optional<std::vector<FileOp>> ToFileOps(const std::vector<FsxOp>& ops,
                                             const std::vector<uint8_t>& orig,
                                             const std::string& file, std::string* error);

}  // namespace fsim::model

#endif  // FSIM_MODEL_FSX_LOG_H_
