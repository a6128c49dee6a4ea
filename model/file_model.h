// The reference file model and the linearizability check: what "correct"
// means for a file's data.
//
// ApplyFileOp() gives each operation the semantics fsx and Linux give it:
// write extends the file (zero-filling a gap); truncate sets the size;
// punch_hole zeroes within EOF; zero_range zeroes and extends unless
// keep_size; fallocate extends unless keep_size; read returns the bytes up
// to EOF; fsync changes nothing.
//
// CheckLinearizable() decides whether a concurrent history has a legal
// serial order consistent with real time (Wing & Gong's search with
// memoisation of (done-set, state), as in Lowe's and Horn's checkers):
// every operation takes effect at one point between its invocation and
// its response, every read returns what the state holds at its point, and
// (if given) the final state is the state after the last one.
//
// Granularity: Linux does not make a buffered write or read atomic across
// pages; a harness records such operations per page (SplitAtPages) so
// that the check demands exactly the atomicity the kernel gives.
#ifndef FSIM_MODEL_FILE_MODEL_H_
#define FSIM_MODEL_FILE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fsim::model {

struct FileState {
  std::vector<uint8_t> bytes;  // the file; its size is bytes.size()
  bool operator==(const FileState&) const = default;
};

// kCopy: fsx's clone_range and copy_range, the bytes of [offset, +length)
// copied to `dest` (growing the file); kDedupe: dedupe_range, which
// shares equal extents and changes no byte.
enum class FileOpKind { kWrite, kRead, kTruncate, kPunchHole, kZeroRange, kFallocate, kFsync, kCopy, kDedupe };
const char* FileOpName(FileOpKind kind);

struct FileOp {
  FileOpKind kind = FileOpKind::kRead;
  uint64_t offset = 0;  // truncate: the new size
  uint64_t length = 0;
  bool keep_size = false;        // zero_range, fallocate
  std::vector<uint8_t> data;     // write
  uint64_t dest = 0;             // copy, dedupe: the destination offset
};

// Applies `op`; for a read returns the bytes read, otherwise nothing.
std::vector<uint8_t> ApplyFileOp(FileState& state, const FileOp& op);

// Splits a write, read, punch_hole or zero_range at `page` boundaries
// (other kinds are returned whole: they change the size at one point).
std::vector<FileOp> SplitAtPages(const FileOp& op, uint64_t page);

// One completed operation of a concurrent history. Times are positions in
// the run's event order (invoke < response), never wall time.
struct OpRecord {
  FileOp op;
  uint64_t invoke = 0;
  uint64_t response = 0;
  std::vector<uint8_t> result;  // what a read returned
  std::string who;              // the fiber, for reports
};

// Appends `op`, completed now, to `history` split at `page` boundaries:
// each piece gets `invoke` and its own response time from `clock`
// (incremented), and a read piece the slice of `result` it returned.
void RecordPerPage(std::vector<OpRecord>& history, const FileOp& op, uint64_t invoke,
                   const std::vector<uint8_t>& result, const std::string& who, uint64_t page,
                   uint64_t& clock);

inline constexpr size_t kHistoryOpsMax = 62;

struct Linearization {
  bool ok = false;
  // Neither ordered nor refuted within kSearchNodesMax nodes of the search
  // (a history of many concurrent operations no order explains, whose
  // refutation is exponential): ok is false and `why` says so. Callers
  // treat it as Porcupine treats a timeout, as unknown, not as a finding.
  bool undecided = false;
  std::vector<size_t> order;  // indices into the history, if ok
  std::string why;            // if not ok: one line
};

// The most nodes the search visits before it gives up as undecided.
inline constexpr uint64_t kSearchNodesMax = 4'000'000;

// REQUIRES: history.size() <= kHistoryOpsMax (a longer history is refused
// with ok == false and a reason, never silently truncated).
Linearization CheckLinearizable(const FileState& initial, const std::vector<OpRecord>& history,
                                const FileState* final_state);

// The crash check's rule for stores through mmap (writes that take no
// lock fsync holds, each within one page), as a commit racing them may
// hold them. `stores` are such writes into one file, in invocation order.
// A commit holds each page as the last writeback before it found the
// page: `state`'s bytes with the first m of the stores into that page
// applied, m from none to all, each page on its own (writeback scans pages
// in index order while stores arrive in any order, so a page may be left
// before its first store and another taken after its second). Whether
// `found` is one such state of the file; its size must equal `state`'s,
// and every byte of a page no store touched is `state`'s.
bool PagewiseStoresAllowed(const FileState& state, const std::vector<const FileOp*>& stores,
                           const FileState& found, uint64_t page);

}  // namespace fsim::model

#endif  // FSIM_MODEL_FILE_MODEL_H_
