// The regression corpus (traces/corpus/): what each saved trace must do
// when replayed, and the fixed configuration a bug trace is checked under.
#ifndef FSIM_TRACES_CORPUS_H_
#define FSIM_TRACES_CORPUS_H_

#include <optional>

#include "model/target.h"

namespace fsim::traces {

// The configuration with the injected mistake undone: `bug` removed and
// the RFC as posted replaced by the completed RFC order. nullopt if the
// configuration has nothing to undo.
inline std::optional<model::Config> FixedConfig(const model::Config& config) {
  model::Config fixed = config;
  bool changed = fixed.erase("bug") > 0;
  auto order = fixed.find("order");
  if (order != fixed.end() && order->second == "rfc_as_posted") {
    order->second = "rfc";
    changed = true;
  }
  if (!changed) return std::nullopt;
  return fixed;
}

}  // namespace fsim::traces

#endif  // FSIM_TRACES_CORPUS_H_
