#include "sim/chooser.h"

// The state struct is only complete with XXH_STATIC_LINKING_ONLY; keeping
// it on the stack avoids an allocation per digest.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>

#include "sim/check.h"
#include "sim/limits.h"

namespace fsim::sim {

void Chooser::Begin(Strategy* strategy) {
  strategy_ = strategy;
  decisions_.clear();  // keeps capacity: runs after the first allocate nothing
  events_.clear();
  overflowed_ = false;
}

uint64_t Chooser::Choose(uint64_t n, Site site) {
  FSIM_CHECK_MSG(n > 0, "choose(0)");
  FSIM_CHECK_MSG(n <= UINT32_MAX, "choose(n) bound too large");
  if (n == 1) return 0;
  uint64_t v = strategy_->PickValue(n, site);
  FSIM_CHECK_MSG(v < n, "strategy returned a value out of range");
  if (decisions_.size() < kDecisionsMax) {
    decisions_.push_back({DecisionKind::kValue, static_cast<uint32_t>(n),
                          static_cast<uint32_t>(v)});
  } else {
    overflowed_ = true;
  }
  Event(EventTag::kNote, site.hash());
  return v;
}

uint64_t Chooser::Digest(uint64_t extra) const {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  // Decision has no padding (static_assert in the header): its bytes are
  // exactly its fields.
  XXH3_64bits_update(&state, decisions_.data(),
                     decisions_.size() * sizeof(Decision));
  XXH3_64bits_update(&state, events_.data(),
                     events_.size() * sizeof(uint64_t));
  XXH3_64bits_update(&state, &extra, sizeof extra);
  return XXH3_64bits_digest(&state);
}

}  // namespace fsim::sim
