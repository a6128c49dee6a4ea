// The regression corpus (traces/corpus/): what each saved trace must do
// when replayed, and the fixed configuration a bug trace is checked under.
#ifndef FSIM_TRACES_CORPUS_H_
#define FSIM_TRACES_CORPUS_H_

#include <optional>

#include "model/target.h"
#include "scenarios/orders/order_variant.h"

namespace fsim::traces {

// The configuration with the injected mistake undone: `bug` removed, and
// a lock-order variant kept to show a mistake replaced by the variant its
// registration names as undoing it (fixed_by: rfc_as_posted -> rfc, each
// rfc_posted_* -> rfc_sync_waits). nullopt if there is nothing to undo.
inline std::optional<model::Config> FixedConfig(const model::Config& config) {
  model::Config fixed = config;
  bool changed = fixed.erase("bug") > 0;
  auto order = fixed.find("order");
  if (order != fixed.end()) {
    const scenarios::OrderVariant* v = scenarios::FindOrderVariant(order->second);
    if (v != nullptr && !v->fixed_by.empty()) {
      order->second = v->fixed_by;
      changed = true;
    }
  }
  if (!changed) return std::nullopt;
  return fixed;
}

}  // namespace fsim::traces

#endif  // FSIM_TRACES_CORPUS_H_
