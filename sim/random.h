// The deterministic random source: SplitMix64 (Steele, Lea, Flood 2014),
// a tiny generator with a full 2^64 period whose output passes BigCrush.
// Strategies draw their own randomness from it, seeded from the run's seed,
// so a run is a pure function of (scenario, config, strategy, seed).
#ifndef FSIM_SIM_RANDOM_H_
#define FSIM_SIM_RANDOM_H_

#include <cstdint>

namespace fsim::sim {

// One SplitMix64 step as a pure mixing function: also used to derive seeds.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class Random {
 public:
  explicit Random(uint64_t seed = 0) : state_(seed) {}

  void Seed(uint64_t seed) { state_ = seed; }

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ull;
    uint64_t x = state_;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }

  // Uniform in [0, n). REQUIRES: n > 0. Lemire's multiply-shift; the bias
  // (at most n / 2^64) is irrelevant for scheduling.
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>(
        (static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

 private:
  uint64_t state_;
};

}  // namespace fsim::sim

#endif  // FSIM_SIM_RANDOM_H_
