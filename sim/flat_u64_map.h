// A small open-addressing hash map from 64-bit keys to values, for the
// per-run lookup tables of the simulator (lockdep's chain cache and class
// lookup). It allocates only when it grows, and Clear() forgets the keys
// of a run by resetting only the slots that run used, so a run that takes
// a dozen locks costs a dozen slot writes, not a dozen node allocations.
//
// Lookup only: it has no iteration, so its layout (which depends on the
// keys' hashes) can never order anything a run decides or reports.
#ifndef FSIM_SIM_FLAT_U64_MAP_H_
#define FSIM_SIM_FLAT_U64_MAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fsim::sim {

template <typename V>
class FlatU64Map {
 public:
  // The value of `key`, or null.
  const V* Find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }
  bool Contains(uint64_t key) const { return Find(key) != nullptr; }
  // Sets `key` to `value` (inserting it if absent).
  void Set(uint64_t key, V value) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.used && s.key != key) continue;
      if (!s.used) {
        s.used = true;
        s.key = key;
        used_.push_back(i);
        ++size_;
      }
      s.value = value;
      return;
    }
  }
  size_t size() const { return size_; }
  // Forgets every key; keeps the memory.
  void Clear() {
    for (size_t i : used_) slots_[i].used = false;
    used_.clear();
    size_ = 0;
  }

 private:
  struct Slot {
    uint64_t key = 0;
    V value{};
    bool used = false;
  };
  size_t Home(uint64_t key) const {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return static_cast<size_t>(key) & mask_;
  }
  void Grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    used_.clear();
    size_ = 0;
    for (const Slot& s : old) {
      if (s.used) Set(s.key, s.value);
    }
  }

  std::vector<Slot> slots_;
  std::vector<size_t> used_;  // slot indices in use, for Clear()
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_FLAT_U64_MAP_H_
