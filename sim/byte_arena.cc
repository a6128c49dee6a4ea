#include "sim/byte_arena.h"

#include <utility>

namespace fsim::sim {
namespace {

std::vector<std::unique_ptr<uint8_t[]>>& Pool() {
  thread_local std::vector<std::unique_ptr<uint8_t[]>> pool;
  return pool;
}

}  // namespace

ByteArena::~ByteArena() {
  auto& pool = Pool();
  for (auto& chunk : chunks_) {
    if (pool.size() >= kPoolChunks) break;
    pool.push_back(std::move(chunk));
  }
}

std::span<uint8_t> ByteArena::Allocate(size_t n) {
  if (n > kChunk / 4) {
    large_.push_back(std::unique_ptr<uint8_t[]>(new uint8_t[n]));
    return {large_.back().get(), n};
  }
  if (kChunk - used_ < n) {
    auto& pool = Pool();
    if (pool.empty()) {
      chunks_.push_back(std::unique_ptr<uint8_t[]>(new uint8_t[kChunk]));
    } else {
      chunks_.push_back(std::move(pool.back()));
      pool.pop_back();
    }
    used_ = 0;
  }
  // 16-byte aligned pieces, as malloc gives.
  uint8_t* p = chunks_.back().get() + used_;
  used_ += (n + 15) & ~size_t{15};
  return {p, n};
}

}  // namespace fsim::sim
