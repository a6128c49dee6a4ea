// A set of fiber ids in [0, kFibersMax): one bit per fiber in 64-bit
// words, with a summary word whose bit w says word w is not empty. Tests,
// inserts and erases are O(1); iteration visits ids in ascending order
// (never in an order that depends on addresses) at a cost proportional to
// the non-empty words, so a run of a few fibers pays for one word.
#ifndef FSIM_SIM_FIBER_SET_H_
#define FSIM_SIM_FIBER_SET_H_

#include <bit>
#include <cstdint>

#include "sim/limits.h"

namespace fsim::sim {

using FiberId = uint32_t;

class FiberSet {
 public:
  static constexpr uint32_t kWords = kFibersMax / 64;
  static_assert(kFibersMax % 64 == 0, "kFibersMax is a multiple of 64");
  static_assert(kWords <= 64, "the summary is one word");

  bool empty() const { return summary_ == 0; }
  bool contains(FiberId id) const { return (words_[id >> 6] >> (id & 63)) & 1; }
  void insert(FiberId id) {
    words_[id >> 6] |= uint64_t{1} << (id & 63);
    summary_ |= uint64_t{1} << (id >> 6);
  }
  void erase(FiberId id) {
    uint64_t& w = words_[id >> 6];
    w &= ~(uint64_t{1} << (id & 63));
    if (w == 0) summary_ &= ~(uint64_t{1} << (id >> 6));
  }
  void clear() {
    for (uint64_t s = summary_; s != 0; s &= s - 1) words_[std::countr_zero(s)] = 0;
    summary_ = 0;
  }
  // True if the set holds exactly one id.
  bool single() const {
    if (summary_ == 0 || (summary_ & (summary_ - 1)) != 0) return false;
    // x & (x - 1), not std::has_single_bit: without -mpopcnt that is a
    // call to libgcc's __popcountdi2, at every scheduling step.
    const uint64_t w = words_[std::countr_zero(summary_)];
    return (w & (w - 1)) == 0;
  }
  // The lowest id. REQUIRES: !empty().
  FiberId first() const {
    uint32_t w = static_cast<uint32_t>(std::countr_zero(summary_));
    return w * 64 + static_cast<FiberId>(std::countr_zero(words_[w]));
  }
  // The ids below 64 as a mask (bit i: fiber i), for interfaces that
  // predate larger runs.
  uint64_t low_word() const { return words_[0]; }
  FiberSet& operator|=(const FiberSet& o) {
    for (uint64_t s = o.summary_; s != 0; s &= s - 1) {
      int w = std::countr_zero(s);
      words_[w] |= o.words_[w];
    }
    summary_ |= o.summary_;
    return *this;
  }
  // Calls f(id) for every id, ascending. f may erase the id it is given
  // (each word is read before its ids are visited); it must not insert.
  template <typename F>
  void ForEach(F f) const {
    for (uint64_t s = summary_; s != 0; s &= s - 1) {
      const int w = std::countr_zero(s);
      for (uint64_t m = words_[w]; m != 0; m &= m - 1) {
        f(static_cast<FiberId>(w * 64 + std::countr_zero(m)));
      }
    }
  }
  // Writes the ids ascending into `out` (room for kFibersMax); returns
  // how many.
  uint32_t ToArray(FiberId* out) const {
    uint32_t n = 0;
    ForEach([&](FiberId id) { out[n++] = id; });
    return n;
  }

 private:
  uint64_t summary_ = 0;
  uint64_t words_[kWords] = {};
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_FIBER_SET_H_
