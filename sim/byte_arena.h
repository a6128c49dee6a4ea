// Bytes that live until their owner goes: a bump allocator over chunks that
// a thread keeps between runs.
//
// A block device keeps a copy of every write until the run ends (the
// cache, the media and the power-cut replay point into them). Allocated
// one by one, a run of 1,000 fsyncs made 12 MiB of small vectors, zeroed
// them before copying over them, and gave the heap back to the kernel at
// the end of the run only to fault it in again in the next one. The arena
// hands out uninitialised spans from 256 KiB chunks, and returns its chunks
// to a per-thread pool when it is destroyed. Nothing here depends on an
// address: it changes no decision, report or digest.
#ifndef FSIM_SIM_BYTE_ARENA_H_
#define FSIM_SIM_BYTE_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace fsim::sim {

class ByteArena {
 public:
  static constexpr size_t kChunk = 256 * 1024;
  // Chunks a thread keeps for the next arena, at most (64 MiB).
  static constexpr size_t kPoolChunks = 256;

  ByteArena() = default;
  ~ByteArena();
  ByteArena(const ByteArena&) = delete;
  ByteArena& operator=(const ByteArena&) = delete;

  // `n` bytes, uninitialised, valid until the arena is destroyed.
  std::span<uint8_t> Allocate(size_t n);

 private:
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;  // pooled size kChunk
  std::vector<std::unique_ptr<uint8_t[]>> large_;   // one allocation each
  size_t used_ = kChunk;                            // in chunks_.back()
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_BYTE_ARENA_H_
